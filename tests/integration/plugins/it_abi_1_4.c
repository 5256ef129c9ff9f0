/*
 * it_abi_1_4.c - a plugin as built against plughost.h of ABI 1.4: its
 * descriptor says 1.4 and it uses only 1.4's slots (add_header, not
 * add_header_n of 1.5). A newer host of the same major must load it and
 * serve it: the table only grew at the end. Answers 200 "abi 1.4" as
 * text/plain with X-Host-Abi naming the host's version.
 */
#include <plughost.h>

#include <stdio.h>

/* PH_ABI_VERSION reads PH_ABI_MINOR where PH_PLUGIN_DECLARE expands, so
 * the descriptor is stamped as 1.4's header stamped it. */
#undef PH_ABI_MINOR
#define PH_ABI_MINOR 4

static const ph_host_api *host;

static int abi_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    (void)settings;
    (void)state;
    host = api;
    return 0;
}

static int abi_handle(void *state, ph_request *req)
{
    (void)state;
    char abi[32];
    snprintf(abi, sizeof abi, "%u.%u", (unsigned)PH_ABI_VERSION_MAJOR(host->abi_version),
             (unsigned)PH_ABI_VERSION_MINOR(host->abi_version));
    if (host->add_header(req, "Content-Type", "text/plain") != 0 || host->add_header(req, "X-Host-Abi", abi) != 0 ||
        host->set_body(req, "abi 1.4", 7) != 0)
        return PH_ERROR;
    return PH_OK;
}

PH_PLUGIN_DECLARE("it_abi_1_4", "1.0.0", PH_MODE_ASYNC, abi_init, NULL, abi_handle)
