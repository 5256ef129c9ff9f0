/*
 * it_init_abort.c - a plugin whose init() calls abort(): the check
 * process dies by SIGABRT, the reload is refused, nothing serving dies.
 */
#include <plughost.h>

#include <stdlib.h>

static int abort_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    (void)api;
    (void)settings;
    (void)state;
    abort();
}

static int abort_handle(void *state, ph_request *req)
{
    (void)state;
    (void)req;
    return PH_OK;
}

PH_PLUGIN_DECLARE("it_init_abort", "1.0.0", PH_MODE_ASYNC, abort_init, NULL, abort_handle)
