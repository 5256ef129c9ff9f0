/*
 * sleep_sync - blocks for `seconds`, then answers
 *   {"message": "Sync response after <seconds> seconds"}
 *
 * Sync: the sleep holds one of the host's pool threads, never the loop.
 * Route setting `seconds` (default 2, fractional allowed, 0..3600); the
 * number in the message is printed as %g prints the configured value.
 * The response tree is built once at init and shared read-only by every
 * pool thread (printing a cJSON tree does not modify it).
 */
#define _POSIX_C_SOURCE 200809L

#include <plughost.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "plugin_seconds.h"

#define SLEEP_DEFAULT_SECONDS 2.0
#define SLEEP_MAX_SECONDS 3600.0 /* an hour: beyond that it is a typo */

typedef struct sleep_sync_state {
    const ph_host_api *api;
    struct timespec delay;
    cJSON *response; /* {"message": "..."} */
} sleep_sync_state;

/* {"message": "Sync response after <secs> seconds"}, or NULL (no memory). */
static cJSON *build_response(double secs)
{
    char message[64];
    snprintf(message, sizeof message, "Sync response after %g seconds", secs);
    cJSON *obj = cJSON_CreateObject();
    if (obj && !cJSON_AddStringToObject(obj, "message", message)) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    return obj;
}

/* Validate `seconds` and build the response once. Returns 0, or -1 with the
 * reason logged. Loop thread. */
static int sleep_sync_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    double secs;
    if (plugin_seconds_setting(api, settings, "sleep_sync", "seconds", SLEEP_DEFAULT_SECONDS,
                               SLEEP_MAX_SECONDS, &secs) != 0)
        return -1;
    sleep_sync_state *st = malloc(sizeof *st);
    cJSON *response = build_response(secs);
    if (!st || !response) {
        api->log(NULL, PH_LOG_ERROR, "sleep_sync: route %s: out of memory",
                 api->route_path(settings));
        free(st);
        cJSON_Delete(response);
        return -1;
    }
    st->api = api;
    st->delay = plugin_seconds_timespec(secs);
    st->response = response;
    *state = st;
    return 0;
}

static void sleep_sync_fini(void *state)
{
    sleep_sync_state *st = state;
    cJSON_Delete(st->response);
    free(st);
}

/* Block for the delay, then 200 with the message. Returns PH_OK, or
 * PH_ERROR (sleep failed, or no memory). Pool thread. */
static int sleep_sync_handle(void *state, ph_request *req)
{
    const sleep_sync_state *st = state;
    if (plugin_sleep(st->delay) != 0) {
        st->api->log(req, PH_LOG_ERROR, "sleep_sync: nanosleep failed (errno %d)", errno);
        return PH_ERROR;
    }
    return st->api->respond_json(req, 200, st->response) == 0 ? PH_OK : PH_ERROR;
}

PH_PLUGIN_DECLARE("sleep_sync", "1.0.0", PH_MODE_SYNC, sleep_sync_init, sleep_sync_fini,
                  sleep_sync_handle)
