/* dispatch.h - from a received request to its handler: the status
 * document, 404/405, and the route's plugin — async handlers on the loop,
 * sync handlers on the route's own pool or the worker's (503 when its
 * queue is full), after a wait in the route's queue when the route is at
 * its max_inflight (503 when that queue is full: route_gate.h). The
 * request's life (request_life.h) begins here. Loop thread only. */
#ifndef PH_DISPATCH_H
#define PH_DISPATCH_H

#include "http_conn.h"
#include "request.h"

struct event_base;
struct ph_pool;
struct ph_generation;

/* Dispatch onto `pool`; `worker_id` names this worker in the status
 * document. Call once before serving. */
void ph_dispatch_setup(struct ph_pool *pool, int worker_id);

/* Start requests that waited in a route's queue from loop events on
 * `base` (NULL: at once, for unit tests). Returns 0 or -1. */
int ph_dispatch_setup_gates(struct event_base *base);

/* Serve new requests from `gen` (borrowed: the caller keeps a reference
 * until the next call). */
void ph_dispatch_set_generation(struct ph_generation *gen);

/* The connection hook `received`: route and run `req`, or queue it on its
 * route. A request that would take one of its connection's places (a
 * sync one, or any on a route with max_inflight) is left to the
 * connection when `place_free` is false (PH_TAKE_LATER): the connection
 * keeps it, and the connection's later requests, until a place is free.
 * Its response goes back to the connection when final, possibly before
 * this returns. */
ph_conn_take ph_dispatch_request(ph_request *req, bool place_free);

#endif
