/*
 * plugin_seconds.h - the `seconds` setting of the sleeping plugins
 * (sleep_sync, sleep_async, blocking_mistake), their {"message"} answer and
 * a whole-delay sleep. Header-only, so each plugin .so stays
 * self-contained.
 */
#ifndef PLUGIN_SECONDS_H
#define PLUGIN_SECONDS_H

#include <plughost.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Read route setting `key` as a number of seconds, fractions allowed, into
 * *out (`def` when absent), refusing values outside 0..max. Returns 0, or
 * -1 after logging "<plugin>: route <path>: <key> = ..." and why. -0 is
 * stored as 0 (it would print as "-0"). Loop thread (init). */
static inline int plugin_seconds_setting(const ph_host_api *api, const ph_settings *settings,
                                         const char *plugin, const char *key, double def,
                                         double max, double *out)
{
    const char *route = api->route_path(settings);
    const char *raw = api->setting(settings, key);
    double secs;
    if (api->setting_double(settings, key, def, &secs) != 0) {
        api->log(NULL, PH_LOG_ERROR, "%s: route %s: %s = \"%s\" is not a number", plugin, route,
                 key, raw ? raw : "");
        return -1;
    }
    if (!(secs >= 0.0 && secs <= max)) {
        api->log(NULL, PH_LOG_ERROR, "%s: route %s: %s = %g is out of range (0 to %g)", plugin,
                 route, key, secs, max);
        return -1;
    }
    *out = secs == 0.0 ? 0.0 : secs;
    return 0;
}

/* {"message": "<prefix> <secs> seconds"}, the number printed as %g prints
 * it, or NULL (no memory). The caller frees it with cJSON_Delete. */
static inline cJSON *plugin_seconds_message(const char *prefix, double secs)
{
    char message[96];
    snprintf(message, sizeof message, "%s %g seconds", prefix, secs);
    cJSON *obj = cJSON_CreateObject();
    if (obj && !cJSON_AddStringToObject(obj, "message", message)) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    return obj;
}

/* `secs` (0..a few thousand) as a timespec, rounded to the nanosecond. */
static inline struct timespec plugin_seconds_timespec(double secs)
{
    uint64_t ns = (uint64_t)(secs * 1e9 + 0.5);
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    return ts;
}

#if defined(_POSIX_C_SOURCE) && _POSIX_C_SOURCE >= 199309L
/* Block the calling thread for the whole `delay`, resuming after signals.
 * Returns 0 or -1 (errno set). Only for plugins that define
 * _POSIX_C_SOURCE (nanosleep). */
static inline int plugin_sleep(struct timespec delay)
{
    struct timespec rem;
    while (nanosleep(&delay, &rem) != 0) {
        if (errno != EINTR)
            return -1;
        delay = rem;
    }
    return 0;
}
#endif

#endif
