/*
 * it_worker_only_fail.c - init() succeeds in the throwaway check process
 * and fails in a serving worker (told apart by the process name the host
 * gives its workers, "plughost-w"): the reload must switch nowhere.
 */
#define _GNU_SOURCE
#include <plughost.h>

#include <stdio.h>
#include <string.h>

static int wof_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    (void)api;
    (void)settings;
    *state = NULL;
    char comm[32] = "";
    FILE *f = fopen("/proc/self/comm", "r");
    if (f) {
        if (!fgets(comm, sizeof comm, f))
            comm[0] = '\0';
        fclose(f);
    }
    return strncmp(comm, "plughost-w", 10) == 0 ? -1 : 0;
}

static int wof_handle(void *state, ph_request *req)
{
    (void)state;
    (void)req;
    return PH_OK;
}

PH_PLUGIN_DECLARE("it_worker_only_fail", "1.0.0", PH_MODE_ASYNC, wof_init, NULL, wof_handle)
