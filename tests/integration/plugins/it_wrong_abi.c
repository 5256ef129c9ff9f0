/*
 * it_wrong_abi.c - a plugin built for plugin ABI 2.0. The host speaks 1.x
 * and must refuse it, naming the file and both versions. The descriptor is
 * filled by hand because PH_PLUGIN_DECLARE always stamps the current ABI.
 */
#include <plughost.h>

static int wrong_abi_handle(void *state, ph_request *req)
{
    (void)state;
    (void)req;
    return PH_OK;
}

PH_EXPORT const ph_plugin *ph_plugin_entry(void);
PH_EXPORT const ph_plugin *ph_plugin_entry(void)
{
    static const ph_plugin descriptor = {
        (2u << 16) | 0u,   /* abi_version: 2.0 */
        sizeof(ph_plugin), /* struct_size */
        "it_wrong_abi",    /* name */
        "1.0.0",           /* version */
        PH_MODE_SYNC,      /* mode */
        NULL,              /* init */
        NULL,              /* fini */
        wrong_abi_handle,  /* handle */
        NULL,              /* settings */
        NULL,              /* summary */
        NULL,              /* request_type */
        NULL,              /* response_type */
    };
    return &descriptor;
}
