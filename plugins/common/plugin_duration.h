/*
 * plugin_duration.h - duration settings for bundled plugins, spelled as in
 * server.ini: a non-negative decimal number followed by "ms" or "s", a bare
 * number meaning seconds ("500ms", "2s", "1.5", "0.25s").
 *
 * Header-only (static functions) so each plugin .so stays self-contained;
 * the SDK has setting_double but no duration reader (an SDK gap: the host
 * already parses durations for its own `timeout`).
 */
#ifndef PLUGIN_DURATION_H
#define PLUGIN_DURATION_H

#include <plughost.h>

#include <stdint.h>

/* Largest duration accepted: a day. Beyond that it is a typo. */
#define PLUGIN_DURATION_MAX_MS (24u * 3600u * 1000u)

/* Parse `text` into whole milliseconds (rounded to nearest) in *out_ms.
 * Returns 0, or -1 for anything else: empty, a sign, spaces, exponents,
 * other units, more than 10^15 ms. Parsed by hand rather than with strtod,
 * which follows the process locale. Any thread. */
static inline int plugin_duration_parse_ms(const char *text, uint64_t *out_ms)
{
    const char *p = text;
    double value = 0.0, scale = 1.0;
    int digits = 0, dot = 0;
    if (!p)
        return -1;
    for (; (*p >= '0' && *p <= '9') || (*p == '.' && !dot); p++) {
        if (*p == '.') {
            dot = 1;
            continue;
        }
        digits++;
        if (dot)
            value += (*p - '0') * (scale /= 10.0);
        else if (value <= 1e15)
            value = value * 10.0 + (*p - '0');
    }
    if (!digits)
        return -1;
    double ms;
    if (p[0] == 'm' && p[1] == 's' && p[2] == '\0')
        ms = value;
    else if ((p[0] == 's' && p[1] == '\0') || p[0] == '\0')
        ms = value * 1000.0;
    else
        return -1;
    if (ms > 1e15)
        return -1;
    *out_ms = (uint64_t)(ms + 0.5);
    return 0;
}

/* Read the route setting `key` as a duration into *out_ms (`def_ms` when
 * absent), refusing values outside min_ms..max_ms. Returns 0, or -1 after
 * logging, as "<plugin>: route <path>: <key> = ...", why it is refused.
 * Loop thread (init). */
static inline int plugin_duration_setting(const ph_host_api *api, const ph_settings *settings,
                                          const char *plugin, const char *key, uint64_t def_ms,
                                          uint64_t min_ms, uint64_t max_ms, uint64_t *out_ms)
{
    const char *raw = api->setting(settings, key);
    const char *route = api->route_path(settings);
    uint64_t ms = def_ms;
    if (raw && plugin_duration_parse_ms(raw, &ms) != 0) {
        api->log(NULL, PH_LOG_ERROR,
                 "%s: route %s: %s = \"%s\" is not a duration (a number with \"ms\" or \"s\", "
                 "a bare number meaning seconds)",
                 plugin, route, key, raw);
        return -1;
    }
    if (ms < min_ms || ms > max_ms) {
        api->log(NULL, PH_LOG_ERROR,
                 "%s: route %s: %s = %s is out of range (%llu ms to %llu ms)", plugin, route,
                 key, raw ? raw : "(default)", (unsigned long long)min_ms,
                 (unsigned long long)max_ms);
        return -1;
    }
    *out_ms = ms;
    return 0;
}

#endif
