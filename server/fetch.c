/* fetch.c - the SDK's fetch and fetch_stream: one exchange of a plugin's
 * request over a pooled upstream connection. Loop thread only.
 *
 * Design
 *
 *  Pieces. fetch_url.c parses the URL, fetch_request.c writes the request
 *  bytes, upstream.c lends a connection of the host:port (at most
 *  `upstream_connections` open, a bounded FIFO of waiters, an idle stack
 *  with idle timeout), fetch_parse.c turns the response bytes into events
 *  (HEAD, BODY, END, ERROR). This file runs the exchange and talks to the
 *  plugin.
 *
 *  Life of a fetch. WAITING for a connection (the request bytes wait in
 *  `out`), ACTIVE on it (the bytes moved to its output; the response is
 *  read), and DONE while its final callback runs. An outcome found where
 *  a plugin callback must not run (inside fetch(), or while the pool hands
 *  out connections) is recorded (FAILED) and delivered from the fetch's
 *  timer on the next loop turn: a plugin callback never runs before
 *  fetch() has returned.
 *
 *  Reading. The connection's hooks (and the fetch's timer) run only from
 *  the loop. `process` pulls parser events from the input buffer and acts
 *  on each before draining its bytes: a BODY piece points into the input,
 *  so on_body gets it without a copy. Plugin code never runs with llhttp
 *  on the stack; after every plugin callback the fetch checks whether it
 *  was cancelled meanwhile (then it is freed there) or paused.
 *
 *  Whole-response fetch: the body grows as it arrives, bounded by
 *  `upstream_max_body` (a larger declared or received body is
 *  PH_FETCH_INVALID); `timeout_ms` bounds the whole exchange.
 *  Streaming fetch: `timeout_ms` bounds the wait for the head, then each
 *  silence of the upstream while not paused. Paused, the connection stops
 *  reading (what was read stays in its input, at most
 *  PH_UPSTREAM_READ_MAX, and TCP flow control holds the upstream);
 *  resuming delivers that input from the connection's kick event.
 *
 *  Reuse. A connection goes back to the pool only after a complete
 *  response with keep-alive, its request fully written and nothing left
 *  in its input; anything else (an error, a cancel, a timeout, a 1xx other
 *  than 100, bytes after the response, a body read until close) closes
 *  it.
 *
 *  Delivery. The final callback (the fetch callback, or on_end) runs after
 *  the fetch is unlinked from its request, between ph_watchdog_begin/end:
 *  it may call complete(), which cancels the request's other fetches.
 *  on_head and on_body run with the fetch still linked; fetch_cancel or
 *  complete() inside them marks it dead, and it is freed when they return.
 *
 *  Limits: http only (no TLS); the first address a name resolves to is
 *  used; no automatic retry of a request that met a keep-alive connection
 *  the upstream had just closed (reported as PH_FETCH_RESET).
 */
#include "fetch.h"

#include "buf.h"
#include "fetch_parse.h"
#include "fetch_request.h"
#include "fetch_url.h"
#include "log.h"
#include "request.h"
#include "upstream.h"
#include "watchdog.h"

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_DEFAULT_TIMEOUT_MS 30000u

typedef enum fetch_state {
    FETCH_WAITING, /* for a connection */
    FETCH_ACTIVE,  /* on `conn` */
    FETCH_FAILED,  /* outcome recorded, delivered from `timer` */
    FETCH_DONE,    /* its final callback runs; unlinked */
} fetch_state;

struct ph_fetch {
    ph_request *req;
    bool streaming;
    ph_fetch_cb cb;             /* whole-response */
    ph_fetch_stream_cbs scb;    /* streaming */
    void *arg;
    fetch_state state;
    ph_upwait wait;             /* WAITING */
    ph_upconn *conn;            /* ACTIVE (and FAILED before delivery) */
    struct evbuffer *out;       /* the request, until a connection takes it */
    char *host;                 /* for messages */
    unsigned port;
    ph_resp_parser parser;
    ph_buf body;                /* whole-response */
    bool head_seen;             /* the head was handled (on_head ran) */
    bool paused;
    bool closed;                /* the upstream closed or failed */
    int close_err;              /* ... with this errno, 0 for a close */
    bool in_cb;                 /* on_head / on_body on the stack */
    bool dead;                  /* cancelled inside it: freed when it returns */
    bool linked;                /* on its request's list and F.all */
    struct event *timer;        /* deadline, silence, or deferred delivery */
    uint64_t timeout_ms;
    ph_fetch_error error;       /* FAILED */
    char error_text[256];
    ph_fetch *next;             /* the request's fetches */
    ph_fetch *all_prev, *all_next;
};

static struct {
    struct event_base *base;
    struct evdns_base *dns;
    ph_fetch *all; /* every linked fetch, for shutdown */
    size_t max_body;
} F = {.max_body = PH_FETCH_DEFAULT_MAX_BODY};

static const char *const no_headers[1] = {NULL};

void ph_fetch_set_max_connections(unsigned n) { ph_upstream_set_max_connections(n); }

void ph_fetch_set_max_body(size_t n) { F.max_body = n ? n : PH_FETCH_DEFAULT_MAX_BODY; }

/* ---- lists, freeing --------------------------------------------------- */

static void link_fetch(ph_fetch *f)
{
    f->next = f->req->fetches;
    f->req->fetches = f;
    f->all_prev = NULL;
    f->all_next = F.all;
    if (F.all)
        F.all->all_prev = f;
    F.all = f;
    f->linked = true;
}

static void unlink_fetch(ph_fetch *f)
{
    if (!f->linked)
        return;
    for (ph_fetch **p = &f->req->fetches; *p; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            break;
        }
    }
    if (f->all_prev)
        f->all_prev->all_next = f->all_next;
    else
        F.all = f->all_next;
    if (f->all_next)
        f->all_next->all_prev = f->all_prev;
    f->next = f->all_prev = f->all_next = NULL;
    f->linked = false;
}

static void fetch_free(ph_fetch *f)
{
    if (f->timer)
        event_free(f->timer);
    if (f->out)
        evbuffer_free(f->out);
    ph_resp_free(&f->parser);
    ph_buf_free(&f->body);
    free(f->host);
    free(f);
}

/* Give up what `f` holds in the pool (its place in the queue, its
 * connection: closed, never reused) and its timer. No callback. */
static void fetch_abandon(ph_fetch *f)
{
    if (f->state == FETCH_WAITING)
        ph_upstream_unwait(&f->wait);
    if (f->conn) {
        ph_upconn *c = f->conn;
        f->conn = NULL;
        ph_upconn_release(c, false);
    }
    if (f->timer)
        evtimer_del(f->timer);
}

/* ---- timers ----------------------------------------------------------- */

static void arm_timer(ph_fetch *f, uint64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    if (evtimer_add(f->timer, &tv) < 0)
        event_active(f->timer, EV_TIMEOUT, 0);
}

/* A streaming fetch past its head: the silence limit restarts while it
 * reads, and does not run while it is paused. */
static void rearm_silence(ph_fetch *f)
{
    if (f->streaming && f->head_seen && f->state == FETCH_ACTIVE) {
        if (f->paused)
            evtimer_del(f->timer);
        else
            arm_timer(f, f->timeout_ms);
    }
}

/* ---- outcomes --------------------------------------------------------- */

static void record_error(ph_fetch *f, ph_fetch_error err, const char *fmt, va_list ap)
{
    vsnprintf(f->error_text, sizeof f->error_text, fmt, ap);
    f->error = err;
}

/* Run the final callback with `resp` (which may point into `f`), then
 * free `f`. Its connection has been given back. */
static void deliver(ph_fetch *f, const ph_fetch_response *resp)
{
    ph_request *req = f->req;
    const struct ph_route *route = req->route; /* before: the callback may release req */
    fetch_abandon(f);
    unlink_fetch(f);
    f->state = FETCH_DONE;
    ph_plugin_call call = ph_watchdog_begin(route, f->streaming ? "fetch end callback" : "fetch callback");
    if (f->streaming)
        f->scb.on_end(req, resp, f->arg);
    else
        f->cb(req, resp, f->arg);
    ph_watchdog_end(&call);
    fetch_free(f);
}

static void deliver_recorded(ph_fetch *f)
{
    ph_fetch_response resp = {
        .struct_size = sizeof resp,
        .error = f->error,
        .error_text = f->error_text,
        .status = f->head_seen ? ph_resp_status(&f->parser) : 0,
        .nheaders = 0,
        .headers = no_headers,
        .body = "",
        .body_len = 0,
    };
    deliver(f, &resp);
}

/* Fail now (from the loop: a hook or the timer). */
static void fail_now(ph_fetch *f, ph_fetch_error err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail_now(ph_fetch *f, ph_fetch_error err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record_error(f, err, fmt, ap);
    va_end(ap);
    deliver_recorded(f);
}

/* Fail on the next loop turn (from where no plugin callback may run). */
static void fail_soon(ph_fetch *f, ph_fetch_error err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail_soon(ph_fetch *f, ph_fetch_error err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record_error(f, err, fmt, ap);
    va_end(ap);
    f->state = FETCH_FAILED;
    struct timeval now = {0, 0};
    if (evtimer_add(f->timer, &now) < 0)
        event_active(f->timer, EV_TIMEOUT, 0);
}

/* ---- the response ----------------------------------------------------- */

/* Run on_head or on_body (`head` NULL) for a streaming fetch. Returns
 * false when the fetch is gone afterwards (cancelled inside: freed here). */
static bool run_stream_cb(ph_fetch *f, const ph_fetch_response *head, const char *data, size_t len)
{
    const struct ph_route *route = f->req->route;
    f->in_cb = true;
    ph_plugin_call call = ph_watchdog_begin(route, head ? "fetch head callback" : "fetch body callback");
    if (head)
        f->scb.on_head(f->req, f, head, f->arg);
    else
        f->scb.on_body(f->req, f, data, len, f->arg);
    ph_watchdog_end(&call);
    f->in_cb = false;
    if (f->dead) {
        fetch_free(f);
        return false;
    }
    return true;
}

/* The head arrived. Returns false when the fetch is over. */
static bool got_head(ph_fetch *f)
{
    f->head_seen = true;
    if (!f->streaming) {
        uint64_t declared;
        if (ph_resp_declared_length(&f->parser, &declared) && declared > F.max_body) {
            fail_now(f, PH_FETCH_INVALID,
                     "the response body from %s:%u declares %llu bytes, over upstream_max_body (%zu bytes)", f->host,
                     f->port, (unsigned long long)declared, F.max_body);
            return false;
        }
        return true;
    }
    size_t n;
    const char *const *pairs = ph_resp_headers(&f->parser, &n);
    if (!pairs) {
        fail_now(f, PH_FETCH_INVALID, "no memory for the response head from %s:%u", f->host, f->port);
        return false;
    }
    rearm_silence(f); /* from now on the head deadline is a silence limit */
    ph_fetch_response head = {
        .struct_size = sizeof head,
        .error = PH_FETCH_OK,
        .error_text = "",
        .status = ph_resp_status(&f->parser),
        .nheaders = n,
        .headers = pairs,
        .body = "",
        .body_len = 0,
    };
    return run_stream_cb(f, &head, NULL, 0);
}

/* A piece of body. Returns false when the fetch is over. */
static bool got_body(ph_fetch *f, const char *piece, size_t len)
{
    if (f->streaming)
        return run_stream_cb(f, NULL, piece, len);
    if (!len)
        return true;
    if (len > F.max_body - f->body.len) {
        fail_now(f, PH_FETCH_INVALID, "the response body from %s:%u is over upstream_max_body (%zu bytes)", f->host,
                 f->port, F.max_body);
        return false;
    }
    uint64_t declared; /* (at most upstream_max_body: got_head checked) */
    size_t most = ph_resp_declared_length(&f->parser, &declared) ? (size_t)declared : F.max_body;
    if (ph_buf_reserve_capped(&f->body, len, PH_BUF_BODY_FIRST, most) < 0) {
        fail_now(f, PH_FETCH_INVALID, "no memory for the response body from %s:%u", f->host, f->port);
        return false;
    }
    memcpy(f->body.data + f->body.len, piece, len);
    f->body.len += len;
    return true;
}

/* The response is complete: give the connection back (for reuse when
 * clean) and deliver. */
static void got_end(ph_fetch *f)
{
    ph_upconn *c = f->conn;
    bool reuse = ph_resp_keep_alive(&f->parser) && !f->closed && evbuffer_get_length(ph_upconn_input(c)) == 0 &&
                 evbuffer_get_length(ph_upconn_output(c)) == 0;
    f->conn = NULL;
    ph_upconn_release(c, reuse);
    size_t n = 0;
    const char *const *pairs = f->streaming ? no_headers : ph_resp_headers(&f->parser, &n);
    if (!pairs) {
        fail_now(f, PH_FETCH_INVALID, "no memory for the response from %s:%u", f->host, f->port);
        return;
    }
    ph_fetch_response resp = {
        .struct_size = sizeof resp,
        .error = PH_FETCH_OK,
        .error_text = "",
        .status = ph_resp_status(&f->parser),
        .nheaders = n,
        .headers = pairs,
        .body = f->body.len ? f->body.data : "",
        .body_len = f->body.len,
    };
    deliver(f, &resp);
}

/* The upstream closed (or failed) and its input is used up. */
static void got_close(ph_fetch *f)
{
    if (f->close_err) {
        fail_now(f, PH_FETCH_RESET, "connection to %s:%u %s before the response was complete: %s", f->host, f->port,
                 f->close_err == ECONNRESET || f->close_err == EPIPE ? "reset" : "failed", strerror(f->close_err));
        return;
    }
    if (ph_resp_parse_eof(&f->parser) == PH_RESP_END) {
        got_end(f); /* a body that runs until close */
        return;
    }
    fail_now(f, PH_FETCH_RESET, "connection to %s:%u closed before the response was complete", f->host, f->port);
}

/* Read what the connection has, event by event, until it is used up,
 * the fetch pauses, or it is over. */
static void process(ph_fetch *f)
{
    if (f->state != FETCH_ACTIVE)
        return;
    struct evbuffer *in = ph_upconn_input(f->conn);
    bool progressed = false;
    while (!f->paused) {
        if (evbuffer_get_length(in) == 0) {
            if (f->closed) {
                got_close(f);
                return;
            }
            break;
        }
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        const char *piece;
        size_t piece_len, used;
        ph_resp_event ev = ph_resp_parse(&f->parser, v.iov_base, v.iov_len, &used, &piece, &piece_len);
        progressed = true;
        switch (ev) {
        case PH_RESP_MORE:
            break;
        case PH_RESP_HEAD:
            if (!got_head(f))
                return;
            break;
        case PH_RESP_BODY:
            if (!got_body(f, piece, piece_len))
                return;
            break;
        case PH_RESP_END:
            evbuffer_drain(in, used);
            got_end(f);
            return;
        case PH_RESP_ERROR:
        default:
            fail_now(f, PH_FETCH_INVALID, "%s from %s:%u", ph_resp_why(&f->parser), f->host, f->port);
            return;
        }
        evbuffer_drain(in, used);
    }
    if (progressed)
        rearm_silence(f);
}

/* ---- the connection's hooks ------------------------------------------ */

static void on_granted(void *owner, ph_upconn *c)
{
    ph_fetch *f = owner;
    if (!c) {
        fail_soon(f, PH_FETCH_REFUSED, "could not open a connection to %s:%u (no memory)", f->host, f->port);
        return;
    }
    f->state = FETCH_ACTIVE;
    f->conn = c;
    if (f->paused)
        ph_upconn_read(c, false);
    if (evbuffer_add_buffer(ph_upconn_output(c), f->out) < 0)
        fail_soon(f, PH_FETCH_REFUSED, "could not send the request to %s:%u (no memory)", f->host, f->port);
}

static void on_readable(void *owner) { process(owner); }

static void on_closed(void *owner, ph_fetch_error kind, int err, const char *why)
{
    ph_fetch *f = owner;
    if (f->state != FETCH_ACTIVE)
        return;
    if (kind != PH_FETCH_RESET) {
        fail_now(f, kind, "%s", why);
        return;
    }
    f->closed = true;
    f->close_err = err;
    process(f); /* what is left in the input, then the close (unless paused) */
}

static const ph_upconn_hooks fetch_hooks = {
    .granted = on_granted,
    .readable = on_readable,
    .closed = on_closed,
};

/* The fetch's timer: a deferred outcome is due, or time is up. */
static void on_fetch_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_fetch *f = arg;
    if (f->state == FETCH_FAILED) {
        deliver_recorded(f);
        return;
    }
    unsigned long long ms = (unsigned long long)f->timeout_ms;
    if (!f->streaming)
        fail_now(f, PH_FETCH_TIMEOUT, "no complete response within %llu ms", ms);
    else if (!f->head_seen)
        fail_now(f, PH_FETCH_TIMEOUT, "no response head within %llu ms", ms);
    else
        fail_now(f, PH_FETCH_TIMEOUT, "the upstream sent nothing for %llu ms", ms);
}

/* ---- starting --------------------------------------------------------- */

/* Start a fetch (`cb` for a whole response, else `scb`). Invalid input
 * (URL, method, headers, struct sizes) or no memory: NULL, logged, nothing
 * started. Everything that happens on the network reaches the plugin
 * later, from the loop. */
static ph_fetch *start(ph_request *req, const ph_fetch_request *freq, ph_fetch_cb cb, const ph_fetch_stream_cbs *scb,
                       void *arg)
{
    const char *why = NULL;
    ph_fetch_url u = {0};
    ph_fetch *f = NULL;
    const char *url = freq && freq->url ? freq->url : "(none)";

    if (!F.base) {
        why = "fetch is not set up";
        goto fail;
    }
    if (!req || !freq || !freq->url || (!cb && !scb)) {
        why = "missing request, URL or callback";
        goto fail;
    }
    if (freq->struct_size < offsetof(ph_fetch_request, timeout_ms) + sizeof freq->timeout_ms) {
        why = "ph_fetch_request too small (struct_size)";
        goto fail;
    }
    if (scb && (scb->struct_size < offsetof(ph_fetch_stream_cbs, on_end) + sizeof scb->on_end || !scb->on_head ||
                !scb->on_body || !scb->on_end)) {
        why = "ph_fetch_stream_cbs needs struct_size and on_head, on_body and on_end";
        goto fail;
    }
    if (ph_fetch_url_parse(freq->url, &u, &why) < 0)
        goto fail;
    f = calloc(1, sizeof *f);
    if (!f || !(f->out = evbuffer_new()) || !(f->timer = evtimer_new(F.base, on_fetch_timer, f))) {
        why = "no memory";
        goto fail;
    }
    bool head_request = false;
    if (ph_fetch_request_write(f->out, freq, &u, &head_request, &why) < 0)
        goto fail;
    ph_resp_init(&f->parser, head_request);
    f->req = req;
    f->streaming = scb != NULL;
    f->cb = cb;
    if (scb) /* (a newer plugin's struct may be larger) */
        memcpy(&f->scb, scb, scb->struct_size < sizeof f->scb ? scb->struct_size : sizeof f->scb);
    f->arg = arg;
    f->host = u.host;
    u.host = NULL;
    f->port = u.port;
    f->timeout_ms = freq->timeout_ms ? freq->timeout_ms : FETCH_DEFAULT_TIMEOUT_MS;
    f->state = FETCH_WAITING;
    f->wait.hooks = &fetch_hooks;
    f->wait.owner = f;
    arm_timer(f, f->timeout_ms);
    link_fetch(f);
    if (ph_upstream_wait(&f->wait, f->host, f->port) < 0) {
        unlink_fetch(f);
        why = "too many fetches waiting for this upstream";
        goto fail;
    }
    ph_fetch_url_free(&u);
    return f;

fail:
    ph_log_warn("fetch: %s: %.200s", why, url);
    if (f)
        fetch_free(f);
    ph_fetch_url_free(&u);
    return NULL;
}

ph_fetch *ph_fetch_start(ph_request *req, const ph_fetch_request *freq, ph_fetch_cb cb, void *arg)
{
    return start(req, freq, cb, NULL, arg);
}

ph_fetch *ph_fetch_start_stream(ph_request *req, const ph_fetch_request *freq, const ph_fetch_stream_cbs *cbs,
                                void *arg)
{
    if (!cbs) {
        ph_log_warn("fetch: fetch_stream() without callbacks: %.200s", freq && freq->url ? freq->url : "(none)");
        return NULL;
    }
    return start(req, freq, NULL, cbs, arg);
}

/* ---- pause, resume, cancel -------------------------------------------- */

/* Is `f` a streaming fetch whose end has not come? Logs why not. */
static bool pausable(const ph_fetch *f, const char *slot)
{
    const char *why = !f                                        ? "a NULL fetch"
                      : !f->streaming                           ? "a fetch started with fetch() (only fetch_stream() fetches pause)"
                      : f->dead || f->state == FETCH_DONE      ? "a fetch that has ended"
                                                                : NULL;
    if (why)
        ph_log_error("%s on %s; refused", slot, why);
    return why == NULL;
}

int ph_fetch_pause(ph_fetch *f)
{
    if (!pausable(f, "fetch_pause()"))
        return -1;
    if (f->paused)
        return 0;
    f->paused = true;
    if (f->conn)
        ph_upconn_read(f->conn, false);
    rearm_silence(f);
    return 0;
}

int ph_fetch_resume(ph_fetch *f)
{
    if (!pausable(f, "fetch_resume()"))
        return -1;
    if (!f->paused)
        return 0;
    f->paused = false;
    if (f->conn && f->state == FETCH_ACTIVE) {
        ph_upconn_read(f->conn, true);
        ph_upconn_kick(f->conn); /* what is buffered, from the loop */
    }
    rearm_silence(f);
    return 0;
}

/* See fetch.h. Safe from inside another fetch's callback, and from
 * inside this one's on_head/on_body. */
void ph_fetch_cancel(ph_fetch *f)
{
    if (!f || f->dead || f->state == FETCH_DONE)
        return;
    fetch_abandon(f);
    unlink_fetch(f);
    if (f->in_cb)
        f->dead = true; /* freed when its callback returns */
    else
        fetch_free(f);
}

/* See fetch.h. Safe from inside a callback of one of req's fetches. */
void ph_fetch_cancel_all(ph_request *req)
{
    if (!req)
        return;
    while (req->fetches)
        ph_fetch_cancel(req->fetches); /* unlinks it */
}

/* ---- setup / shutdown ------------------------------------------------- */

/* See fetch.h. Reads /etc/resolv.conf and /etc/hosts; without a usable
 * resolv.conf only /etc/hosts names and numeric hosts resolve (logged).
 * Calling it again shuts the previous setup down first. */
int ph_fetch_setup(struct event_base *base)
{
    if (F.base)
        ph_fetch_shutdown();
    F.all = NULL;
    F.dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!F.dns) {
        ph_log_warn("fetch: could not read the resolver configuration; only /etc/hosts and numeric hosts resolve");
        F.dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (F.dns)
            evdns_base_load_hosts(F.dns, NULL);
    }
    if (!F.dns) {
        ph_log_error("fetch: could not create the DNS resolver");
        return -1;
    }
    if (ph_upstream_setup(base, F.dns) < 0) {
        evdns_base_free(F.dns, 0);
        F.dns = NULL;
        return -1;
    }
    F.base = base;
    return 0;
}

/* See fetch.h. No callback runs. Call it while the requests that still
 * have fetches exist (it unlinks each fetch from its request), before the
 * event base is freed, and not from inside a fetch callback. Idempotent. */
void ph_fetch_shutdown(void)
{
    if (!F.base)
        return;
    while (F.all)
        ph_fetch_cancel(F.all);
    ph_upstream_shutdown();
    evdns_base_free(F.dns, 0);
    F.dns = NULL;
    F.base = NULL;
}

