/* http_conn.h - the HTTP/1.1 connection layer: plain fd events, direct
 * read()/writev(), llhttp parsing, keep-alive, pipelining with responses
 * in request order, limits, timeouts, lingering close. Loop thread only. */
#ifndef PH_HTTP_CONN_H
#define PH_HTTP_CONN_H

#include "request.h"

#include <stdbool.h>

struct ph_server;

typedef struct ph_conn ph_conn;

struct sockaddr;

/* Take over the accepted non-blocking socket `fd` from peer `addr` (may be
 * NULL). Returns 0, or -1 (the fd is closed). */
int ph_conn_accept(struct ph_server *srv, int fd, const struct sockaddr *addr);

/* The response of `req` (still queued on its connection) is final. The
 * write happens from the loop, never under the caller (which may be plugin
 * code that must not see its connection closed under it). */
void ph_conn_response_ready(ph_request *req);

/* Take `req` off its connection (req->conn becomes NULL) and queue a host
 * error response with `status` in its place, in the same pipeline slot.
 * Without memory for that, the connection is closed instead. */
void ph_conn_answer_instead(ph_request *req, int status, const char *message);

/* Streaming: send the head now (chunked for HTTP/1.1, close-delimited for
 * 1.0). Returns 0 or -1. */
int ph_conn_stream_begin(ph_request *req);

/* Queue body bytes of a streaming response. Returns 0, 1 when the
 * buffered output is above the high-water mark, or -1. */
int ph_conn_stream_write(ph_request *req, const void *data, size_t len);

/* Append the end of a streaming body (the last chunk). */
void ph_conn_stream_end(ph_request *req);

/* Drain: close `conn` now when it streams (an open-ended stream is
 * aborted); an idle one may bring one more request within a short grace
 * (a keep-alive client under load sends it at once), answered with
 * Connection: close; else stop reading further requests and close once
 * the queued responses are written. */
void ph_conn_begin_drain(ph_conn *conn);

/* Close `conn` now; requests still running finish without a client. */
void ph_conn_close(ph_conn *conn);

/* Next connection in the server's list (for drain walks). */
ph_conn *ph_conn_next(const ph_conn *conn);

#endif
