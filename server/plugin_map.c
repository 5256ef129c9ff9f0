/* plugin_map.c - applying the supervisor's plugin map to a config. */
#include "plugin_map.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Apply one "path\tsource" entry. Returns 0 or -1 (no memory). */
static int apply_entry(ph_config *config, const char *path, size_t plen, const char *source, size_t slen)
{
    bool disabled = slen == 1 && source[0] == '-';
    for (size_t i = 0; i < config->nroutes; i++) {
        ph_route_conf *r = &config->routes[i];
        if (strlen(r->plugin_path) != plen || memcmp(r->plugin_path, path, plen) != 0)
            continue;
        free(r->plugin_source);
        r->plugin_source = NULL;
        r->plugin_disabled = disabled;
        if (!disabled && !(r->plugin_source = strndup(source, slen)))
            return -1;
    }
    return 0;
}

int ph_plugin_map_apply(ph_config *config, const char *text, size_t len, char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    for (int line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *tab = memchr(p, '\t', (size_t)(eol - p));
        if (!tab || tab == p || tab + 1 == eol || memchr(p, '\0', (size_t)(eol - p))) {
            snprintf(err, errlen, "plugin map line %d is malformed", line);
            return -1;
        }
        if (apply_entry(config, p, (size_t)(tab - p), tab + 1, (size_t)(eol - tab - 1)) < 0) {
            snprintf(err, errlen, "plugin map: out of memory");
            return -1;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

int ph_plugin_map_apply_fd(ph_config *config, int fd, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "plugin map: %s", strerror(errno));
        return -1;
    }
    char *text = malloc((size_t)st.st_size + 1);
    if (!text || pread(fd, text, (size_t)st.st_size, 0) != st.st_size) {
        snprintf(err, errlen, "plugin map: %s", text ? strerror(errno) : "out of memory");
        free(text);
        return -1;
    }
    int rc = ph_plugin_map_apply(config, text, (size_t)st.st_size, err, errlen);
    free(text);
    return rc;
}
