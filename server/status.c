/* status.c - the built-in JSON status document. */
#include "status.h"

#include "route_gate.h"
#include "router.h"

#include <cjson/cJSON.h>

/* "routes": [{"route", "max_inflight", "queue", "threads", "inflight",
 * "queued", "rejected"}] of this worker's current generation. Returns
 * false when out of memory. */
static bool add_routes(cJSON *doc, const ph_router *router)
{
    cJSON *routes = cJSON_AddArrayToObject(doc, "routes");
    if (!routes)
        return false;
    for (size_t i = 0; router && i < ph_router_count(router); i++) {
        const ph_route *r = ph_router_route(router, i);
        const ph_route_gate *g = r->gate;
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return false;
        cJSON_AddItemToArray(routes, o);
        if (!cJSON_AddStringToObject(o, "route", r->path) ||
            !cJSON_AddNumberToObject(o, "max_inflight", g->limits.max_inflight) ||
            !cJSON_AddNumberToObject(o, "queue", g->limits.queue) ||
            !cJSON_AddNumberToObject(o, "threads", ph_gate_pool_threads(g)) ||
            !cJSON_AddNumberToObject(o, "inflight", g->inflight) ||
            !cJSON_AddNumberToObject(o, "queued", g->queued) ||
            !cJSON_AddNumberToObject(o, "rejected", (double)g->rejected))
            return false;
    }
    return true;
}

void ph_status_respond(ph_request *req, const ph_status_info *info)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *loop = cJSON_AddObjectToObject(doc, "loop");
    ph_buf_reset(&req->resp_headers);
    req->has_content_type = false;
    if (!doc || !loop || !cJSON_AddNumberToObject(loop, "lag_ms", info->lag_ms) ||
        !cJSON_AddNumberToObject(loop, "lag_max_ms", info->lag_max_ms) ||
        !cJSON_AddNumberToObject(loop, "slow_callbacks", (double)info->slow_callbacks) ||
        !cJSON_AddNumberToObject(doc, "generation", (double)info->generation) ||
        !cJSON_AddNumberToObject(doc, "worker", info->worker) ||
        !cJSON_AddNumberToObject(doc, "pid", (double)info->pid) ||
        !cJSON_AddNumberToObject(doc, "requests_done", (double)info->requests_done) ||
        !cJSON_AddNumberToObject(doc, "connections", info->connections) ||
        !cJSON_AddNumberToObject(doc, "sync_pending", info->sync_pending) ||
        !cJSON_AddNumberToObject(doc, "sync_stuck", info->sync_stuck) ||
        !cJSON_AddNumberToObject(doc, "detached", info->detached) || !add_routes(doc, info->router) ||
        ph_buf_append_str(&req->resp_headers, "Cache-Control: no-store\r\n") < 0 ||
        ph_request_set_json(req, 200, doc) < 0)
        ph_request_set_error(req, 500, "out of memory", NULL);
    cJSON_Delete(doc);
}
