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

#define SLEEP_DEFAULT_SECONDS 2.0
#define SLEEP_MAX_SECONDS 3600.0 /* an hour: beyond that it is a typo */

typedef struct sleep_sync_state {
    const ph_host_api *api;
    struct timespec delay;
    cJSON *response; /* {"message": "..."} */
} sleep_sync_state;

/* Read `seconds` into *out. Returns 0, or -1 after logging why the value is
 * refused. Loop thread (init). */
static int read_seconds(const ph_host_api *api, const ph_settings *settings, double *out)
{
    const char *route = api->route_path(settings);
    const char *raw = api->setting(settings, "seconds");
    double secs;
    if (api->setting_double(settings, "seconds", SLEEP_DEFAULT_SECONDS, &secs) != 0) {
        api->log(NULL, PH_LOG_ERROR, "sleep_sync: route %s: seconds = \"%s\" is not a number",
                 route, raw ? raw : "");
        return -1;
    }
    if (!(secs >= 0.0 && secs <= SLEEP_MAX_SECONDS)) {
        api->log(NULL, PH_LOG_ERROR,
                 "sleep_sync: route %s: seconds = %g is out of range (0 to %g)", route, secs,
                 SLEEP_MAX_SECONDS);
        return -1;
    }
    *out = secs == 0.0 ? 0.0 : secs; /* -0 prints as "-0" */
    return 0;
}

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
    if (read_seconds(api, settings, &secs) != 0)
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
    uint64_t ns = (uint64_t)(secs * 1e9 + 0.5);
    st->api = api;
    st->delay.tv_sec = (time_t)(ns / 1000000000u);
    st->delay.tv_nsec = (long)(ns % 1000000000u);
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

/* Sleep the whole delay, resuming after signals. Returns 0 or -1 (errno). */
static int sleep_for(struct timespec delay)
{
    struct timespec rem;
    while (nanosleep(&delay, &rem) != 0) {
        if (errno != EINTR)
            return -1;
        delay = rem;
    }
    return 0;
}

/* Block for the delay, then 200 with the message. Returns PH_OK, or
 * PH_ERROR (sleep failed, or no memory). Pool thread. */
static int sleep_sync_handle(void *state, ph_request *req)
{
    const sleep_sync_state *st = state;
    if (sleep_for(st->delay) != 0) {
        st->api->log(req, PH_LOG_ERROR, "sleep_sync: nanosleep failed (errno %d)", errno);
        return PH_ERROR;
    }
    return st->api->respond_json(req, 200, st->response) == 0 ? PH_OK : PH_ERROR;
}

PH_PLUGIN_DECLARE("sleep_sync", "1.0.0", PH_MODE_SYNC, sleep_sync_init, sleep_sync_fini,
                  sleep_sync_handle)
