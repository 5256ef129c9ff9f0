/* reload.c - a worker's two-step switch to a new generation. */
#include "reload.h"

#include "log.h"
#include "server.h"

/* Log what the new generation adds, removes and replaces. Every worker
 * sees the same changes, so only worker 1 reports them. */
static void report_route_changes(const ph_server *srv, const ph_generation *old, const ph_generation *new)
{
    if (srv->worker_id > 1)
        return;
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

ph_generation *ph_reload_prepare(const ph_server *srv, ph_config *config, unsigned long number, char *err,
                                 size_t errlen)
{
    return ph_generation_build(config, srv->gen, number, err, errlen);
}

void ph_reload_commit(ph_server *srv, ph_generation *gen)
{
    report_route_changes(srv, srv->gen, gen);
    ph_server_switch(srv, gen);
    ph_log_debug("switched to generation %lu (%zu routes)", gen->number, ph_router_count(gen->router));
}
