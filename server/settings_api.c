/* settings_api.c - the server's typed setting slots (ABI 1.2): the shared
 * readers of settings_typed.c over the server's own host table. */
#include "settings_api.h"

#include "host_api.h"
#include "settings_typed.h"

int ph_settings_api_duration_ms(const ph_settings *s, const char *key, uint64_t def, uint64_t *out)
{
    return ph_settings_typed_duration_ms(ph_host_api_table(), s, key, def, out);
}

int ph_settings_api_size(const ph_settings *s, const char *key, size_t def, size_t *out)
{
    return ph_settings_typed_size(ph_host_api_table(), s, key, def, out);
}

int ph_settings_api_int(const ph_settings *s, const char *key, long def, long min, long max, long *out)
{
    return ph_settings_typed_int(ph_host_api_table(), s, key, def, min, max, out);
}

int ph_settings_api_bool(const ph_settings *s, const char *key, int def, int *out)
{
    return ph_settings_typed_bool(ph_host_api_table(), s, key, def, out);
}
