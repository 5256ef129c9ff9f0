/* dispatch.c - routing a request to its plugin and its result back. */
#include "dispatch.h"

#include "config_value.h"
#include "http_conn.h"
#include "log.h"
#include "request_timer.h"
#include "router.h"
#include "server.h"

static struct ph_server *server;

void ph_dispatch_init(struct ph_server *srv) { server = srv; }

/* The response in req is final: send it, or drop it when the client left. */
static void finish(ph_request *req)
{
    req->state = PH_REQ_DONE;
    if (req->conn) {
        ph_conn_response_ready(req);
        return;
    }
    server->detached--;
    ph_request_release(req);
    ph_server_check_drained(server);
}

static void handler_failed(ph_request *req, const char *why)
{
    ph_log_error("route %s (plugin %s): %s; answered 500", req->route->path, ph_instance_name(req->route->instance),
                 why);
    ph_request_set_error(req, 500, "internal server error", NULL);
}

/* Pool thread: run the sync handler. The request is this thread's alone. */
static void run_sync(ph_job *job)
{
    ph_request *req = (ph_request *)job;
    const ph_instance *inst = req->route->instance;
    req->handler_result = inst->lib->desc->handle(inst->state, req);
}

/* Loop thread: a sync handler returned. */
static void sync_done(ph_job *job)
{
    ph_request *req = (ph_request *)job;
    if (req->handler_result == PH_ERROR)
        handler_failed(req, "handle() returned PH_ERROR");
    else if (req->handler_result != PH_OK)
        handler_failed(req, "a sync handle() must return PH_OK or PH_ERROR");
    finish(req);
}

static void run_async(ph_request *req)
{
    const ph_instance *inst = req->route->instance;
    req->in_handler = true;
    int rc = inst->lib->desc->handle(inst->state, req);
    req->in_handler = false;
    if (rc == PH_PENDING && !req->completed)
        return; /* complete() will follow */
    ph_request_timer_cancel_all(req);
    if (rc == PH_ERROR)
        handler_failed(req, "handle() returned PH_ERROR");
    else if (rc != PH_OK && rc != PH_PENDING)
        handler_failed(req, "handle() returned an unknown result");
    finish(req);
}

void ph_dispatch_request(ph_request *req)
{
    const ph_route *route;
    ph_generation *gen = server->gen;
    ph_route_match m = ph_router_match(gen->router, ph_request_path(req), req->path_len, req->method_bit, &route);
    if (m == PH_ROUTE_NOT_FOUND) {
        ph_request_set_error(req, 404, "not found", NULL);
        finish(req);
        return;
    }
    if (m == PH_ROUTE_METHOD_NOT_ALLOWED) {
        ph_request_set_error(req, 405, "method not allowed", route->allow_header);
        finish(req);
        return;
    }
    req->route = route;
    req->gen = gen;
    ph_generation_ref(gen);
    req->state = PH_REQ_RUNNING;
    if (ph_instance_mode(route->instance) == PH_MODE_ASYNC) {
        run_async(req);
        return;
    }
    req->job.run = run_sync;
    req->job.done = sync_done;
    if (ph_pool_submit(server->pool, &req->job) < 0) {
        ph_request_set_error(req, 503, "sync worker pool is full, retry later", "Retry-After: 1\r\n");
        finish(req);
    }
}

int ph_dispatch_complete(ph_request *req)
{
    if (req->state != PH_REQ_RUNNING || req->completed || !req->route ||
        ph_instance_mode(req->route->instance) != PH_MODE_ASYNC) {
        ph_log_error("complete() on a request that is not waiting for it; ignored");
        return -1;
    }
    req->completed = true;
    if (req->in_handler)
        return 0; /* run_async finishes it when handle() returns */
    ph_request_timer_cancel_all(req);
    finish(req);
    return 0;
}
