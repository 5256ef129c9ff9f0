/* test_fetch.c - server/fetch.c: outbound HTTP/1.1 for async plugins.
 *
 * Every test runs a real event_base on the main thread (the loop thread)
 * with upstreams on 127.0.0.1 at ephemeral ports: libevent's evhttp server
 * (its bufferevent callback counts accepted connections, so reuse is
 * visible) and a raw listener for replies evhttp would never send
 * (malformed, cut short, 1xx, large bodies). Whole-response fetches and
 * streaming ones (head, pieces, end; pause/resume; cancel inside a
 * callback). Requests are fake: a calloc'ed ph_request with
 * route NULL, so the watchdog sees a NULL route. Run it under ASan too:
 * the cancel tests prove that nothing leaks and no callback runs late. */
#include "fetch.h"
#include "request.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SLOW 512
#define MAX_RAW 16

/* A reply the upstream holds back (path /slow). */
typedef struct slow_reply {
    struct evhttp_request *req;
    struct event *ev;
} slow_reply;

/* The test's world: loop, evhttp upstream, raw upstream. */
static struct {
    struct event_base *base;

    struct evhttp *http;
    int port;
    int accepted;          /* TCP connections the evhttp upstream accepted */
    int requests;          /* requests it served */
    int slow_delay_ms;
    slow_reply slow[MAX_SLOW];
    char last_method[16];
    char last_host[128];
    char last_content_length[32];
    char last_body[256];
    size_t last_body_len;

    struct evconnlistener *raw;
    int raw_port;
    const char *raw_reply; /* written after the request head, then closed */
    struct bufferevent *raw_conns[MAX_RAW];
} T;

/* ---- the evhttp upstream ---------------------------------------------- */

static struct bufferevent *count_connection(struct event_base *base, void *arg)
{
    (void)arg;
    T.accepted++;
    return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

static const char *method_name(enum evhttp_cmd_type type)
{
    switch (type) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_PATCH: return "PATCH";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    default: return "?";
    }
}

static void copy_header(char *dst, size_t cap, struct evhttp_request *req, const char *name)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
    snprintf(dst, cap, "%s", v ? v : "");
}

static void send_slow(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    slow_reply *s = arg;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "late");
    evhttp_send_reply(s->req, 200, "OK", b);
    evbuffer_free(b);
    event_free(s->ev);
    s->ev = NULL;
    s->req = NULL;
}

static void serve(struct evhttp_request *req, void *arg)
{
    (void)arg;
    T.requests++;
    const char *uri = evhttp_request_get_uri(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    struct evbuffer *body = evbuffer_new();
    assert_non_null(body);
    const char *method = method_name(evhttp_request_get_command(req));
    snprintf(T.last_method, sizeof T.last_method, "%s", method);
    copy_header(T.last_host, sizeof T.last_host, req, "Host");
    copy_header(T.last_content_length, sizeof T.last_content_length, req, "Content-Length");
    T.last_body_len = evbuffer_get_length(in);
    if (T.last_body_len > sizeof T.last_body)
        T.last_body_len = sizeof T.last_body;
    evbuffer_copyout(in, T.last_body, T.last_body_len);
    evhttp_add_header(out, "X-Method", method);

    if (strncmp(uri, "/hello", 6) == 0) {
        const char *echo = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Req");
        if (echo)
            evhttp_add_header(out, "X-Echo-Req", echo);
        evhttp_add_header(out, "X-Test", "yes");
        const char *i = strstr(uri, "i=");
        evbuffer_add_printf(body, "hello %s", i ? i + 2 : "world");
        evhttp_send_reply(req, 200, "OK", body);
    } else if (strcmp(uri, "/echo") == 0) {
        evbuffer_add_buffer(body, in);
        evhttp_send_reply(req, 201, "Created", body);
    } else if (strcmp(uri, "/close") == 0) {
        evhttp_add_header(out, "Connection", "close");
        evbuffer_add_printf(body, "bye");
        evhttp_send_reply(req, 200, "OK", body);
    } else if (strcmp(uri, "/slow") == 0) {
        slow_reply *s = NULL;
        for (int k = 0; k < MAX_SLOW && !s; k++) {
            if (!T.slow[k].req)
                s = &T.slow[k];
        }
        assert_non_null(s);
        s->req = req;
        s->ev = evtimer_new(T.base, send_slow, s);
        assert_non_null(s->ev);
        struct timeval tv = {T.slow_delay_ms / 1000, (T.slow_delay_ms % 1000) * 1000};
        evtimer_add(s->ev, &tv);
    } else {
        evhttp_send_reply(req, 404, "Not Found", body);
    }
    evbuffer_free(body);
}

/* ---- the raw upstream ------------------------------------------------- */

static void raw_close(struct bufferevent *bev)
{
    for (int k = 0; k < MAX_RAW; k++) {
        if (T.raw_conns[k] == bev)
            T.raw_conns[k] = NULL;
    }
    bufferevent_free(bev);
}

static void raw_written(struct bufferevent *bev, void *arg)
{
    (void)arg;
    raw_close(bev); /* the whole reply is out: close */
}

static void raw_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0)
        return;
    evbuffer_drain(in, evbuffer_get_length(in));
    bufferevent_setcb(bev, NULL, raw_written, NULL, NULL);
    bufferevent_write(bev, T.raw_reply, strlen(T.raw_reply));
}

static void raw_event(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    (void)arg;
    raw_close(bev);
}

static void raw_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    (void)l;
    (void)sa;
    (void)len;
    (void)arg;
    struct bufferevent *bev = bufferevent_socket_new(T.base, fd, BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(bev);
    int k = 0;
    while (k < MAX_RAW && T.raw_conns[k])
        k++;
    assert_true(k < MAX_RAW);
    T.raw_conns[k] = bev;
    bufferevent_setcb(bev, raw_read, NULL, raw_event, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* ---- fixture ---------------------------------------------------------- */

static int local_port(evutil_socket_t fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        return -1;
    return ntohs(sin.sin_port);
}

static int setup(void **state)
{
    (void)state;
    memset(&T, 0, sizeof T);
    T.base = event_base_new();
    assert_non_null(T.base);
    assert_int_equal(ph_fetch_setup(T.base), 0);

    T.http = evhttp_new(T.base);
    assert_non_null(T.http);
    evhttp_set_allowed_methods(T.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                           EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
    evhttp_set_bevcb(T.http, count_connection, NULL);
    evhttp_set_gencb(T.http, serve, NULL);
    /* a deep backlog: 256 connections at once must not wait for SYN retries */
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct evconnlistener *l = evconnlistener_new_bind(T.base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                                       1024, (struct sockaddr *)&sin, sizeof sin);
    assert_non_null(l);
    assert_non_null(evhttp_bind_listener(T.http, l));
    T.port = local_port(evconnlistener_get_fd(l));
    assert_true(T.port > 0);
    T.slow_delay_ms = 1000;

    T.raw = evconnlistener_new_bind(T.base, raw_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
                                    (struct sockaddr *)&sin, sizeof sin);
    assert_non_null(T.raw);
    T.raw_port = local_port(evconnlistener_get_fd(T.raw));
    T.raw_reply = "";
    return 0;
}

static void run_for(int ms);

static int teardown(void **state)
{
    (void)state;
    ph_fetch_shutdown();
    /* answer held-back requests now, so evhttp frees them */
    for (int k = 0; k < MAX_SLOW; k++) {
        if (T.slow[k].req) {
            event_del(T.slow[k].ev);
            send_slow(-1, 0, &T.slow[k]);
        }
    }
    run_for(50);
    evhttp_free(T.http);
    for (int k = 0; k < MAX_RAW; k++) {
        if (T.raw_conns[k])
            bufferevent_free(T.raw_conns[k]);
    }
    evconnlistener_free(T.raw);
    event_base_free(T.base);
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Run the loop until *counter reaches `want` or `max_ms` pass. Returns
 * whether it got there. */
static bool run_until(const int *counter, int want, int max_ms)
{
    struct event *guard = event_new(T.base, -1, EV_PERSIST, tick, NULL);
    struct timeval tv = {0, 10 * 1000};
    event_add(guard, &tv);
    uint64_t end = now_ms() + (uint64_t)max_ms;
    while ((!counter || *counter < want) && now_ms() < end)
        event_base_loop(T.base, EVLOOP_ONCE);
    event_free(guard);
    return !counter || *counter >= want;
}

static void run_for(int ms) { run_until(NULL, 0, ms); }

/* ---- recording callbacks ---------------------------------------------- */

typedef struct outcome {
    int calls;
    ph_request *req;
    ph_fetch_error error;
    int status;
    char error_text[256];
    char body[512];
    size_t body_len;
    char headers[2048]; /* "name: value\n" ... */
} outcome;

static int total_calls;

static void record(ph_request *req, const ph_fetch_response *resp, void *arg)
{
    outcome *o = arg;
    o->calls++;
    total_calls++;
    o->req = req;
    assert_int_equal(resp->struct_size, sizeof *resp);
    o->error = resp->error;
    o->status = resp->status;
    assert_non_null(resp->error_text);
    snprintf(o->error_text, sizeof o->error_text, "%s", resp->error_text);
    o->body_len = resp->body_len;
    if (resp->body_len)
        memcpy(o->body, resp->body, resp->body_len < sizeof o->body ? resp->body_len : sizeof o->body - 1);
    size_t used = 0;
    o->headers[0] = '\0';
    for (size_t i = 0; i < resp->nheaders; i++) {
        int n = snprintf(o->headers + used, sizeof o->headers - used, "%s: %s\n", resp->headers[2 * i],
                         resp->headers[2 * i + 1]);
        if (n > 0 && (size_t)n < sizeof o->headers - used)
            used += (size_t)n;
    }
    assert_null(resp->headers[2 * resp->nheaders]);
}

static void never(ph_request *req, const ph_fetch_response *resp, void *arg)
{
    (void)req;
    (void)arg;
    fail_msg("a cancelled fetch called back (error %d: %s, status %d)", (int)resp->error, resp->error_text,
             resp->status);
}

static ph_request *fake_request(void)
{
    ph_request *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->route = NULL;
    return r;
}

static void free_request(ph_request *r)
{
    assert_null(r->fetches);
    free(r);
}

static ph_fetch_request get(const char *url)
{
    ph_fetch_request f = {.struct_size = sizeof f, .method = NULL, .url = url};
    return f;
}

static char *url_of(int port, const char *path)
{
    char *u = NULL;
    assert_true(asprintf(&u, "http://127.0.0.1:%d%s", port, path) > 0);
    return u;
}

/* ---- tests ------------------------------------------------------------ */

static void test_get_returns_status_headers_and_body(void **state)
{
    (void)state;
    ph_request *r = fake_request();
    char *url = url_of(T.port, "/hello");
    const char *headers[] = {"X-Req", "abc", NULL};
    ph_fetch_request fr = get(url);
    fr.headers = headers;
    outcome o = {0};
    ph_fetch *f = ph_fetch_start(r, &fr, record, &o);
    assert_non_null(f);
    assert_ptr_equal(r->fetches, f);
    assert_true(run_until(&o.calls, 1, 5000));
    assert_int_equal(o.calls, 1);
    assert_ptr_equal(o.req, r);
    assert_int_equal(o.error, PH_FETCH_OK);
    assert_string_equal(o.error_text, "");
    assert_int_equal(o.status, 200);
    assert_int_equal(o.body_len, 11);
    assert_string_equal(o.body, "hello world");
    assert_non_null(strstr(o.headers, "X-Test: yes\n"));
    assert_non_null(strstr(o.headers, "X-Echo-Req: abc\n"));
    assert_non_null(strstr(o.headers, "Content-Length: 11\n"));
    assert_string_equal(T.last_method, "GET");
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", T.port);
    assert_string_equal(T.last_host, host);
    assert_null(r->fetches);
    free(url);
    free_request(r);
}

static void test_post_body_and_content_length_arrive_upstream(void **state)
{
    (void)state;
    ph_request *r = fake_request();
    char *url = url_of(T.port, "/echo");
    static const char payload[] = {'p', 'a', 'y', '\0', 'l', 'o', 'a', 'd'};
    ph_fetch_request fr = get(url);
    fr.method = "POST";
    fr.body = payload;
    fr.body_len = sizeof payload;
    outcome o = {0};
    assert_non_null(ph_fetch_start(r, &fr, record, &o));
    assert_true(run_until(&o.calls, 1, 5000));
    assert_int_equal(o.error, PH_FETCH_OK);
    assert_int_equal(o.status, 201);
    assert_string_equal(T.last_method, "POST");
    assert_string_equal(T.last_content_length, "8");
    assert_int_equal(T.last_body_len, sizeof payload);
    assert_memory_equal(T.last_body, payload, sizeof payload);
    assert_int_equal(o.body_len, sizeof payload);
    assert_memory_equal(o.body, payload, sizeof payload);
    free(url);
    free_request(r);
}

static void test_every_supported_method_reaches_upstream(void **state)
{
    (void)state;
    static const char *methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    char *url = url_of(T.port, "/echo");
    ph_request *r = fake_request();
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        ph_fetch_request fr = get(url);
        fr.method = methods[i];
        fr.body = "xy";
        fr.body_len = strcmp(methods[i], "HEAD") == 0 ? 0 : 2;
        outcome o = {0};
        assert_non_null(ph_fetch_start(r, &fr, record, &o));
        assert_true(run_until(&o.calls, 1, 5000));
        assert_int_equal(o.error, PH_FETCH_OK);
        assert_int_equal(o.status, 201);
        assert_string_equal(T.last_method, methods[i]);
        assert_non_null(strstr(o.headers, "X-Method: "));
        if (strcmp(methods[i], "HEAD") == 0) {
            assert_int_equal(o.body_len, 0);
        } else {
            assert_int_equal(T.last_body_len, 2);
            assert_int_equal(o.body_len, 2);
        }
    }
    free(url);
    free_request(r);
}

static void test_refused_port_reports_refused(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    int port = local_port(fd);
    close(fd); /* nothing listens there now */

    ph_request *r = fake_request();
    char *url = url_of(port, "/x");
    ph_fetch_request fr = get(url);
    outcome o = {0};
    assert_non_null(ph_fetch_start(r, &fr, record, &o));
    assert_int_equal(o.calls, 0); /* never inside fetch() */
    assert_true(run_until(&o.calls, 1, 5000));
    assert_int_equal(o.error, PH_FETCH_REFUSED);
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.error_text, "refused"));
    free(url);
    free_request(r);
}

/* A name goes through evdns (here answered from /etc/hosts). */
static void test_a_host_name_is_resolved(void **state)
{
    (void)state;
    FILE *hosts = fopen("/etc/hosts", "r");
    char line[256];
    bool listed = false;
    while (hosts && fgets(line, sizeof line, hosts))
        listed |= strncmp(line, "127.0.0.1", 9) == 0 && strstr(line, " localhost") != NULL;
    if (hosts)
        fclose(hosts);
    if (!listed) {
        print_message("/etc/hosts does not map localhost to 127.0.0.1; skipped\n");
        skip();
    }
    ph_request *r = fake_request();
    char *url = NULL;
    assert_true(asprintf(&url, "http://localhost:%d/hello", T.port) > 0);
    ph_fetch_request fr = get(url);
    outcome o = {0};
    assert_non_null(ph_fetch_start(r, &fr, record, &o));
    assert_true(run_until(&o.calls, 1, 5000));
    assert_int_equal(o.error, PH_FETCH_OK);
    assert_string_equal(o.body, "hello world");
    char host[64];
    snprintf(host, sizeof host, "localhost:%d", T.port);
    assert_string_equal(T.last_host, host);
    free(url);
    free_request(r);
}

static void test_slow_upstream_times_out(void **state)
{
    (void)state;
    T.slow_delay_ms = 1500;
    ph_request *r = fake_request();
    char *url = url_of(T.port, "/slow");
    ph_fetch_request fr = get(url);
    fr.timeout_ms = 200;
    outcome o = {0};
    uint64_t t0 = now_ms();
    assert_non_null(ph_fetch_start(r, &fr, record, &o));
    assert_true(run_until(&o.calls, 1, 5000));
    uint64_t took = now_ms() - t0;
    assert_int_equal(o.error, PH_FETCH_TIMEOUT);
    assert_non_null(strstr(o.error_text, "200 ms"));
    assert_true(took >= 180 && took < 1200);
    run_for(100);
    assert_int_equal(o.calls, 1);
    free(url);
    free_request(r);
}

static void test_cancel_before_reply_never_calls_back(void **state)
{
    (void)state;
    T.slow_delay_ms = 300;
    ph_request *r = fake_request();
    char *url = url_of(T.port, "/slow");
    ph_fetch_request fr = get(url);
    ph_fetch *f = ph_fetch_start(r, &fr, never, NULL);
    assert_non_null(f);
    run_until(&T.requests, 1, 2000); /* the upstream holds the request */
    assert_int_equal(T.requests, 1);
    ph_fetch_cancel(f);
    assert_null(r->fetches);
    run_for(500); /* the late reply finds a closed connection */
    free(url);
    free_request(r);
}

static void test_cancel_right_after_start_never_calls_back(void **state)
{
    (void)state;
    ph_request *r = fake_request();
    char *url = url_of(T.port, "/hello");
    ph_fetch_request fr = get(url);
    ph_fetch *f = ph_fetch_start(r, &fr, never, NULL);
    assert_non_null(f);
    ph_fetch_cancel(f); /* still connecting */
    assert_null(r->fetches);
    run_for(100);
    free(url);
    free_request(r);
}

static void test_cancel_all_cancels_only_that_request(void **state)
{
    (void)state;
    T.slow_delay_ms = 300;
    ph_request *a = fake_request();
    ph_request *b = fake_request();
    char *slow = url_of(T.port, "/slow");
    char *hello = url_of(T.port, "/hello");
    ph_fetch_request fs = get(slow);
    ph_fetch_request fh = get(hello);
    for (int i = 0; i < 3; i++)
        assert_non_null(ph_fetch_start(a, &fs, never, NULL));
    outcome o = {0};
    assert_non_null(ph_fetch_start(b, &fh, record, &o));
    run_for(50);
    ph_fetch_cancel_all(a);
    assert_null(a->fetches);
    assert_true(run_until(&o.calls, 1, 5000));
    assert_int_equal(o.error, PH_FETCH_OK);
    run_for(400);
    free(slow);
    free(hello);
    free_request(a);
    free_request(b);
}

static void test_cancel_all_frees_fetches_queued_past_the_connection_cap(void **state)
{
    (void)state;
    T.slow_delay_ms = 2000;
    ph_request *r = fake_request();
    char *url = url_of(T.port, "/slow");
    ph_fetch_request fr = get(url);
    for (int i = 0; i < 300; i++) /* 256 connections, 44 waiting */
        assert_non_null(ph_fetch_start(r, &fr, never, NULL));
    run_until(&T.requests, 256, 5000);
    assert_int_equal(T.requests, 256);
    assert_int_equal(T.accepted, 256);
    ph_fetch_cancel_all(r);
    assert_null(r->fetches);
    run_for(500);
    free(url);
    free_request(r);
}

/* upstream_connections: a configured cap of 20 keeps 20 open, the rest wait. */
static void test_configured_connection_cap_is_kept(void **state)
{
    (void)state;
    T.slow_delay_ms = 2000;
    ph_fetch_set_max_connections(20);
    ph_request *r = fake_request();
    char *url = url_of(T.port, "/slow");
    ph_fetch_request fr = get(url);
    for (int i = 0; i < 30; i++)
        assert_non_null(ph_fetch_start(r, &fr, never, NULL));
    run_until(&T.requests, 20, 5000);
    run_for(200); /* no 21st connection shows up */
    assert_int_equal(T.requests, 20);
    assert_int_equal(T.accepted, 20);
    ph_fetch_cancel_all(r);
    ph_fetch_set_max_connections(0); /* back to the default */
    run_for(300);
    free(url);
    free_request(r);
}

static int callbacks_left;

static void count_down(ph_request *req, const ph_fetch_response *resp, void *arg)
{
    (void)req;
    int expect = (int)(intptr_t)arg;
    assert_int_equal(resp->error, PH_FETCH_OK);
    assert_int_equal(resp->status, 200);
    char want[32];
    snprintf(want, sizeof want, "hello %d", expect);
    assert_int_equal(resp->body_len, strlen(want));
    assert_memory_equal(resp->body, want, resp->body_len);
    callbacks_left--;
    total_calls++;
}

static void test_200_concurrent_fetches_all_complete(void **state)
{
    (void)state;
    enum { N = 200 };
    ph_request *reqs[N];
    char *urls[N];
    total_calls = 0;
    callbacks_left = N;
    for (int i = 0; i < N; i++) {
        reqs[i] = fake_request();
        char path[32];
        snprintf(path, sizeof path, "/hello?i=%d", i);
        urls[i] = url_of(T.port, path);
        ph_fetch_request fr = get(urls[i]);
        assert_non_null(ph_fetch_start(reqs[i], &fr, count_down, (void *)(intptr_t)i));
    }
    assert_true(run_until(&total_calls, N, 10000));
    assert_int_equal(callbacks_left, 0);
    assert_int_equal(T.requests, N);
    assert_true(T.accepted >= 1 && T.accepted <= N);
    for (int i = 0; i < N; i++) {
        free(urls[i]);
        free_request(reqs[i]);
    }
}

/* Chain: each callback starts the next fetch on the same request. */
typedef struct chain {
    const char *url;
    int left;
    int done;
} chain;

static void chain_next(ph_request *req, const ph_fetch_response *resp, void *arg)
{
    chain *c = arg;
    assert_int_equal(resp->error, PH_FETCH_OK);
    assert_int_equal(resp->status, 200);
    c->done++;
    if (--c->left > 0) {
        ph_fetch_request fr = get(c->url);
        assert_non_null(ph_fetch_start(req, &fr, chain_next, c));
    }
}

static void test_sequential_fetches_reuse_one_connection(void **state)
{
    (void)state;
    ph_request *r = fake_request();
    char *url = url_of(T.port, "/hello");
    /* started one after the other from the loop */
    for (int i = 0; i < 10; i++) {
        ph_fetch_request fr = get(url);
        outcome o = {0};
        assert_non_null(ph_fetch_start(r, &fr, record, &o));
        assert_true(run_until(&o.calls, 1, 5000));
        assert_int_equal(o.status, 200);
    }
    /* and each from the previous one's callback */
    chain c = {.url = url, .left = 10};
    ph_fetch_request fr = get(url);
    assert_non_null(ph_fetch_start(r, &fr, chain_next, &c));
    assert_true(run_until(&c.done, 10, 5000));
    assert_int_equal(T.requests, 20);
    assert_int_equal(T.accepted, 1);
    free(url);
    free_request(r);
}

static void test_connection_close_response_is_followed_by_a_new_connection(void **state)
{
    (void)state;
    ph_request *r = fake_request();
    char *url = url_of(T.port, "/close");
    for (int i = 0; i < 3; i++) {
        ph_fetch_request fr = get(url);
        outcome o = {0};
        assert_non_null(ph_fetch_start(r, &fr, record, &o));
        assert_true(run_until(&o.calls, 1, 5000));
        assert_int_equal(o.error, PH_FETCH_OK);
        assert_string_equal(o.body, "bye");
    }
    assert_int_equal(T.accepted, 3);
    free(url);
    free_request(r);
}

static void test_bad_url_method_or_header_returns_null(void **state)
{
    (void)state;
    ph_request *r = fake_request();
    static const char *bad_urls[] = {
        "",
        "not a url",
        "ftp://127.0.0.1/x",
        "https://127.0.0.1/x",
        "http:///nohost",
        "http://127.0.0.1:0/x",
        "http://127.0.0.1:99999/x",
        "http://user:pw@127.0.0.1/x",
        "http://127.0.0.1/a b",
        "http://127.0.0.1/\r\nX-Evil: 1",
        "/relative/only",
    };
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        ph_fetch_request fr = get(bad_urls[i]);
        assert_null(ph_fetch_start(r, &fr, never, NULL));
    }
    char *url = url_of(T.port, "/hello");
    ph_fetch_request fr = get(url);
    fr.method = "BREW";
    assert_null(ph_fetch_start(r, &fr, never, NULL));
    fr.method = "get"; /* methods are case-sensitive */
    assert_null(ph_fetch_start(r, &fr, never, NULL));
    fr.method = NULL;
    const char *crlf[] = {"X-A", "1\r\nX-Evil: 2", NULL};
    fr.headers = crlf;
    assert_null(ph_fetch_start(r, &fr, never, NULL));
    const char *badname[] = {"X A", "1", NULL};
    fr.headers = badname;
    assert_null(ph_fetch_start(r, &fr, never, NULL));
    const char *odd[] = {"X-A", NULL};
    fr.headers = odd;
    assert_null(ph_fetch_start(r, &fr, never, NULL));
    fr.headers = NULL;
    fr.body_len = 3; /* without a body */
    assert_null(ph_fetch_start(r, &fr, never, NULL));
    fr.body_len = 0;
    fr.struct_size = 8;
    assert_null(ph_fetch_start(r, &fr, never, NULL));
    fr.struct_size = sizeof fr;
    assert_null(ph_fetch_start(NULL, &fr, never, NULL));
    assert_null(ph_fetch_start(r, &fr, NULL, NULL));
    assert_null(r->fetches);
    run_for(50);
    assert_int_equal(T.requests, 0);
    free(url);
    free_request(r);
}

/* GET /x from the raw upstream answering `reply`, the outcome recorded in
 * *o once its callback ran. Returns the request (free_request it). */
static ph_request *fetch_raw_reply(const char *reply, outcome *o)
{
    T.raw_reply = reply;
    ph_request *r = fake_request();
    char *url = url_of(T.raw_port, "/x");
    ph_fetch_request fr = get(url);
    assert_non_null(ph_fetch_start(r, &fr, record, o));
    assert_true(run_until(&o->calls, 1, 5000));
    free(url);
    return r;
}

static void test_malformed_response_reports_invalid(void **state)
{
    (void)state;
    outcome o = {0};
    ph_request *r = fetch_raw_reply("garbage\r\n\r\n", &o);
    assert_int_equal(o.error, PH_FETCH_INVALID);
    assert_non_null(strstr(o.error_text, "malformed"));
    free_request(r);
}

static void test_connection_closed_mid_response_reports_reset(void **state)
{
    (void)state;
    outcome o = {0};
    ph_request *r = fetch_raw_reply("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", &o);
    assert_int_equal(o.error, PH_FETCH_RESET);
    assert_non_null(strstr(o.error_text, "before the response was complete"));
    free_request(r);
}

/* An upstream's 103 Early Hints before its 200: libevent would take the
 * 103 for the answer (and reuse the connection with the 200 unread), so
 * the fetch reports an upstream error instead (issue 10). */
static void test_interim_103_is_an_upstream_error(void **state)
{
    (void)state;
    outcome o = {0};
    ph_request *r = fetch_raw_reply("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                                    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret", &o);
    assert_int_equal(o.error, PH_FETCH_INVALID);
    assert_non_null(strstr(o.error_text, "interim 103"));
    assert_int_equal(o.body_len, 0);
    run_for(50);
    assert_int_equal(o.calls, 1);
    free_request(r);
}

/* 100 Continue responses are skipped, also when they arrive in the same
 * segment as the final response (which libevent's client lost). */
static void test_100_continue_is_skipped(void **state)
{
    (void)state;
    outcome o = {0};
    ph_request *r = fetch_raw_reply("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\nX-I: 1\r\n\r\n"
                                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &o);
    assert_int_equal(o.error, PH_FETCH_OK);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.body_len, 2);
    assert_string_equal(o.body, "ok");
    assert_null(strstr(o.headers, "X-I"));
    free_request(r);
}

/* A body without length or chunking ends with the connection. */
static void test_body_until_close_is_complete_at_close(void **state)
{
    (void)state;
    outcome o = {0};
    ph_request *r = fetch_raw_reply("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", &o);
    assert_int_equal(o.error, PH_FETCH_OK);
    assert_string_equal(o.body, "all of it");
    free_request(r);
}

/* upstream_max_body bounds a whole-response fetch: declared (Content-Length)
 * or received (chunked) past it, the fetch fails and says why. */
static void test_body_over_upstream_max_body_is_invalid(void **state)
{
    (void)state;
    ph_fetch_set_max_body(5);
    ph_request *r = fake_request();
    char *url = url_of(T.port, "/hello"); /* 11 bytes, declared */
    ph_fetch_request fr = get(url);
    outcome o = {0};
    assert_non_null(ph_fetch_start(r, &fr, record, &o));
    assert_true(run_until(&o.calls, 1, 5000));
    assert_int_equal(o.error, PH_FETCH_INVALID);
    assert_non_null(strstr(o.error_text, "over upstream_max_body (5 bytes)"));
    T.raw_reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n";
    char *raw = url_of(T.raw_port, "/x");
    fr = get(raw);
    outcome o2 = {0};
    assert_non_null(ph_fetch_start(r, &fr, record, &o2));
    assert_true(run_until(&o2.calls, 1, 5000));
    assert_int_equal(o2.error, PH_FETCH_INVALID);
    assert_non_null(strstr(o2.error_text, "upstream_max_body"));
    ph_fetch_set_max_body(8); /* exactly the body: fine */
    outcome o3 = {0};
    assert_non_null(ph_fetch_start(r, &fr, record, &o3));
    assert_true(run_until(&o3.calls, 1, 5000));
    assert_int_equal(o3.error, PH_FETCH_OK);
    assert_string_equal(o3.body, "abcdefgh");
    ph_fetch_set_max_body(0);
    free(url);
    free(raw);
    free_request(r);
}

/* ---- streaming fetch -------------------------------------------------- */

typedef struct stream_seen {
    int heads, ends;
    int status;
    char headers[1024];
    char *body;
    size_t body_len, pieces;
    ph_fetch_error error;
    int end_status;
    char error_text[256];
    /* what the callbacks do */
    bool pause_on_head, pause_on_body, cancel_on_body, end_request_on_body;
} stream_seen;

static void s_head(ph_request *req, ph_fetch *fetch, const ph_fetch_response *head, void *arg)
{
    (void)req;
    stream_seen *s = arg;
    s->heads++;
    assert_int_equal(head->error, PH_FETCH_OK);
    assert_int_equal(head->body_len, 0);
    s->status = head->status;
    size_t used = 0;
    for (size_t i = 0; i < head->nheaders && used < sizeof s->headers - 1; i++) {
        int n = snprintf(s->headers + used, sizeof s->headers - used, "%s: %s\n", head->headers[2 * i],
                         head->headers[2 * i + 1]);
        used = n < 0 || (size_t)n >= sizeof s->headers - used ? sizeof s->headers - 1 : used + (size_t)n;
    }
    if (s->pause_on_head)
        assert_int_equal(ph_fetch_pause(fetch), 0);
}

static void s_body(ph_request *req, ph_fetch *fetch, const void *data, size_t len, void *arg)
{
    stream_seen *s = arg;
    assert_int_equal(s->heads, 1);
    assert_true(len > 0);
    s->body = realloc(s->body, s->body_len + len + 1);
    assert_non_null(s->body);
    memcpy(s->body + s->body_len, data, len);
    s->body_len += len;
    s->body[s->body_len] = '\0';
    s->pieces++;
    if (s->pause_on_body)
        assert_int_equal(ph_fetch_pause(fetch), 0);
    if (s->cancel_on_body)
        ph_fetch_cancel(fetch);
    if (s->end_request_on_body)
        ph_fetch_cancel_all(req); /* what complete() does */
}

static void s_end(ph_request *req, const ph_fetch_response *end, void *arg)
{
    (void)req;
    stream_seen *s = arg;
    s->ends++;
    s->error = end->error;
    s->end_status = end->status;
    snprintf(s->error_text, sizeof s->error_text, "%s", end->error_text);
    assert_int_equal(end->nheaders, 0);
    assert_int_equal(end->body_len, 0);
}

static const ph_fetch_stream_cbs scbs = {
    .struct_size = sizeof(ph_fetch_stream_cbs), .on_head = s_head, .on_body = s_body, .on_end = s_end};

static void test_stream_delivers_head_body_and_end_and_reuses(void **state)
{
    (void)state;
    ph_request *r = fake_request();
    char *url = url_of(T.port, "/hello");
    for (int i = 0; i < 2; i++) {
        stream_seen s = {0};
        ph_fetch_request fr = get(url);
        ph_fetch *f = ph_fetch_start_stream(r, &fr, &scbs, &s);
        assert_non_null(f);
        assert_int_equal(s.heads, 0); /* never inside the call */
        assert_true(run_until(&s.ends, 1, 5000));
        assert_int_equal(s.heads, 1);
        assert_int_equal(s.status, 200);
        assert_non_null(strstr(s.headers, "X-Test: yes\n"));
        assert_string_equal(s.body, "hello world");
        assert_int_equal(s.error, PH_FETCH_OK);
        assert_int_equal(s.end_status, 200);
        assert_null(r->fetches);
        free(s.body);
    }
    assert_int_equal(T.accepted, 1); /* the second one reused the connection */
    free(url);
    free_request(r);
}

static char *big_reply(size_t body_len, char **body_out)
{
    char *reply = malloc(body_len + 128);
    assert_non_null(reply);
    int k = snprintf(reply, 128, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", body_len);
    for (size_t i = 0; i < body_len; i++)
        reply[k + i] = (char)('a' + i % 26);
    reply[k + body_len] = '\0';
    *body_out = reply + k;
    return reply;
}

/* Paused from on_head: no body until resumed, then all of it; paused from
 * each on_body: one piece per resume. */
static void test_stream_pause_holds_the_body_until_resume(void **state)
{
    (void)state;
    enum { BODY = 3 << 20 };
    char *body;
    char *reply = big_reply(BODY, &body);
    T.raw_reply = reply;
    ph_request *r = fake_request();
    char *url = url_of(T.raw_port, "/x");
    stream_seen s = {.pause_on_head = true};
    ph_fetch_request fr = get(url);
    ph_fetch *f = ph_fetch_start_stream(r, &fr, &scbs, &s);
    assert_non_null(f);
    assert_true(run_until(&s.heads, 1, 5000));
    run_for(300);
    assert_int_equal(s.body_len, 0); /* paused: nothing delivered */
    assert_int_equal(s.ends, 0);
    s.pause_on_body = true;
    int pieces = 0;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(ph_fetch_resume(f), 0);
        assert_int_equal(s.pieces, (size_t)pieces); /* never inside resume */
        assert_true(run_until((int *)&s.pieces, pieces + 1, 5000));
        run_for(50);
        pieces++;
        assert_int_equal(s.pieces, (size_t)pieces); /* one piece, then paused again */
    }
    s.pause_on_body = false;
    assert_int_equal(ph_fetch_resume(f), 0);
    assert_true(run_until(&s.ends, 1, 10000));
    assert_int_equal(s.error, PH_FETCH_OK);
    assert_int_equal(s.body_len, BODY);
    assert_memory_equal(s.body, body, BODY);
    free(s.body);
    free(reply);
    free(url);
    free_request(r);
}

/* Cancelled from inside on_body, or by ending the request there: no
 * callback after it (ASan: nothing leaks, nothing is touched late). */
static void test_stream_cancel_inside_on_body(void **state)
{
    (void)state;
    char *body;
    char *reply = big_reply(1 << 20, &body);
    T.raw_reply = reply;
    char *url = url_of(T.raw_port, "/x");
    for (int how = 0; how < 2; how++) {
        ph_request *r = fake_request();
        stream_seen s = {.cancel_on_body = how == 0, .end_request_on_body = how == 1};
        ph_fetch_request fr = get(url);
        assert_non_null(ph_fetch_start_stream(r, &fr, &scbs, &s));
        assert_true(run_until((int *)&s.pieces, 1, 5000));
        run_for(200);
        assert_int_equal(s.pieces, 1);
        assert_int_equal(s.ends, 0);
        assert_null(r->fetches);
        free(s.body);
        free_request(r);
    }
    free(reply);
    free(url);
}

/* After the head, the upstream closing early is an error at the end (the
 * plugin must not take it for a complete body). */
static void test_stream_upstream_closing_mid_body_ends_with_reset(void **state)
{
    (void)state;
    T.raw_reply = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial";
    ph_request *r = fake_request();
    char *url = url_of(T.raw_port, "/x");
    stream_seen s = {0};
    ph_fetch_request fr = get(url);
    assert_non_null(ph_fetch_start_stream(r, &fr, &scbs, &s));
    assert_true(run_until(&s.ends, 1, 5000));
    assert_int_equal(s.heads, 1);
    assert_string_equal(s.body, "partial");
    assert_int_equal(s.error, PH_FETCH_RESET);
    assert_int_equal(s.end_status, 200);
    assert_non_null(strstr(s.error_text, "before the response was complete"));
    free(s.body);
    free(url);
    free_request(r);
}

static void test_stream_head_timeout(void **state)
{
    (void)state;
    T.slow_delay_ms = 1500;
    ph_request *r = fake_request();
    char *url = url_of(T.port, "/slow");
    stream_seen s = {0};
    ph_fetch_request fr = get(url);
    fr.timeout_ms = 200;
    assert_non_null(ph_fetch_start_stream(r, &fr, &scbs, &s));
    assert_true(run_until(&s.ends, 1, 5000));
    assert_int_equal(s.heads, 0);
    assert_int_equal(s.error, PH_FETCH_TIMEOUT);
    assert_non_null(strstr(s.error_text, "no response head within 200 ms"));
    free(url);
    free_request(r);
}

static void test_stream_misuse_is_refused(void **state)
{
    (void)state;
    ph_request *r = fake_request();
    char *url = url_of(T.port, "/hello");
    ph_fetch_request fr = get(url);
    ph_fetch_stream_cbs missing = scbs;
    missing.on_body = NULL;
    assert_null(ph_fetch_start_stream(r, &fr, &missing, NULL));
    ph_fetch_stream_cbs small = scbs;
    small.struct_size = 8;
    assert_null(ph_fetch_start_stream(r, &fr, &small, NULL));
    assert_null(ph_fetch_start_stream(r, &fr, NULL, NULL));
    outcome o = {0};
    ph_fetch *whole = ph_fetch_start(r, &fr, record, &o);
    assert_non_null(whole);
    assert_int_equal(ph_fetch_pause(whole), -1); /* only streaming fetches pause */
    assert_int_equal(ph_fetch_resume(whole), -1);
    assert_int_equal(ph_fetch_pause(NULL), -1);
    assert_true(run_until(&o.calls, 1, 5000));
    assert_int_equal(o.error, PH_FETCH_OK);
    free(url);
    free_request(r);
}

/* The callback ends the request the way complete() does: the request's
 * other fetches are cancelled from inside a fetch callback. */
static void end_request(ph_request *req, const ph_fetch_response *resp, void *arg)
{
    int *calls = arg;
    assert_int_equal(resp->error, PH_FETCH_OK);
    (*calls)++;
    ph_fetch_cancel_all(req);
}

static void test_callback_may_end_the_request(void **state)
{
    (void)state;
    T.slow_delay_ms = 300;
    ph_request *r = fake_request();
    char *slow = url_of(T.port, "/slow");
    char *hello = url_of(T.port, "/hello");
    ph_fetch_request fs = get(slow);
    ph_fetch_request fh = get(hello);
    assert_non_null(ph_fetch_start(r, &fs, never, NULL));
    assert_non_null(ph_fetch_start(r, &fs, never, NULL));
    int calls = 0;
    assert_non_null(ph_fetch_start(r, &fh, end_request, &calls));
    assert_true(run_until(&calls, 1, 5000));
    assert_null(r->fetches);
    run_for(400);
    assert_int_equal(calls, 1);
    free(slow);
    free(hello);
    free_request(r);
}

static void test_shutdown_cancels_fetches_in_flight(void **state)
{
    (void)state;
    T.slow_delay_ms = 200;
    ph_request *r = fake_request();
    char *url = url_of(T.port, "/slow");
    ph_fetch_request fr = get(url);
    assert_non_null(ph_fetch_start(r, &fr, never, NULL));
    assert_non_null(ph_fetch_start(r, &fr, never, NULL));
    run_for(50);
    ph_fetch_shutdown();
    assert_null(r->fetches);
    run_for(300);
    assert_null(ph_fetch_start(r, &fr, never, NULL)); /* not set up any more */
    free(url);
    free_request(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_returns_status_headers_and_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_body_and_content_length_arrive_upstream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_supported_method_reaches_upstream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_port_reports_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_host_name_is_resolved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_upstream_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_before_reply_never_calls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_right_after_start_never_calls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_all_cancels_only_that_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_configured_connection_cap_is_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_all_frees_fetches_queued_past_the_connection_cap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_200_concurrent_fetches_all_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequential_fetches_reuse_one_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_close_response_is_followed_by_a_new_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_url_method_or_header_returns_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_response_reports_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_closed_mid_response_reports_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interim_103_is_an_upstream_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_100_continue_is_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_until_close_is_complete_at_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_over_upstream_max_body_is_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_delivers_head_body_and_end_and_reuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_pause_holds_the_body_until_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_cancel_inside_on_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_upstream_closing_mid_body_ends_with_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_head_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_misuse_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_may_end_the_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_cancels_fetches_in_flight, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
