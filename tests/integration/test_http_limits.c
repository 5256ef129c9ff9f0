/*
 * test_http_limits.c - limits, malformed requests and timeouts: 413 (by
 * Content-Length and by a chunked body), 414, 431, 400 for a bad request
 * line / Content-Length with Transfer-Encoding / a bad chunk size (and the
 * close after it), the absolute header deadline against a trickling client,
 * the idle close, and the keep-alive timeout.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Small limits so tests stay cheap. */
#define LIMITS                                                                \
    "max_body_size = 1k\n"                                                    \
    "max_url_size = 1k\n"                                                     \
    "max_header_size = 4k\n"

/* A string of n copies of ch (malloc'd). */
static char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

/* Send raw bytes on a new connection; expect `status`, and when
 * `then_close`, the close right after it. */
static void expect_status(it_server *s, const char *raw, int status, bool then_close)
{
    it_conn *c = it_connect(s->port);
    it_send_str(c, raw); /* the server may answer and close before all is sent */
    it_response r;
    int rc = it_recv(c, &r, false, IT_WAIT_MS);
    if (rc != IT_OK) {
        print_error("no response (code %d) to:\n%.300s\n", rc, raw);
        fail();
    }
    if (r.status != status) {
        print_error("expected %d, got %d for:\n%.300s\n", status, r.status, raw);
        fail();
    }
    it_response_free(&r);
    if (then_close) {
        size_t extra = 0;
        if (!it_wait_closed(c, IT_WAIT_MS, &extra)) {
            print_error("connection not closed after %d for:\n%.300s\n", status, raw);
            fail();
        }
        assert_int_equal(extra, 0);
    }
    it_conn_close(c);
}

/* Content-Length above max_body_size is 413, without waiting for the body. */
static void test_body_too_large_content_length(void **state)
{
    (void)state;
    it_server *s = it_start(LIMITS, IT_ROUTES_STD);
    expect_status(s,
                  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  "Content-Length: 100000\r\n\r\n",
                  413, false);
    /* just above the limit */
    expect_status(s, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1025\r\n\r\n", 413,
                  false);
    it_server_stop(s);
}

/* A body of exactly max_body_size is accepted. */
static void test_body_at_limit_accepted(void **state)
{
    (void)state;
    it_server *s = it_start(LIMITS, IT_ROUTES_STD);
    /* ["xxxx...x"] of 1024 bytes in total */
    char *x = repeat('x', 1024 - 4);
    char *req = NULL;
    assert_true(asprintf(&req,
                         "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n[\"%s\"]",
                         x) > 0);
    it_response r;
    assert_int_equal(it_request(s->port, req, &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_int_equal(r.body_len, 1024);
    free(x);
    free(req);
    it_response_free(&r);
    it_server_stop(s);
}

/* A chunked body that grows past max_body_size is 413. */
static void test_body_too_large_chunked(void **state)
{
    (void)state;
    it_server *s = it_start(LIMITS, IT_ROUTES_STD);
    char *x = repeat('x', 256);
    char *req = NULL;
    /* 6 chunks of 256 bytes = 1536 > 1k, no terminating chunk needed */
    assert_true(asprintf(&req,
                         "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "100\r\n%s\r\n100\r\n%s\r\n100\r\n%s\r\n"
                         "100\r\n%s\r\n100\r\n%s\r\n100\r\n%s\r\n",
                         x, x, x, x, x, x) > 0);
    expect_status(s, req, 413, false);
    free(x);
    free(req);
    it_server_stop(s);
}

/* A request target longer than max_url_size is 414. */
static void test_url_too_long(void **state)
{
    (void)state;
    it_server *s = it_start(LIMITS, IT_ROUTES_STD);
    char *q = repeat('a', 1500);
    char *req = NULL;
    assert_true(asprintf(&req, "GET /hello?q=%s HTTP/1.1\r\nHost: t\r\n\r\n", q) > 0);
    expect_status(s, req, 414, false);
    free(q);
    free(req);
    /* a URL below the limit is fine */
    it_response r;
    q = repeat('a', 500);
    assert_true(asprintf(&req, "GET /hello?q=%s HTTP/1.1\r\nHost: t\r\n\r\n", q) > 0);
    assert_int_equal(it_request(s->port, req, &r, false), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    free(q);
    free(req);
    it_server_stop(s);
}

/* Headers past max_header_size in total are 431, whether one big header or
 * many small ones. */
static void test_headers_too_large(void **state)
{
    (void)state;
    it_server *s = it_start(LIMITS, IT_ROUTES_STD);
    char *v = repeat('v', 6000);
    char *req = NULL;
    assert_true(asprintf(&req, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n", v) > 0);
    expect_status(s, req, 431, false);
    free(req);
    free(v);

    /* 100 headers of ~60 bytes: ~6k in total */
    size_t cap = 16384, len = 0;
    req = malloc(cap);
    assert_non_null(req);
    len += (size_t)snprintf(req + len, cap - len, "GET /hello HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(req + len, cap - len,
                                "X-Header-%03d: 0123456789012345678901234567890123456789\r\n", i);
    snprintf(req + len, cap - len, "\r\n");
    expect_status(s, req, 431, false);
    free(req);
    it_server_stop(s);
}

/* Malformed request lines are 400 and the connection is closed. */
static void test_bad_request_line_400(void **state)
{
    (void)state;
    it_server *s = it_start(LIMITS, IT_ROUTES_STD);
    expect_status(s, "THIS IS NOT HTTP\r\n\r\n", 400, true);
    expect_status(s, "GET /hello HTTX/1.1\r\nHost: t\r\n\r\n", 400, true);
    expect_status(s, "GET /hello HTTP/1.1 trailing\r\nHost: t\r\n\r\n", 400, true);
    expect_status(s, "GET /hello HTTP/1.1\r\nBad Header Line\r\n\r\n", 400, true);
    expect_status(s, "GET /hello HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, true); /* 1.1 without Host */
    it_server_stop(s);
}

/* Content-Length together with Transfer-Encoding (request smuggling) is 400
 * and the connection is closed. */
static void test_content_length_with_transfer_encoding_400(void **state)
{
    (void)state;
    it_server *s = it_start(LIMITS, IT_ROUTES_STD);
    expect_status(s,
                  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n"
                  "2\r\n[]\r\n0\r\n\r\n",
                  400, true);
    it_server_stop(s);
}

/* An invalid chunk size is 400 and the connection is closed. */
static void test_invalid_chunk_size_400(void **state)
{
    (void)state;
    it_server *s = it_start(LIMITS, IT_ROUTES_STD);
    expect_status(s,
                  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "zz\r\n[]\r\n0\r\n\r\n",
                  400, true);
    expect_status(s,
                  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "-2\r\n[]\r\n0\r\n\r\n",
                  400, true);
    it_server_stop(s);
}

/* A client that sends a partial request and keeps trickling bytes cannot
 * hold the connection: with header_timeout = 1s it gets 408 or a close
 * within a small multiple of that, and not before about the deadline. */
static void test_header_timeout_trickle(void **state)
{
    (void)state;
    it_server *s = it_start(LIMITS "header_timeout = 1s\nkeepalive_timeout = 30s\n",
                            IT_ROUTES_STD);
    it_conn *c = it_connect(s->port);
    double t0 = it_now();
    it_send_str(c, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Trickle: ");
    it_response r;
    memset(&r, 0, sizeof r);
    bool responded = false;
    while (!c->eof && it_now() - t0 < 8.0) {
        it_sleep_ms(150);
        it_send(c, "a", 1); /* errors just mean it closed */
        int rc = it_recv_step(c, &r, false);
        if (rc == 1) {
            responded = true;
            break;
        }
        if (rc < 0 && rc != IT_CLOSED) {
            print_error("bad bytes from the server: code %d\n", rc);
            fail();
        }
    }
    double elapsed = it_now() - t0;
    if (responded) {
        it_assert_status(&r, 408);
        it_response_free(&r);
        assert_true(it_wait_closed(c, IT_WAIT_MS, NULL));
    }
    if (!responded && !c->eof) {
        print_error("trickling client still connected after %.1f s "
                    "(header_timeout = 1s)\n",
                    elapsed);
        fail();
    }
    if (elapsed < 0.5 || elapsed > 6.0) {
        print_error("header_timeout fired after %.2f s, expected about 1 s\n", elapsed);
        fail();
    }
    it_conn_close(c);
    it_server_stop(s);
}

/* A connection that sends nothing is closed (plainly, no bytes) after
 * header_timeout. */
static void test_idle_connection_closed(void **state)
{
    (void)state;
    it_server *s = it_start("header_timeout = 1s\nkeepalive_timeout = 30s\n", IT_ROUTES_STD);
    it_conn *c = it_connect(s->port);
    double t0 = it_now();
    size_t extra = 0;
    bool closed = it_wait_closed(c, 6000, &extra);
    double elapsed = it_now() - t0;
    if (!closed) {
        print_error("idle connection still open after %.1f s (header_timeout = 1s)\n", elapsed);
        fail();
    }
    assert_true(elapsed >= 0.5);
    assert_int_equal(extra, 0);
    it_conn_close(c);
    it_server_stop(s);
}

/* An idle keep-alive connection is closed after keepalive_timeout (here
 * shorter than header_timeout, so it is that timer that fires). */
static void test_keepalive_timeout(void **state)
{
    (void)state;
    it_server *s = it_start("header_timeout = 30s\nkeepalive_timeout = 1s\n", IT_ROUTES_STD);
    it_conn *c = it_connect(s->port);
    it_response r;
    assert_int_equal(it_send_str(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    double t0 = it_now();
    size_t extra = 0;
    bool closed = it_wait_closed(c, 6000, &extra);
    double elapsed = it_now() - t0;
    if (!closed) {
        print_error("idle keep-alive connection still open after %.1f s "
                    "(keepalive_timeout = 1s)\n",
                    elapsed);
        fail();
    }
    assert_true(elapsed >= 0.5);
    assert_int_equal(extra, 0);
    it_conn_close(c);
    it_server_stop(s);
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(test_body_too_large_content_length),
        IT_TEST(test_body_at_limit_accepted),
        IT_TEST(test_body_too_large_chunked),
        IT_TEST(test_url_too_long),
        IT_TEST(test_headers_too_large),
        IT_TEST(test_bad_request_line_400),
        IT_TEST(test_content_length_with_transfer_encoding_400),
        IT_TEST(test_invalid_chunk_size_400),
        IT_TEST(test_header_timeout_trickle),
        IT_TEST(test_idle_connection_closed),
        IT_TEST(test_keepalive_timeout),
    };
    return cmocka_run_group_tests_name("integration.http_limits", tests, NULL, NULL);
}
