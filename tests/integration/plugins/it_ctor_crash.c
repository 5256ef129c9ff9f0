/*
 * it_ctor_crash.c - a plugin whose constructor writes through NULL: it
 * dies as it is mapped, before any plugin code could be called. The host
 * must refuse it from a throwaway process and keep serving.
 */
#include <plughost.h>

int *volatile it_ctor_target;

__attribute__((constructor, no_sanitize_undefined)) static void it_ctor_crash(void)
{
    *it_ctor_target = 1;
}

static int ctor_handle(void *state, ph_request *req)
{
    (void)state;
    (void)req;
    return PH_OK;
}

PH_PLUGIN_DECLARE("it_ctor_crash", "1.0.0", PH_MODE_ASYNC, NULL, NULL, ctor_handle)
