/* dispatch.c - routing a request to its plugin and picking where its
 * handler runs: async on the loop, sync on the pool (the route's own or
 * the worker's), now or after a wait in its route's queue. */
#include "dispatch.h"

#include "config_value.h"
#include "crash_handler.h"
#include "generation.h"
#include "http_conn.h"
#include "pool.h"
#include "real_ip.h"
#include "request_life.h"
#include "route_gate.h"
#include "router.h"
#include "status.h"
#include "watchdog.h"
#include "worker_metrics.h"

#include <string.h>
#include <unistd.h>

static struct {
    ph_pool *pool;
    int worker_id;
    ph_generation *gen;
    const char *status_path; /* gen's status document path, or NULL */
} d;

void ph_dispatch_setup(ph_pool *pool, int worker_id)
{
    d.pool = pool;
    d.worker_id = worker_id;
}

void ph_dispatch_set_generation(ph_generation *gen)
{
    d.gen = gen;
    d.status_path = gen->config->server.status_path;
}

/* Pool thread: run the sync handler. The request is this thread's alone. */
static void run_sync(ph_job *job)
{
    ph_request *req = (ph_request *)job;
    const ph_instance *inst = req->route->instance;
    const ph_crash_site *previous = ph_crash_enter_site(&req->route->handle_site);
    req->handler_result = inst->lib->desc->handle(inst->state, req);
    ph_crash_leave_site(previous);
}

/* Loop thread: a sync handler returned. */
static void sync_done(ph_job *job)
{
    ph_request *req = (ph_request *)job;
    if (!ph_gate_pool(req->route->gate))
        ph_wmetrics_pool(ph_pool_pending(d.pool) - 1, false); /* this job's done() is running */
    ph_life_returned(req, req->handler_result);
}

/* Loop thread: run the async handler, which started at `started_ns` on
 * the watchdog's clock. */
static inline void run_async(ph_request *req, uint64_t started_ns)
{
    const ph_route *route = req->route;
    const ph_instance *inst = route->instance;
    ph_plugin_call call = ph_watchdog_begin_at(&route->handle_site, started_ns);
    int rc = inst->lib->desc->handle(inst->state, req);
    ph_watchdog_end_at(&call, &route->handle_site);
    ph_life_returned_async(req, rc);
}

static void respond_status(ph_request *req)
{
    const ph_life_counts *n = ph_life_counts_now();
    ph_loop_lag lag = ph_watchdog_lag();
    ph_status_info info = {
        .lag_ms = lag.last_ms,
        .lag_max_ms = lag.max_ms,
        .slow_callbacks = lag.slow_callbacks,
        .generation = d.gen->number,
        .worker = d.worker_id,
        .pid = (long)getpid(),
        .requests_done = n->requests_done,
        .connections = ph_conn_count(),
        .sync_pending = ph_pool_pending(d.pool),
        .sync_stuck = n->stuck_sync,
        .detached = n->detached,
        .router = d.gen->router,
    };
    ph_status_respond(req, &info);
}

/* Where `req` goes: its route (FOUND), or the host's own answer. */
typedef enum target { TARGET_ROUTE, TARGET_STATUS, TARGET_NOT_FOUND, TARGET_NOT_ALLOWED, TARGET_SERVER } target;

static target find(ph_request *req, const ph_route **route)
{
    const char *path = ph_request_path(req);
    if (d.status_path && strcmp(path, d.status_path) == 0)
        return TARGET_STATUS;
    ph_route_match m = ph_router_match(d.gen->router, path, req->path_len, req->method_bit, route, &req->params);
    if (m == PH_ROUTE_FOUND)
        return TARGET_ROUTE;
    if (path[0] == '*') /* (no route or status_path matches it: theirs start with '/') */
        return TARGET_SERVER; /* "OPTIONS *", the only request the parser lets through without a '/' */
    return m == PH_ROUTE_NOT_FOUND ? TARGET_NOT_FOUND : TARGET_NOT_ALLOWED;
}

/* "OPTIONS *" (RFC 9110 9.3.7): 200 without a body, Allow naming every
 * method a route can be given. */
static void answer_server_options(ph_request *req)
{
    char allow[128];
    ph_router_format_allow((1u << PH_METHOD_COUNT) - 1, allow, sizeof allow);
    req->status = 200;
    ph_buf_reset(&req->resp_headers);
    ph_buf_reset(&req->resp_body);
    if (ph_buf_append_str(&req->resp_headers, allow) < 0)
        ph_request_set_error(req, 503, "out of memory", NULL);
}

/* The host answers `req` itself (status document, 404, 405, OPTIONS *). */
static void host_answer(ph_request *req, target t)
{
    if (t == TARGET_SERVER) {
        answer_server_options(req);
    } else if (t == TARGET_STATUS) {
        if (req->method_bit & (PH_METHOD_GET | PH_METHOD_HEAD))
            respond_status(req);
        else
            ph_request_set_error(req, 405, "method not allowed", "Allow: GET, HEAD\r\n");
    } else if (t == TARGET_NOT_FOUND) {
        ph_request_set_error(req, 404, "not found", NULL);
    } else {
        char allow[128];
        const char *path = ph_request_path(req);
        ph_router_format_allow(ph_router_allowed(d.gen->router, path, req->path_len), allow, sizeof allow);
        ph_request_set_error(req, 405, "method not allowed", allow);
    }
    ph_life_finish(req);
}

/* Run `req` on `route` of `gen` now: async on the loop, sync on the
 * route's pool or the worker's (503 when that pool's queue is full).
 * `begun`: fresh from ph_life_begin, which read its began_ns from the
 * clock `read` in this callback (else it waited in its route's queue,
 * `read` unused). Always inline: `begun` is a constant at each caller. */
static inline __attribute__((always_inline)) void start(ph_request *req, const ph_route *route, ph_generation *gen,
                                                      clockid_t read, bool begun)
{
    if (route->async) {
        uint64_t started_ns;
        if (begun) {
            ph_life_run_async(req, route, gen);
            started_ns = ph_watchdog_clock_ns_from(read, req->began_ns);
        } else {
            ph_life_run(req, route, gen, true);
            started_ns = ph_watchdog_clock_ns();
        }
        run_async(req, started_ns);
        return;
    }
    ph_life_run(req, route, gen, false);
    req->job.run = run_sync;
    req->job.done = sync_done;
    ph_pool *own = ph_gate_pool(route->gate);
    int refused = ph_pool_submit(own ? own : d.pool, &req->job);
    if (!own)
        ph_wmetrics_pool(ph_pool_pending(d.pool), refused < 0);
    if (refused < 0) {
        ph_gate_rejected(route->gate);
        ph_request_set_error(req, 503, "sync worker pool is full, retry later", "Retry-After: 1\r\n");
        ph_life_finish(req);
    }
}

/* route_gate's promotion: a queued request got its place. */
static void start_queued(ph_request *req) { start(req, req->route, req->gen, PH_WATCHDOG_NO_CLOCK, false); }

int ph_dispatch_setup_gates(struct event_base *base) { return ph_gates_setup(base, start_queued); }

ph_conn_take ph_dispatch_request(ph_request *req, bool place_free)
{
    const ph_route *route; /* (set by find for TARGET_ROUTE) */
    target t = find(req, &route);
    if (t != TARGET_ROUTE) {
        ph_life_begin(req);
        ph_real_ip_apply(req);
        host_answer(req, t);
        return PH_TAKE_FREE;
    }
    /* A request takes one of its connection's places when it is sync (a
     * pool thread or a place in a pool's queue) or its route has a limit
     * of its own (a place under it or in its queue). */
    ph_route_gate *gate = route->gate;
    bool limited = ph_gate_limited(gate);
    bool place = limited || !route->async;
    if (place && !place_free)
        return PH_TAKE_LATER; /* the connection offers it again when one of its places is free */
    clockid_t read = ph_life_begin(req);
    ph_real_ip_apply(req);
    if (!limited || (ph_gate_has_room(gate) && !gate->head)) /* (a route without a limit never queues) */
        start(req, route, d.gen, read, true);
    else
        ph_life_queue(req, route, d.gen); /* (or 503 when its queue is full) */
    return place ? PH_TAKE_PLACE : PH_TAKE_FREE;
}
