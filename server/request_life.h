/* request_life.h - the one owner of a request's life.
 *
 * A request a connection has received is handed to dispatch, which starts
 * its life here. Every state change (request.h: PARSED, RUNNING, ABORTING,
 * DONE, RELEASED) happens in request_life.c, and nowhere else:
 *
 *   begin            counted in flight (PARSED)
 *   queue            no place under its route's max_inflight: it waits in
 *                    the route's queue (QUEUED), the route timeout armed
 *                    (504 when it passes first; 503 when the queue is full)
 *   run              a handler takes it (RUNNING), the route timeout armed;
 *                    it holds a place on its route (route_gate.h)
 *   returned         the handler returned: PH_PENDING waits for complete,
 *                    anything else finishes it
 *   complete         the SDK's complete(): finishes a pending async request
 *   abort            client gone or route timeout: the abort callback runs
 *                    (ABORTING), then it finishes
 *   finish           the response is final (DONE): its timers, fetches and
 *                    offload results are cancelled, the in-flight count
 *                    drops, its route place is given back (the next waiting
 *                    request starts from the loop), the connection gets it
 *                    to write. Idempotent.
 *   dropped          the connection let go of it: a DONE request is
 *                    released (RELEASED); a RUNNING one lost its client
 *
 * A request is released exactly once, when it is DONE and no connection
 * holds it. The SDK calls a state does not allow (complete twice, complete
 * or a response builder inside the abort callback, ...) are refused and
 * logged by ph_life_allows, never acted on. Loop thread only, except
 * ph_life_allows for builders (the pool thread of a sync handler). */
#ifndef PH_REQUEST_LIFE_H
#define PH_REQUEST_LIFE_H

#include "request.h"

#include <stdbool.h>
#include <time.h>

struct event_base;
struct ph_route;
struct ph_generation;

/* Requests in their life, for the status document, recycling and drain. */
typedef struct ph_life_counts {
    unsigned long requests_done; /* finished since start */
    int in_flight;               /* begun, not finished */
    int async_in_flight;         /* of them, taken by an async handler (pending ones included) */
    int detached;                /* in flight without a client */
    int stuck_sync;              /* sync handlers still running past their timeout */
} ph_life_counts;

/* Use `base` for route timeouts, with zero counts and no watcher. Call
 * after the worker attached its board (board.h): in-flight counts go to
 * the record it has then. */
void ph_life_setup(struct event_base *base);

/* From now on `changed` (NULL: none) runs after the counts changed (a
 * request finished, lost its client, got stuck). The counts themselves
 * are always ph_life_counts_now()'s: a watcher is for acting on a change
 * at once (the server's drain), and costs a call per request. */
void ph_life_watch(void (*changed)(void));

const ph_life_counts *ph_life_counts_now(void);

/* Whether the metrics count finished requests or the access log logs
 * them may have changed: the server calls this after it configures them
 * (each generation) and after the access log's reopen. From now on
 * requests are timed, with the precise clock, only while one of them
 * reads their durations. Loop thread. */
void ph_life_timing_changed(void);

/* Count `req` (fresh from its connection) in flight: +1 on this worker's
 * board. The matching -1 is in finish, once. Returns the clock its
 * began_ns was read from (CLOCK_MONOTONIC when its duration is read, else
 * CLOCK_MONOTONIC_COARSE): the same callback may take began_ns as its own
 * reading of that clock. */
clockid_t ph_life_begin(ph_request *req);

/* `req` waits for a place on `route` (from `gen`, referenced until
 * release): PARSED -> QUEUED, or answered 503 with Retry-After at once when
 * the route's queue is full (DONE). */
void ph_life_queue(ph_request *req, const struct ph_route *route, struct ph_generation *gen);

/* A handler of `route` (from `gen`, referenced until release) takes `req`:
 * PARSED or QUEUED -> RUNNING (it holds a place on its route until it
 * finishes). A sync handler's route timeout starts now; for an
 * async one handle() is about to run on the loop (call ph_life_returned
 * after it: its timeout starts when it returns PH_PENDING). */
void ph_life_run(ph_request *req, const struct ph_route *route, struct ph_generation *gen, bool async);

/* ph_life_run for an async handler of a request dispatch has just begun
 * (ph_life_begin: PARSED, counted): the states that sets are not tested
 * again. */
void ph_life_run_async(ph_request *req, const struct ph_route *route, struct ph_generation *gen);

/* handle() returned `rc` (async: on the loop; sync: done() of its pool
 * job). PH_PENDING from an async handler leaves it RUNNING; anything else
 * finishes it (PH_ERROR and unknown results answer 500). */
void ph_life_returned(ph_request *req, int rc);

/* ph_life_returned for the async handle() dispatch ran on the loop, after
 * ph_life_begin and ph_life_run (RUNNING, counted, holding its route
 * place; nothing ends a request under its handle()): the states those set
 * are not tested again. */
void ph_life_returned_async(ph_request *req, int rc);

/* The response of `req` is final (PARSED or RUNNING or ABORTING -> DONE).
 * A second call is logged and ignored. */
void ph_life_finish(ph_request *req);

/* The SDK's complete(). Returns 0, or -1 (logged) when `req` is not a
 * pending async request: inside handle(), inside the abort callback,
 * called twice, or on a sync request. */
int ph_life_complete(ph_request *req);

/* End a pending async request early: its abort callback runs once
 * (ABORTING), then it finishes. Ignored when it is not RUNNING. */
void ph_life_abort(ph_request *req);

/* The connection hook `dropped` (see http_conn.h). */
void ph_life_dropped(ph_request *req);

/* The connection hook `drained`: the stream's drain callback runs. */
void ph_life_drained(ph_request *req);

/* What a plugin asks to do with a request. */
typedef enum ph_life_call {
    PH_CALL_BUILD,    /* set_status, add_header(_n), set_body, respond_json, respond_error */
    PH_CALL_ASYNC,    /* on_abort, timers, fetch, offload, stream_*: a pending async request */
    PH_CALL_COMPLETE, /* complete() */
} ph_life_call;

/* True when the SDK call `slot` of kind `call` may act on `req` in its
 * state; otherwise logs why (naming route and plugin) and returns false.
 * The caller has checked the thread. */
bool ph_life_allows(const ph_request *req, ph_life_call call, const char *slot);

/* A stream began (stream_begin): the route timeout, which bounds the
 * start of a response, no longer applies. */
void ph_life_stream_begun(ph_request *req);

/* Register the abort or drain callback of a pending async request. */
void ph_life_set_abort(ph_request *req, ph_abort_cb cb, void *arg);
void ph_life_set_drain(ph_request *req, ph_drain_cb cb, void *arg);

/* Release a request that never was handed to a handler but was begun or
 * made by a test: end its async work and recycle it. For unit tests and
 * teardown. */
void ph_life_discard(ph_request *req);

#endif
