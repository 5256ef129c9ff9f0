/* upstream.c - outbound connections pooled per host:port (see upstream.h). */
#include "upstream.h"

#include "log.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef enum conn_state {
    CONN_RESOLVING,  /* evdns lookup in flight */
    CONN_CONNECTING, /* connect() in progress */
    CONN_OPEN,
} conn_state;

/* One evdns_getaddrinfo in flight; freed by its callback. */
typedef struct lookup {
    ph_upconn *c; /* NULL once the connection closed */
} lookup;

struct ph_upconn {
    ph_upstream *up;         /* NULL once closed (in the graveyard) */
    struct bufferevent *bev;
    struct event *kick;      /* the holder's hooks from the loop */
    struct event *idle_ev;   /* idle timeout */
    lookup *lookup;
    conn_state state;
    bool idle;               /* on up->idle */
    const ph_upconn_hooks *hooks;
    void *owner;             /* the holder; NULL while idle */
    bool fail_pending;       /* report fail_kind/fail_why from the kick */
    ph_fetch_error fail_kind;
    char fail_why[200];
    ph_upconn *next;         /* idle stack or graveyard */
};

struct ph_upstream {
    char *host;              /* as connected: IPv6 without brackets */
    unsigned port;
    ph_upconn *idle;         /* most recently used first */
    unsigned nidle;
    unsigned nconns;         /* every open or opening connection: idle + held */
    ph_upwait *wait_head, *wait_tail;
    unsigned nwait;
    bool pumping, repump;
    ph_upstream *next;
};

static struct {
    struct event_base *base;
    struct evdns_base *dns;
    struct event *reaper;
    ph_upconn *graveyard;
    ph_upstream *upstreams;
    unsigned max_conns;
    bool shutting_down;
} U = {.max_conns = PH_UPSTREAM_DEFAULT_MAX_CONNS};

void ph_upstream_set_max_connections(unsigned n) { U.max_conns = n ? n : PH_UPSTREAM_DEFAULT_MAX_CONNS; }

struct evbuffer *ph_upconn_input(ph_upconn *c) { return bufferevent_get_input(c->bev); }

struct evbuffer *ph_upconn_output(ph_upconn *c) { return bufferevent_get_output(c->bev); }

void ph_upconn_read(ph_upconn *c, bool on)
{
    if (on)
        bufferevent_enable(c->bev, EV_READ);
    else
        bufferevent_disable(c->bev, EV_READ);
}

void ph_upconn_kick(ph_upconn *c)
{
    if (c->up)
        event_active(c->kick, EV_TIMEOUT, 0);
}

/* ---- closing ---------------------------------------------------------- */

/* The reaper (and shutdown): free every closed connection. */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    while (U.graveyard) {
        ph_upconn *c = U.graveyard;
        U.graveyard = c->next;
        bufferevent_free(c->bev);
        event_free(c->kick);
        event_free(c->idle_ev);
        free(c);
    }
}

static void upstream_maybe_free(ph_upstream *up);

/* Take `c` out of service now (its upstream's count drops) and free it on
 * the next loop turn. */
static void conn_close(ph_upconn *c)
{
    ph_upstream *up = c->up;
    if (!up)
        return;
    if (c->idle) {
        for (ph_upconn **p = &up->idle; *p; p = &(*p)->next) {
            if (*p == c) {
                *p = c->next;
                up->nidle--;
                break;
            }
        }
        c->idle = false;
    }
    up->nconns--;
    c->up = NULL;
    c->hooks = NULL;
    c->owner = NULL;
    if (c->lookup) {
        c->lookup->c = NULL; /* its result will be dropped */
        c->lookup = NULL;
    }
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
    evtimer_del(c->idle_ev);
    event_del(c->kick);
    c->next = U.graveyard;
    U.graveyard = c;
    event_active(U.reaper, EV_TIMEOUT, 0);
}

/* An idle connection is done for (the peer closed it, sent bytes, or it
 * went unused too long). */
static void idle_close(ph_upconn *c)
{
    ph_upstream *up = c->up;
    conn_close(c);
    upstream_maybe_free(up);
}

static void on_idle_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    idle_close(arg);
}

/* Report a failure to open from the kick, on the next loop turn. */
static void fail_later(ph_upconn *c, ph_fetch_error kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail_later(ph_upconn *c, ph_fetch_error kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->fail_why, sizeof c->fail_why, fmt, ap);
    va_end(ap);
    c->fail_kind = kind;
    c->fail_pending = true;
    event_active(c->kick, EV_TIMEOUT, 0);
}

/* ---- the bufferevent's and the kick's callbacks ----------------------- */

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_upconn *c = arg;
    if (!c->owner)
        return;
    if (c->fail_pending) {
        c->fail_pending = false;
        c->hooks->closed(c->owner, c->fail_kind, 0, c->fail_why);
        return;
    }
    c->hooks->readable(c->owner);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    ph_upconn *c = arg;
    if (c->owner)
        c->hooks->readable(c->owner);
    else
        idle_close(c); /* bytes nobody asked for: never reuse it */
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    ph_upconn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        c->state = CONN_OPEN;
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return;
    }
    int err = (what & BEV_EVENT_ERROR) ? EVUTIL_SOCKET_ERROR() : 0;
    if (!c->owner) {
        idle_close(c);
        return;
    }
    if (c->state != CONN_OPEN) {
        char why[200];
        snprintf(why, sizeof why, "could not connect to %s:%u: %s", c->up->host, c->up->port,
                 err ? strerror(err) : "connection refused");
        c->hooks->closed(c->owner, PH_FETCH_REFUSED, err, why);
        return;
    }
    c->hooks->closed(c->owner, PH_FETCH_RESET, err, "");
}

/* ---- opening ---------------------------------------------------------- */

static void on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
    lookup *l = arg;
    ph_upconn *c = l->c;
    free(l);
    if (!c) { /* closed meanwhile */
        if (res)
            evutil_freeaddrinfo(res);
        return;
    }
    c->lookup = NULL;
    if (result != 0 || !res) {
        fail_later(c, PH_FETCH_DNS, "could not resolve %s: %s", c->up->host,
                   evutil_gai_strerror(result ? result : EVUTIL_EAI_NONAME));
        if (res)
            evutil_freeaddrinfo(res);
        return;
    }
    c->state = CONN_CONNECTING;
    int rc = bufferevent_socket_connect(c->bev, res->ai_addr, (int)res->ai_addrlen);
    int err = errno;
    evutil_freeaddrinfo(res);
    if (rc < 0)
        fail_later(c, PH_FETCH_REFUSED, "could not connect to %s:%u: %s", c->up->host, c->up->port, strerror(err));
}

/* Start resolving and connecting a new connection (its holder is set). */
static void conn_open(ph_upconn *c)
{
    lookup *l = calloc(1, sizeof *l);
    if (!l) {
        fail_later(c, PH_FETCH_REFUSED, "could not open a connection to %s:%u (no memory)", c->up->host, c->up->port);
        return;
    }
    l->c = c;
    c->lookup = l;
    char port[8];
    snprintf(port, sizeof port, "%u", c->up->port);
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    /* a numeric host or an /etc/hosts name answers inside this call */
    evdns_getaddrinfo(U.dns, c->up->host, port, &hints, on_resolved, l);
}

/* A new connection to `up`, counted, not opened yet; NULL when out of
 * memory (logged). */
static ph_upconn *conn_new(ph_upstream *up)
{
    ph_upconn *c = calloc(1, sizeof *c);
    if (c) {
        c->bev = bufferevent_socket_new(U.base, -1, BEV_OPT_CLOSE_ON_FREE);
        c->kick = event_new(U.base, -1, 0, on_kick, c);
        c->idle_ev = evtimer_new(U.base, on_idle_timeout, c);
    }
    if (!c || !c->bev || !c->kick || !c->idle_ev) {
        ph_log_error("fetch: no memory for a connection to %s:%u", up->host, up->port);
        if (c) {
            if (c->bev)
                bufferevent_free(c->bev);
            if (c->kick)
                event_free(c->kick);
            if (c->idle_ev)
                event_free(c->idle_ev);
            free(c);
        }
        return NULL;
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, PH_UPSTREAM_READ_MAX);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->state = CONN_RESOLVING;
    c->up = up;
    up->nconns++;
    return c;
}

/* ---- upstreams and their waiters -------------------------------------- */

static ph_upstream *upstream_get(const char *host, unsigned port)
{
    for (ph_upstream *up = U.upstreams; up; up = up->next) {
        if (up->port == port && evutil_ascii_strcasecmp(up->host, host) == 0)
            return up;
    }
    ph_upstream *up = calloc(1, sizeof *up);
    if (!up)
        return NULL;
    up->host = strdup(host);
    if (!up->host) {
        free(up);
        return NULL;
    }
    up->port = port;
    up->next = U.upstreams;
    U.upstreams = up;
    return up;
}

/* Free `up` when nothing uses it. */
static void upstream_maybe_free(ph_upstream *up)
{
    if (!up || up->nconns || up->nwait || up->pumping)
        return;
    for (ph_upstream **p = &U.upstreams; *p; p = &(*p)->next) {
        if (*p == up) {
            *p = up->next;
            break;
        }
    }
    free(up->host);
    free(up);
}

static void wait_remove(ph_upstream *up, ph_upwait *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        up->wait_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        up->wait_tail = w->prev;
    w->prev = w->next = NULL;
    w->up = NULL;
    up->nwait--;
}

/* Hand idle or new connections to waiters, oldest first, while the cap
 * allows. Never runs a holder's hook other than `granted`. */
static void pump(ph_upstream *up)
{
    if (up->pumping) {
        up->repump = true;
        return;
    }
    up->pumping = true;
    do {
        up->repump = false;
        while (!U.shutting_down && up->wait_head && (up->idle || up->nconns < U.max_conns)) {
            ph_upwait *w = up->wait_head;
            wait_remove(up, w);
            ph_upconn *c = up->idle;
            bool fresh = c == NULL;
            if (c) {
                up->idle = c->next;
                up->nidle--;
                c->idle = false;
                evtimer_del(c->idle_ev);
            } else {
                c = conn_new(up);
            }
            if (c) {
                c->hooks = w->hooks;
                c->owner = w->owner;
            }
            w->hooks->granted(w->owner, c);
            if (c && fresh && c->up)
                conn_open(c);
        }
    } while (up->repump);
    up->pumping = false;
}

int ph_upstream_wait(ph_upwait *w, const char *host, unsigned port)
{
    ph_upstream *up = upstream_get(host, port);
    if (!up)
        return -1;
    if (up->nwait >= PH_UPSTREAM_MAX_WAITING) {
        upstream_maybe_free(up);
        return -1;
    }
    w->next = NULL;
    w->prev = up->wait_tail;
    if (up->wait_tail)
        up->wait_tail->next = w;
    else
        up->wait_head = w;
    up->wait_tail = w;
    up->nwait++;
    w->up = up;
    pump(up);
    return 0;
}

void ph_upstream_unwait(ph_upwait *w)
{
    ph_upstream *up = w->up;
    if (!up)
        return;
    wait_remove(up, w);
    upstream_maybe_free(up);
}

void ph_upconn_release(ph_upconn *c, bool reuse)
{
    ph_upstream *up = c->up;
    if (!up)
        return;
    c->hooks = NULL;
    c->owner = NULL;
    c->fail_pending = false;
    event_del(c->kick);
    struct timeval idle = {.tv_sec = PH_UPSTREAM_IDLE_MS / 1000, .tv_usec = (PH_UPSTREAM_IDLE_MS % 1000) * 1000};
    if (reuse && c->state == CONN_OPEN && !U.shutting_down && up->nidle < PH_UPSTREAM_MAX_IDLE &&
        evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 && evtimer_add(c->idle_ev, &idle) == 0) {
        bufferevent_enable(c->bev, EV_READ); /* hear the peer close it */
        c->idle = true;
        c->next = up->idle;
        up->idle = c;
        up->nidle++;
    } else {
        conn_close(c);
    }
    pump(up);
    upstream_maybe_free(up);
}

/* ---- setup / shutdown ------------------------------------------------- */

int ph_upstream_setup(struct event_base *base, struct evdns_base *dns)
{
    unsigned max = U.max_conns;
    memset(&U, 0, sizeof U);
    U.max_conns = max;
    U.reaper = event_new(base, -1, 0, on_reap, NULL);
    if (!U.reaper) {
        ph_log_error("fetch: no memory");
        return -1;
    }
    U.base = base;
    U.dns = dns;
    return 0;
}

void ph_upstream_shutdown(void)
{
    if (!U.base)
        return;
    U.shutting_down = true;
    while (U.upstreams) {
        ph_upstream *up = U.upstreams;
        while (up->idle)
            conn_close(up->idle);
        if (up->nconns || up->nwait)
            ph_log_error("fetch: upstream %s:%u still had %u connections and %u waiters at shutdown (a bug)",
                         up->host, up->port, up->nconns, up->nwait);
        U.upstreams = up->next;
        free(up->host);
        free(up);
    }
    on_reap(-1, 0, NULL);
    event_free(U.reaper);
    unsigned max = U.max_conns;
    memset(&U, 0, sizeof U);
    U.max_conns = max;
}

