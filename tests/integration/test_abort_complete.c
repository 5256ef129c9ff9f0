/*
 * test_abort_complete.c - 1,000 abort-completes among concurrent requests.
 *
 * The hostile plugin it_abort_complete calls complete() and the response
 * builders from every abort callback, and complete() twice after every
 * answer. Among 1,100 answered requests, each carrying a unique id, the
 * test ends 1,000 others early: 500 by the route timeout (400 alone on
 * their connection, 100 pipelined in front of an answered one) and 500
 * by the client leaving a stream (250 with a FIN, 250 with a reset),
 * with up to 96 clients in flight at once. It proves:
 *   - every client gets its own response: the 200 carries its id, the
 *     504 comes in its pipeline slot, the stream starts with its id;
 *   - the host refused every complete() and builder in the abort
 *     callbacks and every second complete(), and logged it;
 *   - the server stays up (under ASan in the asan suite: no report) and
 *     answers afterwards, and SIGTERM ends it promptly.
 * Outcomes do not depend on timing: answered routes have no timeout, the
 * hanging one never answers; only the whole run is bounded in time.
 */
#include "harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_WORK 1000
#define N_TIMEOUT 400 /* alone on their connection */
#define N_PIPE 100    /* a timed-out request pipelined before an answered one */
#define N_FIN 250
#define N_RST 250
#define N_ABORTS (N_TIMEOUT + N_PIPE + N_FIN + N_RST)
#define N_ANSWERED (N_WORK + N_PIPE)
#define MAX_LIVE 96
#define RUN_BOUND_S 90.0

typedef enum { K_WORK, K_TIMEOUT, K_PIPE, K_FIN, K_RST } kind;

typedef struct client {
    kind k;
    int id, id2;  /* id2: the answered request behind a pipelined timeout */
    int fd;
    char buf[8192];
    size_t len;
    int got;      /* responses checked */
} client;

static const char *routes = "[route /work]\nplugin = it_abort_complete\nmode = work\n\n"
                            "[route /hang]\nplugin = it_abort_complete\nmode = hang\ntimeout = 40ms\n\n"
                            "[route /stream]\nplugin = it_abort_complete\nmode = stream\n\n"
                            "[route /stats]\nplugin = it_abort_complete\nmode = stats\n\n";

static it_server *start(void)
{
    it_server *s = it_server_new();
    it_server_add_plugin(s, "it_abort_complete");
    it_server_write_ini(s,
                        "[server]\nlisten = 127.0.0.1:0\nworkers = 1\nplugin_dir = %s\nwatch = false\n"
                        "max_connections = 1024\n\n%s",
                        s->plugin_dir, routes);
    it_server_start(s);
    return s;
}

/* A non-blocking connection to the server. */
static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)
        fail_msg("connect: %s", strerror(errno));
    return fd;
}

static void start_client(client *c, int port)
{
    char req[256];
    int n;
    switch (c->k) {
    case K_WORK:
        n = snprintf(req, sizeof req, "GET /work?id=%d HTTP/1.1\r\nHost: t\r\n\r\n", c->id);
        break;
    case K_TIMEOUT:
        n = snprintf(req, sizeof req, "GET /hang?id=%d HTTP/1.1\r\nHost: t\r\n\r\n", c->id);
        break;
    case K_PIPE:
        n = snprintf(req, sizeof req,
                     "GET /hang?id=%d HTTP/1.1\r\nHost: t\r\n\r\nGET /work?id=%d HTTP/1.1\r\nHost: t\r\n\r\n", c->id,
                     c->id2);
        break;
    default:
        n = snprintf(req, sizeof req, "GET /stream?id=%d HTTP/1.1\r\nHost: t\r\n\r\n", c->id);
        break;
    }
    c->fd = dial(port);
    c->len = 0;
    c->got = 0;
    /* the connect completes at once on loopback; wait for it, bounded */
    struct pollfd p = {c->fd, POLLOUT, 0};
    assert_int_equal(poll(&p, 1, IT_WAIT_MS), 1);
    assert_int_equal(send(c->fd, req, (size_t)n, MSG_NOSIGNAL), n);
}

/* Length of the complete response (with Content-Length) at the start of
 * `buf`, or 0 when more is needed. Stores its status in *status. */
static size_t response_len(const char *buf, size_t len, int *status)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - buf) + 4;
    const char *cl = memmem(buf, head, "Content-Length: ", 16);
    assert_non_null(cl);
    size_t body = strtoul(cl + 16, NULL, 10);
    if (len < head + body)
        return 0;
    assert_int_equal(sscanf(buf, "HTTP/1.1 %d", status), 1);
    return head + body;
}

/* Check the next response of `c` for request id `id` (504 for a timed-out
 * one, else 200 "id=<id>"). Returns 1 when checked, 0 when more is needed. */
static int take_response(client *c, bool timed_out, int id)
{
    int status = 0;
    size_t rlen = response_len(c->buf, c->len, &status);
    if (!rlen)
        return 0;
    char want[32];
    snprintf(want, sizeof want, "id=%d", id);
    if (timed_out) {
        if (status != 504)
            fail_msg("request %d: status %d, want 504:\n%.*s", id, status, (int)rlen, c->buf);
    } else {
        size_t wl = strlen(want);
        if (status != 200 || rlen < wl || memcmp(c->buf + rlen - wl, want, wl) != 0)
            fail_msg("request %d got another response:\n%.*s", id, (int)rlen, c->buf);
    }
    memmove(c->buf, c->buf + rlen, c->len - rlen);
    c->len -= rlen;
    return 1;
}

/* Leave abortively: RST instead of FIN. */
static void reset_close(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* Read what arrived for `c`. Returns true when the client is finished. */
static bool step(client *c)
{
    for (;;) {
        if (c->len == sizeof c->buf)
            fail_msg("client %d: response too large", c->id);
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        fail_msg("client %d (kind %d): connection ended before its response (%s)", c->id, (int)c->k,
                 n == 0 ? "EOF" : strerror(errno));
    }
    switch (c->k) {
    case K_WORK:
    case K_TIMEOUT:
        if (!take_response(c, c->k == K_TIMEOUT, c->id))
            return false;
        close(c->fd);
        return true;
    case K_PIPE:
        if (c->got == 0 && take_response(c, true, c->id))
            c->got = 1;
        if (c->got == 1 && take_response(c, false, c->id2)) {
            close(c->fd);
            return true;
        }
        return false;
    case K_FIN:
    case K_RST: {
        char want[32];
        int wl = snprintf(want, sizeof want, "\r\nid=%d\n", c->id); /* the first chunk's data */
        if (!memmem(c->buf, c->len, want, (size_t)wl))
            return false;
        if (!memmem(c->buf, c->len, "HTTP/1.1 200", 12))
            fail_msg("stream %d: %.*s", c->id, (int)c->len, c->buf);
        if (c->k == K_FIN)
            close(c->fd);
        else
            reset_close(c->fd);
        return true;
    }
    }
    return false;
}

/* The plugin's counter `name` from GET /stats. */
static unsigned long stat_of(it_server *s, const char *name)
{
    it_response r = {0};
    assert_int_equal(it_request(s->port, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 200);
    char key[64];
    snprintf(key, sizeof key, "%s=", name);
    const char *p = strstr(r.body, key);
    assert_non_null(p);
    unsigned long v = strtoul(p + strlen(key), NULL, 10);
    it_response_free(&r);
    return v;
}

static int log_count(it_server *s, const char *needle)
{
    char *log = it_read_file(s->log_path);
    assert_non_null(log);
    int count = 0;
    for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
        count++;
    free(log);
    return count;
}

/* The clients, in a fixed interleaving of kinds. */
static client *make_clients(int *total)
{
    int n = N_WORK + N_TIMEOUT + N_PIPE + N_FIN + N_RST;
    client *cs = calloc((size_t)n, sizeof *cs);
    assert_non_null(cs);
    int left[5] = {N_WORK, N_TIMEOUT, N_PIPE, N_FIN, N_RST};
    int id = 1;
    for (int i = 0; i < n;) {
        for (int k = 0; k < 5 && i < n; k++) {
            if (!left[k])
                continue;
            left[k]--;
            cs[i].k = (kind)k;
            cs[i].id = id++;
            if (k == K_PIPE)
                cs[i].id2 = id++;
            cs[i].fd = -1;
            i++;
        }
    }
    *total = n;
    return cs;
}

static void thousand_abort_completes_leave_every_client_its_own_response(void **state)
{
    (void)state;
    it_server *s = start();
    int total;
    client *cs = make_clients(&total);
    client *live[MAX_LIVE];
    struct pollfd pf[MAX_LIVE];
    int nlive = 0, next = 0, finished = 0;
    double deadline = it_now() + RUN_BOUND_S;
    while (finished < total) {
        while (nlive < MAX_LIVE && next < total) {
            start_client(&cs[next], s->port);
            live[nlive++] = &cs[next++];
        }
        for (int i = 0; i < nlive; i++)
            pf[i] = (struct pollfd){live[i]->fd, POLLIN, 0};
        int rc = poll(pf, (nfds_t)nlive, 1000);
        assert_true(rc >= 0);
        if (it_now() > deadline)
            fail_msg("%d of %d clients finished within %.0f s", finished, total, RUN_BOUND_S);
        for (int i = 0; i < nlive;) {
            if (pf[i].revents && step(live[i])) {
                finished++;
                live[i] = live[nlive - 1];
                pf[i] = pf[nlive - 1];
                nlive--;
                continue;
            }
            i++;
        }
    }
    free(cs);

    /* The last leaving clients are noticed at the stream's next tick. */
    double until = it_now() + 10.0;
    while (stat_of(s, "aborts") < N_ABORTS && it_now() < until)
        it_sleep_ms(20);
    assert_int_equal(stat_of(s, "aborts"), N_ABORTS);
    assert_int_equal(stat_of(s, "refused_complete"), N_ABORTS);
    assert_int_equal(stat_of(s, "accepted"), 0);
    assert_int_equal(stat_of(s, "wrong_request"), 0);
    assert_int_equal(stat_of(s, "answered"), N_ANSWERED);
    assert_int_equal(stat_of(s, "second_refused"), N_ANSWERED);
    assert_int_equal(stat_of(s, "second_accepted"), 0);
    /* refused and logged, naming the call */
    assert_int_equal(log_count(s, "complete() inside the abort callback"), N_ABORTS);
    assert_int_equal(log_count(s, "set_status() inside the abort callback"), N_ABORTS);
    assert_int_equal(log_count(s, "complete() on a finished request"), N_ANSWERED);
    assert_int_equal(log_count(s, "finished twice"), 0);
    assert_int_equal(log_count(s, "AddressSanitizer"), 0);
    assert_int_equal(log_count(s, "runtime error"), 0);

    /* still serving */
    it_response r = {0};
    assert_int_equal(it_request(s->port, "GET /work?id=424242 HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(r.body, "id=424242");
    it_response_free(&r);

    /* SIGTERM with streams and hanging requests open: out within 3 s */
    it_conn *open_ones[4];
    for (int i = 0; i < 4; i++) {
        open_ones[i] = it_connect(s->port);
        it_send_str(open_ones[i], i % 2 ? "GET /stream?id=7 HTTP/1.1\r\nHost: t\r\n\r\n"
                                        : "GET /hang?id=8 HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    it_sleep_ms(100);
    double t0 = it_now();
    int status = it_server_signal_wait(s, SIGTERM, 3000);
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        it_server_dump_log(s);
        fail_msg("SIGTERM: wait status %d after %.2f s", status, it_now() - t0);
    }
    assert_int_equal(log_count(s, "AddressSanitizer"), 0);
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(thousand_abort_completes_leave_every_client_its_own_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
