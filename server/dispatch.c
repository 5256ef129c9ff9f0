/* dispatch.c - routing a request to its plugin and picking where its
 * handler runs: async on the loop, sync on the pool. */
#include "dispatch.h"

#include "config_value.h"
#include "crash_handler.h"
#include "generation.h"
#include "http_conn.h"
#include "pool.h"
#include "real_ip.h"
#include "request_life.h"
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
} d;

void ph_dispatch_setup(ph_pool *pool, int worker_id)
{
    d.pool = pool;
    d.worker_id = worker_id;
}

void ph_dispatch_set_generation(ph_generation *gen) { d.gen = gen; }

/* Pool thread: run the sync handler. The request is this thread's alone. */
static void run_sync(ph_job *job)
{
    ph_request *req = (ph_request *)job;
    const ph_instance *inst = req->route->instance;
    ph_crash_mark previous = ph_crash_enter(req->route->path, inst->lib, "handle()");
    req->handler_result = inst->lib->desc->handle(inst->state, req);
    ph_crash_leave(previous);
}

/* Loop thread: a sync handler returned. */
static void sync_done(ph_job *job)
{
    ph_request *req = (ph_request *)job;
    ph_wmetrics_pool(ph_pool_pending(d.pool) - 1, false); /* this job's done() is running */
    ph_life_returned(req, req->handler_result);
}

static void run_async(ph_request *req)
{
    const ph_route *route = req->route;
    const ph_instance *inst = route->instance;
    ph_plugin_call call = ph_watchdog_begin(route, "handle()");
    int rc = inst->lib->desc->handle(inst->state, req);
    ph_watchdog_end(&call);
    ph_life_returned(req, rc);
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
    };
    ph_status_respond(req, &info);
}

/* The host answers `req` itself (status document, 404, 405). */
static bool host_answered(ph_request *req, const ph_route **route)
{
    const char *path = ph_request_path(req);
    const char *status_path = d.gen->config->server.status_path;
    if (status_path && strcmp(path, status_path) == 0) {
        if (req->method_bit & (PH_METHOD_GET | PH_METHOD_HEAD))
            respond_status(req);
        else
            ph_request_set_error(req, 405, "method not allowed", "Allow: GET, HEAD\r\n");
        return true;
    }
    ph_route_match m = ph_router_match(d.gen->router, path, req->path_len, req->method_bit, route, &req->params);
    if (m == PH_ROUTE_NOT_FOUND) {
        ph_request_set_error(req, 404, "not found", NULL);
        return true;
    }
    if (m == PH_ROUTE_METHOD_NOT_ALLOWED) {
        char allow[128];
        ph_router_format_allow(ph_router_allowed(d.gen->router, path, req->path_len), allow, sizeof allow);
        ph_request_set_error(req, 405, "method not allowed", allow);
        return true;
    }
    return false;
}

void ph_dispatch_request(ph_request *req)
{
    ph_life_begin(req);
    ph_real_ip_apply(req);
    const ph_route *route;
    if (host_answered(req, &route)) {
        ph_life_finish(req);
        return;
    }
    bool async = ph_instance_mode(route->instance) == PH_MODE_ASYNC;
    ph_life_run(req, route, d.gen, async);
    if (async) {
        run_async(req);
        return;
    }
    req->job.run = run_sync;
    req->job.done = sync_done;
    int refused = ph_pool_submit(d.pool, &req->job);
    ph_wmetrics_pool(ph_pool_pending(d.pool), refused < 0);
    if (refused < 0) {
        ph_request_set_error(req, 503, "sync worker pool is full, retry later", "Retry-After: 1\r\n");
        ph_life_finish(req);
    }
}
