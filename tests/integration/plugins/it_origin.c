/*
 * it_origin.c - a plugin linked against libit_origin_dep.so with the run
 * path $ORIGIN: it must load although the host maps a private copy of it
 * from elsewhere.
 */
#include <plughost.h>

#include <string.h>

const char *it_origin_dep_answer(void);

static const ph_host_api *api;

static int origin_init(const ph_host_api *host, const ph_settings *settings, void **state)
{
    (void)settings;
    api = host;
    *state = NULL;
    return 0;
}

static int origin_handle(void *state, ph_request *req)
{
    (void)state;
    const char *answer = it_origin_dep_answer();
    api->set_body(req, answer, strlen(answer));
    return PH_OK;
}

PH_PLUGIN_DECLARE("it_origin", "1.0.0", PH_MODE_ASYNC, origin_init, NULL, origin_handle)
