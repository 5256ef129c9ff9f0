/* route_keys.h - a route's keys against the reserved ones (plugin,
 * methods, timeout, max_inflight, queue, sync_threads) and the settings its plugin declares (descriptor slot
 * `settings`, since ABI 1.3): a misspelt reserved key must not silently
 * become a plugin setting. Any thread. */
#ifndef PH_ROUTE_KEYS_H
#define PH_ROUTE_KEYS_H

#include "config.h"
#include "plughost.h"

#include <stddef.h>

/* The declared setting names of descriptor `d` (NULL when it declares
 * none or predates ABI 1.3: its struct_size ends before the slot). */
const char *const *ph_route_keys_declared(const ph_plugin *d);

/* Check `route`'s keys for plugin `d` (loaded from `path`). A plugin that
 * declares: any key neither reserved nor declared is an error, returned
 * as -1 with "<path>: route <r>: unknown key 'k' (did you mean ...)" in
 * err. A plugin that does not: each key within two edits of a reserved
 * key is logged as a warning (returns 0). Returns 0 otherwise. */
int ph_route_keys_check(const ph_plugin *d, const char *path, const ph_route_conf *route, char *err,
                        size_t errlen);

#endif
