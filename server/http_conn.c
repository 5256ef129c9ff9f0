/* http_conn.c - the HTTP/1.1 connection layer.
 *
 * Each connection reads with read(2) into the worker's shared read buffer
 * (read_buf.h: it keeps only the bytes it could not parse yet), parses them
 * with http_parse.c (one message at a time), queues requests in arrival order,
 * hands them up in that order while it has a place for those that need one
 * (http_conn.h: fair sharing), and
 * writes finished responses from the head of the queue with writev(2),
 * arming EV_WRITE only when the socket would block. Both events are
 * edge-triggered (EV_ET: the kernel does not poll a ready socket again on
 * the next epoll_wait): a read that fills the buffer, an EINTR and the
 * start of a linger read again through event_active, since no new edge
 * comes for bytes already waiting, and so does a read whose edge also
 * brought the end of the input (EV_CLOSED); re-adding an event makes the kernel
 * check the socket anew. One timer per
 * connection enforces the header/body deadlines, the keep-alive idle
 * timeout, the send timeout and the lingering close. */
#include "http_conn.h"

#include "config_value.h"
#include "http_parse.h"
#include "http_response.h"
#include "log.h"
#include "read_buf.h"

#include <errno.h>
#include <event2/event.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_PIPELINE 32   /* parsed requests queued per connection */
#define LINGER_MS 2000    /* reading leftovers after our close */
#define MAX_IOV 64
#define STREAM_HIGH_WATER (64u << 10) /* stream_write says "pause" above */
#define DRAIN_IDLE_GRACE_MS 250        /* drain: an idle keep-alive connection closes after */
#define STREAM_LOW_WATER (16u << 10)  /* the drain callback runs below */

typedef enum read_phase {
    READ_IDLE,    /* between requests: keep-alive (or first request) wait */
    READ_HEADERS, /* a request's headers are arriving */
    READ_BODY,    /* its body is arriving */
    READ_BUSY,    /* responses pending, no request being received */
    READ_LINGER,  /* our side closed; discarding what the client still sends */
} read_phase;

typedef struct ph_conn ph_conn;

struct ph_conn {
    int fd;
    struct event *rev, *wev, *tev;
    ph_http_parser parser;       /* its request being received: parser.req */
    ph_request *head, *tail;     /* parsed requests, in arrival order */
    ph_request *up_next;         /* the first of them not handed up yet (it waits for a place) */
    unsigned nqueued;
    unsigned places;             /* requests handed up holding one of its places */
    ph_read_buf in;              /* bytes read, not parsed yet */
    uint64_t read_deadline;      /* per phase; 0 = none */
    uint64_t write_deadline;     /* while a write is blocked; 0 = none */
    uint64_t armed_deadline;     /* when the timer is set to fire; 0 = not armed */
    read_phase phase;
    bool reading, writing;       /* rev / wev are added */
    bool more_unread;            /* the socket may hold bytes or an end no new edge will tell of:
                                    the last read filled the buffer, or came with EV_CLOSED, or the
                                    buffer was full (ENOBUFS) */
    bool in_run;                 /* conn_run is on the stack */
    bool no_more;                /* parse no further requests; close when written */
    bool shed;                   /* to move to another worker: the next request is its last */
    bool read_eof;
    char peer[48];               /* client IP as text, copied into requests */
    ph_conn *prev, *next;        /* the layer's list */
};

/* The layer: its loop, the hooks up, the limits, the open connections. */
static struct {
    struct event_base *base;
    ph_conn_hooks hooks;
    const ph_server_conf *limits;
    ph_conn *conns;
    int nconns;
    bool draining;
} layer;


static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const ph_server_conf *conf(const ph_conn *c)
{
    (void)c;
    return layer.limits;
}

void ph_conn_setup(struct event_base *base, const ph_conn_hooks *hooks)
{
    layer.base = base;
    layer.hooks = *hooks;
    layer.draining = false;
}

void ph_conn_set_limits(const ph_server_conf *limits) { layer.limits = limits; }

int ph_conn_count(void) { return layer.nconns; }

/* ---- timers ---- */

/* Set the timer to fire at `d`. Out of line: a timer already armed
 * earlier, the usual case, is left alone. */
static __attribute__((noinline)) void set_timer(ph_conn *c, uint64_t d)
{
    uint64_t now = now_ms();
    uint64_t wait = d > now ? d - now : 0;
    struct timeval tv = {.tv_sec = (time_t)(wait / 1000), .tv_usec = (suseconds_t)(wait % 1000) * 1000};
    event_add(c->tev, &tv);
    c->armed_deadline = d;
}

/* Make the timer fire at the earliest deadline (only ever moving it
 * earlier; a late-firing timer re-arms itself). */
static inline void arm_timer(ph_conn *c)
{
    uint64_t d = c->read_deadline;
    if (c->write_deadline && (!d || c->write_deadline < d))
        d = c->write_deadline;
    if (d && (!c->armed_deadline || d < c->armed_deadline))
        set_timer(c, d);
}

static inline void set_read_phase(ph_conn *c, read_phase phase, uint64_t timeout_ms)
{
    c->phase = phase;
    c->read_deadline = timeout_ms ? now_ms() + timeout_ms : 0;
    arm_timer(c);
}

/* ---- queue ---- */

static void enqueue(ph_conn *c, ph_request *req)
{
    req->next = NULL;
    if (c->tail)
        c->tail->next = req;
    else
        c->head = req;
    c->tail = req;
    c->nqueued++;
}

/* `r` gives its place on `c` back (if it held one). */
static void give_back_place(ph_conn *c, ph_request *r)
{
    if (!r->holds_place)
        return;
    r->holds_place = false;
    c->places--;
}

static ph_request *dequeue(ph_conn *c)
{
    ph_request *req = c->head;
    if (req == c->up_next)
        c->up_next = req->next;
    give_back_place(c, req);
    c->head = req->next;
    if (!c->head)
        c->tail = NULL;
    c->nqueued--;
    req->next = NULL;
    return req;
}

/* ---- closing ---- */

/* The connection lets go of `req`: a request it made itself (a parse
 * error, an answer given instead, one still being received) is recycled
 * here; one it handed up goes back through `dropped`. */
static void let_go(ph_request *req)
{
    if (!req)
        return;
    req->conn = NULL;
    req->next = NULL;
    if (req->own)
        ph_request_recycle(req);
    else
        layer.hooks.dropped(req);
}

/* Close `c` now and free it; then drop its requests (their owner may run
 * code that touches other connections: this one is gone by then). */
static void conn_close(ph_conn *c)
{
    event_del(c->rev); /* (assigned in c's own memory: freed with it) */
    event_del(c->wev);
    event_del(c->tev);
    close(c->fd);
    ph_request *drop = ph_http_parse_take(&c->parser); /* its requests, in pipeline order */
    if (drop)
        drop->next = c->head;
    else
        drop = c->head;
    for (ph_request *r = drop; r; r = r->next)
        r->conn = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        layer.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    layer.nconns--;
    ph_read_buf_clear(&c->in);
    free(c);
    while (drop) {
        ph_request *next = drop->next;
        let_go(drop);
        drop = next;
    }
    layer.hooks.closed();
}

/* Close our side after the last response and discard what the client
 * still sends for a while, so unread data does not turn our close into a
 * reset that destroys the response in flight. */
static void begin_linger(ph_conn *c)
{
    if (c->read_eof || shutdown(c->fd, SHUT_WR) < 0) {
        conn_close(c);
        return;
    }
    let_go(ph_http_parse_take(&c->parser));
    ph_read_buf_clear(&c->in); /* never parsed now */
    if (c->writing) {
        event_del(c->wev);
        c->writing = false;
    }
    if (!c->reading) {
        event_add(c->rev, NULL);
        c->reading = true;
    } else {
        event_active(c->rev, EV_READ, 1); /* discard what came already: no new edge for it */
    }
    c->write_deadline = 0;
    c->in_run = false;
    set_read_phase(c, READ_LINGER, LINGER_MS);
}

static void linger_read(ph_conn *c)
{
    for (int i = 0; i < 4; i++) {
        ssize_t n = ph_read_buf_discard(c->fd);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR) {
            event_active(c->rev, EV_READ, 1); /* (edge-triggered: read again) */
            return;
        }
        if (n < 0 && errno == EAGAIN)
            return;
        break;
    }
    conn_close(c);
}

/* ---- what the parser tells the connection ---- */

/* A message begins: its request, bound to this connection. */
static ph_request *on_begin(void *owner)
{
    ph_conn *c = owner;
    ph_request *req = ph_request_new();
    if (!req)
        return NULL;
    req->conn = c;
    req->own = true; /* until it is received whole and handed up */
    memcpy(req->client_addr, c->peer, sizeof req->client_addr);
    c->phase = READ_HEADERS; /* its deadline is set by update_interest if the head is still incomplete */
    c->read_deadline = 0;
    return req;
}

/* Answer "Expect: 100-continue" when nothing else is queued before it. */
static void maybe_continue(ph_conn *c, const ph_request *req)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    const char *expect = ph_request_header(req, "Expect");
    if (!expect || strcasecmp(expect, "100-continue") != 0 || c->head || req->http_minor == 0)
        return;
    ssize_t n = send(c->fd, cont, sizeof cont - 1, MSG_NOSIGNAL);
    if (n != (ssize_t)(sizeof cont - 1))
        c->no_more = true; /* cannot interleave a partial interim response */
}

static void on_body_follows(void *owner, ph_request *req)
{
    ph_conn *c = owner;
    maybe_continue(c, req);
    set_read_phase(c, READ_BODY, conf(c)->body_timeout_ms);
}

static const ph_http_parse_hooks parse_hooks = {on_begin, on_body_follows};

/* ---- parsing and writing ---- */

static const char *error_message(int status)
{
    switch (status) {
    case 408: return "request timeout";
    case 413: return "request body too large";
    case 414: return "request URI too long";
    case 431: return "request header fields too large";
    case 503: return "out of memory";
    default: return "bad request";
    }
}

/* Queue a final error response (e.g. 400) after whatever is queued and
 * stop reading requests: the connection closes once it is written. */
static void queue_error(ph_conn *c, int status)
{
    ph_request *req = ph_http_parse_take(&c->parser);
    if (!req)
        req = ph_request_new();
    c->no_more = true;
    if (!req)
        return; /* closes after the queued responses, without this one */
    req->conn = c;
    req->own = true;
    req->keep_alive = false;
    req->method_bit = 0;
    ph_request_set_error(req, status, error_message(status), NULL);
    req->final = true;
    enqueue(c, req);
}

/* The places a connection has: max_inflight_per_connection, at least 1. */
static unsigned place_limit(const ph_conn *c)
{
    int limit = conf(c)->max_inflight_per_connection;
    return limit > 0 ? (unsigned)limit : 1;
}

/* `r` was taken and its response is not final yet: it holds one of the
 * places of `c` if it took one, and, unless it began a stream (its head
 * is built), no head buffer while it waits (it may wait long; others can
 * use that buffer meanwhile). Out of line: the usual request is answered
 * at once. */
static __attribute__((noinline)) void wait_for_response(ph_conn *c, ph_request *r, ph_conn_take taken)
{
    if (taken == PH_TAKE_PLACE) {
        r->holds_place = true;
        c->places++;
    }
    if (!r->resp_head.len)
        ph_request_return_head(r);
}

/* Hand queued requests up in order while the layer above takes them; one
 * that needs a place while none is free stops the walk until one is. */
static void hand_up(ph_conn *c)
{
    while (c->up_next) {
        ph_request *r = c->up_next;
        if (r->final) { /* an error the connection answers itself (400, 408, ...) */
            c->up_next = r->next;
            continue;
        }
        r->own = false;
        ph_conn_take taken = layer.hooks.received(r, !c->places || c->places < place_limit(c));
        if (taken == PH_TAKE_LATER) {
            r->own = true;
            return;
        }
        c->up_next = r->next; /* (still queued: nothing is written under received) */
        if (!r->final)
            wait_for_response(c, r, taken);
    }
}

/* Whether another buffered request may be parsed: not past the pipeline
 * depth, and not while one waits for a place (what follows it would only
 * wait too: its bytes stay unread, bounding what a connection holds). */
static bool may_parse(const ph_conn *c)
{
    return ph_read_buf_unparsed(&c->in) && !c->no_more && c->nqueued < MAX_PIPELINE && !c->up_next;
}

/* Parse buffered bytes into queued requests and hand them up (first what
 * waits: a place may have come free since). */
static void parse_buffered(ph_conn *c)
{
    for (;;) {
        hand_up(c); /* (the one call: inlined) */
        if (!may_parse(c))
            return;
        size_t used;
        ph_request *req;
        int status;
        ph_parse_status rc = ph_http_parse(&c->parser, conf(c), ph_read_buf_next(&c->in),
                                           ph_read_buf_unparsed(&c->in), &used, &req, &status);
        c->in.pos += used;
        if (rc == PH_PARSE_MORE)
            return;
        if (rc == PH_PARSE_ERROR) {
            ph_log_debug("connection %d: %d for malformed request: %s", c->fd, status, ph_http_parse_why(&c->parser));
            queue_error(c, status);
            return;
        }
        if (rc == PH_PARSE_UPGRADE || layer.draining || c->shed)
            c->no_more = true; /* answered with Connection: close */
        if (!req)
            continue;
        enqueue(c, req);
        if (!c->up_next)
            c->up_next = req;
        if (!req->keep_alive)
            c->no_more = true;
    }
}

static void want_write(ph_conn *c, bool progressed)
{
    if (!c->writing) {
        event_add(c->wev, NULL);
        c->writing = true;
    }
    if (progressed || !c->write_deadline) {
        uint64_t t = conf(c)->send_timeout_ms;
        c->write_deadline = t ? now_ms() + t : 0;
        arm_timer(c);
    }
}

/* Build the head of a finished response: keep-alive unless the request or
 * the connection's state says close. */
static inline __attribute__((always_inline)) int prepare_response(ph_conn *c, ph_request *req)
{
    bool keep = req->keep_alive && !(req->streaming && !req->chunked) &&
                !(c->no_more && req->next == NULL && !c->parser.req); /* (not the last before a close) */
    req->close_after = !keep;
    ph_request_lend_head(req);
    if (ph_http_build_head(req, keep) < 0) {
        ph_log_error("connection %d: out of memory building a response", c->fd);
        return -1;
    }
    return 0;
}

typedef enum { FLUSH_DONE, FLUSH_BLOCKED, FLUSH_CLOSED } flush_result;

/* Bytes of `r` not yet written. */
static size_t unsent(const ph_request *r)
{
    return r->resp_head.len + ph_http_body_to_send(r) - r->written;
}

/* Can `r` be written now: a finished response, or a streaming one at the
 * head of the queue (what it has buffered so far). */
static bool sendable(const ph_conn *c, const ph_request *r)
{
    return r->final || (r->streaming && r == c->head);
}

/* Whether the queue head `r` gives flush work: a finished response always
 * (even with nothing left to write: a stream cut short when all it had
 * was sent must still leave the queue and close the connection), a
 * running stream while its head is not built or it has bytes to go. */
static bool head_pending(const ph_request *r)
{
    return r->final || (r->streaming && (!r->resp_head.len || unsent(r) > 0));
}

/* Gather the iovecs of what can be written from the head of the queue.
 * Returns their count (0 when nothing), the byte total in *total, or -1
 * when a response head could not be built. */
static int gather(ph_conn *c, struct iovec *iov, size_t *total)
{
    int n = 0;
    *total = 0;
    for (ph_request *r = c->head; r && sendable(c, r) && n + 2 <= MAX_IOV; r = r->next) {
        if (!r->resp_head.len && prepare_response(c, r) < 0)
            return -1;
        size_t hlen = r->resp_head.len, blen = ph_http_body_to_send(r), off = r->written;
        if (off < hlen) {
            iov[n++] = (struct iovec){r->resp_head.data + off, hlen - off};
            *total += hlen - off;
            off = 0;
        } else {
            off -= hlen;
        }
        if (blen > off) {
            iov[n++] = (struct iovec){r->resp_body.data + off, blen - off};
            *total += blen - off;
        }
        if (r->close_after || !r->final)
            break; /* nothing goes after a close or a running stream */
    }
    return n;
}

/* Account `w` written bytes to the queue head: finished responses leave
 * the queue, a running stream forgets what it sent. Returns false when the
 * connection entered its closing linger. */
static bool advance(ph_conn *c, size_t w)
{
    while (c->head && sendable(c, c->head)) {
        ph_request *r = c->head;
        size_t need = unsent(r);
        if (w < need) {
            r->written += w;
            return true;
        }
        w -= need;
        if (!r->final) { /* a stream, all sent for now */
            r->written = r->resp_head.len;
            ph_buf_reset(&r->resp_body);
            return true;
        }
        bool close_after = r->close_after;
        let_go(dequeue(c));
        if (close_after) {
            begin_linger(c);
            return false;
        }
    }
    return true;
}

/* Write what can be written from the head of the queue. Always inline
 * (into conn_run, its one caller): GCC keeps it apart for its iovec
 * array, and the call with its register saves costs more. */
static inline __attribute__((always_inline)) flush_result flush(ph_conn *c)
{
    while (c->head && head_pending(c->head)) {
        struct iovec iov[MAX_IOV];
        size_t total;
        int n = gather(c, iov, &total);
        if (n < 0) {
            conn_close(c);
            return FLUSH_CLOSED;
        }
        ssize_t w = n ? writev(c->fd, iov, n) : 0; /* (0: that cut stream, nothing to write) */
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                want_write(c, false);
                return FLUSH_BLOCKED;
            }
            conn_close(c);
            return FLUSH_CLOSED;
        }
        if (!advance(c, (size_t)w)) /* (the one call: inlined) */
            return FLUSH_CLOSED;
        if ((size_t)w < total) {
            want_write(c, w > 0);
            return FLUSH_BLOCKED;
        }
    }
    if (c->writing) {
        event_del(c->wev);
        c->writing = false;
    }
    c->write_deadline = 0;
    if (!c->head && (c->no_more || c->read_eof) && (!ph_read_buf_unparsed(&c->in) || c->no_more)) {
        if (c->read_eof)
            conn_close(c);
        else
            begin_linger(c);
        return FLUSH_CLOSED;
    }
    return FLUSH_DONE;
}

/* A stream at the head that was told to pause has drained: tell its
 * owner. Returns true when the `drained` hook ran. */
static bool signal_drain(ph_conn *c)
{
    ph_request *r = c->head;
    if (!r || !r->streaming || r->final || !r->drain_wanted || unsent(r) > STREAM_LOW_WATER)
        return false;
    r->drain_wanted = false;
    layer.hooks.drained(r);
    return true;
}

/* Write from the loop, never under the caller. */
static void kick(ph_conn *c)
{
    if (!c->in_run)
        event_active(c->wev, EV_WRITE, 1); /* conn_run from the loop */
}

int ph_conn_stream_begin(ph_request *req)
{
    ph_conn *c = req->conn;
    if (!c || req->streaming || req->final)
        return -1;
    req->streaming = true;
    req->chunked = !(req->http_major == 1 && req->http_minor == 0);
    if (prepare_response(c, req) < 0) {
        req->streaming = false;
        return -1;
    }
    kick(c);
    return 0;
}

int ph_conn_stream_write(ph_request *req, const void *data, size_t len)
{
    if (!req->conn || !req->streaming || req->final || (len && !data))
        return -1;
    if (len && req->method_bit != PH_METHOD_HEAD) {
        ph_buf *b = &req->resp_body;
        size_t mark = b->len;
        char size_line[24];
        int n = req->chunked ? snprintf(size_line, sizeof size_line, "%zx\r\n", len) : 0;
        if (ph_buf_append(b, size_line, (size_t)n) < 0 || ph_buf_append(b, data, len) < 0 ||
            (req->chunked && ph_buf_append(b, "\r\n", 2) < 0)) {
            b->len = mark;
            return -1;
        }
        kick(req->conn);
    }
    if (unsent(req) > STREAM_HIGH_WATER) {
        req->drain_wanted = true;
        return 1;
    }
    return 0;
}

void ph_conn_stream_end(ph_request *req, bool clean)
{
    if (!clean)
        req->close_after = true; /* no last chunk: the client sees a broken stream */
    else if (req->chunked && req->method_bit != PH_METHOD_HEAD &&
             ph_buf_append(&req->resp_body, "0\r\n\r\n", 5) < 0)
        req->close_after = true; /* no terminator: only a close ends the body */
}

/* Read interest and the read deadline for the connection's state. */
static inline void update_interest(ph_conn *c)
{
    bool want_read = !c->read_eof && !c->no_more && c->nqueued < MAX_PIPELINE &&
                     ph_read_buf_unparsed(&c->in) < PH_READ_BUF_SIZE;
    if (want_read != c->reading) {
        if (want_read)
            event_add(c->rev, NULL); /* (the kernel checks the socket again: bytes waiting in it signal) */
        else
            event_del(c->rev);
        c->reading = want_read;
        c->more_unread = false;
    } else if (want_read && c->more_unread) {
        c->more_unread = false; /* edge-triggered: no new edge for bytes already there */
        event_active(c->rev, EV_READ, 1);
    }
    if (c->parser.req) { /* READ_HEADERS / READ_BODY: the deadline runs from the phase's start */
        if (!c->read_deadline && c->phase == READ_HEADERS)
            set_read_phase(c, READ_HEADERS, conf(c)->header_timeout_ms); /* (a head that came whole never pays for it) */
        return;
    }
    if (c->head) {
        c->phase = READ_BUSY;
        c->read_deadline = 0;
    } else if (c->phase != READ_IDLE) { /* (HEADERS, BODY or BUSY: a request came; LINGER never comes here) */
        set_read_phase(c, READ_IDLE, conf(c)->keepalive_timeout_ms);
    }
}

/* Parse, hand up and write as far as possible. May free the connection. */
static void conn_run(ph_conn *c)
{
    if (c->in_run)
        return; /* the outer call writes this response */
    c->in_run = true;
    for (;;) {
        parse_buffered(c);
        if (flush(c) == FLUSH_CLOSED)
            return;
        if (signal_drain(c))
            continue; /* it may have queued more */
        if (!may_parse(c))
            break;
    }
    c->in_run = false;
    if (c->no_more)
        ph_read_buf_clear(&c->in); /* never parsed */
    else if (ph_read_buf_settle(&c->in) < 0) {
        ph_log_error("connection %d: out of memory keeping unparsed requests; closing", c->fd);
        conn_close(c);
        return;
    }
    update_interest(c);
}

void ph_conn_response_ready(ph_request *req)
{
    req->final = true;
    give_back_place(req->conn, req); /* the connection's next request may go up */
    kick(req->conn);
}

void ph_conn_answer_instead(ph_request *req, int status, const char *message)
{
    ph_conn *c = req->conn;
    give_back_place(c, req);
    ph_request *sub = ph_request_new();
    ph_request **slot = &c->head;
    ph_request *prev = NULL;
    while (*slot != req) {
        prev = *slot;
        slot = &(*slot)->next;
    }
    if (!sub) {
        *slot = req->next;
        if (c->tail == req)
            c->tail = prev;
        c->nqueued--;
        ph_log_error("connection %d: out of memory for a %d response; closing", c->fd, status);
        let_go(req);
        conn_close(c);
        return;
    }
    sub->conn = c;
    sub->own = true;
    sub->http_major = req->http_major;
    sub->http_minor = req->http_minor;
    sub->keep_alive = req->keep_alive;
    sub->method_bit = req->method_bit;
    ph_request_set_error(sub, status, message, NULL);
    sub->final = true;
    sub->next = req->next;
    *slot = sub;
    if (c->tail == req)
        c->tail = sub;
    let_go(req);
    kick(c);
}

/* ---- events ---- */

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    ph_conn *c = arg;
    if (c->phase == READ_LINGER) {
        linger_read(c);
        return;
    }
    ssize_t n = ph_read_buf_fill(&c->in, fd); /* borrows the shared buffer until conn_run settles */
    if (n > 0) {
        /* A shorter read emptied the socket, but for an end of input
         * that came with the bytes (EV_CLOSED: EPOLLRDHUP), which the next
         * read returns. */
        c->more_unread = c->in.len == PH_READ_BUF_SIZE || (what & EV_CLOSED);
        conn_run(c);
        return;
    }
    if (n < 0 && errno == ENOBUFS) { /* full of pipelined requests: wait */
        c->more_unread = true;
        update_interest(c);
        return;
    }
    if (n < 0 && errno == EINTR) {
        event_active(c->rev, EV_READ, 1); /* read again: no new edge comes for these bytes */
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n < 0) {
        conn_close(c);
        return;
    }
    /* EOF: the client sent everything; answer what it asked, then close. */
    c->read_eof = true;
    if (!c->head && !ph_read_buf_unparsed(&c->in)) {
        conn_close(c);
        return;
    }
    conn_run(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_run(arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_conn *c = arg;
    c->armed_deadline = 0;
    uint64_t now = now_ms();
    if (c->write_deadline && now >= c->write_deadline) {
        ph_log_debug("connection %d: send timeout, closing", c->fd);
        conn_close(c);
        return;
    }
    if (c->read_deadline && now >= c->read_deadline) {
        c->read_deadline = 0;
        switch (c->phase) {
        case READ_HEADERS:
        case READ_BODY:
            queue_error(c, 408);
            conn_run(c);
            return;
        case READ_BUSY:
            break;
        case READ_IDLE:
        case READ_LINGER:
            conn_close(c);
            return;
        }
    }
    arm_timer(c);
}

/* The peer's IP as text into buf ("" when unknown). */
static void format_peer(const struct sockaddr *addr, char *buf, size_t len)
{
    buf[0] = '\0';
    if (addr && addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)addr)->sin_addr, buf, (socklen_t)len);
    else if (addr && addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr, buf, (socklen_t)len);
}

/* A connection with its three events in the same allocation (one malloc,
 * no per-event heap overhead), or NULL. */
static ph_conn *conn_new(int fd)
{
    size_t evsize = event_get_struct_event_size();
    size_t at = (sizeof(ph_conn) + 15) & ~(size_t)15;
    char *mem = calloc(1, at + 3 * evsize);
    if (!mem)
        return NULL;
    ph_conn *c = (ph_conn *)(void *)mem;
    c->fd = fd;
    c->rev = (struct event *)(void *)(mem + at);
    c->wev = (struct event *)(void *)(mem + at + evsize);
    c->tev = (struct event *)(void *)(mem + at + 2 * evsize);
    if (event_assign(c->rev, layer.base, fd, EV_READ | EV_CLOSED | EV_PERSIST | EV_ET, on_readable, c) < 0 ||
        event_assign(c->wev, layer.base, fd, EV_WRITE | EV_PERSIST | EV_ET, on_writable, c) < 0 ||
        event_assign(c->tev, layer.base, -1, 0, on_timer, c) < 0) {
        free(mem);
        return NULL;
    }
    return c;
}

int ph_conn_accept(int fd, const struct sockaddr *addr)
{
    ph_conn *c = conn_new(fd);
    if (!c || event_add(c->rev, NULL) < 0) {
        ph_log_error("cannot set up a connection: out of memory");
        free(c);
        close(fd);
        return -1;
    }
    format_peer(addr, c->peer, sizeof c->peer);
    c->reading = true;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ph_http_parser_init(&c->parser, &parse_hooks, c);
    c->next = layer.conns;
    if (layer.conns)
        layer.conns->prev = c;
    layer.conns = c;
    layer.nconns++;
    set_read_phase(c, READ_IDLE, conf(c)->header_timeout_ms);
    return 0;
}

/* Drain one connection (see ph_conn_drain_all). May free it. */
static void conn_drain(ph_conn *c)
{
    if (c->phase == READ_LINGER)
        return;
    bool streaming = false;
    for (const ph_request *r = c->head; r; r = r->next)
        streaming |= r->streaming && !r->final;
    if (streaming) {
        /* An open-ended stream (server-sent events) would hold the drain
         * to its timeout: close now; the stream's owner hears of it
         * through `dropped`, and clients reconnect elsewhere. */
        conn_close(c);
        return;
    }
    if (!c->head) {
        /* Idle or mid-request: a request may be on its way (a keep-alive
         * client under load sends the next one at once). Answer it with
         * Connection: close; an idle one closes after a short grace. */
        if (!c->parser.req && !ph_read_buf_unparsed(&c->in))
            set_read_phase(c, READ_IDLE, DRAIN_IDLE_GRACE_MS);
        return;
    }
    c->no_more = true;
    let_go(ph_http_parse_take(&c->parser)); /* not in flight: never answered */
    update_interest(c);
}

void ph_conn_drain_all(void)
{
    layer.draining = true;
    ph_conn *c = layer.conns;
    while (c) {
        ph_conn *next = c->next; /* conn_drain may free c, never another */
        conn_drain(c);
        c = next;
    }
}

int ph_conn_shed(int n)
{
    int marked = 0;
    for (ph_conn *c = layer.conns; c && marked < n; c = c->next) {
        bool streaming = false;
        for (const ph_request *r = c->head; r; r = r->next)
            streaming |= r->streaming && !r->final;
        if (c->shed || c->no_more || streaming || c->phase == READ_LINGER)
            continue; /* a stream stays where it is; others close anyway */
        c->shed = true;
        marked++;
        if (!c->head && !c->parser.req && !ph_read_buf_unparsed(&c->in))
            set_read_phase(c, READ_IDLE, DRAIN_IDLE_GRACE_MS); /* idle: close after a short grace */
    }
    return marked;
}

void ph_conn_close_all(void)
{
    while (layer.conns)
        conn_close(layer.conns);
}
