/* status.c - the built-in JSON status document. */
#include "status.h"

#include "server.h"
#include "watchdog.h"

#include <cjson/cJSON.h>
#include <unistd.h>

void ph_status_respond(const ph_server *srv, ph_request *req)
{
    ph_loop_lag lag = ph_watchdog_lag();
    cJSON *doc = cJSON_CreateObject();
    cJSON *loop = cJSON_AddObjectToObject(doc, "loop");
    ph_buf_reset(&req->resp_headers);
    req->has_content_type = false;
    if (!doc || !loop || !cJSON_AddNumberToObject(loop, "lag_ms", lag.last_ms) ||
        !cJSON_AddNumberToObject(loop, "lag_max_ms", lag.max_ms) ||
        !cJSON_AddNumberToObject(loop, "slow_callbacks", (double)lag.slow_callbacks) ||
        !cJSON_AddNumberToObject(doc, "generation", (double)srv->gen->number) ||
        !cJSON_AddNumberToObject(doc, "worker", srv->worker_id) ||
        !cJSON_AddNumberToObject(doc, "pid", (double)getpid()) ||
        !cJSON_AddNumberToObject(doc, "requests_done", (double)srv->requests_done) ||
        !cJSON_AddNumberToObject(doc, "connections", srv->nconns) ||
        !cJSON_AddNumberToObject(doc, "sync_pending", ph_pool_pending(srv->pool)) ||
        !cJSON_AddNumberToObject(doc, "sync_stuck", srv->stuck_sync) ||
        !cJSON_AddNumberToObject(doc, "detached", srv->detached) ||
        ph_buf_append_str(&req->resp_headers, "Cache-Control: no-store\r\n") < 0 ||
        ph_request_set_json(req, 200, doc) < 0)
        ph_request_set_error(req, 500, "out of memory", NULL);
    cJSON_Delete(doc);
}
