/* offload.c - plugin work on the sync pool (the route's own when it has
 * one, else the worker's), results back on the loop. */
#include "offload.h"

#include "crash_handler.h"
#include "generation.h"
#include "pool.h"
#include "request.h"
#include "route_gate.h"
#include "router.h"
#include "watchdog.h"

#include <stdlib.h>

typedef struct ph_offload {
    ph_job job;               /* first: the pool sees a job */
    ph_request *req;          /* NULL once cancelled */
    const struct ph_route *route; /* for the watchdog after a cancel */
    struct ph_generation *gen;    /* keeps the plugin's code loaded */
    ph_work_fn work;
    ph_work_done_fn done;
    void *arg;
    struct ph_offload *next;  /* the request's pending offloads */
} ph_offload;

static ph_pool *offload_pool;

void ph_offload_setup(ph_pool *pool) { offload_pool = pool; }

static void run_work(ph_job *job)
{
    ph_offload *o = (ph_offload *)job;
    const struct ph_route *route = o->route; /* NULL only for requests made by hand in unit tests */
    ph_crash_mark previous =
        ph_crash_enter(route ? route->path : NULL, route ? route->instance->lib : NULL, "offload work");
    o->work(o->arg); /* pool thread: touches only arg */
    ph_crash_leave(previous);
}

static void unlink_offload(ph_offload *o)
{
    for (ph_offload **p = &o->req->offloads; *p; p = &(*p)->next) {
        if (*p == o) {
            *p = o->next;
            return;
        }
    }
}

static void work_done(ph_job *job)
{
    ph_offload *o = (ph_offload *)job;
    ph_request *req = o->req;
    const struct ph_route *route = req ? req->route : o->route;
    if (req)
        unlink_offload(o);
    ph_plugin_call call = ph_watchdog_begin(route, "offload done callback");
    o->done(req, o->arg); /* req NULL: aborted, the plugin frees arg */
    ph_watchdog_end(&call);
    ph_generation_unref(o->gen);
    free(o);
}

int ph_offload_start(ph_request *req, ph_work_fn work, ph_work_done_fn done, void *arg)
{
    if (!offload_pool || !req || !work || !done)
        return -1;
    ph_offload *o = calloc(1, sizeof *o);
    if (!o)
        return -1;
    o->job.run = run_work;
    o->job.done = work_done;
    o->req = req;
    o->work = work;
    o->done = done;
    o->arg = arg;
    o->route = req->route;
    ph_pool *own = req->route ? ph_gate_pool(req->route->gate) : NULL; /* the route's own pool runs them */
    if (ph_pool_submit(own ? own : offload_pool, &o->job) < 0) {
        free(o);
        return -1;
    }
    o->gen = req->gen;
    ph_generation_ref(o->gen);
    o->next = req->offloads;
    req->offloads = o;
    return 0;
}

void ph_offload_cancel_all(ph_request *req)
{
    for (ph_offload *o = req->offloads; o; o = o->next)
        o->req = NULL;
    req->offloads = NULL;
}
