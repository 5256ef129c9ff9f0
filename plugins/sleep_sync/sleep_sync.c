/*
 * sleep_sync - blocks for `seconds`, then answers
 *   {"message": "Sync response after <seconds> seconds"}
 *
 * Sync: the sleep holds one of the host's pool threads, never the loop.
 * Route setting `seconds` (default 2, fractional allowed, 0..3600); the
 * number in the message is printed as %g prints the configured value.
 * The response tree is built once at init and shared read-only by every
 * pool thread. The code is plugins/common/plugin_sleeper.h, which
 * blocking_mistake shares in the wrong mode.
 */
#define _POSIX_C_SOURCE 200809L

#include <plughost.h>

#include "plugin_sleeper.h"

#define SLEEP_DEFAULT_SECONDS 2.0
#define SLEEP_MAX_SECONDS 3600.0 /* an hour: beyond that it is a typo */

/* Validate `seconds` and build the response once. Returns 0, or -1 with the
 * reason logged. Loop thread. */
static int sleep_sync_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    return plugin_sleeper_init(api, settings, "sleep_sync", "Sync response after",
                               SLEEP_DEFAULT_SECONDS, SLEEP_MAX_SECONDS, state);
}

/* The route settings read at init: any other non-reserved key is an error. */
static const char *const sleep_sync_settings[] = {"seconds", NULL};

PH_PLUGIN_DESCRIBE("sleep_sync", "1.0.0", PH_MODE_SYNC, sleep_sync_init, plugin_sleeper_fini,
                  plugin_sleeper_handle, sleep_sync_settings,
                   "Answer after a blocking sleep (sync)", NULL, "application/json")
