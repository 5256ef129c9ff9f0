/*
 * test_http_basics.c - the HTTP/1.1 connection layer against the real
 * binary: the bundled routes, keep-alive, pipelining (in order, even a slow
 * sync request ahead of fast async ones), HEAD, 404/405, chunked request
 * bodies, HTTP/1.0 and Connection: close, the Date header, and a plugin
 * returning PH_ERROR.
 */
#include "harness.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GET_HELLO "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
#define HELLO_BODY "Hello, World!"

static void assert_hello(const it_response *r)
{
    it_assert_status(r, 200);
    assert_string_equal(r->body, HELLO_BODY);
    const char *ct = it_header_get(r, "Content-Type");
    assert_non_null(ct);
    it_assert_contains(ct, "text/plain");
}

/* A POST /echo request with `json` as a Content-Length body (malloc'd). */
static char *echo_request(const char *json, const char *extra_headers)
{
    char *req = NULL;
    int n = asprintf(&req,
                     "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     "%sContent-Length: %zu\r\n\r\n%s",
                     extra_headers, strlen(json), json);
    assert_true(n > 0);
    return req;
}

/* GET /hello answers 200 text/plain "Hello, World!" with a Content-Length. */
static void test_hello_get(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    it_response r;
    assert_int_equal(it_request(s->port, GET_HELLO, &r, false), IT_OK);
    assert_hello(&r);
    const char *cl = it_header_get(&r, "Content-Length");
    assert_non_null(cl);
    assert_string_equal(cl, "13");
    it_response_free(&r);
    it_server_stop(s);
}

/* The sync and async sleep routes answer their JSON messages. */
static void test_sleep_routes(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    it_response r;
    assert_int_equal(it_request(s->port, "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n", &r, false),
                     IT_OK);
    it_assert_status(&r, 200);
    it_assert_contains(it_header_get(&r, "Content-Type"), "application/json");
    it_assert_contains(r.body, "\"message\"");
    it_assert_contains(r.body, "Sync response after 0.3 seconds");
    it_response_free(&r);

    assert_int_equal(it_request(s->port, "GET /async HTTP/1.1\r\nHost: t\r\n\r\n", &r, false),
                     IT_OK);
    it_assert_status(&r, 200);
    it_assert_contains(it_header_get(&r, "Content-Type"), "application/json");
    it_assert_contains(r.body, "Async response after 0.3 seconds");
    it_response_free(&r);
    it_server_stop(s);
}

/* The router matches the path without the query string. */
static void test_query_string_ignored_by_router(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    it_response r;
    assert_int_equal(
        it_request(s->port, "GET /hello?name=x&y=1 HTTP/1.1\r\nHost: t\r\n\r\n", &r, false),
        IT_OK);
    assert_hello(&r);
    it_response_free(&r);
    it_server_stop(s);
}

/* Several requests, one after the other, on one connection. */
static void test_keepalive_sequential(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    it_conn *c = it_connect(s->port);
    for (int i = 0; i < 5; i++) {
        it_response r;
        assert_int_equal(it_send_str(c, GET_HELLO), 0);
        assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
        assert_hello(&r);
        it_response_free(&r);
    }
    /* a sync and an async request on the same connection too */
    it_response r;
    assert_int_equal(it_send_str(c, "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    assert_int_equal(it_send_str(c, "GET /async HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    assert_false(c->eof);
    it_conn_close(c);
    it_server_stop(s);
}

/* Three echo requests written in one send come back in request order. */
static void test_pipelined_in_order(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    char *a = echo_request("{\"n\":1}", "");
    char *b = echo_request("{\"n\":2}", "");
    char *c3 = echo_request("{\"n\":3}", "");
    char *all = NULL;
    assert_true(asprintf(&all, "%s%s%s", a, b, c3) > 0);
    it_conn *c = it_connect(s->port);
    assert_int_equal(it_send_str(c, all), 0);
    const char *want[] = {"{\"n\":1}", "{\"n\":2}", "{\"n\":3}"};
    for (int i = 0; i < 3; i++) {
        it_response r;
        assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
        it_assert_status(&r, 200);
        assert_string_equal(r.body, want[i]);
        it_response_free(&r);
    }
    free(a);
    free(b);
    free(c3);
    free(all);
    it_conn_close(c);
    it_server_stop(s);
}

/* A slow sync request pipelined ahead of async and sync-fast ones: every
 * response still comes back in request order. */
static void test_pipelined_sync_before_async(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    char *echo = echo_request("{\"last\":true}", "");
    char *all = NULL;
    assert_true(asprintf(&all,
                         "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n"
                         "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                         "GET /async HTTP/1.1\r\nHost: t\r\n\r\n"
                         "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                         "%s",
                         echo) > 0);
    it_conn *c = it_connect(s->port);
    assert_int_equal(it_send_str(c, all), 0);

    it_response r;
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    it_assert_contains(r.body, "Sync response after 0.3 seconds");
    it_response_free(&r);

    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    assert_hello(&r);
    it_response_free(&r);

    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    it_assert_contains(r.body, "Async response after 0.3 seconds");
    it_response_free(&r);

    assert_int_equal(it_recv(c, &r, true, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);

    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(r.body, "{\"last\":true}");
    it_response_free(&r);

    free(echo);
    free(all);
    it_conn_close(c);
    it_server_stop(s);
}

/* HEAD on a GET route: same status and Content-Length as GET, no body (the
 * next response on the connection parses cleanly, so no body was sent). */
static void test_head_on_get_route(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    it_conn *c = it_connect(s->port);
    it_response r;
    assert_int_equal(it_send_str(c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(it_recv(c, &r, true, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    const char *cl = it_header_get(&r, "Content-Length");
    assert_non_null(cl);
    assert_string_equal(cl, "13");
    it_response_free(&r);
    /* a body after the HEAD response would break this parse */
    it_sleep_ms(100);
    assert_int_equal(it_send_str(c, GET_HELLO), 0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    assert_hello(&r);
    it_response_free(&r);

    /* HEAD on the sync route too */
    assert_int_equal(it_send_str(c, "HEAD /sync HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(it_recv(c, &r, true, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    assert_non_null(it_header_get(&r, "Content-Length"));
    assert_string_not_equal(it_header_get(&r, "Content-Length"), "0");
    it_response_free(&r);
    assert_int_equal(it_send_str(c, GET_HELLO), 0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    assert_hello(&r);
    it_response_free(&r);
    it_conn_close(c);
    it_server_stop(s);
}

/* An unknown path is 404, and the connection stays usable. */
static void test_unknown_path_404(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    it_conn *c = it_connect(s->port);
    it_response r;
    assert_int_equal(it_send_str(c, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 404);
    it_response_free(&r);
    assert_int_equal(it_send_str(c, "GET /hello/ HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 404);
    it_response_free(&r);
    assert_int_equal(it_send_str(c, GET_HELLO), 0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    assert_hello(&r);
    it_response_free(&r);
    it_conn_close(c);
    it_server_stop(s);
}

/* A method the route does not allow is 405 with an Allow header. */
static void test_wrong_method_405(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    it_response r;
    assert_int_equal(it_request(s->port,
                                "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
                                &r, false),
                     IT_OK);
    it_assert_status(&r, 405);
    const char *allow = it_header_get(&r, "Allow");
    assert_non_null(allow);
    it_assert_contains(allow, "GET");
    it_response_free(&r);

    assert_int_equal(it_request(s->port, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", &r, false),
                     IT_OK);
    it_assert_status(&r, 405);
    allow = it_header_get(&r, "Allow");
    assert_non_null(allow);
    it_assert_contains(allow, "POST");
    it_response_free(&r);
    it_server_stop(s);
}

/* POST /echo re-serialises JSON compactly; invalid JSON is 400 with a JSON
 * error body. */
static void test_echo_json(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    it_response r;
    char *req = echo_request("{ \"a\" : 1,\n \"b\" : [1, 2, 3], \"c\" : \"x y\" }", "");
    assert_int_equal(it_request(s->port, req, &r, false), IT_OK);
    free(req);
    it_assert_status(&r, 200);
    it_assert_contains(it_header_get(&r, "Content-Type"), "application/json");
    assert_string_equal(r.body, "{\"a\":1,\"b\":[1,2,3],\"c\":\"x y\"}");
    it_response_free(&r);

    req = echo_request("{\"a\": ", "");
    assert_int_equal(it_request(s->port, req, &r, false), IT_OK);
    free(req);
    it_assert_status(&r, 400);
    it_assert_contains(it_header_get(&r, "Content-Type"), "application/json");
    assert_true(r.body_len > 0 && r.body[0] == '{');
    it_assert_contains(r.body, "\"error\"");
    it_response_free(&r);
    it_server_stop(s);
}

/* A chunked request body reaches /echo decoded; the connection stays open
 * for the next request. */
static void test_chunked_request_body(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    it_conn *c = it_connect(s->port);
    const char *req = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"
                      "5\r\n{\"k\":\r\n"
                      "a;ext=1\r\n[1, 2, 3]}\r\n"
                      "0\r\n\r\n";
    it_response r;
    assert_int_equal(it_send_str(c, req), 0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(r.body, "{\"k\":[1,2,3]}");
    it_response_free(&r);

    /* chunks sent in separate writes */
    assert_int_equal(it_send_str(c, "POST /echo HTTP/1.1\r\nHost: t\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n6\r\n[tru"),
                     0);
    it_sleep_ms(50);
    assert_int_equal(it_send_str(c, "e]\r\n"), 0);
    it_sleep_ms(50);
    assert_int_equal(it_send_str(c, "0\r\n\r\n"), 0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(r.body, "[true]");
    it_response_free(&r);

    assert_int_equal(it_send_str(c, GET_HELLO), 0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    assert_hello(&r);
    it_response_free(&r);
    it_conn_close(c);
    it_server_stop(s);
}

/* An HTTP/1.0 request (no keep-alive) gets its response, then the close. */
static void test_http10_closes(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    it_conn *c = it_connect(s->port);
    it_response r;
    assert_int_equal(it_send_str(c, "GET /hello HTTP/1.0\r\n\r\n"), 0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    assert_hello(&r);
    it_response_free(&r);
    size_t extra = 0;
    assert_true(it_wait_closed(c, IT_WAIT_MS, &extra));
    assert_int_equal(extra, 0);
    it_conn_close(c);
    it_server_stop(s);
}

/* Connection: close is honoured: the response, then the close, and a
 * request pipelined after it is not answered. */
static void test_connection_close_honoured(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    it_conn *c = it_connect(s->port);
    it_response r;
    assert_int_equal(it_send_str(c, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                                    "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"),
                     0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    assert_hello(&r);
    it_response_free(&r);
    size_t extra = 0;
    assert_true(it_wait_closed(c, IT_WAIT_MS, &extra));
    assert_int_equal(extra, 0);
    assert_int_equal(c->len, 0);
    it_conn_close(c);
    it_server_stop(s);
}

/* Every response carries a Date header in IMF-fixdate format, close to now. */
static void test_date_header_imf_fixdate(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    const char *reqs[] = {GET_HELLO, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n",
                          "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n"};
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
                             "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
                             "[0-9]{2}:[0-9]{2}:[0-9]{2} GMT$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        it_response r;
        assert_int_equal(it_request(s->port, reqs[i], &r, false), IT_OK);
        const char *date = it_header_get(&r, "Date");
        assert_non_null(date);
        if (regexec(&re, date, 0, NULL, 0) != 0) {
            print_error("Date is not IMF-fixdate: '%s'\n", date);
            fail();
        }
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        assert_non_null(end);
        time_t t = timegm(&tm);
        time_t now = time(NULL);
        if (t < now - 60 || t > now + 60) {
            print_error("Date '%s' is %+ld s from now\n", date, (long)(t - now));
            fail();
        }
        it_response_free(&r);
    }
    regfree(&re);
    it_server_stop(s);
}

/* A plugin whose handle() returns PH_ERROR (sync and async) gives 500, the
 * failure is logged with plugin and route, and the server keeps serving on
 * the same connection and on new ones. Uses a relative plugin_dir, which
 * resolves against the ini file's folder. */
static void test_plugin_error_500(void **state)
{
    (void)state;
    it_server *s = it_server_new();
    it_server_add_plugin(s, "hello");
    it_server_add_plugin(s, "it_fail_sync");
    it_server_add_plugin(s, "it_fail_async");
    it_server_write_ini(s, "[server]\nlisten = 127.0.0.1:0\nworkers = 1\n"
                           "plugin_dir = plugins\nwatch = false\n\n"
                           "[route /hello]\nplugin = hello\n\n"
                           "[route /fail]\nplugin = it_fail_sync\n\n"
                           "[route /fail-async]\nplugin = it_fail_async\n");
    it_server_start(s);

    it_conn *c = it_connect(s->port);
    it_response r;
    for (int round = 0; round < 2; round++) {
        assert_int_equal(it_send_str(c, "GET /fail HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
        it_assert_status(&r, 500);
        it_response_free(&r);
        assert_int_equal(it_send_str(c, "GET /fail-async HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
        it_assert_status(&r, 500);
        it_response_free(&r);
        /* the connection is still usable after a 500 (or, if the server
         * chose to close it, a new one is) */
        if (c->eof) {
            it_conn_close(c);
            c = it_connect(s->port);
        }
        assert_int_equal(it_send_str(c, GET_HELLO), 0);
        assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
        assert_hello(&r);
        it_response_free(&r);
    }
    it_conn_close(c);
    assert_int_equal(it_request(s->port, GET_HELLO, &r, false), IT_OK);
    assert_hello(&r);
    it_response_free(&r);

    if (!it_server_log_wait(s, "/fail", 2000) || !it_server_log_wait(s, "it_fail_sync", 2000) ||
        !it_server_log_wait(s, "it_fail_async", 2000)) {
        print_error("the PH_ERROR is not logged with plugin and route\n");
        it_server_dump_log(s);
        fail();
    }
    it_server_stop(s);
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(test_hello_get),
        IT_TEST(test_sleep_routes),
        IT_TEST(test_query_string_ignored_by_router),
        IT_TEST(test_keepalive_sequential),
        IT_TEST(test_pipelined_in_order),
        IT_TEST(test_pipelined_sync_before_async),
        IT_TEST(test_head_on_get_route),
        IT_TEST(test_unknown_path_404),
        IT_TEST(test_wrong_method_405),
        IT_TEST(test_echo_json),
        IT_TEST(test_chunked_request_body),
        IT_TEST(test_http10_closes),
        IT_TEST(test_connection_close_honoured),
        IT_TEST(test_date_header_imf_fixdate),
        IT_TEST(test_plugin_error_500),
    };
    return cmocka_run_group_tests_name("integration.http_basics", tests, NULL, NULL);
}
