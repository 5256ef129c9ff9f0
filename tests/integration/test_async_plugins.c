/*
 * test_async_plugins.c - the ABI 1.1 example plugins on the real binary,
 * with a local upstream (a second plughost) started by the test: proxy
 * success, refused upstream → 502, slow upstream → 504, 200 concurrent
 * proxied requests; sse_clock ticks and survives a client leaving; items
 * GET/PUT/DELETE at /items/{id}; hash digests on the pool; the watchdog
 * names blocking_mistake and nobody else.
 */
#include "harness.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GET(path) "GET " path " HTTP/1.1\r\nHost: t\r\n\r\n"

/* The upstream: hello, and a 2 s async sleep. */
static it_server *start_upstream(void)
{
    return it_start("", "[route /hello]\nplugin = hello\n\n[route /slow]\nplugin = sleep_async\nseconds = 2\n\n"
                        "[route /echo]\nplugin = echo\nmethods = POST\n\n");
}

/* A port nothing listens on (bound, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static it_server *start_proxy(int up_port)
{
    char routes[1024];
    snprintf(routes, sizeof routes,
             "[route /p/hello]\nplugin = proxy\nupstream = http://127.0.0.1:%d/hello\n\n"
             "[route /p/echo]\nplugin = proxy\nmethods = POST\nupstream = http://127.0.0.1:%d/echo\n\n"
             "[route /p/slow]\nplugin = proxy\nupstream = http://127.0.0.1:%d/slow\ntimeout = 300ms\n\n"
             "[route /p/down]\nplugin = proxy\nupstream = http://127.0.0.1:%d/x\n\n",
             up_port, up_port, up_port, closed_port());
    return it_start("", routes);
}

static void proxy_relays_status_headers_and_body(void **state)
{
    (void)state;
    it_server *up = start_upstream();
    it_server *px = start_proxy(up->port);
    it_response r;
    assert_int_equal(it_request(px->port, GET("/p/hello?x=1"), &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(r.body, "Hello, World!");
    assert_string_equal(it_header_get(&r, "Content-Type"), "text/plain");
    it_response_free(&r);
    const char *post = "POST /p/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                       "Content-Length: 13\r\n\r\n{\"a\":[1,2,3]}";
    assert_int_equal(it_request(px->port, post, &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(r.body, "{\"a\":[1,2,3]}");
    it_response_free(&r);
    it_server_stop(px);
    it_server_stop(up);
}

/* Every end-to-end request header reaches the upstream, hop-by-hop ones
 * do not, and the client's address is appended to X-Forwarded-For. */
static void proxy_forwards_end_to_end_headers_and_the_client_address(void **state)
{
    (void)state;
    it_server *up = it_server_new();
    it_server_add_plugin(up, "it_async_kit");
    it_server_write_ini(up, "[server]\nlisten = 127.0.0.1:0\nplugin_dir = %s\nwatch = false\n\n"
                            "[route /headers]\nplugin = it_async_kit\nmode = headers\n",
                        up->plugin_dir);
    it_server_start(up);
    char routes[256];
    snprintf(routes, sizeof routes, "[route /p]\nplugin = proxy\nupstream = http://127.0.0.1:%d/headers\n", up->port);
    it_server *px = it_start("", routes);
    it_response r;
    assert_int_equal(it_request(px->port,
                                "GET /p HTTP/1.1\r\nHost: t\r\nX-Custom: one\r\nX-Custom: two\r\n"
                                "X-Forwarded-For: 203.0.113.9\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n\r\n",
                                &r, false),
                     IT_OK);
    it_assert_status(&r, 200);
    it_assert_contains(r.body, "X-Custom: one\n");
    it_assert_contains(r.body, "X-Custom: two\n");
    it_assert_contains(r.body, "X-Forwarded-For: 203.0.113.9, 127.0.0.1\n");
    it_assert_contains(r.body, "Host: 127.0.0.1:"); /* the fetch's own */
    assert_null(strstr(r.body, "Keep-Alive"));
    assert_null(strstr(r.body, "TE:"));
    assert_null(strstr(r.body, "Host: t\n"));
    it_response_free(&r);
    it_server_stop(px);
    it_server_stop(up);
}

static void proxy_answers_502_when_the_upstream_refuses(void **state)
{
    (void)state;
    it_server *up = start_upstream();
    it_server *px = start_proxy(up->port);
    it_response r;
    assert_int_equal(it_request(px->port, GET("/p/down"), &r, false), IT_OK);
    it_assert_status(&r, 502);
    it_response_free(&r);
    it_server_stop(px);
    it_server_stop(up);
}

static void proxy_answers_504_when_the_upstream_is_slow(void **state)
{
    (void)state;
    it_server *up = start_upstream();
    it_server *px = start_proxy(up->port);
    double t0 = it_now();
    it_response r;
    assert_int_equal(it_request(px->port, GET("/p/slow"), &r, false), IT_OK);
    it_assert_status(&r, 504);
    it_response_free(&r);
    assert_true(it_now() - t0 < 1.8); /* well before the upstream's 2 s */
    assert_int_equal(it_request(px->port, GET("/p/hello"), &r, false), IT_OK);
    it_assert_status(&r, 200); /* and the proxy is fine afterwards */
    it_response_free(&r);
    it_server_stop(px);
    it_server_stop(up);
}

static void two_hundred_concurrent_proxied_requests_all_complete(void **state)
{
    (void)state;
    enum { N = 200 };
    it_server *up = start_upstream();
    it_server *px = start_proxy(up->port);
    it_response *resps = calloc(N, sizeof *resps);
    int rcs[N];
    it_concurrent(px->port, GET("/p/hello"), N, resps, rcs, NULL, 30000);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rcs[i], IT_OK);
        it_assert_status(&resps[i], 200);
        assert_string_equal(resps[i].body, "Hello, World!");
        it_response_free(&resps[i]);
    }
    free(resps);
    it_server_stop(px);
    it_server_stop(up);
}

static void sse_clock_ticks_and_a_client_leaving_stops_it(void **state)
{
    (void)state;
    it_server *s = it_start("", "[route /clock]\nplugin = sse_clock\ninterval = 20ms\ncount = 3\n\n"
                                "[route /forever]\nplugin = sse_clock\ninterval = 10ms\n\n"
                                "[route /hello]\nplugin = hello\n\n");
    it_response r;
    assert_int_equal(it_request(s->port, GET("/clock"), &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(it_header_get(&r, "Content-Type"), "text/event-stream");
    it_assert_contains(r.body, "id: 1\ndata: ");
    it_assert_contains(r.body, "id: 3\ndata: ");
    it_response_free(&r);
    for (int i = 0; i < 3; i++) { /* leave mid-stream, by reset and by close */
        it_conn *c = it_connect(s->port);
        assert_int_equal(it_send_str(c, GET("/forever")), 0);
        it_sleep_ms(60);
        if (i % 2)
            it_conn_close(c);
        else
            it_conn_reset(c);
    }
    assert_int_equal(it_request(s->port, GET("/hello"), &r, false), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    it_server_stop(s); /* drains: the abandoned streams must not hold it (ASan: no leak) */
}

/* SIGTERM does not wait drain_timeout for an open-ended event stream. */
static void stop_cuts_open_event_streams_instead_of_waiting(void **state)
{
    (void)state;
    it_server *s = it_start("drain_timeout = 20s", "[route /forever]\nplugin = sse_clock\ninterval = 10ms\n\n");
    it_conn *c = it_connect(s->port);
    assert_int_equal(it_send_str(c, GET("/forever")), 0);
    it_sleep_ms(100);
    double t0 = it_now();
    it_server_stop(s); /* exit 0 */
    assert_true(it_now() - t0 < 10.0); /* well before the 20 s drain timeout */
    assert_true(it_wait_closed(c, IT_WAIT_MS, NULL));
}

static void items_put_get_delete_by_path_parameter(void **state)
{
    (void)state;
    it_server *s = it_start("", "[route /items/{id}]\nplugin = items\nmethods = GET PUT DELETE\n\n");
    it_response r;
    assert_int_equal(it_request(s->port, GET("/items/7"), &r, false), IT_OK);
    it_assert_status(&r, 404);
    it_response_free(&r);
    const char *put = "PUT /items/7 HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n{\"n\":\"ok\"}\n";
    assert_int_equal(it_request(s->port, put, &r, false), IT_OK);
    it_assert_status(&r, 201);
    it_response_free(&r);
    assert_int_equal(it_request(s->port, GET("/items/7"), &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(r.body, "{\"n\":\"ok\"}");
    it_response_free(&r);
    assert_int_equal(it_request(s->port, "DELETE /items/7 HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 204);
    it_response_free(&r);
    assert_int_equal(it_request(s->port, GET("/items/7"), &r, false), IT_OK);
    it_assert_status(&r, 404);
    it_response_free(&r);
    it_server_stop(s);
}

static void hash_digests_the_body_on_the_pool(void **state)
{
    (void)state;
    it_server *s = it_start("", "[route /hash]\nplugin = hash\nmethods = POST\n\n");
    it_response r;
    assert_int_equal(it_request(s->port, "POST /hash HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", &r, false),
                     IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(r.body,
                        "{\"sha256\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}");
    it_response_free(&r);
    it_server_stop(s);
}

static void watchdog_names_blocking_mistake_and_not_the_proxy(void **state)
{
    (void)state;
    it_server *up = start_upstream();
    char routes[512];
    snprintf(routes, sizeof routes,
             "[route /mistake]\nplugin = blocking_mistake\nseconds = 0.3\n\n"
             "[route /p]\nplugin = proxy\nupstream = http://127.0.0.1:%d/hello\n\n",
             up->port);
    it_server *s = it_start("loop_warn = 100ms", routes);
    it_response r;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(it_request(s->port, GET("/p"), &r, false), IT_OK);
        it_assert_status(&r, 200);
        it_response_free(&r);
    }
    assert_false(it_server_log_wait(s, "held the event loop", 200));
    assert_int_equal(it_request(s->port, GET("/mistake"), &r, false), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    assert_true(it_server_log_wait(s, "route /mistake (plugin blocking_mistake): handle() held the event loop",
                                   IT_WAIT_MS));
    assert_false(it_server_log_wait(s, "route /p (plugin proxy)", 100));
    it_server_stop(s);
    it_server_stop(up);
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(proxy_relays_status_headers_and_body),
        IT_TEST(proxy_forwards_end_to_end_headers_and_the_client_address),
        IT_TEST(proxy_answers_502_when_the_upstream_refuses),
        IT_TEST(proxy_answers_504_when_the_upstream_is_slow),
        IT_TEST(two_hundred_concurrent_proxied_requests_all_complete),
        IT_TEST(sse_clock_ticks_and_a_client_leaving_stops_it),
        IT_TEST(stop_cuts_open_event_streams_instead_of_waiting),
        IT_TEST(items_put_get_delete_by_path_parameter),
        IT_TEST(hash_digests_the_body_on_the_pool),
        IT_TEST(watchdog_names_blocking_mistake_and_not_the_proxy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
