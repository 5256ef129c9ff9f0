/* ph_mock_settings.c - the mock host's typed setting slots (ABI 1.2): the
 * server's own readers (server/settings_typed.c, compiled into the test
 * kit) over the mock's table, so the syntax has one implementation. */
#include "ph_mock_settings.h"

#include "ph_mock_host.h"
#include "settings_typed.h"

int ph_mock_setting_duration_ms(const ph_settings *s, const char *key, uint64_t def, uint64_t *out)
{
    return ph_settings_typed_duration_ms(ph_mock_api(), s, key, def, out);
}

int ph_mock_setting_size(const ph_settings *s, const char *key, size_t def, size_t *out)
{
    return ph_settings_typed_size(ph_mock_api(), s, key, def, out);
}

int ph_mock_setting_int(const ph_settings *s, const char *key, long def, long min, long max, long *out)
{
    return ph_settings_typed_int(ph_mock_api(), s, key, def, min, max, out);
}

int ph_mock_setting_bool(const ph_settings *s, const char *key, int def, int *out)
{
    return ph_settings_typed_bool(ph_mock_api(), s, key, def, out);
}
