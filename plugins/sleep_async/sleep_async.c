/*
 * sleep_async - answers
 *   {"message": "Async response after <seconds> seconds"}
 * after a loop timer of `seconds`, holding no thread while it waits.
 *
 * Async: handle() arms api->timer_start and returns PH_PENDING; the timer
 * callback builds the response and calls api->complete(). Route setting
 * `seconds` (default 2, fractional allowed, 0..3600); the number in the
 * message is printed as %g prints the configured value. The response tree
 * is built once at init.
 */
#include <plughost.h>

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#include "plugin_seconds.h"

#define SLEEP_DEFAULT_SECONDS 2.0
#define SLEEP_MAX_SECONDS 3600.0 /* an hour: beyond that it is a typo */

typedef struct sleep_async_state {
    const ph_host_api *api;
    uint64_t delay_ms;
    cJSON *response; /* {"message": "..."} */
} sleep_async_state;

/* Validate `seconds` and build the response once. Returns 0, or -1 with the
 * reason logged. Loop thread. */
static int sleep_async_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    double secs;
    if (plugin_seconds_setting(api, settings, "sleep_async", "seconds", SLEEP_DEFAULT_SECONDS,
                               SLEEP_MAX_SECONDS, &secs) != 0)
        return -1;
    sleep_async_state *st = malloc(sizeof *st);
    cJSON *response = plugin_seconds_message("Async response after", secs);
    if (!st || !response) {
        api->log(NULL, PH_LOG_ERROR, "sleep_async: route %s: out of memory",
                 api->route_path(settings));
        free(st);
        cJSON_Delete(response);
        return -1;
    }
    st->api = api;
    st->delay_ms = (uint64_t)(secs * 1000.0 + 0.5);
    st->response = response;
    *state = st;
    return 0;
}

static void sleep_async_fini(void *state)
{
    sleep_async_state *st = state;
    cJSON_Delete(st->response);
    free(st);
}

/* Timer fired: answer 200 with the message (500 if the host is out of
 * memory) and complete the request. Loop thread. */
static void on_delay_elapsed(ph_request *req, void *arg)
{
    const sleep_async_state *st = arg;
    if (st->api->respond_json(req, 200, st->response) != 0) {
        st->api->log(req, PH_LOG_ERROR, "sleep_async: cannot build the response");
        if (st->api->respond_error(req, 500, "out of memory") != 0)
            st->api->set_status(req, 500);
    }
    if (st->api->complete(req) != 0)
        st->api->log(req, PH_LOG_ERROR, "sleep_async: complete() refused the request");
}

/* Arm the timer and return PH_PENDING; if the timer cannot start, answer
 * 500 at once (PH_OK). Loop thread. */
static int sleep_async_handle(void *state, ph_request *req)
{
    sleep_async_state *st = state;
    if (st->api->timer_start(req, st->delay_ms, on_delay_elapsed, st))
        return PH_PENDING;
    st->api->log(req, PH_LOG_ERROR, "sleep_async: cannot start a %llu ms timer",
                 (unsigned long long)st->delay_ms);
    return st->api->respond_error(req, 500, "cannot start timer") == 0 ? PH_OK : PH_ERROR;
}

/* The route settings read at init: any other non-reserved key is an error. */
static const char *const sleep_async_settings[] = {"seconds", NULL};

PH_PLUGIN_DESCRIBE("sleep_async", "1.0.0", PH_MODE_ASYNC, sleep_async_init, sleep_async_fini,
                  sleep_async_handle, sleep_async_settings,
                   "Answer after a timer (async)", NULL, "application/json")
