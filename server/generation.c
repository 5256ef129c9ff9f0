/* generation.c - building and releasing serving generations. */
#include "generation.h"

#include "disabled_plugin.h"
#include "route_gate.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A library this build already has for `path` (from an earlier route of
 * the same build, or from the previous generation with the same file
 * version), or NULL. */
static ph_plugin_lib *find_lib(const ph_router *built, const ph_generation *previous, const char *path,
                               const ph_file_id *id)
{
    const ph_router *sources[2] = {built, previous ? previous->router : NULL};
    for (int s = 0; s < 2; s++) {
        if (!sources[s])
            continue;
        for (size_t i = 0; i < ph_router_count(sources[s]); i++) {
            ph_plugin_lib *lib = ph_router_route(sources[s], i)->instance->lib;
            if (strcmp(lib->path, path) == 0 && ph_file_id_equal(&lib->id, id))
                return lib;
        }
    }
    return NULL;
}

/* The instance for `rc`: the previous generation's when unchanged, else a
 * new one (loading the file if needed). Returns it with one reference for
 * the caller, or NULL with err set. */
static ph_instance *instance_for_route(const ph_router *built, const ph_generation *previous,
                                       const ph_route_conf *rc, char *err, size_t errlen)
{
    if (rc->plugin_disabled) {
        ph_plugin_lib *stand_in = ph_plugin_lib_placeholder(rc->plugin_path, ph_disabled_plugin());
        ph_instance *inst = stand_in ? ph_instance_create(stand_in, rc, err, errlen) : NULL;
        if (!stand_in)
            snprintf(err, errlen, "%s: out of memory", rc->plugin_path);
        ph_plugin_lib_unref(stand_in);
        return inst;
    }
    const char *source = rc->plugin_source ? rc->plugin_source : rc->plugin_path;
    ph_file_id id;
    if (ph_file_id_of(source, &id) < 0) {
        snprintf(err, errlen, "%s: %s", rc->plugin_path, strerror(errno));
        return NULL;
    }
    if (previous) {
        for (size_t i = 0; i < ph_router_count(previous->router); i++) {
            ph_instance *inst = ph_router_route(previous->router, i)->instance;
            if (ph_instance_matches(inst, rc, &id)) {
                ph_instance_ref(inst);
                return inst;
            }
        }
    }
    ph_plugin_lib *lib = find_lib(built, previous, rc->plugin_path, &id);
    if (lib) {
        ph_plugin_lib_ref(lib);
    } else {
        lib = ph_plugin_lib_load(rc->plugin_path, source, err, errlen);
        if (!lib)
            return NULL;
    }
    ph_instance *inst = ph_instance_create(lib, rc, err, errlen);
    ph_plugin_lib_unref(lib);
    return inst;
}

/* Requests that may wait in a limited route's queue when its section does
 * not say (the same as sync_queue's default). */
#define DEFAULT_ROUTE_QUEUE 1024

/* The limits of route `rc` (its plugin runs in `mode`) under server `sc`. */
static ph_route_limits limits_of(const ph_route_conf *rc, const ph_server_conf *sc, ph_mode mode)
{
    ph_route_limits l = {.max_inflight = rc->max_inflight, .sync_threads = rc->sync_threads};
    if (!l.max_inflight && l.sync_threads && mode == PH_MODE_SYNC)
        l.max_inflight = l.sync_threads; /* its own threads are its limit: the rest wait in its queue */
    l.queue = rc->has_queue ? rc->queue : l.max_inflight ? DEFAULT_ROUTE_QUEUE : 0;
    /* its own pool: jobs past its threads under max_inflight, and offloads as the worker's pool has */
    l.pool_queue = sc->sync_queue + (l.max_inflight > l.sync_threads ? l.max_inflight - l.sync_threads : 0);
    return l;
}

/* Free the gates of `router`'s routes (and so their own pools' references). */
static void free_gates(ph_router *router)
{
    for (size_t i = 0; router && i < ph_router_count(router); i++) {
        ph_gate_free(ph_router_route(router, i)->gate);
        ph_router_set_gate(router, i, NULL);
    }
}

ph_generation *ph_generation_build(ph_config *config, const ph_generation *previous, unsigned long number,
                                   char *err, size_t errlen)
{
    ph_generation *gen = calloc(1, sizeof *gen);
    ph_router *router = ph_router_create();
    if (!gen || !router) {
        snprintf(err, errlen, "%s: out of memory", config->path);
        goto fail;
    }
    for (size_t i = 0; i < config->nroutes; i++) {
        const ph_route_conf *rc = &config->routes[i];
        char why[1024];
        ph_instance *inst = instance_for_route(router, previous, rc, why, sizeof why);
        if (!inst) {
            snprintf(err, errlen, "%s:%d: route %s: %s", config->path, rc->line, rc->path, why);
            goto fail;
        }
        uint64_t timeout = rc->has_timeout ? rc->timeout_ms : config->server.timeout_ms;
        ph_mode mode = ph_instance_mode(inst);
        if (ph_router_add(router, rc->path, rc->methods, timeout, inst, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s:%d: %s", config->path, rc->line, why);
            goto fail;
        }
        ph_route_gate *gate = ph_gate_create();
        if (!gate) {
            snprintf(err, errlen, "%s: out of memory", config->path);
            goto fail;
        }
        gate->limits = limits_of(rc, &config->server, mode);
        ph_router_set_gate(router, ph_router_count(router) - 1, gate);
    }
    if (ph_router_seal(router) < 0) {
        snprintf(err, errlen, "%s: out of memory", config->path);
        goto fail;
    }
    gen->number = number;
    gen->config = config;
    gen->router = router;
    gen->refs = 1;
    return gen;
fail:
    free_gates(router);
    ph_router_free(router);
    ph_config_free(config);
    free(gen);
    return NULL;
}

int ph_generation_start_pools(ph_generation *gen, const ph_generation *previous, struct event_base *base, char *err,
                              size_t errlen)
{
    for (size_t i = 0; i < ph_router_count(gen->router); i++) {
        const ph_route *r = ph_router_route(gen->router, i);
        const ph_route *before = previous ? ph_router_find_pattern(previous->router, r->path) : NULL;
        if (ph_gate_start_pool(r->gate, before ? before->gate : NULL, base) < 0) {
            const ph_route_conf *rc = i < gen->config->nroutes ? &gen->config->routes[i] : NULL;
            snprintf(err, errlen, "%s:%d: route %s: cannot start its %d sync threads", gen->config->path,
                     rc ? rc->line : 0, r->path, r->gate->limits.sync_threads);
            return -1;
        }
    }
    return 0;
}

void ph_generation_ref(ph_generation *gen) { gen->refs++; }

static struct event *reaper;
static ph_generation *dead;

static void free_generation(ph_generation *gen)
{
    free_gates(gen->router);
    ph_router_free(gen->router);
    ph_config_free(gen->config);
    free(gen);
}

static void reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    while (dead) {
        ph_generation *gen = dead;
        dead = gen->next_dead;
        free_generation(gen);
    }
}

int ph_generation_reaper_setup(struct event_base *base)
{
    reaper = base ? event_new(base, -1, 0, reap, NULL) : NULL;
    return base && !reaper ? -1 : 0;
}

void ph_generation_reaper_shutdown(void)
{
    reap(-1, 0, NULL);
    if (reaper)
        event_free(reaper);
    reaper = NULL;
}

/* Out of line (generation.h): a generation's end is rare. Freed from the
 * reaper's event, or now without one. */
__attribute__((noinline)) void ph_generation_bury(ph_generation *gen)
{
    if (!reaper) {
        free_generation(gen);
        return;
    }
    gen->next_dead = dead;
    dead = gen;
    event_active(reaper, 0, 0);
}

void ph_generation_unref(ph_generation *gen)
{
    if (ph_generation_drop(gen))
        ph_generation_bury(gen);
}
