/* supervisor_stats.h - the supervisor's running totals for the admin
 * listener: what workers counted on the board (board.h), folded in when a
 * worker's record is let go so that no counter ever goes down across
 * crashes, recycling, respawns and reloads, plus what only the supervisor
 * sees (reloads, crashes, rollbacks). Main thread of the supervisor only. */
#ifndef PH_SUPERVISOR_STATS_H
#define PH_SUPERVISOR_STATS_H

#include "board.h"

#include <stdbool.h>
#include <stddef.h>

/* Counters of one route pattern, summed over workers. */
typedef struct ph_stat_route {
    char pattern[128];
    unsigned long status[5];
    unsigned long latency[PH_BOARD_LATENCY_BUCKETS];
    unsigned long latency_us;
    unsigned long rejected;  /* 503 for want of room (route_gate.h) */
    /* gauges of the live workers (never folded): summed ... */
    long inflight, queued, threads;
    /* ... and the per-worker limits, the largest any worker has */
    int max_inflight, queue;
} ph_stat_route;

/* One reload, for the status page. */
typedef struct ph_stat_reload {
    double at;               /* unix seconds */
    unsigned long generation;/* the generation it made, or the one still serving */
    bool ok;
    double ms;
    char trigger[96];
    char outcome[240];       /* "" or the reason it was rejected */
} ph_stat_reload;

#define PH_STAT_RELOADS 16

/* Counters a worker's record carries, summed. */
typedef struct ph_stat_counters {
    ph_stat_route *routes;
    size_t nroutes, cap;
    unsigned long sync_rejected;
    unsigned long lag[PH_BOARD_LAG_BUCKETS];
    unsigned long lag_us;
} ph_stat_counters;

typedef struct ph_sup_stats {
    ph_stat_counters folded;     /* from records let go */
    unsigned long reloads;       /* reloads decided (done or rejected) */
    unsigned long reload_failures;
    bool last_reload_ok;
    unsigned long plugin_crashes;/* workers a plugin crashed */
    unsigned long rollbacks;
    unsigned long worker_exits;  /* workers that ended unexpectedly */
    ph_stat_reload reloads_seen[PH_STAT_RELOADS]; /* ring, newest at (next-1) */
    int nseen, next;
    double started;              /* unix seconds at start */
} ph_sup_stats;

/* Start empty (the clock starts now). */
void ph_sup_stats_init(ph_sup_stats *st);
void ph_sup_stats_free(ph_sup_stats *st);

/* Add what `rec` counted to `c`, and its route gauges (a record let go
 * keeps only its counters: ph_sup_stats_fold). Returns 0 or -1 (no memory:
 * a route's counters are lost, logged). */
int ph_stat_add_record(ph_stat_counters *c, const ph_board_record *rec);

/* The record of a worker that is gone is let go: keep its counts. */
void ph_sup_stats_fold(ph_sup_stats *st, const ph_board_record *rec);

/* A reload was decided. `why` is NULL when it succeeded. */
void ph_sup_stats_reload(ph_sup_stats *st, const char *trigger, unsigned long generation, double ms,
                         const char *why);

/* Copy of `from` (routes duplicated) into *to; free with ph_stat_counters_free.
 * Returns 0 or -1. */
int ph_stat_counters_copy(ph_stat_counters *to, const ph_stat_counters *from);
void ph_stat_counters_free(ph_stat_counters *c);

/* Read the text of route slot `s` consistently (seqlock). Returns false
 * when the slot is unused or kept changing. `out` gets a copy. */
bool ph_stat_read_slot(const ph_board_route *s, ph_board_route *out);

#endif
