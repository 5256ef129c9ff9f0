/*
 * it_init_fail.c - a plugin whose init refuses to load. The host must
 * refuse the configuration with "init failed" and the file's path.
 */
#include <plughost.h>

static int init_fail_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    (void)api;
    (void)settings;
    *state = NULL;
    return -1;
}

static int init_fail_handle(void *state, ph_request *req)
{
    (void)state;
    (void)req;
    return PH_OK;
}

PH_PLUGIN_DECLARE("it_init_fail", "1.0.0", PH_MODE_SYNC, init_fail_init, NULL, init_fail_handle)
