/* fuzz_http_conn.c - libFuzzer harness for the connection layer
 * (server/http_conn.c + http_parse.c + llhttp + http_response.c): the
 * input is written into one end of a socketpair whose other end the layer
 * serves exactly as an accepted socket (same reads, parsing, pipelining,
 * limits, writev). The layer above answers each request with a body built
 * from the request accessors (path, query parameters, Host): at once, or,
 * for a path starting with "/s", one loop round later while holding one of
 * the connection's places (so requests wait for a place, as sync ones do).
 *
 * A second client on its own socketpair sends a fixed pipeline of
 * requests a few bytes per round meanwhile (one holds a place, so its
 * followers wait unparsed), so both connections read through the one
 * shared read buffer in turn.
 *
 * Checks besides the sanitizers: whatever the layer writes is a sequence
 * of HTTP/1.x responses, and the only 1xx it may send is "100 Continue";
 * the second client gets exactly the answers to its own requests, in
 * order, and the fuzzed client never sees the second one's bytes. */
#include "http_conn.h"

#include "log.h"
#include "request.h"

#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_ROUNDS 256
#define OUT_MAX (1u << 20)

static struct event_base *base;
static ph_server_conf limits;
static char out[OUT_MAX];
static size_t out_len;

/* The second client: its requests, their answers' bodies, what it got. */
#define OTHER_STEP 5 /* bytes it sends per round */
static const char other_sends[] = "GET /s-zz-other?q=1 HTTP/1.1\r\nHost: other\r\n\r\n"
                                  "GET /zz-other?q=2 HTTP/1.1\r\nHost: other\r\n\r\n"
                                  "GET /s-zz-other?q=3 HTTP/1.1\r\nHost: other\r\n\r\n"
                                  "GET /zz-other?q=4 HTTP/1.1\r\nHost: other\r\n\r\n";
static const char *const other_bodies[] = {
    "GET /s-zz-other q=1 host=other", "GET /zz-other q=2 host=other",
    "GET /s-zz-other q=3 host=other", "GET /zz-other q=4 host=other"};
static char other_out[8192];
static size_t other_len;

/* Requests holding a place, answered at the next round. */
static ph_request *later[64];
static int nlater;

static void answer(ph_request *req)
{
    req->life = PH_LIFE_DONE;
    ph_conn_response_ready(req);
}

/* The layer above: answer each request from what it carries, now or (a
 * "/s" path, holding a place) at the next round. */
static ph_conn_take received(ph_request *req, bool place_free)
{
    bool place = strncmp(ph_request_path(req), "/s", 2) == 0;
    if (place && !place_free)
        return PH_TAKE_LATER;
    const char *q = ph_request_query_param(req, "q");
    const char *host = ph_request_header(req, "Host");
    char body[256];
    int n = snprintf(body, sizeof body, "%s %.64s q=%.64s host=%.64s", req->method ? req->method : "?",
                     ph_request_path(req), q ? q : "-", host ? host : "-");
    req->life = PH_LIFE_RUNNING;
    if (n > 0 && ph_buf_append(&req->resp_body, body, (size_t)n < sizeof body ? (size_t)n : sizeof body - 1) < 0)
        abort();
    if (place && nlater < (int)(sizeof later / sizeof later[0])) {
        later[nlater++] = req;
        return PH_TAKE_PLACE;
    }
    answer(req);
    return PH_TAKE_FREE;
}

static void answer_later(void)
{
    int n = nlater;
    nlater = 0;
    for (int i = 0; i < n; i++)
        answer(later[i]);
}

static void dropped(ph_request *req)
{
    for (int i = 0; i < nlater; i++) {
        if (later[i] == req)
            later[i--] = later[--nlater];
    }
    ph_request_recycle(req);
}
static void drained(ph_request *req) { (void)req; }
static void closed(void) {}

static const ph_conn_hooks hooks = {received, dropped, drained, closed};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    ph_log_set_level(PH_LOG_ERROR + 1); /* quiet: a malformed request is logged at debug */
    base = event_base_new();
    if (!base)
        abort();
    limits = (ph_server_conf){.max_body_size = 4096, .max_url_size = 512, .max_header_size = 2048,
                              .header_timeout_ms = 5000, .body_timeout_ms = 5000,
                              .keepalive_timeout_ms = 5000, .send_timeout_ms = 5000,
                              .max_inflight_per_connection = 1};
    ph_conn_setup(base, &hooks);
    ph_conn_set_limits(&limits);
    return 0;
}

/* Read what the layer wrote so far to `fd` into the `cap` bytes at
 * `dst`, after the *len there. */
static void collect(int fd, char *dst, size_t cap, size_t *len)
{
    for (;;) {
        char tmp[16384];
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n <= 0)
            return;
        size_t room = cap - *len;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(dst + *len, tmp, take);
        *len += take;
    }
}

/* The second client got one 200 per request, each with exactly the body
 * its own request asked for, in order. Aborts otherwise. */
static void check_other(void)
{
    size_t pos = 0;
    for (size_t i = 0; i < sizeof other_bodies / sizeof other_bodies[0]; i++) {
        const char *r = other_out + pos;
        size_t left = other_len - pos;
        const char *end = memmem(r, left, "\r\n\r\n", 4);
        const char *cl = end ? memmem(r, (size_t)(end - r), "\r\nContent-Length: ", 18) : NULL;
        if (left < 13 || memcmp(r, "HTTP/1.1 200 ", 13) != 0 || !cl)
            abort();
        size_t head = (size_t)(end - r) + 4, body = strtoul(cl + 18, NULL, 10);
        size_t want = strlen(other_bodies[i]);
        if (body != want || head + body > left || memcmp(r + head, other_bodies[i], want) != 0)
            abort();
        pos += head + body;
    }
    if (pos != other_len)
        abort();
}

/* Every status line in out[] names HTTP/1.x and a status of 100 or
 * 200-599; each response begins where the previous one ended (bodies are
 * skipped by Content-Length, the only framing this layer's answers use
 * besides close; a HEAD's answer has none, our bodies never start with
 * "HTTP/1."). Aborts on a violation. */
static void check_output(void)
{
    size_t pos = 0;
    while (pos < out_len) {
        const char *r = out + pos;
        size_t left = out_len - pos;
        if (left < 13 || (memcmp(r, "HTTP/1.1 ", 9) != 0 && memcmp(r, "HTTP/1.0 ", 9) != 0))
            abort();
        int status = atoi(r + 9);
        if (!(status == 100 || (status >= 200 && status <= 599)))
            abort();
        const char *end = memmem(r, left, "\r\n\r\n", 4);
        if (!end)
            abort(); /* a head is written whole */
        size_t head = (size_t)(end - r) + 4;
        size_t body = 0;
        if (head + 7 <= left && memcmp(r + head, "HTTP/1.", 7) == 0) {
            pos += head; /* the answer to a HEAD: Content-Length without the body */
            continue;
        }
        const char *cl = memmem(r, head, "\r\nContent-Length: ", 18);
        if (cl)
            body = strtoul(cl + 18, NULL, 10);
        else if (status != 100 && status != 204 && status != 304)
            return; /* close-delimited or chunked: the rest is its body */
        pos += head + body;
    }
}

/* A connected socketpair, both ends non-blocking, the first served by
 * the layer; returns the client's end. */
static int serve_socketpair(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    if (ph_conn_accept(sv[0], NULL) < 0)
        abort();
    return sv[1];
}

/* Write up to `step` more of the `size` bytes at `data` to `fd` (all
 * when 0), half-closing once all are sent. */
static void send_some(int fd, const uint8_t *data, size_t size, size_t step, size_t *sent, bool *shut)
{
    size_t want = step && size - *sent > step ? step : size - *sent;
    if (want) {
        ssize_t n = write(fd, data + *sent, want);
        if (n > 0)
            *sent += (size_t)n;
    }
    if (*sent == size && !*shut) {
        shutdown(fd, SHUT_WR);
        *shut = true;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = serve_socketpair(), ofd = serve_socketpair();
    out_len = other_len = 0;
    size_t sent = 0, other_sent = 0;
    bool shut = false, other_shut = false;
    for (int round = 0; round < MAX_ROUNDS; round++) {
        send_some(fd, data, size, 0, &sent, &shut);
        send_some(ofd, (const uint8_t *)other_sends, sizeof other_sends - 1, OTHER_STEP, &other_sent, &other_shut);
        answer_later();
        event_base_loop(base, EVLOOP_NONBLOCK);
        collect(fd, out, OUT_MAX, &out_len);
        collect(ofd, other_out, sizeof other_out, &other_len);
        if (ph_conn_count() == 0)
            break;
    }
    ph_conn_close_all();
    collect(fd, out, OUT_MAX, &out_len);
    collect(ofd, other_out, sizeof other_out, &other_len);
    close(fd);
    close(ofd);
    check_output();
    check_other();
    if (memmem(out, out_len, "zz-other", 8) && !memmem(data, size, "zz-other", 8))
        abort(); /* the fuzzed client saw the other one's bytes */
    return 0;
}
