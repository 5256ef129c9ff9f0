/* status.c - the built-in JSON status document. */
#include "status.h"

#include <cjson/cJSON.h>

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
        !cJSON_AddNumberToObject(doc, "detached", info->detached) ||
        ph_buf_append_str(&req->resp_headers, "Cache-Control: no-store\r\n") < 0 ||
        ph_request_set_json(req, 200, doc) < 0)
        ph_request_set_error(req, 500, "out of memory", NULL);
    cJSON_Delete(doc);
}
