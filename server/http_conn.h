/* http_conn.h - the HTTP/1.1 connection layer: plain fd events, direct
 * read()/writev(), llhttp parsing, keep-alive, pipelining with responses
 * in request order, limits, timeouts, lingering close. Loop thread only. */
#ifndef PH_HTTP_CONN_H
#define PH_HTTP_CONN_H

#include "request.h"

#include <stdbool.h>

struct ph_server;

typedef struct ph_conn ph_conn;

/* Take over the accepted non-blocking socket `fd`. Returns 0, or -1
 * (the fd is closed). */
int ph_conn_accept(struct ph_server *srv, int fd);

/* The response of `req` (still queued on its connection) is final. */
void ph_conn_response_ready(ph_request *req);

/* Drain: close `conn` when idle, else stop reading further requests and
 * close once the queued responses are written. */
void ph_conn_begin_drain(ph_conn *conn);

/* Close `conn` now; requests still running finish without a client. */
void ph_conn_close(ph_conn *conn);

/* Next connection in the server's list (for drain walks). */
ph_conn *ph_conn_next(const ph_conn *conn);

#endif
