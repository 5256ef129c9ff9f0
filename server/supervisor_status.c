/* supervisor_status.c - the JSON status document of the admin listener:
 * routes with the plugin serving each (file, declared name, version,
 * mode, generation, load time), its figures (requests, errors, p99) and
 * its bulkhead ("pool": limits per worker, load summed over workers),
 * plugins, workers, the sync pools, the loops and the last reloads. The
 * routes are the good config's; what a plugin declares comes from the
 * board, where each worker published the instance it runs. */
#include "config_value.h"
#include "listen_socket.h"
#include "supervisor_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef PLUGHOST_VERSION
#define PLUGHOST_VERSION "0.0.0"
#endif

/* What a READY worker on the good generation published for `pattern`
 * (else any live worker). Returns false when nobody did. */
static bool published(const ph_supervisor *sv, const char *pattern, ph_board_route *out)
{
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < PH_BOARD_RECORDS; i++) {
            const ph_proc *p = &sv->procs[i];
            if (p->pid <= 0 || (pass == 0 && (p->state != PH_PROC_READY || p->generation != sv->good_number)))
                continue;
            const ph_board_record *rec = &sv->board->records[i];
            for (int k = 1; k < PH_BOARD_ROUTES - 1; k++) {
                if (ph_stat_read_slot(&rec->routes[k], out) && out->generation &&
                    strcmp(out->pattern, pattern) == 0)
                    return true;
            }
        }
    }
    return false;
}

static const ph_stat_route *totals_of(const ph_stat_counters *c, const char *pattern)
{
    for (size_t i = 0; i < c->nroutes; i++) {
        if (strcmp(c->routes[i].pattern, pattern) == 0)
            return &c->routes[i];
    }
    return NULL;
}

/* The upper bound (ms) of the bucket holding the 99th percentile, -1
 * without requests, or 1e300 past the last finite bound. */
static double p99_ms(const unsigned long *latency)
{
    unsigned long total = 0, cum = 0;
    for (int k = 0; k < PH_BOARD_LATENCY_BUCKETS; k++)
        total += latency[k];
    if (!total)
        return -1;
    for (int k = 0; k < PH_BOARD_LATENCY_BUCKETS; k++) {
        cum += latency[k];
        if ((double)cum >= 0.99 * (double)total)
            return ph_board_latency_le[k] > 1e299 ? -2 : ph_board_latency_le[k] * 1e3;
    }
    return -2;
}

static void add_figures(cJSON *o, const ph_stat_route *t)
{
    unsigned long requests = 0;
    for (int k = 0; t && k < 5; k++)
        requests += t->status[k];
    cJSON_AddNumberToObject(o, "requests", (double)requests);
    cJSON_AddNumberToObject(o, "errors", t ? (double)t->status[4] : 0);
    double p99 = t ? p99_ms(t->latency) : -1;
    if (p99 == -2)
        cJSON_AddStringToObject(o, "p99_ms", "> 10000");
    else if (p99 < 0)
        cJSON_AddNullToObject(o, "p99_ms");
    else
        cJSON_AddNumberToObject(o, "p99_ms", p99);
}

/* A route's bulkhead (route_gate.h): its limits per worker (max_inflight
 * 0 = none of its own; threads 0 = the workers' pools), and what the live
 * workers have in flight and queued, with the 503s it gave for want of
 * room since start. */
static void add_route_pool(cJSON *o, const ph_stat_route *t)
{
    cJSON *pool = cJSON_AddObjectToObject(o, "pool");
    if (!pool)
        return;
    cJSON_AddNumberToObject(pool, "max_inflight", t ? t->max_inflight : 0);
    cJSON_AddNumberToObject(pool, "queue", t ? t->queue : 0);
    cJSON_AddNumberToObject(pool, "threads", t ? (double)t->threads : 0);
    cJSON_AddNumberToObject(pool, "inflight", t ? (double)t->inflight : 0);
    cJSON_AddNumberToObject(pool, "queued", t ? (double)t->queued : 0);
    cJSON_AddNumberToObject(pool, "rejected", t ? (double)t->rejected : 0);
}

static cJSON *methods_array(unsigned methods)
{
    cJSON *a = cJSON_CreateArray();
    for (unsigned bit = 1; a && bit < (1u << PH_METHOD_COUNT); bit <<= 1) {
        if (methods & bit)
            cJSON_AddItemToArray(a, cJSON_CreateString(ph_method_name(bit)));
    }
    return a;
}

static void add_routes(cJSON *doc, const ph_supervisor *sv, const ph_stat_counters *c)
{
    cJSON *routes = cJSON_AddArrayToObject(doc, "routes");
    cJSON *plugins = cJSON_AddArrayToObject(doc, "plugins");
    const ph_config *cfg = sv->good_config;
    for (size_t i = 0; routes && plugins && i < cfg->nroutes; i++) {
        const ph_route_conf *rc = &cfg->routes[i];
        cJSON *r = cJSON_CreateObject();
        if (!r)
            return;
        cJSON_AddItemToArray(routes, r);
        cJSON_AddStringToObject(r, "route", rc->path);
        cJSON_AddItemToObject(r, "methods", methods_array(rc->methods));
        cJSON_AddStringToObject(r, "plugin_file", rc->plugin_path);
        cJSON_AddBoolToObject(r, "disabled", rc->plugin_disabled);
        ph_board_route pub;
        if (published(sv, rc->path, &pub)) {
            cJSON_AddStringToObject(r, "plugin", pub.plugin_name);
            cJSON_AddStringToObject(r, "version", pub.plugin_version);
            cJSON_AddStringToObject(r, "mode", pub.mode);
            cJSON_AddNumberToObject(r, "generation", (double)pub.generation);
            cJSON_AddNumberToObject(r, "loaded_at", pub.loaded_at);
        }
        add_figures(r, totals_of(c, rc->path));
        add_route_pool(r, totals_of(c, rc->path));
        /* one plugin entry per distinct file */
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(cfg->routes[j].plugin_path, rc->plugin_path) == 0;
        if (seen)
            continue;
        cJSON *p = cJSON_Duplicate(r, true);
        if (!p)
            return;
        cJSON_DeleteItemFromObject(p, "route");
        cJSON_DeleteItemFromObject(p, "methods");
        cJSON_DeleteItemFromObject(p, "pool");
        cJSON *on = cJSON_AddArrayToObject(p, "routes");
        ph_stat_route sum = {0};
        for (size_t j = i; on && j < cfg->nroutes; j++) {
            if (strcmp(cfg->routes[j].plugin_path, rc->plugin_path) != 0)
                continue;
            cJSON_AddItemToArray(on, cJSON_CreateString(cfg->routes[j].path));
            const ph_stat_route *t = totals_of(c, cfg->routes[j].path);
            for (int k = 0; t && k < 5; k++)
                sum.status[k] += t->status[k];
            for (int k = 0; t && k < PH_BOARD_LATENCY_BUCKETS; k++)
                sum.latency[k] += t->latency[k];
        }
        cJSON_DeleteItemFromObject(p, "requests");
        cJSON_DeleteItemFromObject(p, "errors");
        cJSON_DeleteItemFromObject(p, "p99_ms");
        add_figures(p, &sum);
        cJSON_AddItemToArray(plugins, p);
    }
}

static const char *state_name(ph_proc_state s)
{
    return s == PH_PROC_STARTING ? "starting" : s == PH_PROC_READY ? "ready" : "retiring";
}

static void add_workers(cJSON *doc, const ph_supervisor *sv)
{
    cJSON *workers = cJSON_AddArrayToObject(doc, "workers");
    cJSON *pool = cJSON_AddObjectToObject(doc, "pool");
    double threads = 0, pending = 0;
    double now = ph_sup_now();
    for (int i = 0; workers && i < PH_BOARD_RECORDS; i++) {
        const ph_proc *p = &sv->procs[i];
        if (p->pid <= 0)
            continue;
        const ph_board_record *rec = &sv->board->records[i];
        cJSON *w = cJSON_CreateObject();
        if (!w)
            return;
        cJSON_AddItemToArray(workers, w);
        cJSON_AddNumberToObject(w, "worker", p->slot);
        cJSON_AddNumberToObject(w, "pid", (double)p->pid);
        cJSON_AddStringToObject(w, "state", state_name(p->state));
        cJSON_AddNumberToObject(w, "generation", (double)atomic_load(&rec->generation));
        cJSON_AddNumberToObject(w, "uptime_s", now - p->started);
        cJSON_AddNumberToObject(w, "connections", atomic_load(&rec->connections));
        cJSON_AddNumberToObject(w, "in_flight", atomic_load(&rec->in_flight));
        cJSON_AddNumberToObject(w, "requests_done", (double)atomic_load(&rec->requests_done));
        cJSON_AddNumberToObject(w, "sync_threads", atomic_load(&rec->sync_threads));
        cJSON_AddNumberToObject(w, "sync_pending", atomic_load(&rec->sync_pending));
        threads += atomic_load(&rec->sync_threads);
        pending += atomic_load(&rec->sync_pending);
    }
    if (pool) {
        cJSON_AddNumberToObject(pool, "threads", threads);
        cJSON_AddNumberToObject(pool, "pending", pending);
    }
}

static void add_loop(cJSON *doc, const ph_stat_counters *c)
{
    cJSON *loop = cJSON_AddObjectToObject(doc, "loop");
    unsigned long n = 0;
    for (int k = 0; k < PH_BOARD_LAG_BUCKETS; k++)
        n += c->lag[k];
    if (!loop)
        return;
    cJSON_AddNumberToObject(loop, "probes", (double)n);
    cJSON_AddNumberToObject(loop, "lag_avg_ms", n ? (double)c->lag_us / 1e3 / (double)n : 0);
    unsigned long slow = 0;
    for (int k = 0; k < PH_BOARD_LAG_BUCKETS; k++)
        if (ph_board_lag_le[k] > 0.01)
            slow += c->lag[k];
    cJSON_AddNumberToObject(loop, "probes_over_10ms", (double)slow);
}

static void add_reloads(cJSON *doc, const ph_sup_stats *st)
{
    cJSON *r = cJSON_AddObjectToObject(doc, "reloads");
    if (!r)
        return;
    cJSON_AddNumberToObject(r, "total", (double)st->reloads);
    cJSON_AddNumberToObject(r, "failures", (double)st->reload_failures);
    cJSON_AddBoolToObject(r, "last_succeeded", st->last_reload_ok);
    cJSON *recent = cJSON_AddArrayToObject(r, "recent");
    for (int i = 0; recent && i < st->nseen; i++) {
        const ph_stat_reload *e = &st->reloads_seen[(st->next - 1 - i + PH_STAT_RELOADS) % PH_STAT_RELOADS];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return;
        cJSON_AddItemToArray(recent, o);
        cJSON_AddNumberToObject(o, "at", e->at);
        cJSON_AddStringToObject(o, "trigger", e->trigger);
        cJSON_AddNumberToObject(o, "generation", (double)e->generation);
        cJSON_AddBoolToObject(o, "ok", e->ok);
        cJSON_AddNumberToObject(o, "ms", e->ms);
        cJSON_AddStringToObject(o, "outcome", e->ok ? "serving" : e->outcome);
    }
}

char *ph_sup_status_json(const ph_supervisor *sv)
{
    ph_stat_counters c;
    if (ph_sup_admin_counters(sv, &c) < 0)
        return NULL;
    cJSON *doc = cJSON_CreateObject();
    char *text = NULL;
    if (doc) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        cJSON_AddStringToObject(doc, "version", PLUGHOST_VERSION);
        cJSON_AddNumberToObject(doc, "pid", (double)getpid());
        cJSON_AddNumberToObject(doc, "started", sv->stats.started);
        cJSON_AddNumberToObject(doc, "uptime_s", (double)now.tv_sec - sv->stats.started);
        cJSON_AddNumberToObject(doc, "generation", (double)sv->good_number);
        cJSON_AddBoolToObject(doc, "ready", ph_sup_admin_ready(sv));
        cJSON_AddBoolToObject(doc, "draining", sv->stopping);
        char where[128];
        cJSON_AddStringToObject(doc, "listen", ph_listen_describe(sv->listen_fd, where, sizeof where));
        add_routes(doc, sv, &c);
        add_workers(doc, sv);
        add_loop(doc, &c);
        cJSON *pool = cJSON_GetObjectItem(doc, "pool");
        if (pool)
            cJSON_AddNumberToObject(pool, "rejected", (double)c.sync_rejected);
        add_reloads(doc, &sv->stats);
        cJSON *crashes = cJSON_AddObjectToObject(doc, "crashes");
        if (crashes) {
            cJSON_AddNumberToObject(crashes, "plugin_crashes", (double)sv->stats.plugin_crashes);
            cJSON_AddNumberToObject(crashes, "rollbacks", (double)sv->stats.rollbacks);
            cJSON_AddNumberToObject(crashes, "worker_exits", (double)sv->stats.worker_exits);
        }
        text = cJSON_PrintUnformatted(doc);
        cJSON_Delete(doc);
    }
    ph_stat_counters_free(&c);
    return text;
}
