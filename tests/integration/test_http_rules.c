/* test_http_rules.c - issue 10 against the real server: the probes that
 * found each fault, reversed.
 *   1. a plugin's 1xx never reaches the wire, and behind an upstream that
 *      sends 103 before its answer (one pooled connection) no client gets
 *      another's response; an upstream's 100 Continue before its 200 is
 *      skipped (apart or in one write) and the 200 relayed;
 *   2. %00 in a path or query parameter is 400 (no smuggled parameter, no
 *      over-read), and nothing of an earlier request shows in a later one;
 *   3. duplicate Host, obs-fold, a bad chunk ending and a space in a field
 *      name are 400 with the pipelined follow-up unanswered; an
 *      absolute-form target is served (200); a misspelt reserved route
 *      key is reported by -t (error for a declaring plugin, else warning). */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ROUTES                                                                         \
    "[route /rules]\nplugin = it_rules\nmethods = GET\n\n"                             \
    "[route /p/{id}/x]\nplugin = it_rules\nmethods = GET, PUT\n\n"                     \
    "[route /hello]\nplugin = hello\nmethods = GET\n\n"                                \
    "[route /items/{id}]\nplugin = items\nmethods = GET, PUT, DELETE\n\n"

static it_server *start_rules(const char *server_keys, const char *routes)
{
    it_server *s = it_server_new();
    const char *plugins[] = {"it_rules", "hello", "items", "proxy"};
    for (size_t i = 0; i < sizeof plugins / sizeof *plugins; i++)
        it_server_add_plugin(s, plugins[i]);
    it_server_write_ini(s, "[server]\nlisten = 127.0.0.1:0\nworkers = 1\nplugin_dir = %s\nwatch = false\n%s\n%s",
                        s->plugin_dir, server_keys, routes);
    it_server_start(s);
    return s;
}

/* Send `raw` on a fresh connection: the first answer must be `status`,
 * then the server closes without answering anything pipelined after. */
static void expect_rejected(it_server *s, const char *raw, int status)
{
    it_conn *c = it_connect(s->port);
    it_send_str(c, raw);
    it_response r;
    int rc = it_recv(c, &r, false, 5000);
    if (rc != IT_OK || r.status != status) {
        print_error("want %d, got rc %d status %d for:\n%s\n", status, rc, r.status, raw);
        fail();
    }
    it_response_free(&r);
    size_t extra = 0;
    assert_true(it_wait_closed(c, 5000, &extra));
    if (extra) {
        print_error("%zu bytes after the %d (a pipelined request was answered) for:\n%s\n", extra, status, raw);
        fail();
    }
    it_conn_close(c);
}

#define FOLLOW_UP "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"

/* ---- 1. no 1xx on the wire ---- */

/* set_status(103) was sent as "HTTP/1.1 103 Unknown" with a body and the
 * pipelined response read as the answer to the first request. Now it is
 * refused: two pipelined requests get exactly two final responses. */
static void test_a_plugin_1xx_never_reaches_the_wire(void **state)
{
    (void)state;
    it_server *s = start_rules("", ROUTES);
    for (int code = 100; code <= 199; code += 33) {
        it_conn *c = it_connect(s->port);
        char raw[256];
        snprintf(raw, sizeof raw, "GET /rules?code=%d HTTP/1.1\r\nHost: t\r\n\r\n" FOLLOW_UP, code);
        it_send_str(c, raw);
        it_response a, b;
        assert_int_equal(it_recv(c, &a, false, 5000), IT_OK);
        it_assert_status(&a, 200);
        char want[64];
        snprintf(want, sizeof want, "set_status(%d)=-1", code);
        it_assert_contains(a.body, want);
        assert_int_equal(it_recv(c, &b, false, 5000), IT_OK);
        it_assert_status(&b, 200);
        it_assert_contains(b.body, "Hello"); /* the follow-up's own answer */
        it_response_free(&a);
        it_response_free(&b);
        it_conn_close(c);
    }
    /* a final status still works */
    it_response r;
    assert_int_equal(it_request(s->port, "GET /rules?code=418 HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 418);
    it_response_free(&r);
    char *log = it_read_file(s->log_path);
    it_assert_contains(log, "must be 200-599");
    free(log);
}

/* The upstream: per request, an interim response (`interim`: "103 Early
 * Hints" by default), a pause, then a 200 whose body is the request
 * target; with `one_write` the interim and the 200 go out in one write,
 * no pause. Keep-alive; loopback only; bounded. */
static struct {
    it_upstream net;
    const char *interim;
    bool one_write;
} up;

static void upstream_conn(int fd)
{
    char buf[8192];
    size_t len = 0, head;
    while ((head = it_upstream_read_head(&up.net, fd, buf, sizeof buf, &len)) > 0) {
        char target[512] = "?";
        sscanf(buf, "%*s %511s", target);
        const char *early = up.interim;
        if (!up.one_write) {
            if (write(fd, early, strlen(early)) < 0)
                break;
            usleep(20 * 1000);
            early = "";
        }
        char resp[1024];
        int m = snprintf(resp, sizeof resp, "%sHTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", early,
                         strlen(target), target);
        if (write(fd, resp, (size_t)m) < 0)
            break;
        memmove(buf, buf + head, len - head);
        len -= head;
    }
    close(fd);
}

/* Start the upstream thread on an ephemeral loopback port (up.net.port). */
static void upstream_start(const char *interim, bool one_write)
{
    up.interim = interim;
    up.one_write = one_write;
    it_upstream_start(&up.net, upstream_conn, 16);
}

static void upstream_stop(void)
{
    it_upstream_stop(&up.net);
}

#define EARLY_HINTS "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"

/* Behind the proxy, one pooled upstream connection, two concurrent
 * clients x 10 rounds: each gets its own answer or a 502 - never a bare
 * 103, never another client's body (the probe: 0 of 40 got their own). */
static void test_no_response_crosses_behind_a_1xx_upstream(void **state)
{
    (void)state;
    upstream_start(EARLY_HINTS, false);
    char routes[512];
    snprintf(routes, sizeof routes, "[route /px]\nplugin = proxy\nmethods = GET\nupstream = http://127.0.0.1:%d/up\n\n",
             up.net.port);
    it_server *s = start_rules("upstream_connections = 1\n", routes);
    int own = 0, errors = 0;
    for (int round = 0; round < 10; round++) {
        it_conn *c[2];
        for (int i = 0; i < 2; i++) {
            c[i] = it_connect(s->port);
            char raw[128];
            snprintf(raw, sizeof raw, "GET /px?who=r%dc%d HTTP/1.1\r\nHost: t\r\n\r\n", round, i);
            it_send_str(c[i], raw);
        }
        for (int i = 0; i < 2; i++) {
            it_response r;
            assert_int_equal(it_recv(c[i], &r, false, 10000), IT_OK);
            char mine[32];
            snprintf(mine, sizeof mine, "who=r%dc%d", round, i);
            if (r.status == 200) {
                if (!strstr(r.body, mine)) {
                    print_error("client %s got someone else's body: %s\n", mine, r.body);
                    fail();
                }
                own++;
            } else if (r.status == 502) {
                errors++;
            } else {
                print_error("client %s got status %d\n", mine, r.status);
                fail();
            }
            it_response_free(&r);
            it_conn_close(c[i]);
        }
    }
    print_message("behind a 103-sending upstream: %d own answers, %d upstream errors (502), 0 crossed\n", own,
                  errors);
    assert_int_equal(own + errors, 20);
    it_server_stop(s);
    upstream_stop();
}

/* A 100 Continue before the answer is skipped by the outbound client:
 * written apart from the 200 or in the same write, several times over one
 * pooled connection, the proxy relays the 200 with its body. */
static void test_100_continue_then_200_is_relayed(void **state)
{
    (void)state;
    for (int one_write = 0; one_write < 2; one_write++) {
        upstream_start("HTTP/1.1 100 Continue\r\n\r\n", one_write);
        char routes[512];
        snprintf(routes, sizeof routes,
                 "[route /px]\nplugin = proxy\nmethods = GET, POST\nupstream = http://127.0.0.1:%d/up\n\n", up.net.port);
        it_server *s = start_rules("upstream_connections = 1\n", routes);
        for (int i = 0; i < 5; i++) {
            char raw[160], want[32];
            snprintf(raw, sizeof raw, "GET /px?n=%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
            snprintf(want, sizeof want, "/up?n=%d", i);
            it_response r;
            assert_int_equal(it_request(s->port, raw, &r, false), IT_OK);
            it_assert_status(&r, 200);
            assert_string_equal(r.body, want);
            it_response_free(&r);
        }
        it_response r;
        assert_int_equal(it_request(s->port, "POST /px HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi", &r, false),
                         IT_OK);
        it_assert_status(&r, 200);
        assert_string_equal(r.body, "/up");
        it_response_free(&r);
        it_server_stop(s);
        upstream_stop();
    }
}

/* ---- 2. parameters ---- */

static void test_percent_00_in_a_parameter_is_400(void **state)
{
    (void)state;
    it_server *s = start_rules("", ROUTES);
    expect_rejected(s, "GET /rules?x=%00role%00admin&role=user HTTP/1.1\r\nHost: t\r\n\r\n" FOLLOW_UP, 400);
    expect_rejected(s, "GET /p/foo%00b%00evil/x HTTP/1.1\r\nHost: t\r\n\r\n" FOLLOW_UP, 400);
    expect_rejected(s, "PUT /items/a%00b HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}" FOLLOW_UP, 400);
    expect_rejected(s, "GET /rules?k%00=x HTTP/1.1\r\nHost: t\r\n\r\n" FOLLOW_UP, 400);
    /* without %00 the same parameters are what they say */
    it_response r;
    assert_int_equal(it_request(s->port, "GET /rules?x=%01role&role=user HTTP/1.1\r\nHost: t\r\n\r\n", &r, false),
                     IT_OK);
    it_assert_contains(r.body, "role=user");
    it_response_free(&r);
    assert_int_equal(it_request(s->port, "GET /p/a%2Fb/x HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_contains(r.body, "id=a/b"); /* %2F decodes to '/' inside a parameter */
    it_response_free(&r);
}

/* A client's secret query value never shows in a later client's answer,
 * on the same keep-alive connection (same recycled request object) or
 * another. */
static void test_nothing_of_an_earlier_request_shows_later(void **state)
{
    (void)state;
    it_server *s = start_rules("", ROUTES);
    it_conn *c = it_connect(s->port);
    it_send_str(c, "GET /rules?role=S3CR3T-admin-token HTTP/1.1\r\nHost: t\r\n\r\n"
                   "GET /rules?k=x HTTP/1.1\r\nHost: t\r\n\r\n"
                   "GET /rules?role HTTP/1.1\r\nHost: t\r\n\r\n");
    it_response r;
    assert_int_equal(it_recv(c, &r, false, 5000), IT_OK);
    it_assert_contains(r.body, "role=S3CR3T-admin-token");
    it_response_free(&r);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(it_recv(c, &r, false, 5000), IT_OK);
        it_assert_status(&r, 200);
        assert_null(strstr(r.body, "S3CR3T"));
        it_response_free(&r);
    }
    it_conn_close(c);
    /* a route without parameters: path_param is NULL, not a crash */
    assert_int_equal(it_request(s->port, "GET /rules HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_contains(r.body, "id=-");
    it_response_free(&r);
}

/* ---- 3. HTTP rules ---- */

static void test_http_rules_are_400_and_close(void **state)
{
    (void)state;
    it_server *s = start_rules("", ROUTES);
    /* RFC 9112 3.2: exactly one Host */
    expect_rejected(s, "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" FOLLOW_UP, 400);
    /* llhttp strict: the CRLF after chunk data, a space in a field name */
    expect_rejected(s,
                    "POST /rules HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY3\r\ndefZW0\r\n\r\n" FOLLOW_UP,
                    400);
    expect_rejected(s, "GET /hello HTTP/1.1\r\nHost: t\r\nFoo Bar: x\r\n\r\n" FOLLOW_UP, 400);
    /* obs-fold, also inside Transfer-Encoding */
    expect_rejected(s, "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n 2\r\n\r\n" FOLLOW_UP, 400);
    expect_rejected(s,
                    "POST /rules HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: x,\r\n\tchunked\r\n\r\n0\r\n\r\n" FOLLOW_UP,
                    400);
}

/* RFC 9112 3.2.2: a server must accept an absolute-form target. */
static void test_absolute_form_target_is_200(void **state)
{
    (void)state;
    it_server *s = start_rules("", ROUTES);
    it_response r;
    assert_int_equal(it_request(s->port, "GET http://example.org/hello HTTP/1.1\r\nHost: example.org\r\n\r\n", &r, false),
                     IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    assert_int_equal(
        it_request(s->port, "GET HTTP://127.0.0.1:8080/p/7/x?role=r HTTP/1.1\r\nHost: other\r\n\r\n", &r, false),
        IT_OK);
    it_assert_status(&r, 200);
    it_assert_contains(r.body, "path=/p/7/x role=r id=7");
    it_response_free(&r);
}

/* RFC 9110 9.3.7: "OPTIONS *" asks about the server: 200 with Allow and
 * no body, and the connection goes on; "*" with another method is 400. */
static void test_options_asterisk_is_200_with_allow(void **state)
{
    (void)state;
    it_server *s = start_rules("", ROUTES);
    it_conn *c = it_connect(s->port);
    it_response r;
    assert_int_equal(it_send_str(c, "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(it_recv(c, &r, false, 5000), IT_OK);
    it_assert_status(&r, 200);
    assert_non_null(it_header_get(&r, "Allow"));
    assert_string_equal(it_header_get(&r, "Allow"), "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS");
    assert_string_equal(it_header_get(&r, "Content-Length"), "0");
    it_response_free(&r);
    assert_int_equal(it_recv(c, &r, false, 5000), IT_OK); /* the pipelined request behind it */
    it_assert_status(&r, 200);
    it_assert_contains(r.body, "Hello");
    it_response_free(&r);
    expect_rejected(s, "GET * HTTP/1.1\r\nHost: t\r\n\r\n" FOLLOW_UP, 400);
    expect_rejected(s, "OPTIONS *? HTTP/1.1\r\nHost: t\r\n\r\n" FOLLOW_UP, 400);
}

/* ---- misspelt reserved route keys ---- */

/* `plughost -t` with ini `routes`: its exit status, its output in *out. */
static int check_config(const char *routes, char **out)
{
    it_server *s = it_server_new();
    it_server_add_plugin(s, "it_rules");
    it_server_add_plugin(s, "hello");
    it_server_add_plugin(s, "it_counter");
    it_server_write_ini(s, "[server]\nlisten = 127.0.0.1:0\nplugin_dir = %s\n\n%s", s->plugin_dir, routes);
    const char *args[] = {"-t", "-c", s->ini_path, NULL};
    return it_run(args, 10000, out);
}

/* A plugin that declares its settings: a misspelt reserved key is an
 * error -t reports (the probe: "methds" silently became a setting). */
static void test_misspelt_reserved_key_is_reported_by_check(void **state)
{
    (void)state;
    char *out = NULL;
    assert_int_equal(check_config("[route /r]\nplugin = it_rules\nmethds = GET, POST\nnote = n\n", &out), 1);
    it_assert_contains(out, "route /r: unknown key 'methds' (did you mean 'methods'?)");
    free(out);
    out = NULL;
    assert_int_equal(check_config("[route /r]\nplugin = it_rules\nmethods = GET\ntimeout = 1s\nnote = n\n", &out), 0);
    free(out);
    /* a plugin that declares nothing: a warning, the file is accepted */
    out = NULL;
    assert_int_equal(check_config("[route /h]\nplugin = it_counter\ntimout = 1s\n", &out), 0);
    it_assert_contains(out, "key 'timout' is handed to plugin 'it_counter' as a setting; did you mean 'timeout'?");
    free(out);
    /* the bundled plugins declare theirs: hello reads no setting at all */
    out = NULL;
    assert_int_equal(check_config("[route /h]\nplugin = hello\ngreeting = hi\n", &out), 1);
    it_assert_contains(out, "route /h: unknown key 'greeting' (plugin 'hello' declares its settings)");
    free(out);
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(test_a_plugin_1xx_never_reaches_the_wire),
        IT_TEST(test_no_response_crosses_behind_a_1xx_upstream),
        IT_TEST(test_100_continue_then_200_is_relayed),
        IT_TEST(test_percent_00_in_a_parameter_is_400),
        IT_TEST(test_nothing_of_an_earlier_request_shows_later),
        IT_TEST(test_http_rules_are_400_and_close),
        IT_TEST(test_absolute_form_target_is_200),
        IT_TEST(test_options_asterisk_is_200_with_allow),
        IT_TEST(test_misspelt_reserved_key_is_reported_by_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
