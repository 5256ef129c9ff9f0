/* route_gate.h - a route's bulkhead: how many of its requests may be in
 * flight at once (`max_inflight`), its own FIFO of requests waiting past
 * that (`queue`; past it the client gets 503 with Retry-After), an
 * optional pool of its own (`sync_threads` in the route section: its sync
 * handlers and its offloads run there), and its figures (in flight,
 * queued, rejected, threads).
 *
 * Every route of a generation has one gate (its generation makes and frees
 * it; its figures go to the route's slot on the worker's board, which
 * worker_metrics.c sets when the generation goes live). A request keeps the gate of the generation that accepted it to
 * its end, so after a reload new requests meet the new limits while those
 * in flight or queued finish under the old ones. A route's own pool is
 * shared by the next generation when its pattern keeps the same pool
 * settings, else the next generation starts a new one and the old pool
 * stops with the last generation using it. Loop thread only. */
#ifndef PH_ROUTE_GATE_H
#define PH_ROUTE_GATE_H

#include "board.h"

#include <stdbool.h>

struct event_base;
struct ph_pool;
struct ph_request;

/* A route's limits, from its section (generation.c fills them in). */
typedef struct ph_route_limits {
    int max_inflight; /* its requests running (or pending, async) at once; 0 = no limit of its own */
    int queue;        /* its requests waiting past max_inflight, in arrival order; past it 503 */
    int sync_threads; /* threads of a pool of its own; 0 = the worker's pool */
    int pool_queue;   /* that pool's queue: sync jobs past its threads, offloads */
} ph_route_limits;

typedef struct ph_route_pool ph_route_pool;

typedef struct ph_route_gate {
    ph_route_limits limits;
    int inflight;            /* requests holding a place (running or pending) */
    int queued;              /* requests waiting for one */
    unsigned long rejected;  /* answered 503 for want of room (its queue, or the pool's) */
    struct ph_request *head, *tail; /* the waiting requests, oldest first (req->gate_next) */
    ph_route_pool *pool;     /* its own pool, or NULL */
    struct ph_route_gate *ready_next; /* on the list of gates to promote from */
    bool ready;
    struct ph_board_route *board; /* where its figures are shown: its route's slot, or ph_gate_unboarded */
} ph_route_gate;

/* Where the figures of a gate without a slot on a board go (plughost -t,
 * unit tests): nobody reads them, and a gate updates its figures without
 * testing whether it has a slot. */
extern struct ph_board_route ph_gate_unboarded;

/* Promote queued requests from a loop event on `base` (never under the
 * caller, which may be plugin code finishing another request): `start`
 * gets each promoted request (life state QUEUED, route and generation
 * set) once a place is free. Without a base promotion happens at once (unit
 * tests). Returns 0 or -1. */
int ph_gates_setup(struct event_base *base, void (*start)(struct ph_request *req));

/* Stop deferring (the event is freed; no gate may be waiting). */
void ph_gates_shutdown(void);

/* A gate without limits, its figures on ph_gate_unboarded, or NULL (no
 * memory). */
ph_route_gate *ph_gate_create(void);

/* Free `gate` (no request may hold or wait in it) and release its pool. */
void ph_gate_free(ph_route_gate *gate);

/* True when `gate` has a limit of its own (max_inflight). */
static inline bool ph_gate_limited(const ph_route_gate *gate) { return gate->limits.max_inflight > 0; }

/* True when a request may take a place now. */
static inline bool ph_gate_has_room(const ph_route_gate *gate)
{
    return gate->limits.max_inflight <= 0 || gate->inflight < gate->limits.max_inflight;
}

/* A place may have come free in `gate`: promote its oldest waiting
 * request from the loop (nothing when none waits or there is no room). */
void ph_gate_wake(ph_route_gate *gate);

/* A request takes a place in `gate` / gives it back (then the oldest
 * waiting request is promoted, from the loop). Inline: a request of a
 * route without waiting requests costs a few stores. */
static inline void ph_gate_enter(ph_route_gate *gate)
{
    gate->inflight++;
    ph_board_show(&gate->board->inflight, 1);
}

static inline void ph_gate_leave(ph_route_gate *gate)
{
    gate->inflight--;
    ph_board_show(&gate->board->inflight, -1);
    if (gate->head)
        ph_gate_wake(gate);
}

/* Queue `req` at the end of `gate`'s queue. Returns 0, or -1 when the
 * queue is full (counted as rejected: the caller answers 503). */
int ph_gate_queue(ph_route_gate *gate, struct ph_request *req);

/* Take `req` (queued in `gate`) out of the queue: it timed out, its client
 * left, or it is discarded. */
void ph_gate_unqueue(ph_route_gate *gate, struct ph_request *req);

/* A request of the gate's route was answered 503 for want of room
 * elsewhere (the pool's queue was full): count it. */
void ph_gate_rejected(ph_route_gate *gate);

/* The route's own pool, or NULL for the worker's. */
struct ph_pool *ph_gate_pool(const ph_route_gate *gate);

/* Threads of the route's own pool, 0 without one. */
int ph_gate_pool_threads(const ph_route_gate *gate);

/* Give `gate` the pool its limits ask for (sync_threads > 0): the pool of
 * `previous` (the same pattern in the generation before, may be NULL)
 * when it has the same threads and queue, else a new one on `base`.
 * Returns 0, or -1 (threads could not be started; logged). */
int ph_gate_start_pool(ph_route_gate *gate, const ph_route_gate *previous, struct event_base *base);

/* Jobs queued or running on every route's own pool, not yet done()
 * (drain waits for them). */
int ph_gate_pools_pending(void);

#endif
