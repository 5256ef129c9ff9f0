/*
 * it_fail_sync.c - a sync plugin whose handle() always returns PH_ERROR:
 * the host must answer 500, log plugin and route, and keep serving.
 */
#include <plughost.h>

static int fail_sync_handle(void *state, ph_request *req)
{
    (void)state;
    (void)req;
    return PH_ERROR;
}

PH_PLUGIN_DECLARE("it_fail_sync", "1.0.0", PH_MODE_SYNC, NULL, NULL, fail_sync_handle)
