/* board.h - the supervisor's notice board: one shared-memory record per
 * worker process, which the worker writes (cheaply, without locks) and the
 * supervisor reads, also after the worker died. It carries what a dead
 * worker can no longer say: how many requests it had in flight and, when
 * a plugin crashed it, which route, plugin and version were running on the
 * faulting thread, with a short backtrace.
 *
 * The board is a memfd mapped MAP_SHARED by the supervisor and by every
 * worker it starts (the fd is inherited across exec). Fields a worker
 * updates while serving are atomics with relaxed order: the supervisor
 * only ever needs a recent value. */
#ifndef PH_BOARD_H
#define PH_BOARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Records on the board: workers plus their replacements while old ones
 * drain (workers is at most 256). */
#define PH_BOARD_RECORDS 640

/* Written once by the worker's fatal-signal handler, read by the
 * supervisor after the death. `marked` says whether the faulting thread
 * was running plugin code (and so whether the text fields mean anything). */
typedef struct ph_crash_record {
    atomic_int written;  /* 1 once the handler has filled the record */
    int signal;          /* the fatal signal */
    int external;        /* sent by another process (kill), not a fault */
    int marked;          /* the faulting thread was inside plugin code */
    char route[128];     /* route pattern, e.g. "/items/{id}" */
    char plugin[512];    /* plugin file as configured */
    char version[48];    /* the plugin's declared version */
    char mode[8];        /* "sync" or "async" */
    char what[48];       /* "handle()", "timer callback", "init()", ... */
    char thread[16];     /* "loop" or "pool" */
    char backtrace[3072];/* frames, one per line: "  #0 /path/x.so+0x1139" */
} ph_crash_record;

/* Per-route counters a worker keeps for the admin listener's metrics
 * (supervisor_stats.c adds them up). A slot belongs to one route pattern
 * for the record's whole life: the worker claims it the first time a
 * generation with that pattern goes live (worker_metrics.c) and never
 * gives it back, so counters by pattern survive reloads. Slot 0 counts
 * requests no route matched ("(none)"); the last slot takes every
 * pattern beyond the table ("(other)"). The text fields are guarded by
 * `seq` (odd while the worker rewrites them: a seqlock); the counters
 * only grow, and only the worker's loop thread writes them. */
#define PH_BOARD_ROUTES 32
#define PH_BOARD_LATENCY_BUCKETS 12 /* upper bounds in ph_board_latency_le; the last is +Inf */
#define PH_BOARD_LAG_BUCKETS 8      /* upper bounds in ph_board_lag_le; the last is +Inf */
static const double ph_board_latency_le[PH_BOARD_LATENCY_BUCKETS] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                                    0.25,  0.5,   1,    2.5,   10,   1e300};
static const double ph_board_lag_le[PH_BOARD_LAG_BUCKETS] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 1e300};

typedef struct ph_board_route {
    atomic_uint seq;              /* seqlock over the text fields below; 0 = slot unused */
    char pattern[128];            /* "/items/{id}" */
    char plugin_file[256];        /* as configured: <plugin_dir>/<name>.so */
    char plugin_name[64];         /* the plugin's declared name */
    char plugin_version[32];      /* its declared version */
    char mode[8];                 /* "sync" or "async" */
    unsigned methods;             /* PH_METHOD_* bits */
    unsigned long generation;     /* the generation that made its current instance live here */
    double loaded_at;             /* unix seconds it went live in this worker */
    atomic_ulong status[5];       /* finished requests by status class 1xx..5xx */
    atomic_ulong latency[PH_BOARD_LATENCY_BUCKETS]; /* by duration bucket (not cumulative) */
    atomic_ulong latency_us;      /* sum of durations, microseconds */
    /* its bulkhead (route_gate.h), summed over the generations serving it */
    atomic_int inflight;          /* requests holding a place (running or pending) */
    atomic_int queued;            /* requests waiting in its queue */
    atomic_ulong rejected;        /* answered 503 for want of room (its queue or the pool's) */
    atomic_int threads;           /* its own pool's threads; 0 = the worker's pool */
    atomic_int max_inflight;      /* its limit (0 = none) and queue, as the serving generation has them */
    atomic_int queue;
} ph_board_route;

/* One worker process. */
typedef struct ph_board_record {
    atomic_int pid;               /* the worker's pid; 0 when free */
    atomic_int in_flight;         /* requests dispatched, not finished */
    atomic_int connections;       /* open client connections (kept current by the worker) */
    atomic_ulong generation;      /* the generation it serves */
    atomic_ulong requests_done;   /* requests finished since start */
    char copy_dir[256];           /* its private plugin-copy folder, removed after its death */
    ph_crash_record crash;
    /* ---- metrics (worker_metrics.c writes, supervisor_stats.c reads) ---- */
    atomic_int sync_threads;      /* its pool's threads */
    atomic_int sync_pending;      /* sync jobs queued or running */
    atomic_ulong sync_rejected;   /* sync requests refused with 503 (queue full) */
    atomic_ulong lag[PH_BOARD_LAG_BUCKETS]; /* loop-lag probes by bucket (not cumulative) */
    atomic_ulong lag_us;          /* sum of measured lags, microseconds */
    ph_board_route routes[PH_BOARD_ROUTES];
} ph_board_record;

/* Which records belong to workers that accept connections now, kept by
 * the supervisor (a worker reads it to take its fair share). */
#define PH_BOARD_INDEX_MAX 512
typedef struct ph_board_index {
    atomic_int count;
    atomic_int records[PH_BOARD_INDEX_MAX];
} ph_board_index;

/* The whole shared mapping. */
typedef struct ph_board {
    ph_board_index accepting;
    ph_board_record records[PH_BOARD_RECORDS];
} ph_board;

/* Supervisor: create the board. Returns the memfd (to be inherited by
 * workers) and maps it at *board, or -1 (logged). */
int ph_board_create(ph_board **board);

/* Worker: map the board inherited as `fd` and pick record `index` as this
 * process's own. Returns 0 or -1 (logged). */
int ph_board_attach(int fd, int index);

/* This process's own record, or NULL when it runs without a supervisor
 * (plughost -t, unit tests). Any thread; async-signal-safe. */
ph_board_record *ph_board_self(void);

/* The whole board as a worker sees it, or NULL without a supervisor. */
const ph_board *ph_board_shared(void);

/* Supervisor: clear record `rec` for a new worker. */
void ph_board_reset(ph_board_record *rec);

/* Bump a counter of this process's record, if it has one. Any thread. */
static inline void ph_board_add(atomic_int *field, int delta)
{
    atomic_fetch_add_explicit(field, delta, memory_order_relaxed);
}

/* Add to a counter only one thread of the record's worker writes (the
 * loop thread): a relaxed load and store, without the cost of a locked
 * read-modify-write; readers still see whole values. */
static inline void ph_board_bump(atomic_ulong *field, unsigned long delta)
{
    atomic_store_explicit(field, atomic_load_explicit(field, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}

/* ph_board_bump for a figure that goes up and down (a gate's in flight
 * and queued: two generations of a pattern share its slot, and their
 * figures add up). */
static inline void ph_board_show(atomic_int *field, int delta)
{
    atomic_store_explicit(field, atomic_load_explicit(field, memory_order_relaxed) + delta, memory_order_relaxed);
}

/* Index of the bucket of `value` among `n` upper bounds `le` (the last
 * is +Inf). */
static inline int ph_board_bucket(const double *le, int n, double value)
{
    int i = 0;
    while (i < n - 1 && value > le[i])
        i++;
    return i;
}

#endif
