/* reload.c - a worker's two-step switch to a new generation. */
#include "reload.h"

#include "log.h"
#include "server.h"

#include <stdio.h>
#include <string.h>

/* "file <path> (plugin <name> <version>, <mode>)" for the plugin of `r`. */
static void describe(const ph_route *r, char *out, size_t size)
{
    const ph_plugin_lib *lib = r->instance->lib;
    snprintf(out, size, "file %s (plugin %s %s, %s)", lib->path ? lib->path : "?",
             lib->desc->name ? lib->desc->name : "?", lib->desc->version ? lib->desc->version : "?",
             ph_instance_mode(r->instance) == PH_MODE_ASYNC ? "async" : "sync");
}

/* Why `after` replaced `before` on the same pattern, in words. */
static const char *replaced_why(const ph_route *before, const ph_route *after, char *out, size_t size)
{
    const ph_plugin_lib *a = before->instance->lib, *b = after->instance->lib;
    ph_mode ma = ph_instance_mode(before->instance), mb = ph_instance_mode(after->instance);
    const char *va = a->desc->version ? a->desc->version : "?", *vb = b->desc->version ? b->desc->version : "?";
    if (ma != mb)
        snprintf(out, size, "mode changed %s -> %s%s", ma == PH_MODE_ASYNC ? "async" : "sync",
                 mb == PH_MODE_ASYNC ? "async" : "sync", strcmp(va, vb) ? ", new version" : "");
    else if (strcmp(a->path, b->path) != 0)
        snprintf(out, size, "another plugin file (was %s)", a->path);
    else if (strcmp(va, vb) != 0)
        snprintf(out, size, "version %s -> %s", va, vb);
    else if (a != b)
        snprintf(out, size, "the file changed, same declared version");
    else
        snprintf(out, size, "its settings changed (init() ran again)");
    return out;
}

/* Log what the new generation adds, removes and replaces, naming each
 * plugin by file and declared name with its version and mode. Every
 * worker sees the same changes, so only worker 1 reports them. */
static void report_route_changes(const ph_server *srv, const ph_generation *old, const ph_generation *new)
{
    if (srv->worker_id > 1)
        return;
    char what[768], why[640];
    for (size_t i = 0; i < ph_router_count(new->router); i++) {
        const ph_route *r = ph_router_route(new->router, i);
        const ph_route *before = ph_router_find_pattern(old->router, r->path);
        if (before && before->instance == r->instance)
            continue;
        describe(r, what, sizeof what);
        if (!before)
            ph_log_info("reload: route %s added: %s", r->path, what);
        else
            ph_log_info("reload: route %s now %s: %s", r->path, what, replaced_why(before, r, why, sizeof why));
    }
    for (size_t i = 0; i < ph_router_count(old->router); i++) {
        const ph_route *r = ph_router_route(old->router, i);
        if (ph_router_find_pattern(new->router, r->path))
            continue;
        describe(r, what, sizeof what);
        ph_log_info("reload: route %s removed (was %s)", r->path, what);
    }
}

ph_generation *ph_reload_prepare(const ph_server *srv, ph_config *config, unsigned long number, char *err,
                                 size_t errlen)
{
    ph_generation *gen = ph_generation_build(config, srv->gen, number, err, errlen);
    if (gen && ph_generation_start_pools(gen, srv->gen, srv->base, err, errlen) < 0) {
        ph_generation_unref(gen);
        return NULL;
    }
    return gen;
}

void ph_reload_commit(ph_server *srv, ph_generation *gen)
{
    report_route_changes(srv, srv->gen, gen);
    ph_server_switch(srv, gen);
    ph_log_debug("switched to generation %lu (%zu routes)", gen->number, ph_router_count(gen->router));
}
