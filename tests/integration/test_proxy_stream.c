/* test_proxy_stream.c - the streaming proxy and the outbound client's
 * bounds against hostile or large upstreams, on the real binary. The
 * upstream is a thread of this test on 127.0.0.1 (no files):
 *   - a 200 MB body relayed to 5 slow-reading clients arrives whole
 *     (length and a byte pattern checked) while the worker's RSS grows by
 *     less than 32 MB (Release only: ASan's quarantine keeps freed memory);
 *   - an upstream closing mid-body: the client sees a truncated answer
 *     (the connection closes without the last chunk), never a clean one;
 *   - an upstream trickling its head forever: 504 within the timeout;
 *   - a head over 64 KiB: 502;
 *   - buffer = on with a body over upstream_max_body (declared or
 *     chunked): 502 saying so, logged. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the upstream ------------------------------------------------------ */

typedef enum up_mode {
    UP_BODY,      /* 200 with up.body_len pattern bytes (Content-Length, or chunked) */
    UP_TRUNCATE,  /* declares 1,000,000 bytes, sends 300,000, closes */
    UP_TRICKLE,   /* a status line, then one header byte every 50 ms, forever */
    UP_HUGE_HEAD, /* a 100 KiB header */
} up_mode;

static struct {
    it_upstream net;
    up_mode mode;
    size_t body_len;
    bool chunked;
} up;

/* The byte at `offset` of every upstream body. */
static unsigned char pattern(uint64_t offset) { return (unsigned char)(offset % 251); }

/* Write all of `len` bytes (blocking socket). Returns 0 or -1. */
static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || it_upstream_stopping(&up.net))
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_body(int fd)
{
    char head[160];
    int k = up.chunked ? snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                       : snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", up.body_len);
    if (write_all(fd, head, (size_t)k) < 0)
        return -1;
    unsigned char *block = malloc(65536 + 32); /* one per connection thread */
    if (!block)
        return -1;
    int rc = 0;
    for (size_t off = 0; off < up.body_len && rc == 0;) {
        size_t n = up.body_len - off < 65536 ? up.body_len - off : 65536;
        size_t at = 0;
        if (up.chunked)
            at = (size_t)snprintf((char *)block, 16, "%zx\r\n", n);
        for (size_t i = 0; i < n; i++)
            block[at + i] = pattern(off + i);
        if (up.chunked) {
            memcpy(block + at + n, "\r\n", 2);
            n += 2;
        }
        rc = write_all(fd, block, at + n);
        off += up.chunked ? n - 2 : n;
    }
    free(block);
    return rc == 0 && up.chunked ? write_all(fd, "0\r\n\r\n", 5) : rc;
}

static void serve_one(int fd)
{
    switch (up.mode) {
    case UP_BODY:
        send_body(fd);
        return;
    case UP_TRUNCATE: {
        char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
        unsigned char *block = malloc(300000);
        if (block && write_all(fd, head, strlen(head)) == 0) {
            for (size_t i = 0; i < 300000; i++)
                block[i] = pattern(i);
            write_all(fd, block, 300000);
        }
        free(block);
        shutdown(fd, SHUT_RDWR);
        return;
    }
    case UP_TRICKLE:
        if (write_all(fd, "HTTP/1.1 200 OK\r\nX-Slow: ", 25) < 0)
            return;
        while (!it_upstream_stopping(&up.net) && write_all(fd, "a", 1) == 0)
            usleep(50 * 1000);
        return;
    case UP_HUGE_HEAD: {
        size_t n = 100 * 1024;
        char *head = malloc(n + 128);
        if (!head)
            return;
        int k = snprintf(head, 64, "HTTP/1.1 200 OK\r\nX-Huge: ");
        memset(head + k, 'h', n);
        strcpy(head + k + n, "\r\nContent-Length: 0\r\n\r\n");
        write_all(fd, head, strlen(head));
        free(head);
        return;
    }
    }
}

/* One upstream connection: answer each request head per up.mode. */
static void upstream_conn(int fd)
{
    char buf[8192];
    size_t len = 0;
    while (it_upstream_read_head(&up.net, fd, buf, sizeof buf, &len) > 0) {
        len = 0; /* requests without a body in these tests: nothing follows a head */
        serve_one(fd);
        if (up.mode != UP_BODY)
            break;
    }
    close(fd);
}

static void upstream_start(up_mode mode, size_t body_len, bool chunked)
{
    up.mode = mode;
    up.body_len = body_len;
    up.chunked = chunked;
    it_upstream_start(&up.net, upstream_conn, 64);
}

static void upstream_stop(void)
{
    it_upstream_stop(&up.net);
}

/* A proxy at /px to the upstream, with extra [server] keys and route keys. */
static it_server *start_proxy(const char *server_keys, const char *route_keys)
{
    char routes[512];
    snprintf(routes, sizeof routes, "[route /px]\nplugin = proxy\nupstream = http://127.0.0.1:%d/up\n%s\n", up.net.port,
             route_keys);
    return it_start(server_keys, routes);
}

/* ---- upstream addresses ---------------------------------------------- */

/* An upstream named by an IPv6 literal ("[::1]") is reached like any other:
 * the body arrives whole. Skipped where the machine has no IPv6 loopback. */
static void test_an_ipv6_literal_upstream_is_proxied(void **state)
{
    (void)state;
    up.mode = UP_BODY;
    up.body_len = 100000;
    up.chunked = false;
    if (!it_upstream_start_ipv6(&up.net, upstream_conn, 16))
        skip();
    char routes[256];
    snprintf(routes, sizeof routes, "[route /px]\nplugin = proxy\nupstream = http://[::1]:%d/up\n", up.net.port);
    it_server *s = it_start("", routes);
    it_response r;
    assert_int_equal(it_request(s->port, "GET /px HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_int_equal(r.body_len, up.body_len);
    for (size_t i = 0; i < r.body_len; i++) {
        if ((unsigned char)r.body[i] != pattern(i))
            fail_msg("byte %zu of the body is %u, want %u", i, (unsigned char)r.body[i], pattern(i));
    }
    it_response_free(&r);
    it_server_stop(s);
    upstream_stop();
}

/* A host name that does not resolve (".invalid" never does, RFC 6761) is a
 * 5xx gateway answer, 502 when the resolver says so or 504 when it cannot
 * be asked within the route's timeout, and the server goes on serving. */
static void test_an_unresolvable_upstream_is_a_gateway_error(void **state)
{
    (void)state;
    upstream_start(UP_BODY, 10, false);
    char routes[512];
    snprintf(routes, sizeof routes,
             "[route /nowhere]\nplugin = proxy\nupstream = http://no-such-host.invalid/up\ntimeout = 5s\n\n"
             "[route /px]\nplugin = proxy\nupstream = http://127.0.0.1:%d/up\n",
             up.net.port);
    it_server *s = it_start("", routes);
    it_response r;
    assert_int_equal(it_request(s->port, "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    if (r.status != 502 && r.status != 504)
        fail_msg("an unresolvable upstream answered %d, want 502 or 504", r.status);
    if (r.status == 502)
        it_assert_contains(r.body, "did not resolve");
    it_response_free(&r);
    assert_int_equal(it_request(s->port, "GET /px HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_int_equal(r.body_len, 10);
    it_response_free(&r);
    it_server_stop(s);
    upstream_stop();
}

/* ---- failures --------------------------------------------------------- */

/* The status went out with the head: an upstream closing mid-body must
 * show as a truncated answer (no last chunk, then a close). */
static void test_upstream_closing_mid_body_truncates_the_answer(void **state)
{
    (void)state;
    upstream_start(UP_TRUNCATE, 0, false);
    it_server *s = start_proxy("", "");
    it_conn *c = it_connect(s->port);
    it_send_str(c, "GET /px HTTP/1.1\r\nHost: t\r\n\r\n");
    /* read everything until the server closes */
    size_t cap = 1u << 20, len = 0;
    char *got = malloc(cap + 1);
    assert_non_null(got);
    double t0 = it_now();
    for (;;) {
        struct pollfd p = {c->fd, POLLIN, 0};
        assert_true(it_now() - t0 < 10.0);
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(c->fd, got + len, cap - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        assert_true(len < cap);
    }
    got[len] = '\0';
    /* a 200 head, chunked, part of the body, and no last chunk */
    assert_int_equal(strncmp(got, "HTTP/1.1 200 OK\r\n", 17), 0);
    assert_non_null(strstr(got, "Transfer-Encoding: chunked\r\n"));
    assert_true(len > 1000 && len < 300000 + 4096);
    assert_null(strstr(got, "\r\n0\r\n\r\n"));
    free(got);
    it_conn_close(c);
    assert_true(it_server_log_wait(s, "the client's answer is cut short", 5000));
    assert_true(it_server_log_wait(s, "closed before the response was complete", 5000));
    it_server_stop(s);
    upstream_stop();
}

/* A head that never completes is bounded by the timeout, whatever trickles. */
static void test_trickling_head_is_bounded_by_the_timeout(void **state)
{
    (void)state;
    upstream_start(UP_TRICKLE, 0, false);
    it_server *s = start_proxy("", "timeout = 1s\n");
    double t0 = it_now();
    it_response r;
    assert_int_equal(it_request(s->port, "GET /px HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 504);
    it_response_free(&r);
    assert_true(it_now() - t0 < 5.0); /* the trickle never holds it up */
    it_server_stop(s);
    upstream_stop();
}

static void test_a_head_over_64_kib_is_502(void **state)
{
    (void)state;
    upstream_start(UP_HUGE_HEAD, 0, false);
    it_server *s = start_proxy("", "");
    it_response r;
    assert_int_equal(it_request(s->port, "GET /px HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 502);
    it_response_free(&r);
    assert_true(it_server_log_wait(s, "response head larger than 64 KiB", 5000));
    it_server_stop(s);
    upstream_stop();
}

/* buffer = on holds the whole answer: past upstream_max_body it is a 502
 * that says so, whether the length was declared or the body chunked. */
static void test_a_buffered_body_over_upstream_max_body_is_502(void **state)
{
    (void)state;
    for (int chunked = 0; chunked < 2; chunked++) {
        upstream_start(UP_BODY, 2u << 20, chunked);
        it_server *s = start_proxy("upstream_max_body = 1m\n", "buffer = on\n");
        it_response r;
        assert_int_equal(it_request(s->port, "GET /px HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
        it_assert_status(&r, 502);
        it_assert_contains(r.body, "larger than upstream_max_body");
        it_response_free(&r);
        assert_true(it_server_log_wait(s, "over upstream_max_body (1048576 bytes)", 5000));
        it_server_stop(s);
        upstream_stop();
    }
    /* within the cap it is relayed whole, with its length */
    upstream_start(UP_BODY, 1000, true);
    it_server *s = start_proxy("upstream_max_body = 1m\n", "buffer = on\n");
    it_response r;
    assert_int_equal(it_request(s->port, "GET /px HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(it_header_get(&r, "Content-Length"), "1000");
    assert_int_equal(r.body_len, 1000);
    for (size_t i = 0; i < r.body_len; i++)
        assert_int_equal((unsigned char)r.body[i], pattern(i));
    it_response_free(&r);
    it_server_stop(s);
    upstream_stop();
}

/* ---- 200 MB to 5 slow clients in bounded memory ------------------------ */

#ifndef IT_SANITIZED

/* A client reading a chunked answer as it comes, checking every byte. */
typedef struct slow_client {
    int fd;
    char head[4096];
    size_t head_len;
    bool in_body;
    int status;
    /* chunk framing */
    char line[64];
    size_t line_len;
    uint64_t chunk_left; /* data bytes left in the current chunk */
    int crlf_left;       /* CRLF after a chunk's data */
    bool done;
    bool bad;
    uint64_t got; /* body bytes, in order */
} slow_client;

/* Feed `n` received bytes to `c`'s decoder. */
static void client_feed(slow_client *c, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n && !c->done && !c->bad; i++) {
        unsigned char ch = p[i];
        if (!c->in_body) {
            if (c->head_len + 1 >= sizeof c->head) {
                c->bad = true;
                return;
            }
            c->head[c->head_len++] = (char)ch;
            c->head[c->head_len] = '\0';
            if (c->head_len >= 4 && memcmp(c->head + c->head_len - 4, "\r\n\r\n", 4) == 0) {
                c->in_body = true;
                c->status = atoi(c->head + 9);
                if (!strstr(c->head, "Transfer-Encoding: chunked"))
                    c->bad = true;
            }
        } else if (c->chunk_left) {
            size_t take = n - i < c->chunk_left ? n - i : (size_t)c->chunk_left;
            for (size_t k = 0; k < take; k++) {
                if (p[i + k] != pattern(c->got + k)) {
                    c->bad = true;
                    return;
                }
            }
            c->got += take;
            c->chunk_left -= take;
            i += take - 1;
            if (!c->chunk_left)
                c->crlf_left = 2;
        } else if (c->crlf_left) {
            c->crlf_left--;
        } else {
            if (c->line_len + 1 >= sizeof c->line) {
                c->bad = true;
                return;
            }
            c->line[c->line_len++] = (char)ch;
            if (ch == '\n') {
                c->line[c->line_len] = '\0';
                uint64_t size = strtoull(c->line, NULL, 16);
                c->line_len = 0;
                if (size == 0)
                    c->done = true; /* the last chunk (no trailers here) */
                c->chunk_left = size;
            }
        }
    }
}

/* VmRSS of `pid` in KiB. */
static long rss_kib(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *status = it_read_file(path);
    assert_non_null(status);
    const char *line = strstr(status, "VmRSS:");
    assert_non_null(line);
    long kib = atol(line + 6);
    free(status);
    return kib;
}

static void test_200_mb_to_5_slow_clients_in_bounded_memory(void **state)
{
    (void)state;
    enum { CLIENTS = 5 };
    const uint64_t body = 200ull << 20;
    upstream_start(UP_BODY, (size_t)body, false);
    it_server *s = start_proxy("", "timeout = 60s\n");
    pid_t worker = it_worker_pid(s->pid);
    /* warm up: the proxy path once, small */
    up.body_len = 1000;
    it_response r;
    assert_int_equal(it_request(s->port, "GET /px HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_int_equal(r.body_len, 1000);
    it_response_free(&r);
    up.body_len = (size_t)body;
    long base = rss_kib(worker), peak = base;

    slow_client c[CLIENTS];
    memset(c, 0, sizeof c);
    for (int i = 0; i < CLIENTS; i++) {
        it_conn *conn = it_connect(s->port);
        it_send_str(conn, "GET /px HTTP/1.1\r\nHost: t\r\n\r\n");
        c[i].fd = conn->fd; /* read here; the harness closes it at teardown */
    }
    /* Slow readers: nothing for a second (back-pressure builds up to the
     * upstream), then at most 256 KiB per client per 10 ms round. */
    it_sleep_ms(1000);
    peak = rss_kib(worker) > peak ? rss_kib(worker) : peak;
    static unsigned char buf[65536];
    double t0 = it_now();
    int done = 0;
    while (done < CLIENTS && it_now() - t0 < 240) {
        for (int i = 0; i < CLIENTS; i++) {
            for (int k = 0; k < 4 && !c[i].done && !c[i].bad; k++) {
                ssize_t n = recv(c[i].fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n > 0)
                    client_feed(&c[i], buf, (size_t)n);
                else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                    c[i].bad = true; /* closed before the end */
                else
                    break;
            }
        }
        done = 0;
        for (int i = 0; i < CLIENTS; i++)
            done += c[i].done || c[i].bad;
        long now = rss_kib(worker);
        if (now > peak)
            peak = now;
        it_sleep_ms(10);
    }
    double secs = it_now() - t0;
    for (int i = 0; i < CLIENTS; i++) {
        if (c[i].bad || !c[i].done || c[i].status != 200 || c[i].got != body)
            fail_msg("client %d: status %d, %llu of %llu bytes, %s", i, c[i].status, (unsigned long long)c[i].got,
                     (unsigned long long)body, c[i].bad ? "bad byte or early close" : c[i].done ? "ended" : "unfinished");
    }
    print_message("5 x 200 MB proxied in %.1f s; worker RSS %ld KiB before, %ld KiB peak (+%ld KiB)\n", secs, base, peak,
                  peak - base);
    assert_true(peak - base < 32 * 1024);
    it_server_stop(s);
    upstream_stop();
}
#else
static void test_200_mb_to_5_slow_clients_in_bounded_memory(void **state)
{
    (void)state;
    print_message("skipped under " IT_SANITIZED ": the sanitizer's allocator keeps freed memory, so RSS says nothing "
                  "here; the Release suite runs it\n");
    skip();
}
#endif

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(test_an_ipv6_literal_upstream_is_proxied),
        IT_TEST(test_an_unresolvable_upstream_is_a_gateway_error),
        IT_TEST(test_upstream_closing_mid_body_truncates_the_answer),
        IT_TEST(test_trickling_head_is_bounded_by_the_timeout),
        IT_TEST(test_a_head_over_64_kib_is_502),
        IT_TEST(test_a_buffered_body_over_upstream_max_body_is_502),
        IT_TEST(test_200_mb_to_5_slow_clients_in_bounded_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
