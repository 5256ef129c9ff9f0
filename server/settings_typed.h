/* settings_typed.h - the typed setting readers of ABI 1.2 (durations,
 * sizes, integers, booleans), written once against any ph_host_api table:
 * the server's and the SDK mock host's both compile this file, so a route
 * key is read with server.ini's own syntax (config_value.c) and refused
 * with the same words by both. */
#ifndef PH_SETTINGS_TYPED_H
#define PH_SETTINGS_TYPED_H

#include "plughost.h"

/* Each reads route key `key` of `s` through api->setting. Absent: *out =
 * def, returns 0. Parsable: *out = the value, returns 0. Otherwise (or
 * with a NULL key or out) returns -1, after logging one line through
 * api->log(NULL, PH_LOG_ERROR, ...): "route <path>: <key> = \"<value>\" is
 * not a <kind> (<syntax>)". Any thread; pure but for the log line. */
int ph_settings_typed_duration_ms(const ph_host_api *api, const ph_settings *s, const char *key,
                                  uint64_t def, uint64_t *out);
int ph_settings_typed_size(const ph_host_api *api, const ph_settings *s, const char *key, size_t def,
                           size_t *out);
int ph_settings_typed_int(const ph_host_api *api, const ph_settings *s, const char *key, long def,
                          long min, long max, long *out);
int ph_settings_typed_bool(const ph_host_api *api, const ph_settings *s, const char *key, int def,
                           int *out);

#endif
