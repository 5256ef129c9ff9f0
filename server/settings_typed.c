/* settings_typed.c - typed route settings over any ph_host_api table. */
#include "settings_typed.h"

#include "config_value.h"

#include <stdbool.h>

/* The route path for messages, "?" when the table or settings give none. */
static const char *route_of(const ph_host_api *api, const ph_settings *s)
{
    const char *path = api->route_path ? api->route_path(s) : NULL;
    return path ? path : "?";
}

/* Look `key` up: returns 1 with *text set when present, 0 when absent
 * (*text NULL), -1 for a NULL key or out pointer. */
static int lookup(const ph_host_api *api, const ph_settings *s, const char *key, const void *out,
                  const char **text)
{
    *text = NULL;
    if (!api || !key || !out || !api->setting)
        return -1;
    *text = api->setting(s, key);
    return *text != NULL;
}

/* Log why `text` is refused and return -1. */
static int refuse(const ph_host_api *api, const ph_settings *s, const char *key, const char *text,
                  const char *what)
{
    api->log(NULL, PH_LOG_ERROR, "route %s: %s = \"%s\" is not %s", route_of(api, s), key, text, what);
    return -1;
}

int ph_settings_typed_duration_ms(const ph_host_api *api, const ph_settings *s, const char *key,
                                  uint64_t def, uint64_t *out)
{
    const char *text;
    int found = lookup(api, s, key, out, &text);
    if (found <= 0) {
        if (found == 0)
            *out = def;
        return found;
    }
    uint64_t ms;
    if (ph_value_duration_ms(text, &ms) < 0)
        return refuse(api, s, key, text,
                      "a duration (500ms, 10s, 1.5s, or a bare number of seconds; at most 30 days)");
    *out = ms;
    return 0;
}

int ph_settings_typed_size(const ph_host_api *api, const ph_settings *s, const char *key, size_t def,
                           size_t *out)
{
    const char *text;
    int found = lookup(api, s, key, out, &text);
    if (found <= 0) {
        if (found == 0)
            *out = def;
        return found;
    }
    size_t bytes;
    if (ph_value_size(text, &bytes) < 0)
        return refuse(api, s, key, text, "a size (a number of bytes, or with k, m or g: 64k, 1m, 1g)");
    *out = bytes;
    return 0;
}

int ph_settings_typed_int(const ph_host_api *api, const ph_settings *s, const char *key, long def,
                          long min, long max, long *out)
{
    const char *text;
    int found = lookup(api, s, key, out, &text);
    if (found <= 0) {
        if (found == 0)
            *out = def;
        return found;
    }
    long v;
    if (ph_value_int(text, min, max, &v) < 0) {
        api->log(NULL, PH_LOG_ERROR, "route %s: %s = \"%s\" is not an integer from %ld to %ld",
                 route_of(api, s), key, text, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int ph_settings_typed_bool(const ph_host_api *api, const ph_settings *s, const char *key, int def,
                           int *out)
{
    const char *text;
    int found = lookup(api, s, key, out, &text);
    if (found <= 0) {
        if (found == 0)
            *out = def ? 1 : 0;
        return found;
    }
    bool v;
    if (ph_value_bool(text, &v) < 0)
        return refuse(api, s, key, text, "a boolean (true/false, yes/no, on/off, 1/0)");
    *out = v ? 1 : 0;
    return 0;
}
