/*
 * it_described.c - a plugin that describes its routes for the admin
 * listener's GET /openapi.json (ABI 1.3): summary "Say hello", no request
 * type, response type "text/plain". Answers "hello".
 */
#include <plughost.h>

static const ph_host_api *host;

static int described_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    (void)settings;
    host = api;
    *state = NULL;
    return 0;
}

static int described_handle(void *state, ph_request *req)
{
    (void)state;
    host->add_header(req, "Content-Type", "text/plain");
    host->set_body(req, "hello", 5);
    return PH_OK;
}

PH_PLUGIN_DESCRIBE("it_described", "1.0.0", PH_MODE_ASYNC, described_init, NULL, described_handle, NULL, "Say hello",
                   NULL, "text/plain")
