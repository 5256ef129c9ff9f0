/* dispatch.h - handing a parsed request to its plugin: async handlers on
 * the loop, sync handlers on the pool; answering 404/405/503/500; routing
 * the finished response back to its connection. Loop thread only. */
#ifndef PH_DISPATCH_H
#define PH_DISPATCH_H

#include "request.h"

struct ph_server;

/* Remember the server the dispatcher serves. Call once. */
void ph_dispatch_init(struct ph_server *srv);

/* Route and run `req` (fully received, attached to its connection). The
 * response arrives at ph_conn_response_ready, possibly before this
 * returns. */
void ph_dispatch_request(ph_request *req);

/* An async plugin finished `req` (api->complete). Returns 0, or -1 when
 * the request is not waiting for completion. */
int ph_dispatch_complete(ph_request *req);

/* End a pending async request early. Its connection has already let go
 * of it (req->conn is NULL, counted in the server's `detached`). Runs its
 * abort callback once, then releases it with every timer, fetch and
 * offload result. */
void ph_dispatch_abort(ph_request *req);

#endif
