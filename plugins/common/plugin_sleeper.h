/*
 * plugin_sleeper.h - the whole of a plugin that sleeps `seconds` on the
 * thread running handle(), then answers 200 {"message": "<prefix> <seconds>
 * seconds"}. Two plugins are this same code declared in different modes:
 *   sleep_sync        PH_MODE_SYNC: the sleep holds a pool thread (right);
 *   blocking_mistake  PH_MODE_ASYNC: it holds the event loop (the mistake).
 * Header-only, so each plugin .so stays self-contained. The including file
 * defines _POSIX_C_SOURCE (nanosleep) before any include.
 */
#ifndef PLUGIN_SLEEPER_H
#define PLUGIN_SLEEPER_H

#include <plughost.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "plugin_seconds.h"

typedef struct plugin_sleeper {
    const ph_host_api *api;
    const char *name;      /* the plugin's name, for log lines */
    struct timespec delay;
    cJSON *response;       /* {"message": "..."}, built once, shared read-only */
} plugin_sleeper;

/* init: read `seconds` (default `def`, 0..max) and build the answer once.
 * Returns 0, or -1 with the reason logged. Loop thread. */
static inline int plugin_sleeper_init(const ph_host_api *api, const ph_settings *settings,
                                      const char *name, const char *prefix, double def,
                                      double max, void **state)
{
    double secs;
    if (plugin_seconds_setting(api, settings, name, "seconds", def, max, &secs) != 0)
        return -1;
    plugin_sleeper *st = malloc(sizeof *st);
    cJSON *response = plugin_seconds_message(prefix, secs);
    if (!st || !response) {
        api->log(NULL, PH_LOG_ERROR, "%s: route %s: out of memory", name,
                 api->route_path(settings));
        free(st);
        cJSON_Delete(response);
        return -1;
    }
    st->api = api;
    st->name = name;
    st->delay = plugin_seconds_timespec(secs);
    st->response = response;
    *state = st;
    return 0;
}

/* fini: free the answer and the state. Loop thread. */
static inline void plugin_sleeper_fini(void *state)
{
    plugin_sleeper *st = state;
    cJSON_Delete(st->response);
    free(st);
}

/* handle: block the calling thread for the delay, then 200 with the
 * message (printing a cJSON tree does not modify it, so pool threads share
 * it). Returns PH_OK, or PH_ERROR (sleep failed, no memory). */
static inline int plugin_sleeper_handle(void *state, ph_request *req)
{
    const plugin_sleeper *st = state;
    if (plugin_sleep(st->delay) != 0) {
        st->api->log(req, PH_LOG_ERROR, "%s: nanosleep failed (errno %d)", st->name, errno);
        return PH_ERROR;
    }
    return st->api->respond_json(req, 200, st->response) == 0 ? PH_OK : PH_ERROR;
}

#endif
