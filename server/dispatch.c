/* dispatch.c - routing a request to its plugin, the handler timeout, the
 * abort of pending async requests, and the result back to its connection. */
#include "dispatch.h"

#include "board.h"
#include "config_value.h"
#include "crash_handler.h"
#include "http_conn.h"
#include "log.h"
#include "router.h"
#include "server.h"
#include "status.h"
#include "watchdog.h"

#include <event2/event.h>
#include <string.h>

static struct ph_server *server;

void ph_dispatch_init(struct ph_server *srv) { server = srv; }

/* The response in req is final: send it, or drop it when the client left. */
static void finish(ph_request *req)
{
    ph_board_record *board = ph_board_self();
    if (board)
        ph_board_add(&board->in_flight, -1);
    server->requests_done++;
    ph_request_end_async(req); /* no plugin callback for it from now on */
    if (req->deadline)
        event_del(req->deadline);
    req->state = PH_REQ_DONE;
    if (req->conn) {
        ph_conn_response_ready(req);
        return;
    }
    server->detached--;
    if (req->timed_out) {
        server->stuck_sync--;
        ph_log_warn("route %s (plugin %s): late result discarded (the client got 504); %d sync handlers "
                    "still past their timeout",
                    req->route->path, ph_instance_name(req->route->instance), server->stuck_sync);
    }
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
    ph_crash_mark previous = ph_crash_enter(req->route->path, inst->lib, "handle()");
    req->handler_result = inst->lib->desc->handle(inst->state, req);
    ph_crash_leave(previous);
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

void ph_dispatch_abort(ph_request *req)
{
    const struct ph_route *route = req->route;
    ph_abort_cb cb = req->abort_cb;
    req->abort_cb = NULL;
    if (cb) {
        ph_plugin_call call = ph_watchdog_begin(route, "abort callback");
        cb(req, req->abort_arg);
        ph_watchdog_end(&call);
    }
    finish(req); /* conn-less: releases it with its timers, fetches, offloads */
}

/* The route's timeout passed before the handler answered: the client gets
 * 504 now. An async request is aborted; a sync handler cannot be stopped,
 * so its thread is counted as stuck and its late result discarded. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_request *req = arg;
    const ph_route *route = req->route;
    bool sync = ph_instance_mode(route->instance) == PH_MODE_SYNC;
    if (req->conn) {
        ph_conn_answer_instead(req, 504, "handler timed out");
        server->detached++; /* finish() counts it back */
    }
    if (sync) {
        req->timed_out = true;
        server->stuck_sync++;
        ph_log_warn("route %s (plugin %s): no response within %llu ms, answered 504; the sync handler "
                    "keeps its thread until it returns (%d stuck)",
                    route->path, ph_instance_name(route->instance), (unsigned long long)route->timeout_ms,
                    server->stuck_sync);
        return;
    }
    ph_log_warn("route %s (plugin %s): no response within %llu ms, answered 504 and aborted the request",
                route->path, ph_instance_name(route->instance), (unsigned long long)route->timeout_ms);
    ph_dispatch_abort(req);
}

static void arm_deadline(ph_request *req)
{
    uint64_t ms = req->route->timeout_ms;
    if (!ms)
        return;
    if (!req->deadline && !(req->deadline = evtimer_new(server->base, on_deadline, req)))
        return; /* no memory: the request simply has no timeout */
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    event_add(req->deadline, &tv);
}

static void run_async(ph_request *req)
{
    const ph_route *route = req->route;
    const ph_instance *inst = route->instance;
    req->in_handler = true;
    ph_plugin_call call = ph_watchdog_begin(route, "handle()");
    int rc = inst->lib->desc->handle(inst->state, req);
    ph_watchdog_end(&call);
    req->in_handler = false;
    if (rc == PH_PENDING && !req->completed) {
        arm_deadline(req);
        return; /* complete() will follow */
    }
    if (req->streaming && rc != PH_OK && rc != PH_PENDING) {
        ph_log_error("route %s (plugin %s): handle() failed after stream_begin; cutting the stream short",
                     route->path, ph_instance_name(inst));
        req->close_after = true; /* no last chunk: the client sees a broken stream */
    } else if (rc == PH_ERROR) {
        handler_failed(req, "handle() returned PH_ERROR");
    } else if (rc != PH_OK && rc != PH_PENDING) {
        handler_failed(req, "handle() returned an unknown result");
    } else if (req->streaming) {
        ph_conn_stream_end(req);
    }
    finish(req);
}

void ph_dispatch_request(ph_request *req)
{
    ph_board_record *board = ph_board_self();
    if (board)
        ph_board_add(&board->in_flight, 1);
    const ph_route *route;
    ph_generation *gen = server->gen;
    const char *status_path = gen->config->server.status_path;
    if (status_path && strcmp(ph_request_path(req), status_path) == 0) {
        if (req->method_bit & (PH_METHOD_GET | PH_METHOD_HEAD))
            ph_status_respond(server, req);
        else
            ph_request_set_error(req, 405, "method not allowed", "Allow: GET, HEAD\r\n");
        finish(req);
        return;
    }
    ph_route_match m = ph_router_match(gen->router, ph_request_path(req), req->path_len, req->method_bit, &route,
                                       &req->params);
    if (m == PH_ROUTE_NOT_FOUND) {
        ph_request_set_error(req, 404, "not found", NULL);
        finish(req);
        return;
    }
    if (m == PH_ROUTE_METHOD_NOT_ALLOWED) {
        char allow[128];
        ph_router_format_allow(ph_router_allowed(gen->router, ph_request_path(req), req->path_len), allow,
                               sizeof allow);
        ph_request_set_error(req, 405, "method not allowed", allow);
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
        return;
    }
    arm_deadline(req);
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
    if (req->streaming)
        ph_conn_stream_end(req);
    finish(req);
    return 0;
}
