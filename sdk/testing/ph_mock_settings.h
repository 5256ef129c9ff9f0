/* ph_mock_settings.h - the mock host's typed setting slots (ABI 1.2).
 * Internal to the test kit: ph_mock_host.c puts them in its table. */
#ifndef PH_MOCK_SETTINGS_H
#define PH_MOCK_SETTINGS_H

#include "plughost.h"

/* The slots setting_duration_ms, setting_size, setting_int, setting_bool
 * (contract in plughost.h): the server's readers (server/settings_typed.c,
 * server.ini's syntax) over the mock's table, so a refused value is
 * logged to the mock's log (ph_mock_log_find). Any thread. */
int ph_mock_setting_duration_ms(const ph_settings *s, const char *key, uint64_t def, uint64_t *out);
int ph_mock_setting_size(const ph_settings *s, const char *key, size_t def, size_t *out);
int ph_mock_setting_int(const ph_settings *s, const char *key, long def, long min, long max, long *out);
int ph_mock_setting_bool(const ph_settings *s, const char *key, int def, int *out);

#endif
