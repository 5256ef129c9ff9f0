/* plugin_instance.h - a plugin serving one route: the loaded library, the
 * route's settings and the state its init() returned. Reference-counted
 * by the generations that route to it; the last release runs fini() and
 * drops the library. Loop thread only. */
#ifndef PH_PLUGIN_INSTANCE_H
#define PH_PLUGIN_INSTANCE_H

#include "config.h"
#include "plugin_loader.h"
#include "route_settings.h" /* struct ph_settings */

typedef struct ph_instance {
    ph_plugin_lib *lib;  /* one reference held */
    struct ph_settings settings;
    void *state;         /* from init() */
    int refs;
} ph_instance;

/* Create an instance of `lib` (taking a new reference) for `route`: check
 * the route's keys against the plugin's declared settings (route_keys.h),
 * then run its init(). Returns it with one reference, or NULL with
 * "<plugin path>: <reason>" in err (an unknown key, init failed, no
 * memory). */
ph_instance *ph_instance_create(ph_plugin_lib *lib, const ph_route_conf *route, char *err, size_t errlen);

/* True when `inst` was made from the same file version and the same route
 * path and settings as `route` would give: it can serve a new generation
 * unchanged. */
bool ph_instance_matches(const ph_instance *inst, const ph_route_conf *route, const ph_file_id *file);

void ph_instance_ref(ph_instance *inst);
void ph_instance_unref(ph_instance *inst);

/* The plugin's name and mode, from its descriptor. */
static inline const char *ph_instance_name(const ph_instance *inst) { return inst->lib->desc->name; }
static inline ph_mode ph_instance_mode(const ph_instance *inst) { return inst->lib->desc->mode; }

#endif
