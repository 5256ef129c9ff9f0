/* supervisor_metrics.c - the Prometheus text exposition (format 0.0.4)
 * of the supervisor's totals. Counters come from ph_sup_admin_counters
 * (folded + live), so they never go down while this supervisor runs. */
#include "supervisor_internal.h"

#include <event2/buffer.h>
#include <string.h>
#include <unistd.h>

#ifndef PLUGHOST_VERSION
#define PLUGHOST_VERSION "0.0.0"
#endif

static const char *const status_class[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

/* A label value with '\\', '"' and newlines escaped. */
static void put_label(struct evbuffer *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            evbuffer_add_printf(b, "\\%c", *v);
        else if (*v == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, v, 1);
    }
}

static void header(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Bucket upper bound as Prometheus writes it. */
static void put_le(struct evbuffer *b, double le)
{
    if (le > 1e299)
        evbuffer_add_printf(b, "+Inf");
    else
        evbuffer_add_printf(b, "%g", le);
}

static void render_requests(struct evbuffer *b, const ph_stat_counters *c)
{
    header(b, "plughost_requests_total", "counter", "Requests finished, by route pattern and status class.");
    for (size_t i = 0; i < c->nroutes; i++) {
        for (int k = 0; k < 5; k++) {
            evbuffer_add_printf(b, "plughost_requests_total{route=\"");
            put_label(b, c->routes[i].pattern);
            evbuffer_add_printf(b, "\",code=\"%s\"} %lu\n", status_class[k], c->routes[i].status[k]);
        }
    }
    header(b, "plughost_request_duration_seconds", "histogram",
           "Time from a request's arrival to its final response, by route pattern.");
    for (size_t i = 0; i < c->nroutes; i++) {
        const ph_stat_route *r = &c->routes[i];
        unsigned long cum = 0;
        for (int k = 0; k < PH_BOARD_LATENCY_BUCKETS; k++) {
            cum += r->latency[k];
            evbuffer_add_printf(b, "plughost_request_duration_seconds_bucket{route=\"");
            put_label(b, r->pattern);
            evbuffer_add_printf(b, "\",le=\"");
            put_le(b, ph_board_latency_le[k]);
            evbuffer_add_printf(b, "\"} %lu\n", cum);
        }
        evbuffer_add_printf(b, "plughost_request_duration_seconds_sum{route=\"");
        put_label(b, r->pattern);
        evbuffer_add_printf(b, "\"} %.6f\n", (double)r->latency_us / 1e6);
        evbuffer_add_printf(b, "plughost_request_duration_seconds_count{route=\"");
        put_label(b, r->pattern);
        evbuffer_add_printf(b, "\"} %lu\n", cum);
    }
}

/* The routes' bulkheads (route_gate.h), summed over the live workers. */
static void render_route_pools(struct evbuffer *b, const ph_stat_counters *c)
{
    static const struct {
        const char *name, *type, *help;
    } series[] = {
        {"plughost_route_in_flight", "gauge", "Requests of a route holding a place (running or pending), all workers."},
        {"plughost_route_queued", "gauge", "Requests waiting in a route's own queue (past its max_inflight), all workers."},
        {"plughost_route_rejected_total", "counter",
         "Requests of a route answered 503 for want of room (its queue or the pool's was full)."},
        {"plughost_route_pool_threads", "gauge", "Threads of a route's own pool, all workers (0: the workers' pools)."},
    };
    for (size_t k = 0; k < sizeof series / sizeof series[0]; k++) {
        header(b, series[k].name, series[k].type, series[k].help);
        for (size_t i = 0; i < c->nroutes; i++) {
            const ph_stat_route *r = &c->routes[i];
            evbuffer_add_printf(b, "%s{route=\"", series[k].name);
            put_label(b, r->pattern);
            if (k == 2)
                evbuffer_add_printf(b, "\"} %lu\n", r->rejected);
            else
                evbuffer_add_printf(b, "\"} %ld\n", k == 0 ? r->inflight : k == 1 ? r->queued : r->threads);
        }
    }
}

static void render_loop(struct evbuffer *b, const ph_stat_counters *c)
{
    header(b, "plughost_loop_lag_seconds", "histogram",
           "How late the event loops' 100 ms probe timers fired (a blocked loop shows here).");
    unsigned long cum = 0;
    for (int k = 0; k < PH_BOARD_LAG_BUCKETS; k++) {
        cum += c->lag[k];
        evbuffer_add_printf(b, "plughost_loop_lag_seconds_bucket{le=\"");
        put_le(b, ph_board_lag_le[k]);
        evbuffer_add_printf(b, "\"} %lu\n", cum);
    }
    evbuffer_add_printf(b, "plughost_loop_lag_seconds_sum %.6f\nplughost_loop_lag_seconds_count %lu\n",
                        (double)c->lag_us / 1e6, cum);
}

/* Gauges of the live workers, one series per worker slot. */
static void render_workers(struct evbuffer *b, const ph_supervisor *sv)
{
    static const struct {
        const char *name, *help;
    } gauges[] = {
        {"plughost_sync_pool_threads", "Threads of a worker's sync pool."},
        {"plughost_sync_pool_busy", "Sync jobs running on a worker's pool (at most its threads)."},
        {"plughost_sync_pool_queued", "Sync jobs waiting for a thread of a worker's pool."},
        {"plughost_open_connections", "Open client connections of a worker."},
        {"plughost_requests_in_flight", "Requests begun and not finished (pending async ones included)."},
    };
    for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
        header(b, gauges[g].name, "gauge", gauges[g].help);
        for (int i = 0; i < PH_BOARD_RECORDS; i++) {
            const ph_proc *p = &sv->procs[i];
            if (p->pid <= 0 || p->state == PH_PROC_RETIRING)
                continue;
            const ph_board_record *rec = &sv->board->records[i];
            int threads = atomic_load_explicit(&rec->sync_threads, memory_order_relaxed);
            int pending = atomic_load_explicit(&rec->sync_pending, memory_order_relaxed);
            int busy = pending < threads ? pending : threads;
            int v = g == 0 ? threads
                  : g == 1 ? busy
                  : g == 2 ? pending - busy
                  : g == 3 ? atomic_load_explicit(&rec->connections, memory_order_relaxed)
                           : atomic_load_explicit(&rec->in_flight, memory_order_relaxed);
            evbuffer_add_printf(b, "%s{worker=\"%d\"} %d\n", gauges[g].name, p->slot, v < 0 ? 0 : v);
        }
    }
}

static void counter(struct evbuffer *b, const char *name, const char *help, unsigned long v)
{
    header(b, name, "counter", help);
    evbuffer_add_printf(b, "%s %lu\n", name, v);
}

static void gauge(struct evbuffer *b, const char *name, const char *help, double v)
{
    header(b, name, "gauge", help);
    evbuffer_add_printf(b, "%s %.17g\n", name, v);
}

int ph_sup_metrics_render(const ph_supervisor *sv, struct evbuffer *b)
{
    ph_stat_counters c;
    if (ph_sup_admin_counters(sv, &c) < 0)
        return -1;
    const ph_sup_stats *st = &sv->stats;
    header(b, "plughost_build_info", "gauge", "The running plughost's version (always 1).");
    evbuffer_add_printf(b, "plughost_build_info{version=\"%s\"} 1\n", PLUGHOST_VERSION);
    gauge(b, "plughost_start_time_seconds", "Unix time the supervisor started.", st->started);
    render_requests(b, &c);
    render_route_pools(b, &c);
    render_loop(b, &c);
    counter(b, "plughost_sync_pool_rejected_total", "Sync requests refused with 503 because the queue was full.",
            c.sync_rejected);
    render_workers(b, sv);
    gauge(b, "plughost_workers", "Worker processes serving.", ph_sup_live_count(sv, PH_PROC_READY));
    counter(b, "plughost_reloads_total", "Reloads decided (done or rejected).", st->reloads);
    counter(b, "plughost_reload_failures_total", "Reloads rejected; the previous generation kept serving.",
            st->reload_failures);
    gauge(b, "plughost_last_reload_success", "1 when the last reload succeeded (or none happened yet), else 0.",
          st->last_reload_ok ? 1 : 0);
    gauge(b, "plughost_generation", "The generation serving now.", (double)sv->good_number);
    counter(b, "plughost_plugin_crashes_total", "Workers that a plugin crashed.", st->plugin_crashes);
    counter(b, "plughost_plugin_rollbacks_total", "Plugins rolled back after crashing workers repeatedly.",
            st->rollbacks);
    counter(b, "plughost_worker_exits_total", "Worker processes that ended without being asked to.",
            st->worker_exits);
    gauge(b, "plughost_ready", "1 while a generation serves and the server is not draining.",
          ph_sup_admin_ready(sv) ? 1 : 0);
    ph_stat_counters_free(&c);
    return 0;
}
