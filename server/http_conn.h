/* http_conn.h - the HTTP/1.1 connection layer: bytes in, requests out,
 * responses back in request order. Plain fd events, direct
 * read()/writev(), llhttp parsing, keep-alive, pipelining, limits,
 * timeouts, lingering close.
 *
 * Fair sharing: a connection has `max_inflight_per_connection` places
 * (default 1). A request that takes a scarce resource shared with other
 * clients (a pool thread or a place in a pool's queue, a place under a
 * route's max_inflight or in its queue: the layer above decides) holds one
 * of its connection's places until its response is final; while none is
 * free, that request and every later one of the connection wait in the
 * connection (that one parsed, the later ones unread), not in a pool or a
 * route queue.
 *
 * It knows no plugins: a request it has received goes up through the
 * `received` hook (dispatch), and the layer above tells it when a response
 * is final (ph_conn_response_ready), when to answer instead (a timeout),
 * and what a stream writes. Every request it lets go of goes up through
 * `dropped`, exactly once. Loop thread only. */
#ifndef PH_HTTP_CONN_H
#define PH_HTTP_CONN_H

#include "config.h"
#include "request.h"

#include <stdbool.h>

struct event_base;
struct sockaddr;

/* What `received` did with a request. */
typedef enum ph_conn_take {
    PH_TAKE_FREE,  /* taken, holding none of the connection's places */
    PH_TAKE_PLACE, /* taken, holding one of them until its response is final (or answered instead) */
    PH_TAKE_LATER, /* not taken: it needs a place and none is free; offered again once one is */
} ph_conn_take;

/* The upward paths, registered once at start (all required). */
typedef struct ph_conn_hooks {
    /* `req` was received completely and queued on its connection (its
     * slot in the pipeline), after every earlier one was taken: start it
     * (`place_free`: one of the connection's places is free for it). Its
     * response comes back through ph_conn_response_ready, possibly before
     * this returns. */
    ph_conn_take (*received)(ph_request *req, bool place_free);
    /* The connection let go of `req` (req->conn is NULL by now): its
     * response was written, it was answered instead (a 504), or the
     * connection closed before that. Never twice for one request, and
     * the layer never touches `req` again. */
    void (*dropped)(ph_request *req);
    /* The stream `req` (at the head of its queue) has written its
     * buffered output down to the low-water mark after stream_write said
     * 1: the writer may go on. */
    void (*drained)(ph_request *req);
    /* A connection closed (the count of open ones went down). */
    void (*closed)(void);
} ph_conn_hooks;

/* Serve connections on `base` with `hooks` (copied). Call once before
 * ph_conn_accept (again only after ph_conn_close_all, in tests). */
void ph_conn_setup(struct event_base *base, const ph_conn_hooks *hooks);

/* The limits and timeouts to apply from now on (the current
 * generation's; the pointer must stay valid until the next call). */
void ph_conn_set_limits(const ph_server_conf *limits);

/* Take over the accepted non-blocking socket `fd` from peer `addr` (may be
 * NULL). Returns 0, or -1 (the fd is closed). */
int ph_conn_accept(int fd, const struct sockaddr *addr);

/* Open connections. */
int ph_conn_count(void);

/* The response of `req` (still queued on its connection, req->conn set)
 * is final: it is written from the loop, never under the caller (which
 * may be plugin code that must not see its connection closed under it).
 * The layer drops `req` once it is written. */
void ph_conn_response_ready(ph_request *req);

/* Take `req` off its connection (req->conn becomes NULL, `dropped` runs
 * for it before this returns) and queue a host error response with
 * `status` in its place, in the same pipeline slot. Without memory for
 * that, the connection is closed instead. */
void ph_conn_answer_instead(ph_request *req, int status, const char *message);

/* Streaming: send the head built so far now (chunked for HTTP/1.1,
 * close-delimited for 1.0). Returns 0, or -1 (no connection, already
 * streaming, no memory). */
int ph_conn_stream_begin(ph_request *req);

/* Queue body bytes of a stream. Returns 0, 1 when the buffered output is
 * above the high-water mark (wait for `drained`), or -1. */
int ph_conn_stream_write(ph_request *req, const void *data, size_t len);

/* The stream is over: append its end (the last chunk) when `clean`, else
 * cut it short (the connection closes after what was queued). */
void ph_conn_stream_end(ph_request *req, bool clean);

/* Drain every connection: a streaming one closes now (an open-ended stream
 * is cut short); an idle one may bring one more request within a short
 * grace (a keep-alive client under load sends it at once), answered with
 * Connection: close; others stop reading and close once their queued
 * responses are written. Requests parsed from now on are answered with
 * Connection: close. */
void ph_conn_drain_all(void);

/* Close every connection now; requests still running are dropped. */
void ph_conn_close_all(void);

/* Move up to `n` connections to other workers, gracefully: each answers
 * its next request with Connection: close (an idle one closes after a
 * short grace), so its client reconnects through the shared socket.
 * Streams are left alone. Returns how many were marked. */
int ph_conn_shed(int n);

#endif
