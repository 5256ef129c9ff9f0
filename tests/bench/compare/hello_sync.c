/*
 * hello_sync - bench-only SYNC twin of plugins/hello: the same answer,
 * 200 "Hello, World!" text/plain, from handle() on a pool thread, so
 * tests/bench/compare.sh can price the pool hop against the async hello.
 * Built out of tree by compare.sh, as a user would:
 *
 *   cc -std=c11 -O2 -fPIC -shared -fvisibility=hidden \
 *      -I<repo>/sdk/include hello_sync.c -o hello_sync.so
 */
#include <plughost.h>

static const char hello_body[] = "Hello, World!";
static const ph_host_api *host; /* the same table for every instance */

/* Keep the host table; no settings, no state. Loop thread. */
static int hello_sync_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    (void)settings;
    host = api;
    *state = NULL;
    return 0;
}

/* 200 "Hello, World!" text/plain, or PH_ERROR when the host is out of
 * memory. Pool thread. */
static int hello_sync_handle(void *state, ph_request *req)
{
    (void)state;
    if (host->add_header(req, "Content-Type", "text/plain") != 0 ||
        host->set_body(req, hello_body, sizeof hello_body - 1) != 0)
        return PH_ERROR;
    return PH_OK;
}

PH_PLUGIN_DECLARE("hello_sync", "1.0.0", PH_MODE_SYNC, hello_sync_init, NULL, hello_sync_handle)
