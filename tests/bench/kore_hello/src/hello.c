/*
 * kore_hello: the Kore peer of the plughost /hello benchmark.
 * One route, GET /hello -> 200 "Hello, World!" text/plain.
 * Built with `kodev build` by tests/bench/bench_core.sh; not part of the
 * plughost build.
 */
#include <kore/kore.h>
#include <kore/http.h>

int	hello(struct http_request *);

static const char	body[] = "Hello, World!";

int
hello(struct http_request *req)
{
	http_response_header(req, "content-type", "text/plain");
	http_response(req, 200, body, sizeof(body) - 1);
	return (KORE_RESULT_OK);
}
