/* supervisor_stats.c - totals that survive the workers that counted them. */
#include "supervisor_stats.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ph_sup_stats_init(ph_sup_stats *st)
{
    memset(st, 0, sizeof *st);
    st->last_reload_ok = true;
    st->started = unix_now();
}

void ph_stat_counters_free(ph_stat_counters *c)
{
    free(c->routes);
    c->routes = NULL;
    c->nroutes = c->cap = 0;
}

void ph_sup_stats_free(ph_sup_stats *st) { ph_stat_counters_free(&st->folded); }

bool ph_stat_read_slot(const ph_board_route *s, ph_board_route *out)
{
    for (int tries = 0; tries < 100; tries++) {
        unsigned before = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (before == 0)
            return false;
        if (before & 1u)
            continue;
        memcpy(out->pattern, s->pattern, sizeof out->pattern);
        memcpy(out->plugin_file, s->plugin_file, sizeof out->plugin_file);
        memcpy(out->plugin_name, s->plugin_name, sizeof out->plugin_name);
        memcpy(out->plugin_version, s->plugin_version, sizeof out->plugin_version);
        memcpy(out->mode, s->mode, sizeof out->mode);
        out->methods = s->methods;
        out->generation = s->generation;
        out->loaded_at = s->loaded_at;
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) == before) {
            out->pattern[sizeof out->pattern - 1] = '\0';
            out->plugin_file[sizeof out->plugin_file - 1] = '\0';
            out->plugin_name[sizeof out->plugin_name - 1] = '\0';
            out->plugin_version[sizeof out->plugin_version - 1] = '\0';
            out->mode[sizeof out->mode - 1] = '\0';
            return true;
        }
    }
    return false;
}

/* The totals of `pattern` in `c`, added when new. NULL: no memory. */
static ph_stat_route *route_of(ph_stat_counters *c, const char *pattern)
{
    for (size_t i = 0; i < c->nroutes; i++) {
        if (strcmp(c->routes[i].pattern, pattern) == 0)
            return &c->routes[i];
    }
    if (c->nroutes == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        ph_stat_route *grown = realloc(c->routes, cap * sizeof *grown);
        if (!grown)
            return NULL;
        c->routes = grown;
        c->cap = cap;
    }
    ph_stat_route *r = &c->routes[c->nroutes++];
    memset(r, 0, sizeof *r);
    snprintf(r->pattern, sizeof r->pattern, "%s", pattern);
    return r;
}

static unsigned long get(const atomic_ulong *v) { return atomic_load_explicit(v, memory_order_relaxed); }

int ph_stat_add_record(ph_stat_counters *c, const ph_board_record *rec)
{
    int rc = 0;
    c->sync_rejected += get(&rec->sync_rejected);
    c->lag_us += get(&rec->lag_us);
    for (int b = 0; b < PH_BOARD_LAG_BUCKETS; b++)
        c->lag[b] += get(&rec->lag[b]);
    for (int i = 0; i < PH_BOARD_ROUTES; i++) {
        const ph_board_route *s = &rec->routes[i];
        ph_board_route text;
        if (!ph_stat_read_slot(s, &text))
            continue;
        ph_stat_route *r = route_of(c, text.pattern);
        if (!r) {
            rc = -1;
            continue;
        }
        for (int k = 0; k < 5; k++)
            r->status[k] += get(&s->status[k]);
        for (int b = 0; b < PH_BOARD_LATENCY_BUCKETS; b++)
            r->latency[b] += get(&s->latency[b]);
        r->latency_us += get(&s->latency_us);
        r->rejected += get(&s->rejected);
        r->inflight += atomic_load_explicit(&s->inflight, memory_order_relaxed);
        r->queued += atomic_load_explicit(&s->queued, memory_order_relaxed);
        r->threads += atomic_load_explicit(&s->threads, memory_order_relaxed);
        int max_inflight = atomic_load_explicit(&s->max_inflight, memory_order_relaxed);
        int queue = atomic_load_explicit(&s->queue, memory_order_relaxed);
        if (max_inflight > r->max_inflight)
            r->max_inflight = max_inflight;
        if (queue > r->queue)
            r->queue = queue;
    }
    return rc;
}

void ph_sup_stats_fold(ph_sup_stats *st, const ph_board_record *rec)
{
    if (ph_stat_add_record(&st->folded, rec) < 0)
        ph_log_error("metrics: out of memory; some route counters of a finished worker are lost");
    for (size_t i = 0; i < st->folded.nroutes; i++) { /* a gone worker has no load */
        ph_stat_route *r = &st->folded.routes[i];
        r->inflight = r->queued = r->threads = 0;
        r->max_inflight = r->queue = 0;
    }
}

int ph_stat_counters_copy(ph_stat_counters *to, const ph_stat_counters *from)
{
    *to = *from;
    to->routes = NULL;
    to->cap = to->nroutes = 0;
    if (!from->nroutes)
        return 0;
    to->routes = malloc(from->nroutes * sizeof *to->routes);
    if (!to->routes)
        return -1;
    memcpy(to->routes, from->routes, from->nroutes * sizeof *to->routes);
    to->nroutes = to->cap = from->nroutes;
    return 0;
}

void ph_sup_stats_reload(ph_sup_stats *st, const char *trigger, unsigned long generation, double ms,
                         const char *why)
{
    st->reloads++;
    st->last_reload_ok = !why;
    if (why)
        st->reload_failures++;
    ph_stat_reload *e = &st->reloads_seen[st->next];
    st->next = (st->next + 1) % PH_STAT_RELOADS;
    if (st->nseen < PH_STAT_RELOADS)
        st->nseen++;
    e->at = unix_now();
    e->generation = generation;
    e->ok = !why;
    e->ms = ms;
    snprintf(e->trigger, sizeof e->trigger, "%s", trigger);
    snprintf(e->outcome, sizeof e->outcome, "%s", why ? why : "");
}
