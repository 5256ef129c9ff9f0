/*
 * blocking_mistake - WRONG ON PURPOSE: an async handler that blocks.
 *
 * handle() runs on the event loop, yet it calls nanosleep for `seconds`
 * before answering 200
 *     {"message": "blocked the event loop for <seconds> seconds"}
 * While it sleeps, every other connection of the worker waits: this is the
 * classic mistake of a blocking call inside an `async def` endpoint. The
 * plugin exists to prove that the host's loop-lag watchdog catches it and
 * names the plugin and route in its warning (loop_warn in [server]). Do
 * not copy it: a blocking handler belongs in PH_MODE_SYNC (see sleep_sync),
 * or its blocking part in api->offload.
 *
 * Setting `seconds` (default 0.2, fractional allowed, 0..60); the number in
 * the message is printed as %g prints the configured value. The response
 * tree is built once at init.
 */
#define _POSIX_C_SOURCE 200809L

#include <plughost.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "plugin_seconds.h"

#define BLOCK_DEFAULT_SECONDS 0.2
#define BLOCK_MAX_SECONDS 60.0 /* a worker frozen longer than that is no demo */

typedef struct blocking_state {
    const ph_host_api *api;
    struct timespec delay;
    cJSON *response; /* {"message": "..."} */
} blocking_state;

/* Validate `seconds` and build the response once. Returns 0, or -1 with
 * the reason logged. Loop thread. */
static int blocking_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    double secs;
    if (plugin_seconds_setting(api, settings, "blocking_mistake", "seconds",
                               BLOCK_DEFAULT_SECONDS, BLOCK_MAX_SECONDS, &secs) != 0)
        return -1;
    char message[80];
    snprintf(message, sizeof message, "blocked the event loop for %g seconds", secs);
    blocking_state *st = malloc(sizeof *st);
    cJSON *response = cJSON_CreateObject();
    if (!st || !response || !cJSON_AddStringToObject(response, "message", message)) {
        api->log(NULL, PH_LOG_ERROR, "blocking_mistake: route %s: out of memory",
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

static void blocking_fini(void *state)
{
    blocking_state *st = state;
    cJSON_Delete(st->response);
    free(st);
}

/* THE MISTAKE: sleep on the loop thread, then answer 200. Returns PH_OK,
 * or PH_ERROR (sleep failed, no memory). Loop thread. */
static int blocking_handle(void *state, ph_request *req)
{
    const blocking_state *st = state;
    if (plugin_sleep(st->delay) != 0) {
        st->api->log(req, PH_LOG_ERROR, "blocking_mistake: nanosleep failed (errno %d)", errno);
        return PH_ERROR;
    }
    return st->api->respond_json(req, 200, st->response) == 0 ? PH_OK : PH_ERROR;
}

PH_PLUGIN_DECLARE("blocking_mistake", "1.0.0", PH_MODE_ASYNC, blocking_init, blocking_fini,
                  blocking_handle)
