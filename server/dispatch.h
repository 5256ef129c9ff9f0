/* dispatch.h - from a received request to its handler: the status
 * document, 404/405, and the route's plugin — async handlers on the loop,
 * sync handlers on the pool (503 when its queue is full). The request's
 * life (request_life.h) begins here. Loop thread only. */
#ifndef PH_DISPATCH_H
#define PH_DISPATCH_H

#include "request.h"

struct ph_pool;
struct ph_generation;

/* Dispatch onto `pool`; `worker_id` names this worker in the status
 * document. Call once before serving. */
void ph_dispatch_setup(struct ph_pool *pool, int worker_id);

/* Serve new requests from `gen` (borrowed: the caller keeps a reference
 * until the next call). */
void ph_dispatch_set_generation(struct ph_generation *gen);

/* The connection hook `received`: route and run `req`. Its response goes
 * back to the connection when final, possibly before this returns. */
void ph_dispatch_request(ph_request *req);

#endif
