/*
 * it_whoami.c - init() appends "<process name> <uid>" to the file named
 * by the route's `log_file` setting, so a test can see which processes
 * ran plugin code and as which user.
 */
#define _GNU_SOURCE
#include <plughost.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int whoami_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    *state = NULL;
    const char *path = api->setting(settings, "log_file");
    char comm[32] = "?";
    FILE *c = fopen("/proc/self/comm", "r");
    if (c) {
        if (!fgets(comm, sizeof comm, c))
            strcpy(comm, "?");
        comm[strcspn(comm, "\n")] = '\0';
        fclose(c);
    }
    FILE *f = path ? fopen(path, "a") : NULL;
    if (!f)
        return -1;
    fprintf(f, "%s %u\n", comm, (unsigned)getuid());
    fclose(f);
    return 0;
}

static int whoami_handle(void *state, ph_request *req)
{
    (void)state;
    (void)req;
    return PH_OK;
}

PH_PLUGIN_DECLARE("it_whoami", "1.0.0", PH_MODE_ASYNC, whoami_init, NULL, whoami_handle)
