/* mock_probe.h - a "probe" plugin for the mock host's own tests: its
 * handle() runs whatever the test puts in probe_fn, with the host table
 * the mock handed to init. One copy per test executable (static state). */
#ifndef PH_TEST_MOCK_PROBE_H
#define PH_TEST_MOCK_PROBE_H

#include "mock_fixture.h"

typedef int (*probe_fn_t)(const ph_host_api *api, ph_request *req);

static const ph_host_api *probe_api;
static probe_fn_t probe_fn;

static int probe_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    (void)settings;
    probe_api = api;
    *state = NULL;
    return 0;
}

static int probe_handle(void *state, ph_request *req)
{
    (void)state;
    return probe_fn ? probe_fn(probe_api, req) : PH_OK;
}

static const ph_plugin probe_async = {PH_ABI_VERSION, sizeof(ph_plugin), "probe", "0",
                                      PH_MODE_ASYNC,  probe_init,        NULL,    probe_handle, NULL, NULL, NULL, NULL};
static const ph_plugin probe_sync = {PH_ABI_VERSION, sizeof(ph_plugin), "probe", "0",
                                     PH_MODE_SYNC,   probe_init,        NULL,    probe_handle, NULL, NULL, NULL, NULL};

static ph_mock_instance *probe_inst;

/* Init `plugin` (a probe of either mode) and handle `req` running `fn`;
 * returns `req`, with the handle() result in *rc. Release both with
 * finish_probe. */
static ph_request *run_probe_on(const ph_plugin *plugin, ph_request *req, probe_fn_t fn, int *rc)
{
    assert_non_null(req);
    assert_int_equal(ph_mock_init(plugin, NULL, &probe_inst), 0);
    probe_fn = fn;
    *rc = ph_mock_handle(probe_inst, req);
    probe_fn = NULL;
    return req;
}

/* run_probe_on a new GET of `target` with header X-Trace: abc. */
static ph_request *run_probe(const ph_plugin *plugin, const char *target, probe_fn_t fn, int *rc)
{
    ph_request *req = ph_mock_request_new("GET", target);
    assert_non_null(req);
    assert_int_equal(ph_mock_request_add_header(req, "X-Trace", "abc"), 0);
    return run_probe_on(plugin, req, fn, rc);
}

/* Free the request of run_probe (dropping its timers) and the instance. */
static void finish_probe(ph_request *req)
{
    ph_mock_request_free(req);
    ph_mock_fini(probe_inst);
    probe_inst = NULL;
}

#endif
