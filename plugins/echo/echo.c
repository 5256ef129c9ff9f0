/*
 * echo - parses the request body as JSON and answers it re-serialised.
 *
 * Sync: parsing a large body is CPU work, so it runs on the host's pool.
 * A body that is empty, is not JSON, or has anything but whitespace after
 * the JSON value gets 400 {"error": "invalid JSON: ..."}.
 */
#include <plughost.h>

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "plugin_json_body.h"

typedef struct echo_state {
    const ph_host_api *api;
} echo_state;

/* Store the host table. No settings. Returns 0, or -1 (no memory).
 * Loop thread. */
static int echo_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    (void)settings;
    echo_state *st = malloc(sizeof *st);
    if (!st) {
        api->log(NULL, PH_LOG_ERROR, "echo: out of memory for the instance state");
        return -1;
    }
    st->api = api;
    *state = st;
    return 0;
}

static void echo_fini(void *state) { free(state); }

/* 200 with the body re-serialised, or 400 {"error": ...}. Returns PH_OK, or
 * PH_ERROR when the host is out of memory. Pool thread. */
static int echo_handle(void *state, ph_request *req)
{
    const ph_host_api *api = ((const echo_state *)state)->api;
    size_t len;
    const char *body = api->body(req, &len);
    char why[96];
    cJSON *json = plugin_json_parse_body(body, len, why, sizeof why);
    if (!json)
        return api->respond_error(req, 400, why) == 0 ? PH_OK : PH_ERROR;
    int rc = api->respond_json(req, 200, json);
    cJSON_Delete(json);
    return rc == 0 ? PH_OK : PH_ERROR;
}

/* No route settings: any key but the reserved ones is an error. */
static const char *const no_settings[] = {NULL};

PH_PLUGIN_DESCRIBE("echo", "1.0.0", PH_MODE_SYNC, echo_init, echo_fini, echo_handle, no_settings,
                   "Echo a JSON body, re-serialised", "application/json", "application/json")
