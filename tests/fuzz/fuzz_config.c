/* fuzz_config.c - libFuzzer harness for the INI loader (server/config.c
 * through Debian's libinih): the input is a whole server.ini read from
 * memory. Checks besides the sanitizers: a refused file comes with a
 * reason, an accepted one has a listen port, positive limits and routes
 * that each name a plugin and a path starting with '/'. */
#include "config.h"

#include "log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ph_log_set_level(PH_LOG_ERROR + 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)data, size, "r");
    if (!f)
        return 0; /* fmemopen refuses size 0 */
    char err[512] = "";
    ph_config *c = ph_config_load_stream(f, "/fuzz/server.ini", err, sizeof err);
    fclose(f);
    if (!c) {
        if (err[0] == '\0')
            abort(); /* refused without a reason */
        return 0;
    }
    if (c->server.max_url_size == 0 || c->server.max_header_size == 0 || !c->server.plugin_dir)
        abort();
    for (size_t i = 0; i < c->nroutes; i++) {
        const ph_route_conf *r = &c->routes[i];
        if (!r->path || r->path[0] != '/' || !r->plugin || !r->plugin_path)
            abort();
        for (size_t k = 0; k < r->nsettings; k++) {
            if (!r->settings[k].key || !r->settings[k].value)
                abort();
        }
    }
    ph_config_free(c);
    return 0;
}
