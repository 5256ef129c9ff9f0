/* test_http_conn.c - server/http_conn.c over a socketpair: bytes in,
 * requests handed up, responses back in request order, every request
 * dropped exactly once. The layer above is played by this file. */
#include "http_conn.h"

#include "config_value.h"
#include "read_buf.h"
#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REQS 64

/* The layer above: what it was handed, what it got back. */
static struct {
    bool answer_now;            /* answer each request as it arrives */
    bool stream_now;            /* begin a stream for each request as it arrives */
    int offered_later;          /* requests offered while the connection had no place free */
    ph_request *got[MAX_REQS];  /* received, in order */
    int ngot;
    int dropped_done;           /* dropped after their response was final */
    int dropped_running;        /* dropped before (client gone, answered instead) */
    ph_request *dropped_last;
    int closed;
    int drained;
} up;

static struct event_base *base;
static int client = -1; /* the test's end of the socketpair */
static int other = -1;  /* a second client's, when a test makes one (another_client) */
static ph_server_conf limits;

static void answer(ph_request *req)
{
    char body[128];
    int n = snprintf(body, sizeof body, "you asked %s", ph_request_path(req));
    assert_int_equal(ph_buf_append(&req->resp_body, body, (size_t)n), 0);
    req->life = PH_LIFE_DONE;
    ph_conn_response_ready(req);
}

/* A path starting with "/s" stands for a sync request: it takes one of
 * its connection's places (dispatch decides that in the server). */
static ph_conn_take received(ph_request *req, bool place_free)
{
    bool place = strncmp(ph_request_path(req), "/s", 2) == 0;
    if (place && !place_free) {
        up.offered_later++;
        return PH_TAKE_LATER;
    }
    assert_true(up.ngot < MAX_REQS);
    assert_non_null(req->conn);
    up.got[up.ngot++] = req;
    req->life = PH_LIFE_RUNNING;
    if (up.answer_now)
        answer(req);
    if (up.stream_now)
        assert_int_equal(ph_conn_stream_begin(req), 0);
    return place ? PH_TAKE_PLACE : PH_TAKE_FREE;
}

static void dropped(ph_request *req)
{
    assert_null(req->conn); /* let go before the call */
    for (int i = 0; i < up.ngot; i++) {
        if (up.got[i] == req)
            up.got[i] = NULL; /* never dropped twice: a second drop finds no slot */
    }
    if (req->life == PH_LIFE_DONE)
        up.dropped_done++;
    else
        up.dropped_running++;
    up.dropped_last = req;
    ph_request_recycle(req);
}

static void drained(ph_request *req)
{
    (void)req;
    up.drained++;
}

static void closed(void) { up.closed++; }

static const ph_conn_hooks hooks = {received, dropped, drained, closed};

static int setup(void **state)
{
    (void)state;
    memset(&up, 0, sizeof up);
    base = event_base_new();
    if (!base)
        return -1;
    limits = (ph_server_conf){.max_body_size = 1 << 20, .max_url_size = 4096, .max_header_size = 8192,
                              .header_timeout_ms = 5000, .body_timeout_ms = 5000,
                              .keepalive_timeout_ms = 5000, .send_timeout_ms = 5000,
                              .max_inflight_per_connection = 1};
    ph_conn_setup(base, &hooks);
    ph_conn_set_limits(&limits);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    client = sv[1];
    return ph_conn_accept(sv[0], NULL);
}

static int teardown(void **state)
{
    (void)state;
    ph_conn_close_all();
    if (client >= 0)
        close(client);
    if (other >= 0)
        close(other);
    client = other = -1;
    event_base_free(base);
    ph_request_free_cache();
    return 0;
}

/* Run the loop for `ms` milliseconds. */
static void run_for(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void send_str(const char *s) { assert_int_equal(write(client, s, strlen(s)), (ssize_t)strlen(s)); }

/* Everything the server has written to `fd` so far (runs the loop a
 * little). */
static char *read_from(int fd)
{
    static char buf[65536];
    size_t len = 0;
    run_for(20);
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 0) != 1 || len == sizeof buf - 1)
            break;
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

/* ... to the first client. */
static char *read_all(void) { return read_from(client); }

/* True when the server closed its end (EOF, after reading what is left). */
static bool server_closed(void)
{
    char tmp[4096];
    run_for(20);
    for (;;) {
        struct pollfd p = {client, POLLIN, 0};
        if (poll(&p, 1, 0) != 1)
            return false;
        ssize_t n = read(client, tmp, sizeof tmp);
        if (n == 0)
            return true;
        if (n < 0)
            return errno != EAGAIN;
    }
}

#define GET(path) "GET " path " HTTP/1.1\r\nHost: t\r\n\r\n"

/* Connect a second client (`other`). */
static void another_client(void)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    other = sv[1];
    assert_int_equal(ph_conn_accept(sv[0], NULL), 0);
}

/* The request handed up with path `path`, or NULL. */
static ph_request *got_path(const char *path)
{
    for (int i = 0; i < up.ngot; i++) {
        if (up.got[i] && strcmp(ph_request_path(up.got[i]), path) == 0)
            return up.got[i];
    }
    return NULL;
}

static void a_request_is_handed_up_once_and_its_response_written(void **state)
{
    (void)state;
    up.answer_now = true;
    send_str("GET /a?x=1 HTTP/1.1\r\nHost: t\r\nX-Test: yes\r\n\r\n");
    char *out = read_all();
    assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(out, "Content-Length: 12\r\n"));
    assert_non_null(strstr(out, "\r\n\r\nyou asked /a"));
    assert_int_equal(up.ngot, 1);
    assert_int_equal(up.dropped_done, 1); /* written, then let go */
    assert_int_equal(up.dropped_running, 0);
    assert_int_equal(ph_conn_count(), 1); /* keep-alive */
}

static void parsed_fields_reach_the_layer_above(void **state)
{
    (void)state;
    send_str("POST /p?q=a+b HTTP/1.1\r\nHost: t\r\nX-One: 1\r\nContent-Length: 5\r\n\r\nhello");
    run_for(20);
    assert_int_equal(up.ngot, 1);
    ph_request *req = up.got[0];
    assert_string_equal(req->method, "POST");
    assert_int_equal(req->method_bit, PH_METHOD_POST);
    assert_string_equal(ph_request_path(req), "/p");
    assert_string_equal(ph_request_query_param(req, "q"), "a b");
    assert_string_equal(ph_request_header(req, "x-one"), "1");
    assert_int_equal(req->body.len, 5);
    assert_memory_equal(req->body.data, "hello", 5);
    assert_true(req->keep_alive);
    answer(req);
    assert_non_null(strstr(read_all(), "you asked /p"));
}

static void pipelined_responses_go_out_in_request_order(void **state)
{
    (void)state;
    send_str(GET("/1") GET("/2") GET("/3"));
    run_for(20);
    assert_int_equal(up.ngot, 3);
    answer(up.got[2]); /* the last one is ready first */
    assert_string_equal(read_all(), "");
    answer(up.got[0]);
    char *out = read_all();
    assert_non_null(strstr(out, "you asked /1"));
    assert_null(strstr(out, "you asked /3"));
    answer(up.got[1]);
    out = read_all();
    char *two = strstr(out, "you asked /2"), *three = strstr(out, "you asked /3");
    assert_non_null(two);
    assert_non_null(three);
    assert_true(two < three);
    assert_int_equal(up.dropped_done, 3);
}

static void answer_instead_takes_the_requests_slot_and_drops_it_at_once(void **state)
{
    (void)state;
    send_str(GET("/slow") GET("/fast"));
    run_for(20);
    assert_int_equal(up.ngot, 2);
    ph_request *slow = up.got[0];
    answer(up.got[1]);
    ph_conn_answer_instead(slow, 504, "handler timed out");
    assert_int_equal(up.dropped_running, 1); /* before answer_instead returned */
    assert_ptr_equal(up.dropped_last, slow);
    char *out = read_all();
    char *timeout = strstr(out, "HTTP/1.1 504 Gateway Timeout\r\n"), *fast = strstr(out, "you asked /fast");
    assert_non_null(timeout);
    assert_non_null(fast);
    assert_true(timeout < fast);
    assert_int_equal(up.dropped_done, 1);
}

/* Fair sharing: with one place, a connection's second "sync" request is
 * not handed up while the first holds it; it goes up when the first is
 * answered, and the responses keep their order. */
static void a_connection_hands_up_one_placed_request_at_a_time(void **state)
{
    (void)state;
    send_str(GET("/s1") GET("/s2") GET("/s3"));
    run_for(20);
    assert_int_equal(up.ngot, 1);
    assert_string_equal(ph_request_path(up.got[0]), "/s1");
    assert_true(up.offered_later >= 1);
    answer(up.got[0]);
    char *out = read_all();
    assert_non_null(strstr(out, "you asked /s1"));
    assert_int_equal(up.ngot, 2); /* /s2 went up once /s1's place was free */
    assert_string_equal(ph_request_path(up.got[1]), "/s2");
    answer(up.got[1]);
    out = read_all();
    assert_non_null(strstr(out, "you asked /s2"));
    assert_int_equal(up.ngot, 3);
    answer(up.got[2]);
    assert_non_null(strstr(read_all(), "you asked /s3"));
}

/* Requests after a waiting one wait too (they go up in order), even those
 * that need no place; once up, they do not hold the place. */
static void requests_after_a_waiting_one_go_up_in_order(void **state)
{
    (void)state;
    send_str(GET("/s1") GET("/s2") GET("/free") GET("/s3"));
    run_for(20);
    assert_int_equal(up.ngot, 1);
    answer(up.got[0]);
    assert_non_null(strstr(read_all(), "you asked /s1"));
    assert_int_equal(up.ngot, 3); /* /s2 took the place, /free needs none, /s3 waits */
    assert_string_equal(ph_request_path(up.got[2]), "/free");
    answer(up.got[2]);
    assert_string_equal(read_all(), ""); /* /free is answered but waits for /s2's answer */
    answer(up.got[1]);
    char *out = read_all();
    char *two = strstr(out, "you asked /s2"), *free_ = strstr(out, "you asked /free");
    assert_non_null(two);
    assert_non_null(free_);
    assert_true(two < free_);
    assert_int_equal(up.ngot, 4);
    answer(up.got[3]);
    assert_non_null(strstr(read_all(), "you asked /s3"));
}

/* With two places, two go up at once. */
static void max_inflight_per_connection_sets_the_places(void **state)
{
    (void)state;
    limits.max_inflight_per_connection = 2;
    send_str(GET("/s1") GET("/s2") GET("/s3"));
    run_for(20);
    assert_int_equal(up.ngot, 2);
    answer(up.got[1]);
    run_for(20);
    assert_int_equal(up.ngot, 3);
    answer(up.got[0]);
    answer(up.got[2]);
    char *out = read_all();
    assert_non_null(strstr(out, "you asked /s3"));
}

/* A request answered instead (a timeout) gives its place back; a request
 * still waiting when the connection closes is recycled by the connection
 * itself (never handed up, never dropped). */
static void answer_instead_frees_the_place_and_waiting_requests_never_go_up(void **state)
{
    (void)state;
    send_str(GET("/s1") GET("/s2") GET("/s3"));
    run_for(20);
    assert_int_equal(up.ngot, 1);
    ph_conn_answer_instead(up.got[0], 504, "handler timed out");
    run_for(20);
    assert_int_equal(up.ngot, 2);
    assert_string_equal(ph_request_path(up.got[1]), "/s2");
    ph_conn_close_all();
    assert_int_equal(up.dropped_running, 2); /* /s1 (answered instead) and /s2 */
    assert_int_equal(up.ngot, 2);           /* /s3 never went up */
}

static void a_failed_write_closes_and_drops_each_request_once(void **state)
{
    (void)state;
    send_str(GET("/1") GET("/2"));
    run_for(20);
    assert_int_equal(up.ngot, 2);
    close(client); /* gone: the first write fails */
    client = -1;
    run_for(20);
    assert_int_equal(up.dropped_done + up.dropped_running, 0); /* a FIN alone may be a half-close */
    answer(up.got[0]);
    run_for(20);
    assert_int_equal(ph_conn_count(), 0);
    assert_int_equal(up.closed, 1);
    assert_int_equal(up.dropped_done, 1);
    assert_int_equal(up.dropped_running, 1); /* /2 lost its client */
    assert_null(up.got[0]);
    assert_null(up.got[1]);
}

static void a_half_closed_client_still_gets_its_answers(void **state)
{
    (void)state;
    up.answer_now = true;
    send_str(GET("/1") GET("/2"));
    shutdown(client, SHUT_WR);
    char *out = read_all();
    assert_non_null(strstr(out, "you asked /1"));
    assert_non_null(strstr(out, "you asked /2"));
    assert_true(server_closed());
    assert_int_equal(up.dropped_done, 2);
}

static void a_malformed_request_gets_400_and_the_connection_closes(void **state)
{
    (void)state;
    send_str("GARBAGE\r\n\r\n");
    char *out = read_all();
    assert_non_null(strstr(out, "HTTP/1.1 400 Bad Request\r\n"));
    assert_non_null(strstr(out, "Connection: close\r\n"));
    assert_true(server_closed());
    assert_int_equal(up.ngot, 0); /* never handed up */
    assert_int_equal(up.dropped_done + up.dropped_running, 0);
}

static void a_stream_sends_its_head_then_chunks_then_the_last_chunk(void **state)
{
    (void)state;
    send_str(GET("/s"));
    run_for(20);
    ph_request *req = up.got[0];
    assert_int_equal(ph_conn_stream_begin(req), 0);
    assert_int_equal(ph_conn_stream_begin(req), -1); /* once */
    assert_int_equal(ph_conn_stream_write(req, "hello", 5), 0);
    char *out = read_all();
    assert_non_null(strstr(out, "Transfer-Encoding: chunked\r\n"));
    assert_non_null(strstr(out, "\r\n\r\n5\r\nhello\r\n"));
    assert_int_equal(up.dropped_done + up.dropped_running, 0);
    ph_conn_stream_end(req, true);
    req->life = PH_LIFE_DONE;
    ph_conn_response_ready(req);
    assert_string_equal(read_all(), "0\r\n\r\n");
    assert_int_equal(up.dropped_done, 1);
    assert_int_equal(ph_conn_count(), 1);
}

static void a_waiting_request_holds_no_head_buffer_and_gets_one_for_its_answer(void **state)
{
    (void)state;
    up.answer_now = true;
    send_str(GET("/first"));
    assert_non_null(strstr(read_all(), "you asked /first")); /* recycled with its head buffer */
    up.answer_now = false;
    send_str(GET("/waits"));
    run_for(20);
    ph_request *req = got_path("/waits");
    assert_non_null(req);
    assert_null(req->resp_head.data); /* given back while its handler runs */
    answer(req);
    char *out = read_all();
    assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(out, "\r\n\r\nyou asked /waits"));
    assert_int_equal(up.dropped_done, 2);
}

static void a_stream_begun_under_received_keeps_its_head(void **state)
{
    (void)state;
    up.stream_now = true;
    send_str(GET("/s"));
    run_for(20);
    ph_request *req = up.got[0];
    assert_true(req->resp_head.len > 0);
    assert_int_equal(ph_conn_stream_write(req, "hello", 5), 0);
    char *out = read_all();
    assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(out, "Transfer-Encoding: chunked\r\n"));
    assert_non_null(strstr(out, "\r\n\r\n5\r\nhello\r\n"));
    ph_conn_stream_end(req, true);
    req->life = PH_LIFE_DONE;
    ph_conn_response_ready(req);
    assert_string_equal(read_all(), "0\r\n\r\n");
    assert_int_equal(up.dropped_done, 1);
}

static void a_stream_cut_short_closes_the_connection(void **state)
{
    (void)state;
    send_str(GET("/s"));
    run_for(20);
    ph_request *req = up.got[0];
    assert_int_equal(ph_conn_stream_begin(req), 0);
    ph_conn_stream_end(req, false);
    req->life = PH_LIFE_DONE;
    ph_conn_response_ready(req);
    char *out = read_all();
    assert_null(strstr(out, "0\r\n\r\n"));
    assert_true(server_closed());
}

static void drain_closes_an_idle_connection_and_closes_after_the_queued_answer(void **state)
{
    (void)state;
    send_str(GET("/1"));
    run_for(20);
    ph_conn_drain_all();
    answer(up.got[0]);
    char *out = read_all();
    assert_non_null(strstr(out, "Connection: close\r\n"));
    assert_true(server_closed()); /* our side; it lingers for the client's */
    close(client);
    client = -1;
    run_for(20);
    assert_int_equal(ph_conn_count(), 0);
}

static void close_all_drops_running_requests_once(void **state)
{
    (void)state;
    send_str(GET("/1") GET("/2"));
    run_for(20);
    answer(up.got[1]);
    ph_conn_close_all();
    assert_int_equal(up.dropped_running, 1);
    assert_int_equal(up.dropped_done, 1); /* final but never written */
    assert_int_equal(up.closed, 1);
    assert_int_equal(ph_conn_count(), 0);
}

/* ---- the shared read buffer (read_buf.h): no client sees another's bytes ---- */

/* Two clients send their requests one byte at a time, interleaved, each
 * byte read (into the one shared buffer) right after the other client's:
 * every request arrives whole, with only its own client's bytes. */
static void two_clients_trickling_byte_by_byte_each_get_only_their_own_bytes(void **state)
{
    (void)state;
    char a[512], b[512];
    char value[301];
    memset(value, 'a', 300);
    value[300] = '\0';
    snprintf(a, sizeof a, "GET /from-a?q=1 HTTP/1.1\r\nHost: a\r\nX-Who: %s\r\n\r\n", value);
    snprintf(b, sizeof b, "POST /from-b HTTP/1.1\r\nHost: b\r\nX-Who: bb\r\nContent-Length: 5\r\n\r\nbbbbb");
    another_client();
    size_t la = strlen(a), lb = strlen(b);
    for (size_t i = 0; i < la || i < lb; i++) {
        if (i < la) {
            assert_int_equal(write(client, a + i, 1), 1);
            event_base_loop(base, EVLOOP_NONBLOCK);
        }
        if (i < lb) {
            assert_int_equal(write(other, b + i, 1), 1);
            event_base_loop(base, EVLOOP_NONBLOCK);
        }
    }
    run_for(20);
    assert_int_equal(up.ngot, 2);
    ph_request *ra = got_path("/from-a"), *rb = got_path("/from-b");
    assert_non_null(ra);
    assert_non_null(rb);
    assert_string_equal(ph_request_header(ra, "Host"), "a");
    assert_string_equal(ph_request_header(ra, "X-Who"), value);
    assert_string_equal(ph_request_query(ra), "q=1");
    assert_int_equal(ra->body.len, 0);
    assert_string_equal(ph_request_header(rb, "Host"), "b");
    assert_string_equal(ph_request_header(rb, "X-Who"), "bb");
    assert_int_equal(rb->body.len, 5);
    assert_memory_equal(rb->body.data, "bbbbb", 5);
    answer(ra);
    answer(rb);
    char *out = read_from(other);
    assert_non_null(strstr(out, "you asked /from-b"));
    assert_null(strstr(out, "/from-a"));
    out = read_from(client);
    assert_non_null(strstr(out, "you asked /from-a"));
    assert_null(strstr(out, "/from-b"));
}

/* Pipelined requests behind one waiting for a place stay unparsed; while
 * they wait, another client's reads reuse the shared buffer, and the
 * waiting client sends the rest of a half-sent request. Each is parsed
 * later from its own bytes, in order. */
static void pipelined_followers_survive_another_clients_reads(void **state)
{
    (void)state;
    send_str(GET("/s1") GET("/s2") GET("/s3-from-a") "GET /s4 HT");
    run_for(20);
    assert_int_equal(up.ngot, 1); /* /s1 holds the place, /s2 waits, the rest is unread */
    another_client();
    const char *b = GET("/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1")
        GET("/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2");
    assert_int_equal(write(other, b, strlen(b)), (ssize_t)strlen(b));
    run_for(20);
    assert_int_equal(up.ngot, 3); /* both of the other client's, which need no place */
    send_str("TP/1.1\r\nHost: t\r\n\r\n"); /* the rest of /s4, read behind the kept bytes */
    run_for(20);
    answer(up.got[1]);
    answer(up.got[2]);
    const char *order[] = {"/s1", "/s2", "/s3-from-a", "/s4"};
    for (int i = 0; i < 4; i++) {
        ph_request *r = got_path(order[i]);
        assert_non_null(r);
        answer(r); /* the next one goes up once this one's place is free */
        run_for(20);
    }
    assert_int_equal(up.ngot, 6);
    char *out = read_from(client);
    char *at = out;
    for (int i = 0; i < 4; i++) {
        char want[64];
        snprintf(want, sizeof want, "you asked %s", order[i]);
        at = strstr(at, want);
        assert_non_null(at);
    }
    assert_null(strstr(out, "/bbbb"));
    out = read_from(other);
    assert_non_null(strstr(out, "b1"));
    assert_non_null(strstr(out, "b2"));
    assert_null(strstr(out, "/s"));
}

/* A connection holds at most PH_READ_BUF_SIZE unparsed bytes: past that it
 * reads nothing until some are parsed; nothing is lost or reordered. */
static void more_pipelined_bytes_than_the_buffer_wait_in_the_socket(void **state)
{
    (void)state;
    enum { N = 40 };
    char pad[601];
    memset(pad, 'p', 600);
    pad[600] = '\0';
    static char all[N * 700];
    size_t len = 0;
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(all + len, sizeof all - len, "GET /s%d HTTP/1.1\r\nHost: t\r\nX-Pad: %s\r\n\r\n", i, pad);
    assert_true(len > PH_READ_BUF_SIZE);
    assert_int_equal(write(client, all, len), (ssize_t)len);
    run_for(20);
    for (int i = 0; i < N; i++) {
        assert_int_equal(up.ngot, i + 1);
        char want[16];
        snprintf(want, sizeof want, "/s%d", i);
        assert_string_equal(ph_request_path(up.got[i]), want);
        assert_string_equal(ph_request_header(up.got[i], "X-Pad"), pad);
        answer(up.got[i]);
        char *out = read_all();
        char line[32];
        snprintf(line, sizeof line, "you asked %s", want);
        assert_non_null(strstr(out, line));
    }
}

/* A body sent at once that is longer than the read buffer arrives whole:
 * the reads are edge-triggered, so one that fills the buffer must be
 * followed by another without a new edge from the kernel. */
static void a_body_longer_than_the_read_buffer_sent_at_once_arrives_whole(void **state)
{
    (void)state;
    enum { LEN = 3 * PH_READ_BUF_SIZE + 123 };
    static char msg[LEN + 128];
    int head = snprintf(msg, sizeof msg, "POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n", LEN);
    for (int i = 0; i < LEN; i++)
        msg[head + i] = (char)('a' + i % 26);
    size_t total = (size_t)head + LEN;
    assert_int_equal(write(client, msg, total), (ssize_t)total); /* all in the socket before the loop runs */
    run_for(50);
    assert_int_equal(up.ngot, 1);
    assert_int_equal(up.got[0]->body.len, LEN);
    assert_memory_equal(up.got[0]->body.data, msg + head, LEN);
    answer(up.got[0]);
    assert_non_null(strstr(read_all(), "you asked /b"));
}

/* A keep-alive connection goes idle between requests and comes back. */
static void a_connection_goes_idle_and_comes_back(void **state)
{
    (void)state;
    up.answer_now = true;
    for (int i = 0; i < 3; i++) {
        send_str(GET("/again"));
        assert_non_null(strstr(read_all(), "you asked /again"));
        run_for(30); /* idle */
    }
    assert_int_equal(up.ngot, 3);
    assert_int_equal(ph_conn_count(), 1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(a_request_is_handed_up_once_and_its_response_written),
        T(parsed_fields_reach_the_layer_above),
        T(pipelined_responses_go_out_in_request_order),
        T(answer_instead_takes_the_requests_slot_and_drops_it_at_once),
        T(a_connection_hands_up_one_placed_request_at_a_time),
        T(requests_after_a_waiting_one_go_up_in_order),
        T(max_inflight_per_connection_sets_the_places),
        T(answer_instead_frees_the_place_and_waiting_requests_never_go_up),
        T(a_failed_write_closes_and_drops_each_request_once),
        T(a_half_closed_client_still_gets_its_answers),
        T(a_malformed_request_gets_400_and_the_connection_closes),
        T(a_stream_sends_its_head_then_chunks_then_the_last_chunk),
        T(a_waiting_request_holds_no_head_buffer_and_gets_one_for_its_answer),
        T(a_stream_begun_under_received_keeps_its_head),
        T(a_stream_cut_short_closes_the_connection),
        T(drain_closes_an_idle_connection_and_closes_after_the_queued_answer),
        T(close_all_drops_running_requests_once),
        T(two_clients_trickling_byte_by_byte_each_get_only_their_own_bytes),
        T(pipelined_followers_survive_another_clients_reads),
        T(more_pipelined_bytes_than_the_buffer_wait_in_the_socket),
        T(a_body_longer_than_the_read_buffer_sent_at_once_arrives_whole),
        T(a_connection_goes_idle_and_comes_back),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
