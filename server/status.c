/* status.c - the built-in JSON status document. */
#include "status.h"

#include "server.h"
#include "watchdog.h"

#include <cjson/cJSON.h>
#include <string.h>

void ph_status_respond(const ph_server *srv, ph_request *req)
{
    ph_loop_lag lag = ph_watchdog_lag();
    cJSON *doc = cJSON_CreateObject();
    cJSON *loop = cJSON_AddObjectToObject(doc, "loop");
    char *text = NULL;
    if (!doc || !loop || !cJSON_AddNumberToObject(loop, "lag_ms", lag.last_ms) ||
        !cJSON_AddNumberToObject(loop, "lag_max_ms", lag.max_ms) ||
        !cJSON_AddNumberToObject(loop, "slow_callbacks", (double)lag.slow_callbacks) ||
        !cJSON_AddNumberToObject(doc, "generation", (double)srv->gen->number) ||
        !cJSON_AddNumberToObject(doc, "connections", srv->nconns) ||
        !cJSON_AddNumberToObject(doc, "sync_pending", ph_pool_pending(srv->pool)) ||
        !cJSON_AddNumberToObject(doc, "sync_stuck", srv->stuck_sync) ||
        !cJSON_AddNumberToObject(doc, "detached", srv->detached) || !(text = cJSON_PrintUnformatted(doc))) {
        ph_request_set_error(req, 500, "out of memory", NULL);
    } else {
        req->status = 200;
        ph_buf_reset(&req->resp_body);
        ph_buf_reset(&req->resp_headers);
        if (ph_buf_append(&req->resp_body, text, strlen(text)) < 0 ||
            ph_buf_append_str(&req->resp_headers, "Content-Type: application/json\r\nCache-Control: no-store\r\n") < 0)
            ph_request_set_error(req, 500, "out of memory", NULL);
        else
            req->has_content_type = true;
    }
    cJSON_free(text);
    cJSON_Delete(doc);
}
