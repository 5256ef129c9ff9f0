/*
 * blocking_mistake - WRONG ON PURPOSE: an async handler that blocks.
 *
 * handle() runs on the event loop, yet it calls nanosleep for `seconds`
 * before answering 200
 *     {"message": "blocked the event loop for <seconds> seconds"}
 * While it sleeps, every other connection of the worker waits: this is the
 * classic mistake of a blocking call inside an `async def` endpoint. The
 * plugin exists to prove that the host's loop-lag watchdog catches it and
 * names the plugin and route in its warning (loop_warn in [server]).
 *
 * It is sleep_sync's code (plugins/common/plugin_sleeper.h) declared
 * PH_MODE_ASYNC: the same blocking handler is right on the pool and wrong
 * on the loop. Do not copy it: a blocking handler belongs in PH_MODE_SYNC,
 * or its blocking part in api->offload.
 *
 * Setting `seconds` (default 0.2, fractional allowed, 0..60); the number in
 * the message is printed as %g prints the configured value.
 */
#define _POSIX_C_SOURCE 200809L

#include <plughost.h>

#include "plugin_sleeper.h"

#define BLOCK_DEFAULT_SECONDS 0.2
#define BLOCK_MAX_SECONDS 60.0 /* a worker frozen longer than that is no demo */

/* Validate `seconds` and build the response once. Returns 0, or -1 with the
 * reason logged. Loop thread. */
static int blocking_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    return plugin_sleeper_init(api, settings, "blocking_mistake", "blocked the event loop for",
                               BLOCK_DEFAULT_SECONDS, BLOCK_MAX_SECONDS, state);
}

/* THE MISTAKE: plugin_sleeper_handle sleeps on the loop thread. */
/* The route settings read at init: any other non-reserved key is an error. */
static const char *const blocking_settings[] = {"seconds", NULL};

PH_PLUGIN_DESCRIBE("blocking_mistake", "1.0.0", PH_MODE_ASYNC, blocking_init, plugin_sleeper_fini,
                  plugin_sleeper_handle, blocking_settings,
                   "Blocks the event loop on purpose (a demo of the watchdog)", NULL, "application/json")
