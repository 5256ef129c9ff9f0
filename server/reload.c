/* reload.c - new generation, all or nothing, atomic swap. */
#include "reload.h"

#include "generation.h"
#include "log.h"
#include "server.h"

#include <string.h>
#include <time.h>

static double elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1e3 + (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

/* Log [server] settings that only take effect on restart. */
static void report_static_changes(const ph_server_conf *old, const ph_server_conf *new)
{
    if (strcmp(old->listen, new->listen) != 0)
        ph_log_warn("reload: listen changed from %s to %s; this needs a restart, still listening on %s",
                    old->listen, new->listen, old->listen);
    if (old->workers != new->workers)
        ph_log_warn("reload: workers changed from %d to %d; this needs a restart", old->workers, new->workers);
    if (old->sync_threads != new->sync_threads || old->sync_queue != new->sync_queue)
        ph_log_warn("reload: sync_threads/sync_queue changed; this needs a restart, the pool keeps %d threads "
                    "and a queue of %d",
                    old->sync_threads, old->sync_queue);
}

/* Log what the new generation adds, removes and replaces. */
static void report_route_changes(const ph_generation *old, const ph_generation *new)
{
    for (size_t i = 0; i < ph_router_count(new->router); i++) {
        const ph_route *r = ph_router_route(new->router, i);
        const ph_route *before = ph_router_find_pattern(old->router, r->path);
        if (!before)
            ph_log_info("reload: route %s added (plugin %s)", r->path, ph_instance_name(r->instance));
        else if (before->instance != r->instance)
            ph_log_info("reload: route %s replaced (plugin %s)", r->path, ph_instance_name(r->instance));
    }
    for (size_t i = 0; i < ph_router_count(old->router); i++) {
        const ph_route *r = ph_router_route(old->router, i);
        if (!ph_router_find_pattern(new->router, r->path))
            ph_log_info("reload: route %s removed", r->path);
    }
}

int ph_reload(ph_server *srv, const char *trigger)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char err[2048];
    ph_config *config = ph_config_load(srv->config_path, err, sizeof err);
    ph_generation *gen = NULL;
    if (config)
        gen = ph_generation_build(config, srv->gen, srv->gen->number + 1, err, sizeof err);
    if (!gen) {
        ph_log_error("reload (%s) rejected, still serving generation %lu: %s", trigger, srv->gen->number, err);
        return -1;
    }
    report_static_changes(&srv->gen->config->server, &gen->config->server);
    report_route_changes(srv->gen, gen);
    ph_generation *old = srv->gen;
    srv->gen = gen;
    ph_log_set_level(gen->config->server.log_level);
    ph_log_info("reload (%s): generation %lu serving %zu routes, took %.1f ms", trigger, gen->number,
                ph_router_count(gen->router), elapsed_ms(&start));
    ph_generation_unref(old);
    return 0;
}
