/*
 * it_fail_async.c - an async plugin whose handle() always returns PH_ERROR
 * on the loop thread: the host must answer 500 and keep serving.
 */
#include <plughost.h>

static int fail_async_handle(void *state, ph_request *req)
{
    (void)state;
    (void)req;
    return PH_ERROR;
}

PH_PLUGIN_DECLARE("it_fail_async", "1.0.0", PH_MODE_ASYNC, NULL, NULL, fail_async_handle)
