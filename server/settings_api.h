/* settings_api.h - the server's typed setting slots of ph_host_api (ABI
 * 1.2), placed in the table by host_api.c. */
#ifndef PH_SETTINGS_API_H
#define PH_SETTINGS_API_H

#include "plughost.h"

/* The slots setting_duration_ms, setting_size, setting_int, setting_bool:
 * see plughost.h for their contract. Errors are logged through the
 * server's log. Any thread. */
int ph_settings_api_duration_ms(const ph_settings *s, const char *key, uint64_t def, uint64_t *out);
int ph_settings_api_size(const ph_settings *s, const char *key, size_t def, size_t *out);
int ph_settings_api_int(const ph_settings *s, const char *key, long def, long min, long max, long *out);
int ph_settings_api_bool(const ph_settings *s, const char *key, int def, int *out);

#endif
