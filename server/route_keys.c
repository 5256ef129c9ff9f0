/* route_keys.c - unknown route keys: errors for a declaring plugin,
 * warnings for a likely misspelt reserved key otherwise. */
#include "route_keys.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

/* The host's own route keys (config.c); the route keys check only looks at
 * what is handed to the plugin, but a near miss of these is worth a word. */
static const char *const reserved[] = {"plugin", "methods", "timeout", "max_inflight", "queue", "sync_threads"};

const char *const *ph_route_keys_declared(const ph_plugin *d)
{
    if (!d || d->struct_size < offsetof(ph_plugin, settings) + sizeof d->settings)
        return NULL;
    return d->settings;
}

/* Edit distance of a and b, capped: returns a value > cap as soon as it
 * is certainly larger. Keys longer than 63 bytes are "far". */
static size_t distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63 || (la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static bool is_reserved(const char *key)
{
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++) {
        if (strcmp(key, reserved[i]) == 0)
            return true;
    }
    return false;
}

/* The reserved key within two edits of `key`, or NULL. */
static const char *near_reserved(const char *key)
{
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++) {
        if (distance(key, reserved[i], 2) <= 2)
            return reserved[i];
    }
    return NULL;
}

static bool is_declared(const char *const *declared, const char *key)
{
    for (size_t i = 0; declared[i]; i++) {
        if (strcmp(declared[i], key) == 0)
            return true;
    }
    return false;
}

int ph_route_keys_check(const ph_plugin *d, const char *path, const ph_route_conf *route, char *err,
                        size_t errlen)
{
    const char *const *declared = ph_route_keys_declared(d);
    for (size_t i = 0; i < route->nsettings; i++) {
        const char *key = route->settings[i].key;
        if (is_reserved(key) || (declared && is_declared(declared, key)))
            continue;
        const char *near = near_reserved(key);
        if (declared) {
            snprintf(err, errlen, "%s: route %s: unknown key '%s'%s%s%s (plugin '%s' declares its settings)", path,
                     route->path, key, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "", d->name);
            return -1;
        }
        if (near)
            ph_log_warn("%s: route %s: key '%s' is handed to plugin '%s' as a setting; did you mean '%s'?", path,
                        route->path, key, d->name, near);
    }
    return 0;
}
