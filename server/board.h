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

/* One worker process. */
typedef struct ph_board_record {
    atomic_int pid;               /* the worker's pid; 0 when free */
    atomic_int in_flight;         /* requests dispatched, not finished */
    atomic_int connections;       /* open client connections (kept current by the worker) */
    atomic_ulong generation;      /* the generation it serves */
    atomic_ulong requests_done;   /* requests finished since start */
    char copy_dir[256];           /* its private plugin-copy folder, removed after its death */
    ph_crash_record crash;
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

#endif
