/* request_life.c - every state change of a request, the route timeout,
 * the abort, and which SDK call each state allows. */
#include "request_life.h"

#include "access_log.h"
#include "board.h"
#include "clock_ns.h"
#include "fetch.h"
#include "generation.h"
#include "http_conn.h"
#include "log.h"
#include "offload.h"
#include "request_timer.h"
#include "route_gate.h"
#include "router.h"
#include "watchdog.h"
#include "worker_metrics.h"

#include <event2/event.h>
#include <stdio.h>
#include <time.h>

static struct event_base *life_base;
static void (*life_changed)(void);
static ph_life_counts counts;
/* The in-flight figure begin and finish count: on this worker's board
 * record, or (without a board) one of this file's own that nobody reads,
 * so a request updates it without testing which. */
static atomic_int unboarded_in_flight;
static atomic_int *life_in_flight = &unboarded_in_flight;

void ph_life_setup(struct event_base *base)
{
    life_base = base;
    life_changed = NULL;
    counts = (ph_life_counts){0};
    ph_board_record *board = ph_board_self();
    life_in_flight = board ? &board->in_flight : &unboarded_in_flight;
}

void ph_life_watch(void (*changed)(void)) { life_changed = changed; }

const ph_life_counts *ph_life_counts_now(void) { return &counts; }

/* Does anything read how long a request took (the metrics of the admin
 * listener, the access log), and the clock ph_life_begin reads: set by
 * ph_life_timing_changed, so a request tests one flag. */
static bool life_timed;
static clockid_t life_clock = CLOCK_MONOTONIC_COARSE;

void ph_life_timing_changed(void)
{
    life_timed = ph_wmetrics_counting() || ph_alog_enabled();
    /* precise when its duration is read; else the coarse clock (a plain
     * load, never later than the precise one), in case a reload opens the
     * access log before it finishes */
    life_clock = life_timed ? CLOCK_MONOTONIC : CLOCK_MONOTONIC_COARSE;
}

/* A begun request is done: count it on the board and log it (call when
 * life_timed). The status is what the client got: 504 after the route
 * timeout, 499 (as nginx) when it left before the answer. */
static void account(const ph_request *req)
{
    int status = req->timed_out ? 504 : req->detached ? 499 : req->status;
    double seconds = (double)(ph_clock_ns(CLOCK_MONOTONIC) - req->began_ns) / 1e9;
    ph_wmetrics_request(req, status, seconds);
    ph_alog_request(req, status, seconds);
}

static void notify(void)
{
    if (life_changed)
        life_changed();
}

static const char *route_path(const ph_request *req) { return req->route ? req->route->path : "(none)"; }

static const char *plugin_name(const ph_request *req)
{
    return req->route ? ph_instance_name(req->route->instance) : "host";
}

/* ---- the timers, fetches and offloads of a request ---- */

/* Cancel the timers, fetches and offloads of `req` and stop its route
 * timeout (each when there is one). Out of line: most requests have none
 * of these, and end_async answers them without a call. */
static __attribute__((noinline)) void cancel_async(ph_request *req)
{
    if (req->timers)
        ph_request_timer_cancel_all(req);
    if (req->fetches)
        ph_fetch_cancel_all(req);
    if (req->offloads)
        ph_offload_cancel_all(req);
    if (req->deadline)
        event_del(req->deadline);
}

/* No timer, fetch, offload or route timeout of `req` runs on. Inline: one
 * test of the four words or'd for the usual request. */
static inline void end_async(ph_request *req)
{
    if ((uintptr_t)req->timers | (uintptr_t)req->fetches | (uintptr_t)req->offloads | (uintptr_t)req->deadline)
        cancel_async(req);
}

/* release of the last request of generation `gen`: bury it, then
 * recycle `req`. Out of line, taking over the rest: the usual release
 * then keeps nothing across a call (and needs no frame). */
static __attribute__((noinline)) void release_last(ph_request *req, ph_generation *gen)
{
    ph_generation_bury(gen);
    ph_request_recycle(req);
}

/* DONE -> RELEASED: the generation reference goes, the memory is
 * recycled. The one place a handled request is released. */
static void release(ph_request *req)
{
    if (req->life != PH_LIFE_DONE) {
        ph_log_error("request of route %s: release in state %d refused (a bug in the host)", route_path(req),
                     (int)req->life);
        return;
    }
    if (ph_generation_drop(req->gen)) {
        release_last(req, req->gen);
        return;
    }
    ph_request_recycle(req); /* life = RELEASED; it forgets route and gen */
}

void ph_life_discard(ph_request *req)
{
    if (!req)
        return;
    end_async(req);
    if (req->counted) {
        ph_life_finish(req);
        return;
    }
    req->life = PH_LIFE_DONE;
    if (!req->conn)
        release(req);
}

/* ---- begin, run, return ---- */

clockid_t ph_life_begin(ph_request *req)
{
    ph_board_add(life_in_flight, 1);
    req->counted = true;
    clockid_t clock = life_clock;
    req->began_ns = ph_clock_ns(clock);
    counts.in_flight++;
    return clock;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg);

/* Start the route timeout of `req` (none when its route has none). Out
 * of line: an async request's run never arms it, and should not carry
 * its registers. */
static __attribute__((noinline)) void arm_deadline(ph_request *req)
{
    uint64_t ms = req->route->timeout_ms;
    if (!ms)
        return;
    if (!req->deadline && !(req->deadline = evtimer_new(life_base, on_deadline, req)))
        return; /* no memory: the request simply has no timeout */
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    event_add(req->deadline, &tv);
}

void ph_life_queue(ph_request *req, const ph_route *route, ph_generation *gen)
{
    req->route = route;
    req->gen = gen;
    ph_generation_ref(gen);
    req->life = PH_LIFE_QUEUED; /* (before it is in the queue, which may start it) */
    arm_deadline(req);          /* the wait counts, as in the pool's queue */
    if (ph_gate_queue(route->gate, req) < 0) {
        req->life = PH_LIFE_PARSED; /* never queued */
        ph_request_set_error(req, 503, "route is at its limit, retry later", "Retry-After: 1\r\n");
        ph_life_finish(req);
    }
}

/* ph_life_run's body; `begun` (a constant at each caller): `req` is fresh
 * from ph_life_begin (PARSED, counted), so its state is not tested. */
static inline void run(ph_request *req, const ph_route *route, ph_generation *gen, bool async, bool begun)
{
    bool queued = !begun && req->life == PH_LIFE_QUEUED; /* its route and generation are these, referenced */
    req->route = route;
    req->gen = gen;
    req->async = async;
    if (async && (begun || req->counted))
        counts.async_in_flight++;
    req->life = PH_LIFE_RUNNING;
    req->in_handler = async;
    req->holds_gate = true;
    ph_gate_enter(route->gate);
    if (queued)
        return; /* its timeout runs on */
    if (!async)
        arm_deadline(req); /* an async handler's starts when it returns PH_PENDING */
    ph_generation_ref(gen);
}

void ph_life_run(ph_request *req, const ph_route *route, ph_generation *gen, bool async)
{
    run(req, route, gen, async, false);
}

void ph_life_run_async(ph_request *req, const ph_route *route, ph_generation *gen) { run(req, route, gen, true, true); }

static void finish(ph_request *req, bool handled_async);

static void handler_failed(ph_request *req, const char *why)
{
    ph_log_error("route %s (plugin %s): %s; answered 500", route_path(req), plugin_name(req), why);
    ph_request_set_error(req, 500, "internal server error", NULL);
}

/* The 500 for a response without a final status. Out of line: its
 * message buffer would cost the frame of every request's finish. */
static __attribute__((noinline, cold)) void refuse_status(ph_request *req)
{
    char why[96];
    snprintf(why, sizeof why, "completed with status %d (a plugin's status must be 200-599)", req->status);
    handler_failed(req, why);
}

/* A response a plugin built must carry a final status (200-599; set_status
 * refuses others, this catches any other way): 500 otherwise, logged. */
static void check_final_status(ph_request *req)
{
    if (!req->streaming && (req->status < 200 || req->status > 599))
        refuse_status(req);
}

/* ph_life_returned's body; `handled_async` (a constant at each caller):
 * `req` is an async request dispatch began and ran (RUNNING, counted,
 * holding its gate place: nothing ends a request under its handle()), so
 * those states are not tested again. */
static inline void returned(ph_request *req, int rc, bool handled_async)
{
    req->in_handler = false;
    if (!handled_async && req->life != PH_LIFE_RUNNING)
        return; /* cannot happen: nothing ends a request under its handle() */
    if ((handled_async || req->async) && rc == PH_PENDING) {
        if (req->detached)
            ph_life_abort(req); /* its client left while handle() ran */
        else if (!req->streaming)
            arm_deadline(req); /* a stream's timeout ended with stream_begin */
        return;                /* complete() or an abort follows */
    }
    if (rc == PH_OK) {
        if (!req->streaming)
            check_final_status(req);
        else if (req->conn)
            ph_conn_stream_end(req, true);
    } else if (req->streaming) {
        ph_log_error("route %s (plugin %s): handle() failed after stream_begin; cutting the stream short",
                     route_path(req), plugin_name(req));
        if (req->conn)
            ph_conn_stream_end(req, false);
    } else {
        handler_failed(req, rc == PH_ERROR     ? "handle() returned PH_ERROR"
                            : rc == PH_PENDING ? "a sync handle() must return PH_OK or PH_ERROR"
                                               : "handle() returned an unknown result");
    }
    finish(req, handled_async);
}

void ph_life_returned(ph_request *req, int rc) { returned(req, rc, false); }

void ph_life_returned_async(ph_request *req, int rc) { returned(req, rc, true); }

/* ---- finish, complete, abort ---- */

/* ph_life_finish's body; inline in ph_life_returned, the way every
 * handled request finishes. `handled_async`: as in returned (RUNNING,
 * async, counted, holding its gate place, never timed out: its timeout
 * starts only when handle() returns PH_PENDING). */
static inline void finish(ph_request *req, bool handled_async)
{
    if (!handled_async && (req->life == PH_LIFE_DONE || req->life == PH_LIFE_RELEASED)) {
        ph_log_error("route %s (plugin %s): request finished twice; ignored (a bug in the host)", route_path(req),
                     plugin_name(req));
        return;
    }
    if (!handled_async && req->life == PH_LIFE_QUEUED)
        ph_gate_unqueue(req->route->gate, req);
    req->life = PH_LIFE_DONE;
    end_async(req); /* no plugin callback for it from now on */
    req->abort_cb = NULL;
    req->drain_cb = NULL;
    if (handled_async || req->counted) {
        req->counted = false;
        ph_board_add(life_in_flight, -1);
        counts.in_flight--;
        counts.requests_done++;
        if (handled_async || req->async) /* (set by ph_life_run, with its route) */
            counts.async_in_flight--;
        if (life_timed) /* (else nobody reads its duration: no clock read, no call) */
            account(req);
    }
    if (req->detached)
        counts.detached--;
    if (!handled_async && req->timed_out && !req->async) {
        counts.stuck_sync--;
        ph_log_warn("route %s (plugin %s): late result discarded (the client got 504); %d sync handlers "
                    "still past their timeout",
                    route_path(req), plugin_name(req), counts.stuck_sync);
    }
    if (handled_async || req->holds_gate) {
        req->holds_gate = false;
        ph_gate_leave(req->route->gate); /* the next waiting request starts from the loop */
    }
    if (req->conn)
        ph_conn_response_ready(req);
    else
        release(req);
    notify();
}

void ph_life_finish(ph_request *req) { finish(req, false); }

int ph_life_complete(ph_request *req)
{
    if (!ph_life_allows(req, PH_CALL_COMPLETE, "complete()"))
        return -1;
    if (req->streaming && req->conn)
        ph_conn_stream_end(req, true);
    check_final_status(req);
    ph_life_finish(req);
    return 0;
}

void ph_life_abort(ph_request *req)
{
    if (req->life != PH_LIFE_RUNNING || !req->async || req->in_handler)
        return;
    req->life = PH_LIFE_ABORTING;
    ph_abort_cb cb = req->abort_cb;
    req->abort_cb = NULL;
    if (cb) {
        ph_plugin_call call = ph_watchdog_begin(req->route, "abort callback");
        cb(req, req->abort_arg);
        ph_watchdog_end(&call);
    }
    ph_life_finish(req); /* without a client: released with its timers, fetches, offloads */
}

/* The route's timeout passed before the handler answered: the client gets
 * 504 now (the connection drops the request, which aborts an async one).
 * A sync handler cannot be stopped: its thread counts as stuck and its
 * late result is discarded. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_request *req = arg;
    if (req->life == PH_LIFE_QUEUED) { /* never started: nothing runs on, nothing to abort */
        ph_log_debug("route %s (plugin %s): no place within %llu ms, answered 504", route_path(req),
                     plugin_name(req), (unsigned long long)req->route->timeout_ms);
        ph_request_set_error(req, 504, "timed out waiting for a place on its route", NULL);
        ph_life_finish(req);
        return;
    }
    if (req->life != PH_LIFE_RUNNING)
        return;
    req->timed_out = true;
    if (!req->async) {
        counts.stuck_sync++;
        ph_log_warn("route %s (plugin %s): no response within %llu ms, answered 504; the sync handler "
                    "keeps its thread until it returns (%d stuck)",
                    route_path(req), plugin_name(req), (unsigned long long)req->route->timeout_ms,
                    counts.stuck_sync);
    } else {
        ph_log_warn("route %s (plugin %s): no response within %llu ms, answered 504 and aborted the request",
                    route_path(req), plugin_name(req), (unsigned long long)req->route->timeout_ms);
    }
    if (req->conn)
        ph_conn_answer_instead(req, 504, "handler timed out"); /* -> ph_life_dropped */
    else
        ph_life_abort(req);
    notify();
}

/* ---- the connection's hooks ---- */

/* ph_life_dropped of a request that is not DONE: its client left first.
 * Out of line: the usual drop, of a written response, needs no frame. */
static __attribute__((noinline)) void dropped_early(ph_request *req)
{
    switch (req->life) {
    case PH_LIFE_DONE:
        break; /* ph_life_dropped's */
    case PH_LIFE_RUNNING:
        req->detached = true;
        counts.detached++;
        if (req->async)
            ph_life_abort(req);
        notify(); /* a sync handler finishes it without a client */
        return;
    case PH_LIFE_PARSED:
        req->life = PH_LIFE_DONE; /* never handed to a handler */
        release(req);
        return;
    case PH_LIFE_QUEUED: /* its client left while it waited: it never starts */
        req->detached = true;
        counts.detached++;
        ph_life_finish(req);
        return;
    case PH_LIFE_ABORTING:
    case PH_LIFE_RELEASED:
        break;
    }
    ph_log_error("request of route %s: dropped in state %d; ignored (a bug in the host)", route_path(req),
                 (int)req->life);
}

void ph_life_dropped(ph_request *req)
{
    if (req->life == PH_LIFE_DONE)
        release(req); /* written, or its connection closed first */
    else
        dropped_early(req);
}

void ph_life_drained(ph_request *req)
{
    if (req->life != PH_LIFE_RUNNING || !req->drain_cb)
        return;
    const ph_route *route = req->route;
    ph_plugin_call call = ph_watchdog_begin(route, "drain callback");
    req->drain_cb(req, req->drain_arg);
    ph_watchdog_end(&call);
}

/* ---- what each state allows ---- */

/* Why `req` in its state refuses a call of kind `call`, or NULL. */
static const char *refusal(const ph_request *req, ph_life_call call)
{
    switch (req->life) {
    case PH_LIFE_RUNNING:
        break;
    case PH_LIFE_ABORTING:
        return call == PH_CALL_COMPLETE
                   ? "inside the abort callback: the request is ending, the host finishes it when the "
                     "callback returns"
                   : "inside the abort callback: the request is ending, no response or new work is possible";
    case PH_LIFE_DONE:
        return call == PH_CALL_COMPLETE ? "on a finished request (complete() twice, or after handle() returned)"
                                        : "after the response was final";
    case PH_LIFE_PARSED:
    case PH_LIFE_QUEUED:
    case PH_LIFE_RELEASED:
    default:
        return "on a request that is not being handled";
    }
    if (call == PH_CALL_BUILD)
        return req->streaming ? "after stream_begin(): the status and headers are sent; the body goes "
                                "through stream_write()"
                              : NULL;
    if (!req->async)
        return "on a sync request: it is a loop primitive for async plugins";
    if (call == PH_CALL_COMPLETE && req->in_handler)
        return "inside handle(): build the response and return PH_OK instead";
    return NULL;
}

bool ph_life_allows(const ph_request *req, ph_life_call call, const char *slot)
{
    if (!req) {
        ph_log_error("%s with a NULL request; refused", slot);
        return false;
    }
    const char *why = refusal(req, call);
    if (!why)
        return true;
    ph_log_error("route %s (plugin %s): %s %s; refused", route_path(req), plugin_name(req), slot, why);
    return false;
}

void ph_life_stream_begun(ph_request *req)
{
    if (req->deadline)
        event_del(req->deadline);
}

void ph_life_set_abort(ph_request *req, ph_abort_cb cb, void *arg)
{
    req->abort_cb = cb;
    req->abort_arg = arg;
}

void ph_life_set_drain(ph_request *req, ph_drain_cb cb, void *arg)
{
    req->drain_cb = cb;
    req->drain_arg = arg;
}
