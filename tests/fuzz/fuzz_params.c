/* fuzz_params.c - libFuzzer harness for percent-decoding and query
 * parameters (server/request.c), fed through the real request parser
 * (server/http_parse.c) so the request is exactly what a handler sees.
 *
 * Input: the request target, then optionally '\n' and parameter names to
 * look up, one per line. Checks besides the sanitizers (the decode
 * buffer's spare capacity is poisoned, so a read past the decoded bytes is
 * an overflow even inside the allocation):
 *  - query_param(name) equals an independent reference decoding: the
 *    first '&'-separated pair whose decoded key is `name` (no smuggling);
 *  - a value from the previous request on the same recycled object is
 *    never returned (no cross-request leak);
 *  - ph_percent_decode never grows its input and never writes a NUL
 *    inside the result. */
#include "http_parse.h"

#include "fuzz_util.h"
#include "log.h"
#include "request.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "S3CR3T-of-the-previous-client"

static ph_request *begin(void *owner)
{
    (void)owner;
    return ph_request_new();
}

static void body_follows(void *owner, ph_request *req)
{
    (void)owner;
    (void)req;
}

static const ph_http_parse_hooks hooks = {begin, body_follows};
static const ph_server_conf limits = {.max_body_size = 64, .max_url_size = 8192, .max_header_size = 256};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ph_log_set_level(PH_LOG_ERROR + 1);
    return 0;
}

/* Parse "GET <target> HTTP/1.1" with a Host; the request or NULL (400). */
static ph_request *parse_target(const char *target, size_t len)
{
    static char text[8192 + 64];
    if (len > 8192)
        return NULL;
    size_t n = 0;
    memcpy(text, "GET ", 4);
    n = 4;
    memcpy(text + n, target, len);
    n += len;
    static const char tail[] = " HTTP/1.1\r\nHost: h\r\n\r\n";
    memcpy(text + n, tail, sizeof tail - 1);
    n += sizeof tail - 1;
    ph_http_parser p;
    ph_http_parser_init(&p, &hooks, NULL);
    size_t used;
    ph_request *req = NULL;
    int status;
    if (ph_http_parse(&p, &limits, text, n, &used, &req, &status) != PH_PARSE_MESSAGE) {
        ph_request_recycle(ph_http_parse_take(&p));
        return NULL;
    }
    return req;
}

/* The reference: decode the first pair of `query` whose decoded key is
 * `name`; its decoded value in `out`, or 0 when absent. */
static int reference_lookup(const char *query, const char *name, char *out)
{
    static char key[8192 + 1];
    const char *p = query;
    for (;;) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        if (plen) {
            const char *eq = memchr(p, '=', plen);
            size_t klen = eq ? (size_t)(eq - p) : plen;
            ph_percent_decode(key, p, klen, true);
            if (strcmp(key, name) == 0) {
                if (eq)
                    ph_percent_decode(out, eq + 1, plen - klen - 1, true);
                else
                    out[0] = '\0';
                return 1;
            }
        }
        if (!amp)
            return 0;
        p = amp + 1;
    }
}

static void check_decode(const uint8_t *data, size_t size)
{
    static char dst[8192 + 1];
    size_t len = size > 8192 ? 8192 : size;
    size_t o = ph_percent_decode(dst, (const char *)data, len, size & 1);
    if (o > len || dst[o] != '\0')
        abort();
    if (!memchr(data, '\0', len) && memchr(dst, '\0', o))
        abort(); /* a NUL that was not in the input: %00 decoded */
}

static void check_lookup(ph_request *req, const char *name)
{
    static char want[8192 + 1];
    const char *got = ph_request_query_param(req, name);
    fuzz_poison_spare(&req->query_decoded);
    int found = reference_lookup(ph_request_query(req), name, want);
    if (!got != !found || (got && strcmp(got, want) != 0))
        abort(); /* (equal to this query's own decoding: nothing of the previous client's) */
    if (got && (got < req->query_decoded.data || got >= req->query_decoded.data + req->query_decoded.len))
        abort();
    fuzz_unpoison(&req->query_decoded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_decode(data, size);
    const uint8_t *nl = memchr(data, '\n', size);
    size_t tlen = nl ? (size_t)(nl - data) : size;

    /* the previous client's request, with a secret in its decoded query */
    ph_request *prev = parse_target("/p?secret=" SECRET "&" SECRET "=1", strlen("/p?secret=" SECRET "&" SECRET "=1"));
    if (!prev || !ph_request_query_param(prev, "secret"))
        abort();
    ph_request_recycle(prev);

    ph_request *req = parse_target((const char *)data, tlen);
    if (!req)
        return 0;
    /* every name the fuzzer lists, then a few fixed ones */
    static char name[8192 + 1];
    const uint8_t *p = nl ? nl + 1 : data + size, *end = data + size;
    while (p < end) {
        const uint8_t *e = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((e ? e : end) - p);
        memcpy(name, p, n);
        name[n] = '\0';
        check_lookup(req, name);
        p = e ? e + 1 : end;
    }
    static const char *const fixed[] = {"", "x", "role", "k", "secret", SECRET};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        check_lookup(req, fixed[i]);
    ph_request_recycle(req);
    return 0;
}
