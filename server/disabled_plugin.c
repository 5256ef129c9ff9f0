/* disabled_plugin.c - 503 for the routes of a disabled plugin. */
#include "disabled_plugin.h"

#include "host_api.h"

static int disabled_handle(void *state, ph_request *req)
{
    (void)state;
    const ph_host_api *api = ph_host_api_table();
    api->add_header(req, "Retry-After", "10");
    api->respond_error(req, 503, "this route's plugin kept crashing and was disabled; it returns when its file "
                                 "or the config changes");
    return PH_OK;
}

static const ph_plugin disabled = {
    PH_ABI_VERSION, sizeof(ph_plugin), "disabled", "-", PH_MODE_ASYNC, NULL, NULL, disabled_handle, NULL, NULL, NULL, NULL,
};

const ph_plugin *ph_disabled_plugin(void) { return &disabled; }
