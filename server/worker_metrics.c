/* worker_metrics.c - a worker's counters on its board record. */
#include "worker_metrics.h"

#include "board.h"
#include "generation.h"
#include "plugin_instance.h"
#include "route_gate.h"
#include "router.h"

#include <string.h>
#include <time.h>

bool ph_wmetrics_on;

#define SLOT_NONE 0
#define SLOT_OTHER (PH_BOARD_ROUTES - 1)

static void copy_text(char *dst, size_t size, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Open the seqlock of `slot` for writing its text; end_write closes it. */
static void begin_write(ph_board_route *slot)
{
    unsigned s = atomic_load_explicit(&slot->seq, memory_order_relaxed);
    atomic_store_explicit(&slot->seq, s | 1u, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static void end_write(ph_board_route *slot)
{
    unsigned s = atomic_load_explicit(&slot->seq, memory_order_relaxed);
    atomic_store_explicit(&slot->seq, (s | 1u) + 1u, memory_order_release);
}

static void name_slot(ph_board_route *slot, const char *pattern)
{
    begin_write(slot);
    copy_text(slot->pattern, sizeof slot->pattern, pattern);
    end_write(slot);
}

void ph_wmetrics_setup(int threads)
{
    ph_board_record *rec = ph_board_self();
    if (!rec)
        return;
    atomic_store_explicit(&rec->sync_threads, threads, memory_order_relaxed);
    if (atomic_load_explicit(&rec->routes[SLOT_NONE].seq, memory_order_relaxed) == 0)
        name_slot(&rec->routes[SLOT_NONE], "(none)");
    if (atomic_load_explicit(&rec->routes[SLOT_OTHER].seq, memory_order_relaxed) == 0)
        name_slot(&rec->routes[SLOT_OTHER], "(other)");
}

/* The slot of `pattern` on `rec`: its own, a free one, or SLOT_OTHER. */
static int slot_for(ph_board_record *rec, const char *pattern)
{
    int free_slot = -1;
    for (int i = SLOT_NONE + 1; i < SLOT_OTHER; i++) {
        ph_board_route *s = &rec->routes[i];
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) == 0) {
            if (free_slot < 0)
                free_slot = i;
        } else if (strcmp(s->pattern, pattern) == 0) {
            return i;
        }
    }
    return free_slot >= 0 ? free_slot : SLOT_OTHER;
}

static void publish_route(ph_board_route *slot, const ph_route *route, unsigned long generation)
{
    const ph_plugin_lib *lib = route->instance->lib;
    const char *mode = ph_instance_mode(route->instance) == PH_MODE_ASYNC ? "async" : "sync";
    bool same = slot->generation && strcmp(slot->pattern, route->path) == 0 &&
                strcmp(slot->plugin_file, lib->path ? lib->path : "") == 0 &&
                strcmp(slot->plugin_version, lib->desc->version ? lib->desc->version : "") == 0 &&
                strcmp(slot->mode, mode) == 0 && slot->methods == route->methods;
    if (same)
        return; /* unchanged plugin: keeps its generation and load time */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    begin_write(slot);
    copy_text(slot->pattern, sizeof slot->pattern, route->path);
    copy_text(slot->plugin_file, sizeof slot->plugin_file, lib->path);
    copy_text(slot->plugin_name, sizeof slot->plugin_name, lib->desc->name);
    copy_text(slot->plugin_version, sizeof slot->plugin_version, lib->desc->version);
    copy_text(slot->mode, sizeof slot->mode, mode);
    slot->methods = route->methods;
    slot->generation = generation;
    slot->loaded_at = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    end_write(slot);
}

void ph_wmetrics_publish(ph_generation *gen)
{
    ph_board_record *rec = ph_board_self();
    for (size_t i = 0; i < ph_router_count(gen->router); i++) {
        const ph_route *route = ph_router_route(gen->router, i);
        int slot = rec ? slot_for(rec, route->path) : -1;
        ph_router_set_board_slot(gen->router, i, slot);
        if (slot > SLOT_NONE && slot < SLOT_OTHER) {
            ph_board_route *s = &rec->routes[slot];
            publish_route(s, route, gen->number);
            atomic_store_explicit(&s->threads, ph_gate_pool_threads(route->gate), memory_order_relaxed);
            atomic_store_explicit(&s->max_inflight, route->gate->limits.max_inflight, memory_order_relaxed);
            atomic_store_explicit(&s->queue, route->gate->limits.queue, memory_order_relaxed);
        }
        if (rec && route->gate)
            route->gate->board = &rec->routes[slot];
    }
    /* a pattern the new generation dropped keeps its slot and counters,
     * but no longer names a plugin */
    for (int i = SLOT_NONE + 1; rec && i < SLOT_OTHER; i++) {
        ph_board_route *s = &rec->routes[i];
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) == 0 || !s->generation ||
            ph_router_find_pattern(gen->router, s->pattern))
            continue;
        begin_write(s);
        s->plugin_file[0] = s->plugin_name[0] = s->plugin_version[0] = s->mode[0] = '\0';
        s->generation = 0;
        end_write(s);
        atomic_store_explicit(&s->threads, 0, memory_order_relaxed);
        atomic_store_explicit(&s->max_inflight, 0, memory_order_relaxed);
        atomic_store_explicit(&s->queue, 0, memory_order_relaxed);
    }
}

void ph_wmetrics_enable(bool on)
{
    ph_wmetrics_on = on && ph_board_self();
}

void ph_wmetrics_request(const ph_request *req, int status, double seconds)
{
    ph_board_record *rec = ph_board_self();
    if (!rec || !ph_wmetrics_on)
        return;
    int slot = req->route ? req->route->board_slot : SLOT_NONE;
    if (slot < 0)
        slot = SLOT_OTHER;
    ph_board_route *s = &rec->routes[slot];
    int cls = status / 100 - 1;
    if (cls < 0 || cls > 4)
        cls = 4;
    ph_board_bump(&s->status[cls], 1);
    ph_board_bump(&s->latency[ph_board_bucket(ph_board_latency_le, PH_BOARD_LATENCY_BUCKETS, seconds)], 1);
    ph_board_bump(&s->latency_us, (unsigned long)(seconds * 1e6));
}

void ph_wmetrics_pool(int pending, bool rejected)
{
    ph_board_record *rec = ph_board_self();
    if (!rec)
        return;
    atomic_store_explicit(&rec->sync_pending, pending, memory_order_relaxed);
    if (rejected)
        ph_board_bump(&rec->sync_rejected, 1);
}

void ph_wmetrics_lag(double seconds)
{
    ph_board_record *rec = ph_board_self();
    if (!rec)
        return;
    ph_board_bump(&rec->lag[ph_board_bucket(ph_board_lag_le, PH_BOARD_LAG_BUCKETS, seconds)], 1);
    ph_board_bump(&rec->lag_us, (unsigned long)(seconds * 1e6));
}
