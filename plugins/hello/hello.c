/*
 * hello - answers every request with "Hello, World!" as text/plain.
 *
 * The benchmark endpoint: async, so it runs on the event loop with no pool
 * hop, and it allocates nothing per request itself (the host copies the
 * header and body into the response it owns).
 */
#include <plughost.h>

#include <stdlib.h>

typedef struct hello_state {
    const ph_host_api *api;
} hello_state;

static const char hello_body[] = "Hello, World!";

/* Check the host and store its table. No settings. Returns 0, or -1
 * with the reason logged (a host without add_header_n, no memory). Loop
 * thread. */
static int hello_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    if (!PH_HOST_HAS(api, add_header_n)) {
        api->log(NULL, PH_LOG_ERROR, "hello: route %s: the host lacks add_header_n (needs SDK ABI 1.5)",
                 api->route_path(settings));
        return -1;
    }
    hello_state *st = malloc(sizeof *st);
    if (!st) {
        api->log(NULL, PH_LOG_ERROR, "hello: out of memory for the instance state");
        return -1;
    }
    st->api = api;
    *state = st;
    return 0;
}

static void hello_fini(void *state) { free(state); }

/* 200 "Hello, World!" text/plain. Returns PH_OK, or PH_ERROR when the host
 * is out of memory. Loop thread. */
static int hello_handle(void *state, ph_request *req)
{
    const ph_host_api *api = ((const hello_state *)state)->api;
    if (api->add_header_n(req, PH_LIT("Content-Type"), PH_LIT("text/plain")) != 0 ||
        api->set_body(req, hello_body, sizeof hello_body - 1) != 0)
        return PH_ERROR;
    return PH_OK;
}

/* No route settings: any key but the reserved ones is an error. */
static const char *const no_settings[] = {NULL};

PH_PLUGIN_DESCRIBE("hello", "1.0.0", PH_MODE_ASYNC, hello_init, hello_fini, hello_handle, no_settings,
                   "Answer Hello, World!", NULL, "text/plain")
