/* fetch.c - outbound HTTP/1.1 for async plugins (the SDK's fetch), on
 * libevent's HTTP client (evhttp_connection) and evdns. Loop thread only.
 *
 * Design
 *
 *  Upstreams. Connections are pooled per host:port in an `upstream`. Each
 *  evhttp_connection carries one request at a time here (two are never
 *  queued on one: libevent would not pipeline them anyway), so concurrent
 *  fetches to one upstream use several connections, at most
 *  max_conns ([server] upstream_connections, default 256); past that a fetch waits in the upstream's FIFO (at most
 *  FETCH_MAX_WAITING, past that fetch() returns NULL). When a response
 *  completes, its connection goes to the oldest waiting fetch or onto the
 *  upstream's idle stack (at most FETCH_MAX_IDLE kept, each freed after
 *  FETCH_IDLE_MS unused). An idle evhttp_connection that the server closed
 *  is reconnected by libevent on its next request.
 *
 *  Discarding. A connection that saw an error, a cancel, a timeout or an
 *  interim 1xx response other than 100 Continue (libevent would end the
 *  exchange there, with the final response still to come) is never reused: it joins the graveyard, which a separate event (the
 *  reaper) frees on the next loop turn. So no evhttp_connection is freed
 *  inside one of libevent's own callbacks for it (libevent may still touch
 *  it after our callback returns).
 *
 *  Outcomes. libevent reports a failure as error_cb(kind) then cb(NULL), a
 *  refused connection as cb(req) with response code 0 and no error_cb, and
 *  after evhttp_cancel_request only error_cb(CANCEL), synchronously.
 *  on_error records the kind in the fetch; on_done delivers. A failure
 *  libevent reports synchronously inside evhttp_make_request is recorded
 *  and delivered from the fetch's timer on the next loop turn, so a plugin
 *  callback never runs before fetch() has returned.
 *
 *  Timer. Each fetch owns one evtimer: the whole-exchange timeout (waiting
 *  for a connection included) and the vehicle of deferred delivery.
 *
 *  Delivery. The fetch is unlinked from its request and freed first, then
 *  the plugin callback runs between ph_watchdog_begin/end: it may call
 *  complete(), which releases the request and cancels its other fetches.
 *
 *  Limits: http only (no TLS); the first address a name resolves to is
 *  used; no automatic retry of a request that met a keep-alive connection
 *  the upstream had just closed (reported as PH_FETCH_RESET).
 *
 * Every function in this file runs on the loop thread.
 */
#include "fetch.h"

#include "log.h"
#include "request.h"
#include "watchdog.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_DEFAULT_TIMEOUT_MS 30000u
#define FETCH_DEFAULT_MAX_CONNS 256u /* connections per upstream, unless configured */
#define FETCH_MAX_IDLE 64u      /* idle connections kept per upstream */
#define FETCH_MAX_WAITING 4096u /* fetches queued per upstream */

static unsigned max_conns = FETCH_DEFAULT_MAX_CONNS;

void ph_fetch_set_max_connections(unsigned n) { max_conns = n ? n : FETCH_DEFAULT_MAX_CONNS; }
#define FETCH_IDLE_MS 30000u
#define FETCH_MAX_URL 8192u
#define FETCH_MAX_HEADERS_SIZE (64 * 1024)
#define FETCH_MAX_BODY_SIZE (64 * 1024 * 1024)
/* libevent's own connect/read/write timeouts: far out, timeout_ms rules */
#define FETCH_IO_TIMEOUT_S (7 * 24 * 3600)

typedef struct upstream upstream;

typedef struct fetch_conn {
    struct evhttp_connection *evcon;
    upstream *up;            /* NULL once discarded */
    struct event *idle_ev;   /* idle timeout while on the idle stack */
    struct fetch_conn *next; /* idle stack or graveyard */
    bool was_open;           /* libevent closed it connected (closecb) */
} fetch_conn;

struct upstream {
    char *host;        /* as connected: IPv6 without brackets */
    unsigned port;
    fetch_conn *idle;  /* most recently used first */
    unsigned nidle;
    unsigned nconns;   /* idle + busy */
    ph_fetch *wait_head, *wait_tail;
    unsigned nwait;
    upstream *next;
};

typedef enum fetch_state {
    FETCH_WAITING,  /* queued on `up` for a connection; we own `ereq` */
    FETCH_ACTIVE,   /* on `conn`; libevent owns `ereq` */
    FETCH_DEFERRED, /* outcome recorded, delivered from `timer` */
} fetch_state;

struct ph_fetch {
    ph_request *req;
    ph_fetch_cb cb;
    void *arg;
    fetch_state state;
    bool in_make;                 /* inside evhttp_make_request */
    bool has_error;               /* error/error_text recorded */
    enum evhttp_cmd_type type;
    char *target;                 /* request-target: /path[?query] */
    upstream *up;                 /* WAITING, ACTIVE */
    fetch_conn *conn;             /* ACTIVE */
    struct evhttp_request *ereq;  /* WAITING, ACTIVE */
    struct event *timer;
    uint64_t timeout_ms;
    ph_fetch_error error;
    char error_text[200];
    ph_fetch *next;               /* the request's fetches */
    ph_fetch *wait_prev, *wait_next;
    ph_fetch *all_prev, *all_next;
};

static struct {
    struct event_base *base;
    struct evdns_base *dns;
    struct event *reaper;
    fetch_conn *graveyard;
    upstream *upstreams;
    ph_fetch *all;      /* every live fetch, for shutdown */
    bool shutting_down;
} F;

static const char *const no_headers[1] = {NULL};

/* ---- connections ---------------------------------------------------- */

/* Free a discarded connection now. Never from inside a libevent callback
 * of that connection: only the reaper and shutdown call it. */
static void conn_free(fetch_conn *c)
{
    evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    evhttp_connection_free(c->evcon);
    event_free(c->idle_ev);
    free(c);
}

/* The reaper event (and shutdown): free every discarded connection. */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    while (F.graveyard) {
        fetch_conn *c = F.graveyard;
        F.graveyard = c->next;
        conn_free(c);
    }
}

/* Take `c` out of service (its upstream's count drops now) and free it on
 * the next loop turn. NULL is ignored. */
static void conn_discard(fetch_conn *c)
{
    if (!c)
        return;
    if (c->up)
        c->up->nconns--;
    c->up = NULL;
    evtimer_del(c->idle_ev);
    c->next = F.graveyard;
    F.graveyard = c;
    event_active(F.reaper, EV_TIMEOUT, 0);
}

/* libevent closes a connection that was established: remember it, so an
 * error is told apart as "reset" (was open) or "could not connect". */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    fetch_conn *c = arg;
    c->was_open = true;
}

static void upstream_maybe_free(upstream *up);

/* An idle connection went unused for FETCH_IDLE_MS: close and free it. */
static void on_idle_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fetch_conn *c = arg;
    upstream *up = c->up;
    for (fetch_conn **p = &up->idle; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            up->nidle--;
            break;
        }
    }
    conn_discard(c);
    upstream_maybe_free(up);
}

/* A new (unconnected) connection to `up`, counted in up->nconns, or NULL
 * (no memory; logged). */
static fetch_conn *conn_new(upstream *up)
{
    fetch_conn *c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->evcon = evhttp_connection_base_new(F.base, F.dns, up->host, (ev_uint16_t)up->port);
    if (!c->evcon)
        goto fail;
    c->idle_ev = evtimer_new(F.base, on_idle_timeout, c);
    if (!c->idle_ev)
        goto fail;
    struct timeval io = {.tv_sec = FETCH_IO_TIMEOUT_S, .tv_usec = 0};
    evhttp_connection_set_timeout_tv(c->evcon, &io);
    evhttp_connection_set_max_headers_size(c->evcon, FETCH_MAX_HEADERS_SIZE);
    evhttp_connection_set_max_body_size(c->evcon, FETCH_MAX_BODY_SIZE);
    evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
    /* not EVHTTP_CON_READ_ON_WRITE_ERROR: in libevent 2.1 it turns an EOF
     * in the middle of a body into a stall (until our timeout) */
    c->up = up;
    up->nconns++;
    return c;
fail:
    ph_log_error("fetch: no memory for a connection to %s:%u", up->host, up->port);
    if (c) {
        if (c->evcon)
            evhttp_connection_free(c->evcon);
        free(c);
    }
    return NULL;
}

/* ---- upstreams -------------------------------------------------------- */

/* The upstream for host:port, created if needed; NULL when out of memory. */
static upstream *upstream_get(const char *host, unsigned port)
{
    for (upstream *up = F.upstreams; up; up = up->next) {
        if (up->port == port && evutil_ascii_strcasecmp(up->host, host) == 0)
            return up;
    }
    upstream *up = calloc(1, sizeof *up);
    if (!up)
        return NULL;
    up->host = strdup(host);
    if (!up->host) {
        free(up);
        return NULL;
    }
    up->port = port;
    up->next = F.upstreams;
    F.upstreams = up;
    return up;
}

/* Free `up` when it has no connection and no waiting fetch. */
static void upstream_maybe_free(upstream *up)
{
    if (!up || up->nconns > 0 || up->nwait > 0)
        return;
    for (upstream **p = &F.upstreams; *p; p = &(*p)->next) {
        if (*p == up) {
            *p = up->next;
            break;
        }
    }
    free(up->host);
    free(up);
}

static void wait_push(upstream *up, ph_fetch *f)
{
    f->wait_next = NULL;
    f->wait_prev = up->wait_tail;
    if (up->wait_tail)
        up->wait_tail->wait_next = f;
    else
        up->wait_head = f;
    up->wait_tail = f;
    up->nwait++;
}

static void wait_remove(upstream *up, ph_fetch *f)
{
    if (f->wait_prev)
        f->wait_prev->wait_next = f->wait_next;
    else
        up->wait_head = f->wait_next;
    if (f->wait_next)
        f->wait_next->wait_prev = f->wait_prev;
    else
        up->wait_tail = f->wait_prev;
    f->wait_prev = f->wait_next = NULL;
    up->nwait--;
}

/* ---- recording and delivering outcomes -------------------------------- */

/* Remember outcome `err` with a printf-formatted reason (truncated to
 * fit error_text) for later delivery. */
static void record_error(ph_fetch *f, ph_fetch_error err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void record_error(ph_fetch *f, ph_fetch_error err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->error_text, sizeof f->error_text, fmt, ap);
    va_end(ap);
    f->error = err;
    f->has_error = true;
}

/* Deliver a recorded outcome from the timer on the next loop turn. */
static void defer_delivery(ph_fetch *f)
{
    f->state = FETCH_DEFERRED;
    f->up = NULL;
    f->conn = NULL;
    struct timeval now = {0, 0};
    if (evtimer_add(f->timer, &now) < 0)
        event_active(f->timer, EV_TIMEOUT, 0);
}

/* Unlink `f` from its request and the global list and free it. Any
 * libevent request it still owns (WAITING) is freed too. */
static void fetch_destroy(ph_fetch *f)
{
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
    if (f->ereq)
        evhttp_request_free(f->ereq);
    event_free(f->timer);
    free(f->target);
    free(f);
}

/* Free `f`, then run the plugin callback with `resp` under the watchdog.
 * `resp` must not point into `f`. */
static void deliver(ph_fetch *f, const ph_fetch_response *resp)
{
    ph_request *req = f->req;
    ph_fetch_cb cb = f->cb;
    void *arg = f->arg;
    const struct ph_route *route = req->route; /* before: cb may release req */
    fetch_destroy(f);
    ph_plugin_call call = ph_watchdog_begin(route, "fetch callback");
    cb(req, resp, arg);
    ph_watchdog_end(&call);
}

static void deliver_error(ph_fetch *f, ph_fetch_error err, const char *text)
{
    char buf[sizeof f->error_text];
    snprintf(buf, sizeof buf, "%s", text);
    ph_fetch_response resp = {
        .struct_size = sizeof resp,
        .error = err,
        .error_text = buf,
        .status = 0,
        .nheaders = 0,
        .headers = no_headers,
        .body = "",
        .body_len = 0,
    };
    deliver(f, &resp);
}

static void deliver_recorded(ph_fetch *f)
{
    if (!f->has_error)
        record_error(f, PH_FETCH_RESET, "the exchange failed for an unknown reason");
    deliver_error(f, f->error, f->error_text);
}

/* ---- sending ---------------------------------------------------------- */

static void on_done(struct evhttp_request *r, void *arg);
static void on_error(enum evhttp_request_error kind, void *arg);

/* Hand `f` (WAITING or new, owning f->ereq) to connection `c` of `up`.
 * Afterwards f is ACTIVE, or DEFERRED when libevent failed it at once
 * (its connection then discarded). Never calls plugin code. */
static void fetch_send(ph_fetch *f, upstream *up, fetch_conn *c)
{
    struct evhttp_request *ereq = f->ereq;
    f->state = FETCH_ACTIVE;
    f->up = up;
    f->conn = c;
    c->was_open = false;
    f->in_make = true;
    int rc = evhttp_make_request(c->evcon, ereq, f->type, f->target);
    f->in_make = false;
    if (f->state == FETCH_DEFERRED) {
        /* on_done ran inside evhttp_make_request and discarded c */
        return;
    }
    if (rc < 0) {
        /* libevent freed ereq (it fails only when copying the target;
         * it fails with a queued request only for a local bind, unused) */
        f->ereq = NULL;
        conn_discard(c);
        record_error(f, PH_FETCH_REFUSED, "could not send the request to %s:%u (no memory)", up->host,
                     up->port);
        defer_delivery(f);
    }
}

/* Start waiting fetches of `up` while it has idle connections or room for
 * new ones. Does nothing while shutting down. Never calls plugin code. */
static void pump(upstream *up)
{
    while (!F.shutting_down && up->wait_head && (up->idle || up->nconns < max_conns)) {
        ph_fetch *f = up->wait_head;
        wait_remove(up, f);
        fetch_conn *c = up->idle;
        if (c) {
            up->idle = c->next;
            up->nidle--;
            evtimer_del(c->idle_ev);
        } else {
            c = conn_new(up);
        }
        if (!c) {
            evhttp_request_free(f->ereq);
            f->ereq = NULL;
            record_error(f, PH_FETCH_REFUSED, "could not open a connection to %s:%u (no memory)", up->host,
                         up->port);
            defer_delivery(f);
            continue;
        }
        fetch_send(f, up, c);
    }
}

/* A connection whose exchange completed: onto the idle stack (discarded
 * when the stack is full or shutting down), then pump() hands it to the
 * oldest waiting fetch if there is one. Never calls plugin code. */
static void conn_release(upstream *up, fetch_conn *c)
{
    struct timeval idle = {.tv_sec = FETCH_IDLE_MS / 1000, .tv_usec = (FETCH_IDLE_MS % 1000) * 1000};
    if (F.shutting_down || up->nidle >= FETCH_MAX_IDLE || evtimer_add(c->idle_ev, &idle) < 0) {
        conn_discard(c);
    } else {
        c->next = up->idle;
        up->idle = c;
        up->nidle++;
    }
    pump(up);
}

/* Release what an unfinished fetch holds in libevent and the pool, without
 * any callback: a WAITING fetch leaves its queue and frees its request; an
 * ACTIVE one is cancelled in libevent and its connection discarded. The
 * fetch itself stays allocated and linked (DEFERRED). */
static void fetch_abandon(ph_fetch *f)
{
    upstream *up = f->up;
    if (f->state == FETCH_WAITING) {
        wait_remove(up, f);
        evhttp_request_free(f->ereq);
        f->ereq = NULL;
        f->state = FETCH_DEFERRED;
        f->up = NULL;
        upstream_maybe_free(up);
    } else if (f->state == FETCH_ACTIVE) {
        struct evhttp_request *ereq = f->ereq;
        fetch_conn *c = f->conn;
        f->ereq = NULL;
        f->conn = NULL;
        f->up = NULL;
        f->state = FETCH_DEFERRED;
        /* calls on_error(CANCEL) at once, never on_done */
        evhttp_cancel_request(ereq);
        conn_discard(c);
        pump(up);
        upstream_maybe_free(up);
    }
}

/* ---- libevent callbacks ----------------------------------------------- */

/* The DNS error recorded on connection `c`, or 0. */
static int conn_dns_error(const fetch_conn *c)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
    int err = bev ? bufferevent_socket_get_dns_error(bev) : 0;
    return err == EVUTIL_EAI_CANCEL ? 0 : err;
}

/* libevent's error callback: record what went wrong (delivered by on_done,
 * which follows unless the request was cancelled by us). */
static void on_error(enum evhttp_request_error kind, void *arg)
{
    int saved = errno;
    ph_fetch *f = arg;
    if (kind == EVREQ_HTTP_REQUEST_CANCEL || f->state != FETCH_ACTIVE || !f->conn)
        return;
    const fetch_conn *c = f->conn;
    const upstream *up = f->up;
    int dns = conn_dns_error(c);
    switch (kind) {
    case EVREQ_HTTP_TIMEOUT:
        record_error(f, PH_FETCH_TIMEOUT, "connection to %s:%u timed out", up->host, up->port);
        break;
    case EVREQ_HTTP_INVALID_HEADER:
        record_error(f, PH_FETCH_INVALID, "malformed response from %s:%u", up->host, up->port);
        break;
    case EVREQ_HTTP_DATA_TOO_LONG:
        record_error(f, PH_FETCH_INVALID,
                     "response from %s:%u is malformed or too large (limits: %d KiB of headers, %d MiB of body)",
                     up->host, up->port, FETCH_MAX_HEADERS_SIZE / 1024, FETCH_MAX_BODY_SIZE / (1024 * 1024));
        break;
    case EVREQ_HTTP_EOF:
    case EVREQ_HTTP_BUFFER_ERROR:
    default:
        if (dns) {
            record_error(f, PH_FETCH_DNS, "could not resolve %s: %s", up->host, evutil_gai_strerror(dns));
        } else if (!c->was_open) {
            record_error(f, PH_FETCH_REFUSED, "could not connect to %s:%u: %s", up->host, up->port,
                         saved ? strerror(saved) : "connection failed");
        } else if (saved == ECONNRESET || saved == EPIPE) {
            record_error(f, PH_FETCH_RESET, "connection to %s:%u reset before the response was complete: %s",
                         up->host, up->port, strerror(saved));
        } else {
            record_error(f, PH_FETCH_RESET, "connection to %s:%u closed before the response was complete",
                         up->host, up->port);
        }
        break;
    }
}

/* Build the plugin's view of response `r` and deliver it. On no memory,
 * delivers PH_FETCH_INVALID instead. */
static void deliver_response(ph_fetch *f, struct evhttp_request *r)
{
    struct evkeyvalq *hdrs = evhttp_request_get_input_headers(r);
    size_t n = 0;
    struct evkeyval *kv;
    for (kv = hdrs->tqh_first; kv; kv = kv->next.tqe_next)
        n++;
    const char **pairs = malloc((2 * n + 1) * sizeof *pairs);
    struct evbuffer *in = evhttp_request_get_input_buffer(r);
    size_t len = evbuffer_get_length(in);
    const void *body = len ? (const void *)evbuffer_pullup(in, -1) : (const void *)"";
    if (!pairs || !body) {
        free(pairs);
        deliver_error(f, PH_FETCH_INVALID, "no memory for the response");
        return;
    }
    size_t i = 0;
    for (kv = hdrs->tqh_first; kv; kv = kv->next.tqe_next) {
        pairs[i++] = kv->key;
        pairs[i++] = kv->value;
    }
    pairs[i] = NULL;
    ph_fetch_response resp = {
        .struct_size = sizeof resp,
        .error = PH_FETCH_OK,
        .error_text = "",
        .status = evhttp_request_get_response_code(r),
        .nheaders = n,
        .headers = pairs,
        .body = body,
        .body_len = len,
    };
    deliver(f, &resp); /* r lives until we return to libevent */
    free(pairs);
}

/* libevent's request callback: a response (r with a status), a failure
 * recorded by on_error (r NULL), a refused connection (status 0), or an
 * interim 1xx libevent took for the response (an error; the connection,
 * with the rest of that exchange still unread, is discarded). */
static void on_done(struct evhttp_request *r, void *arg)
{
    ph_fetch *f = arg;
    if (f->state != FETCH_ACTIVE)
        return; /* not ours any more (cannot happen: cancel stops callbacks) */
    upstream *up = f->up;
    fetch_conn *c = f->conn;
    f->ereq = NULL; /* libevent frees r after we return */
    int status = r ? evhttp_request_get_response_code(r) : 0;
    if (status >= 100 && status < 200 && !f->has_error) {
        /* libevent skips a 100 Continue itself; any other 1xx it takes for
         * the final answer while the real one is still on the wire: an
         * upstream error, and the connection is never reused */
        record_error(f, PH_FETCH_INVALID, "%s:%u sent an interim %d response (only 100 Continue is understood)",
                     up->host, up->port, status);
    }
    if (status < 200) {
        if (!f->has_error) {
            int dns = conn_dns_error(c);
            if (dns)
                record_error(f, PH_FETCH_DNS, "could not resolve %s: %s", up->host, evutil_gai_strerror(dns));
            else
                record_error(f, PH_FETCH_REFUSED, "connection to %s:%u refused", up->host, up->port);
        }
        conn_discard(c);
        if (f->in_make) {
            defer_delivery(f); /* fetch_send's caller pumps and frees */
            return;
        }
        f->state = FETCH_DEFERRED;
        f->up = NULL;
        f->conn = NULL;
        pump(up);
        upstream_maybe_free(up);
        deliver_recorded(f);
        return;
    }
    f->state = FETCH_DEFERRED;
    f->up = NULL;
    f->conn = NULL;
    conn_release(up, c);
    upstream_maybe_free(up);
    deliver_response(f, r);
}

/* The fetch's timer: the exchange timed out, or a deferred outcome is due. */
static void on_fetch_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_fetch *f = arg;
    if (f->state == FETCH_DEFERRED) {
        deliver_recorded(f);
        return;
    }
    fetch_abandon(f);
    char text[96];
    snprintf(text, sizeof text, "no complete response within %llu ms", (unsigned long long)f->timeout_ms);
    deliver_error(f, PH_FETCH_TIMEOUT, text);
}

/* ---- starting --------------------------------------------------------- */

static const struct {
    const char *name;
    enum evhttp_cmd_type type;
} fetch_methods[] = {
    {"GET", EVHTTP_REQ_GET},       {"HEAD", EVHTTP_REQ_HEAD},   {"POST", EVHTTP_REQ_POST},
    {"PUT", EVHTTP_REQ_PUT},       {"DELETE", EVHTTP_REQ_DELETE}, {"PATCH", EVHTTP_REQ_PATCH},
    {"OPTIONS", EVHTTP_REQ_OPTIONS},
};

/* The parts of a URL fetch needs (all malloc'ed). */
typedef struct fetch_url {
    char *host;        /* to connect to: no brackets */
    unsigned port;
    char *host_header; /* Host: value */
    char *target;      /* /path[?query] */
} fetch_url;

static void fetch_url_free(fetch_url *u)
{
    free(u->host);
    free(u->host_header);
    free(u->target);
}

/* Parse `url` (http only). Returns 0, or -1 with a reason in `why`. */
static int fetch_parse_url(const char *url, fetch_url *out, const char **why)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(url);
    if (len == 0 || len > FETCH_MAX_URL) {
        *why = "URL is empty or longer than 8192 bytes";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)url[i];
        if (ch <= 0x20 || ch >= 0x7f) {
            *why = "URL has a space, control or non-ASCII byte (percent-encode it)";
            return -1;
        }
    }
    struct evhttp_uri *uri = evhttp_uri_parse(url);
    if (!uri) {
        *why = "not a valid URL";
        return -1;
    }
    const char *scheme = evhttp_uri_get_scheme(uri);
    const char *host = evhttp_uri_get_host(uri);
    const char *path = evhttp_uri_get_path(uri);
    const char *query = evhttp_uri_get_query(uri);
    int port = evhttp_uri_get_port(uri);
    if (!scheme || evutil_ascii_strcasecmp(scheme, "http") != 0) {
        *why = "only http:// URLs are supported";
        goto fail;
    }
    if (evhttp_uri_get_userinfo(uri)) {
        *why = "user info in the URL is not supported";
        goto fail;
    }
    if (!host || !host[0] || (host[0] == '[' && strlen(host) < 3)) {
        *why = "URL has no host";
        goto fail;
    }
    if (port == 0 || port > 65535) {
        *why = "URL has an invalid port";
        goto fail;
    }
    if (path && path[0] && path[0] != '/') {
        *why = "URL path must start with '/'";
        goto fail;
    }
    out->port = port < 0 ? 80u : (unsigned)port;
    if (host[0] == '[')
        out->host = strndup(host + 1, strlen(host) - 2);
    else
        out->host = strdup(host);
    if (port > 0 && port != 80) {
        if (asprintf(&out->host_header, "%s:%d", host, port) < 0)
            out->host_header = NULL;
    } else {
        out->host_header = strdup(host);
    }
    const char *p = path && path[0] ? path : "/";
    if (asprintf(&out->target, "%s%s%s", p, query ? "?" : "", query ? query : "") < 0)
        out->target = NULL;
    if (!out->host || !out->host_header || !out->target) {
        *why = "no memory";
        goto fail;
    }
    evhttp_uri_free(uri);
    return 0;
fail:
    evhttp_uri_free(uri);
    fetch_url_free(out);
    return -1;
}

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool header_name_ok(const char *name)
{
    if (!name[0])
        return false;
    for (const char *p = name; *p; p++) {
        if (!is_tchar((unsigned char)*p))
            return false;
    }
    return true;
}

static bool header_value_ok(const char *value)
{
    for (const char *p = value; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return false;
    }
    return true;
}

/* Headers the host manages: the plugin's copy is dropped. */
static bool header_managed(const char *name)
{
    return evutil_ascii_strcasecmp(name, "Content-Length") == 0 ||
           evutil_ascii_strcasecmp(name, "Transfer-Encoding") == 0 ||
           evutil_ascii_strcasecmp(name, "Expect") == 0;
}

/* Fill the outgoing request: the plugin's headers (validated), Host unless
 * given, Content-Length for a body or a POST/PUT/PATCH, and the body.
 * Returns 0, or -1 with a reason. */
static int fetch_fill_request(struct evhttp_request *ereq, const ph_fetch_request *freq,
                              enum evhttp_cmd_type type, const fetch_url *u, const char **why)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(ereq);
    bool has_host = false;
    if (freq->headers) {
        for (size_t i = 0; freq->headers[i]; i += 2) {
            const char *name = freq->headers[i];
            const char *value = freq->headers[i + 1];
            if (!value) {
                *why = "header list has a name without a value";
                return -1;
            }
            if (!header_name_ok(name) || !header_value_ok(value)) {
                *why = "invalid header name or value";
                return -1;
            }
            if (header_managed(name))
                continue;
            if (evutil_ascii_strcasecmp(name, "Host") == 0)
                has_host = true;
            if (evhttp_add_header(out, name, value) < 0) {
                *why = "no memory";
                return -1;
            }
        }
    }
    if (!has_host && evhttp_add_header(out, "Host", u->host_header) < 0) {
        *why = "no memory";
        return -1;
    }
    if (freq->body_len > 0 || type == EVHTTP_REQ_POST || type == EVHTTP_REQ_PUT || type == EVHTTP_REQ_PATCH) {
        char len[24];
        snprintf(len, sizeof len, "%zu", freq->body_len);
        if (evhttp_add_header(out, "Content-Length", len) < 0) {
            *why = "no memory";
            return -1;
        }
    }
    if (freq->body_len > 0 &&
        evbuffer_add(evhttp_request_get_output_buffer(ereq), freq->body, freq->body_len) < 0) {
        *why = "no memory for the body";
        return -1;
    }
    return 0;
}

/* See fetch.h. Invalid input (URL, method, headers, struct_size) or no
 * memory: NULL, logged, nothing started. Everything that happens on the
 * network, even a failure libevent reports at once, reaches `cb` later
 * from the loop, never inside this call. */
ph_fetch *ph_fetch_start(ph_request *req, const ph_fetch_request *freq, ph_fetch_cb cb, void *arg)
{
    const char *why = NULL;
    fetch_url u = {0};
    ph_fetch *f = NULL;
    upstream *up = NULL;
    const char *url = freq && freq->url ? freq->url : "(none)";

    if (!F.base) {
        why = "fetch is not set up";
        goto fail;
    }
    if (!req || !freq || !cb || !freq->url) {
        why = "missing request, URL or callback";
        goto fail;
    }
    if (freq->struct_size < offsetof(ph_fetch_request, timeout_ms) + sizeof freq->timeout_ms) {
        why = "ph_fetch_request too small (struct_size)";
        goto fail;
    }
    const char *method = freq->method ? freq->method : "GET";
    enum evhttp_cmd_type type = EVHTTP_REQ_GET;
    size_t m = 0;
    for (; m < sizeof fetch_methods / sizeof fetch_methods[0]; m++) {
        if (strcmp(method, fetch_methods[m].name) == 0) {
            type = fetch_methods[m].type;
            break;
        }
    }
    if (m == sizeof fetch_methods / sizeof fetch_methods[0]) {
        why = "unsupported method (GET HEAD POST PUT DELETE PATCH OPTIONS)";
        goto fail;
    }
    if (freq->body_len > 0 && !freq->body) {
        why = "body_len without a body";
        goto fail;
    }
    if (fetch_parse_url(freq->url, &u, &why) < 0)
        goto fail;

    f = calloc(1, sizeof *f);
    if (!f) {
        why = "no memory";
        goto fail;
    }
    f->req = req;
    f->cb = cb;
    f->arg = arg;
    f->type = type;
    f->state = FETCH_WAITING;
    f->timeout_ms = freq->timeout_ms ? freq->timeout_ms : FETCH_DEFAULT_TIMEOUT_MS;
    f->target = u.target;
    u.target = NULL;
    f->timer = evtimer_new(F.base, on_fetch_timer, f);
    f->ereq = evhttp_request_new(on_done, f);
    if (!f->timer || !f->ereq) {
        why = "no memory";
        goto fail;
    }
    evhttp_request_set_error_cb(f->ereq, on_error);
    if (fetch_fill_request(f->ereq, freq, type, &u, &why) < 0)
        goto fail;
    struct timeval tv = {.tv_sec = (time_t)(f->timeout_ms / 1000),
                         .tv_usec = (suseconds_t)(f->timeout_ms % 1000) * 1000};
    if (evtimer_add(f->timer, &tv) < 0) {
        why = "could not arm the timeout";
        goto fail;
    }
    up = upstream_get(u.host, u.port);
    if (!up) {
        why = "no memory";
        goto fail;
    }
    if (!up->idle && up->nconns >= max_conns && up->nwait >= FETCH_MAX_WAITING) {
        why = "too many fetches waiting for this upstream";
        goto fail;
    }

    /* committed: link, then queue and let the pool start it */
    f->next = req->fetches;
    req->fetches = f;
    f->all_next = F.all;
    if (F.all)
        F.all->all_prev = f;
    F.all = f;
    f->up = up;
    wait_push(up, f);
    pump(up);
    upstream_maybe_free(up); /* when a sync failure left it empty */
    fetch_url_free(&u);
    return f;

fail:
    ph_log_warn("fetch: %s: %.200s", why, url);
    if (f) {
        if (f->ereq)
            evhttp_request_free(f->ereq);
        if (f->timer)
            event_free(f->timer);
        free(f->target);
        free(f);
    }
    upstream_maybe_free(up);
    fetch_url_free(&u);
    return NULL;
}

/* See fetch.h. Safe from inside another fetch's callback. */
void ph_fetch_cancel(ph_fetch *fetch)
{
    if (!fetch)
        return;
    fetch_abandon(fetch);
    fetch_destroy(fetch);
}

/* See fetch.h. Safe from inside a callback of one of req's fetches (that
 * fetch is already unlinked), which is what complete() does. */
void ph_fetch_cancel_all(ph_request *req)
{
    if (!req)
        return;
    ph_fetch *f = req->fetches;
    req->fetches = NULL; /* fetch_destroy's unlink finds nothing: O(n) */
    while (f) {
        ph_fetch *next = f->next;
        fetch_abandon(f); /* may start other fetches, frees none */
        fetch_destroy(f);
        f = next;
    }
}

/* ---- setup / shutdown ------------------------------------------------- */

/* See fetch.h. Reads /etc/resolv.conf and /etc/hosts; without a usable
 * resolv.conf only /etc/hosts names and numeric hosts resolve (logged).
 * Calling it again shuts the previous setup down first. */
int ph_fetch_setup(struct event_base *base)
{
    if (F.base)
        ph_fetch_shutdown();
    memset(&F, 0, sizeof F);
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
    F.reaper = event_new(base, -1, 0, on_reap, NULL);
    if (!F.reaper) {
        ph_log_error("fetch: no memory");
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
    F.shutting_down = true;
    while (F.all) {
        ph_fetch *f = F.all;
        fetch_abandon(f);
        fetch_destroy(f);
    }
    while (F.upstreams) {
        upstream *up = F.upstreams;
        while (up->idle) {
            fetch_conn *c = up->idle;
            up->idle = c->next;
            up->nidle--;
            conn_discard(c);
        }
        F.upstreams = up->next;
        free(up->host);
        free(up);
    }
    on_reap(-1, 0, NULL);
    event_free(F.reaper);
    evdns_base_free(F.dns, 0);
    memset(&F, 0, sizeof F);
}
