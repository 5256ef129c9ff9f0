/* plugin_instance.c - a plugin serving one route. */
#include "plugin_instance.h"

#include "crash_handler.h"
#include "host_api.h"
#include "log.h"
#include "route_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_settings(struct ph_settings *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->items[i].key);
        free(s->items[i].value);
    }
    free(s->items);
    free(s->route_path);
}

/* Deep-copy the route's path and keys. Returns 0 or -1 (no memory). */
static int copy_settings(struct ph_settings *dst, const ph_route_conf *route)
{
    memset(dst, 0, sizeof *dst);
    dst->route_path = strdup(route->path);
    dst->items = calloc(route->nsettings ? route->nsettings : 1, sizeof *dst->items);
    if (!dst->route_path || !dst->items)
        return -1;
    for (size_t i = 0; i < route->nsettings; i++) {
        dst->items[i].key = strdup(route->settings[i].key);
        dst->items[i].value = strdup(route->settings[i].value);
        dst->count++;
        if (!dst->items[i].key || !dst->items[i].value)
            return -1;
    }
    return 0;
}

ph_instance *ph_instance_create(ph_plugin_lib *lib, const ph_route_conf *route, char *err, size_t errlen)
{
    ph_instance *inst = calloc(1, sizeof *inst);
    if (!inst || copy_settings(&inst->settings, route) < 0) {
        snprintf(err, errlen, "%s: out of memory", lib->path);
        goto fail;
    }
    const ph_plugin *d = lib->desc;
    if (ph_route_keys_check(d, lib->path, route, err, errlen) < 0)
        goto fail;
    if (d->init) {
        ph_crash_mark previous = ph_crash_enter(route->path, lib, "init()");
        int rc = d->init(ph_host_api_table(), &inst->settings, &inst->state);
        ph_crash_leave(previous);
        if (rc != 0) {
            snprintf(err, errlen, "%s: init failed (plugin '%s' returned %d for route %s; see its log lines above)",
                     lib->path, d->name, rc, route->path);
            goto fail;
        }
    }
    ph_plugin_lib_ref(lib);
    inst->lib = lib;
    inst->refs = 1;
    return inst;
fail:
    if (inst)
        free_settings(&inst->settings);
    free(inst);
    return NULL;
}

bool ph_instance_matches(const ph_instance *inst, const ph_route_conf *route, const ph_file_id *file)
{
    if (strcmp(inst->lib->path, route->plugin_path) != 0 || !ph_file_id_equal(&inst->lib->id, file) ||
        strcmp(inst->settings.route_path, route->path) != 0 || inst->settings.count != route->nsettings)
        return false;
    for (size_t i = 0; i < route->nsettings; i++) {
        if (strcmp(inst->settings.items[i].key, route->settings[i].key) != 0 ||
            strcmp(inst->settings.items[i].value, route->settings[i].value) != 0)
            return false;
    }
    return true;
}

void ph_instance_ref(ph_instance *inst) { inst->refs++; }

void ph_instance_unref(ph_instance *inst)
{
    if (!inst || --inst->refs > 0)
        return;
    if (inst->lib->desc->fini) {
        ph_crash_mark previous = ph_crash_enter(inst->settings.route_path, inst->lib, "fini()");
        inst->lib->desc->fini(inst->state);
        ph_crash_leave(previous);
    }
    ph_plugin_lib_unref(inst->lib);
    free_settings(&inst->settings);
    free(inst);
}
