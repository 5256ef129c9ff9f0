/* supervisor_internal.h - the supervisor's state, shared by its three
 * files: supervisor.c (keeping workers), supervisor_reload.c (watching
 * and coordinating reloads), supervisor_upgrade.c (handing over to a new
 * binary). Main thread only; not for other modules. */
#ifndef PH_SUPERVISOR_INTERNAL_H
#define PH_SUPERVISOR_INTERNAL_H

#include "board.h"
#include "config.h"
#include "plugin_check.h"
#include "plugin_store.h"
#include "privileges.h"
#include "supervisor_stats.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PH_SUP_MAX_SLOTS 256
#define PH_SUP_SIGNALS 6

struct event_base;
struct event;
struct ph_watch;
struct ph_ctl_msg;
struct evhttp;
struct evbuffer;
typedef struct ph_supervisor ph_supervisor;
typedef struct ph_plugin_history ph_plugin_history;

/* What a checked plugin version declares for GET /openapi.json. */
typedef struct ph_sup_declared {
    char *snapshot;          /* the version's snapshot path (the key) */
    ph_check_describe text;
} ph_sup_declared;

typedef enum ph_proc_state {
    PH_PROC_STARTING, /* started; loaded (READY) or not, not yet told GO */
    PH_PROC_READY,    /* told GO: accepting, serving */
    PH_PROC_RETIRING, /* told to drain (stop, recycle, stale) */
} ph_proc_state;

typedef enum ph_proc_reload {
    PH_PROC_IDLE,       /* not part of the reload in progress */
    PH_PROC_PREPARING,  /* PREPARE sent, no answer yet */
    PH_PROC_PREPARED,   /* answered yes */
    PH_PROC_COMMITTING, /* COMMIT sent, no answer yet */
} ph_proc_reload;

/* One worker process; indexed by its board record. */
typedef struct ph_proc {
    pid_t pid;              /* 0: free entry */
    int slot;               /* the position 1..target it fills */
    int record;             /* board record = index in procs */
    int ctl;                /* supervisor's end of the control channel */
    struct event *ctl_ev;
    ph_proc_state state;
    ph_proc_reload reload;
    unsigned long generation; /* the generation it serves */
    double started;         /* monotonic seconds */
    bool replaced;          /* recycling: a replacement is starting */
    bool told_to_stop;      /* by the supervisor's own stop: must exit cleanly */
    bool loaded;            /* said READY: its generation is loaded, it waits for GO */
    ph_supervisor *sv_back;
} ph_proc;

/* Back-off state of one position. */
typedef struct ph_slot {
    int quick_deaths;       /* deaths in a row soon after a start */
    double respawn_at;      /* monotonic seconds; 0 = at once */
} ph_slot;

/* A reload in progress: every READY worker prepares, then all commit. */
typedef struct ph_sup_reload {
    bool active;
    bool committing;
    unsigned long number;
    int fd;                 /* memfd of the new server.ini */
    int map_fd;             /* memfd of its plugin map */
    uint64_t config_hash;
    ph_config *config;
    ph_plugin_version **versions; /* per route; NULL = disabled */
    bool checking;          /* the throwaway plugin check runs */
    bool check_timed_out;
    ph_check check;
    struct event *check_ev; /* its report pipe */
    char trigger[320];
    char refusal[1700];     /* the first worker's reason to refuse */
    double started;
    int workers;            /* how many took part */
    bool again;             /* another trigger came meanwhile */
    char again_trigger[320];
    struct event *timer;    /* answer deadline */
} ph_sup_reload_state;

struct ph_supervisor {
    const char *config_path;
    char *const *argv;
    char exe[PATH_MAX];      /* this binary's path at start, for upgrades */
    int exe_fd;              /* this binary, open since start: workers are fexecve'd from it */
    struct event_base *base;
    int listen_fd;
    int board_fd;
    ph_board *board;
    unsigned long good_number; /* the generation workers start on */
    int good_fd;               /* its server.ini, as a memfd */
    int good_map_fd;           /* its plugin map, as a memfd */
    uint64_t good_hash;        /* of good_fd's bytes */
    ph_config *good_config;
    ph_plugin_version **good_versions; /* per route of good_config */
    ph_plugin_store *store;
    ph_privileges privileges;
    ph_plugin_history *history;
    char **checked;            /* what passed the throwaway check */
    size_t nchecked;
    ph_sup_declared *declared; /* per checked plugin version that declares something */
    size_t ndeclared;
    int target;                /* workers wanted */
    bool serving;              /* the first generation came up */
    bool stopping;
    int exit_status;
    ph_proc procs[PH_BOARD_RECORDS];
    ph_slot slots[PH_SUP_MAX_SLOTS + 1];
    struct event *respawn_timer;
    struct event *kill_timer;
    struct event *signals[PH_SUP_SIGNALS];
    struct ph_watch *watch;
    ph_sup_reload_state reload;
    pid_t upgrade_pid;         /* the new binary being started, or -1 */
    int upgrade_pipe;          /* its readiness pipe (read end), or -1 */
    struct event *upgrade_ev;
    int upgrade_ready_fd;      /* as the new binary: tell the old one here */
    ph_sup_stats stats;        /* totals for the admin listener */
    struct evhttp *admin;      /* the admin listener, or NULL (off, or not bound yet) */
    char admin_bound[300];     /* the address it is bound to */
    struct event *admin_retry; /* binding again each second while the address is taken */
};

/* supervisor.c */
double ph_sup_now(void);
int ph_sup_target_workers(const ph_config *config);
int ph_sup_live_count(const ph_supervisor *sv, ph_proc_state state);
/* Start a worker for `slot` on the good generation. Returns 0 or -1. */
int ph_sup_spawn(ph_supervisor *sv, int slot);
/* Start workers for slots that have none and whose back-off is over. */
void ph_sup_fill_slots(ph_supervisor *sv);
/* Write the board's index of workers that accept connections. */
void ph_sup_publish_accepting(ph_supervisor *sv);
/* Tell loaded worker `p` to accept connections (GO); it serves from now. */
void ph_sup_let_serve(ph_supervisor *sv, ph_proc *p);
/* A loaded worker still waiting for GO: let it serve when it holds the
 * good generation, replace it when it holds an older one; nothing while
 * a reload is under way (finish() calls this again). */
void ph_sup_settle_started(ph_supervisor *sv, ph_proc *p);
/* SIGTERM `p`: it drains and exits; no respawn for it. */
void ph_sup_retire(ph_supervisor *sv, ph_proc *p, const char *why);
/* Stop every worker (drain), then leave the loop. Idempotent. */
void ph_sup_stop(ph_supervisor *sv, const char *why);
/* Copy server.ini into a memfd and parse it (with `-l` applied). Returns
 * the fd or -1 with err set. */
int ph_sup_snapshot_config(const char *path, ph_config **config, char *err, size_t errlen);
/* The same from the open file `in` (read from its start), named `path`. */
int ph_sup_snapshot_config_fd(int in, const char *path, ph_config **config, char *err, size_t errlen);

/* supervisor_reload.c */
int ph_sup_reload_setup(ph_supervisor *sv);
void ph_sup_reload_teardown(ph_supervisor *sv);
/* Start a reload (or queue it behind the one in progress). */
void ph_sup_reload(ph_supervisor *sv, const char *trigger);
void ph_sup_reload_prepared(ph_supervisor *sv, ph_proc *p, const struct ph_ctl_msg *msg);
void ph_sup_reload_committed(ph_supervisor *sv, ph_proc *p, const struct ph_ctl_msg *msg);
/* `p` is gone: it no longer takes part in the reload. `died_preparing`:
 * it crashed in a plugin's init() (the new generation's fault). */
void ph_sup_reload_forget(ph_supervisor *sv, ph_proc *p, bool died_preparing);
/* Stopping: abandon a reload in progress. */
void ph_sup_reload_cancel(ph_supervisor *sv);
/* Follow `watch` and `plugin_dir` of the good generation. */
void ph_sup_watch_update(ph_supervisor *sv);
void ph_sup_watch_stop(ph_supervisor *sv);

/* Start a reload of the good config itself (a rollback pinned a
 * plugin version): no file is read again. */
void ph_sup_reload_good(ph_supervisor *sv, const char *trigger);
/* The plugin check child `pid` ended with `status`. Returns true when it
 * was the check's. */
bool ph_sup_reload_check_reaped(ph_supervisor *sv, pid_t pid, int status);

/* supervisor_plugins.c */
int ph_sup_plugins_setup(ph_supervisor *sv, char *err, size_t errlen);
void ph_sup_plugins_teardown(ph_supervisor *sv);
uint64_t ph_sup_fd_hash(int fd);
/* Trust checks, snapshots and pins for every route of `config`: sets
 * each route's plugin_source (or plugin_disabled), returns the map memfd
 * with the chosen versions (malloc'd, per route) and the routes not yet
 * checked (malloc'd), or -1 with err set. */
int ph_sup_plugins_resolve(ph_supervisor *sv, ph_config *config, uint64_t config_hash, ph_plugin_version ***versions,
                           size_t **unchecked, size_t *nunchecked, char *err, size_t errlen);
/* The arg of ph_sup_plugins_described: the routes' chosen versions. */
typedef struct ph_sup_describing {
    ph_supervisor *sv;
    ph_plugin_version *const *versions; /* per route of the checked config */
} ph_sup_describing;
/* A ph_check_describe_fn (arg: ph_sup_describing): remember what route
 * `route`'s plugin version declares, until the store drops the version. */
void ph_sup_plugins_described(size_t route, const ph_check_describe *d, void *arg);
/* What the plugin serving route `route` of the good generation declares,
 * or NULL (nothing declared, or disabled). */
const ph_check_describe *ph_sup_plugins_declared(const ph_supervisor *sv, size_t route);
/* The check passed: remember it for these routes. */
void ph_sup_plugins_checked(ph_supervisor *sv, const ph_config *config, ph_plugin_version *const *versions);
/* `versions` (taken over) serve now, from generation `number` on. */
void ph_sup_plugins_committed(ph_supervisor *sv, const ph_config *config, ph_plugin_version **versions,
                              unsigned long number);
/* A worker serving `generation` crashed in plugin `path`. Crashes of
 * workers still on an older version, or while its rollback is under way,
 * do not count. Returns true when that made a rollback due (pinned; the
 * caller reloads the good config). */
bool ph_sup_plugins_crashed(ph_supervisor *sv, const char *path, uint64_t config_hash, unsigned long generation);

/* supervisor_admin.c: the admin listener (metrics, status, health,
 * OpenAPI), on the supervisor's loop, never on the public listener */
/* Bind, move or close the admin listener as the good config's
 * admin_listen says. A taken address is retried each second (the old
 * binary still holds it during an upgrade). */
void ph_sup_admin_update(ph_supervisor *sv);
void ph_sup_admin_teardown(ph_supervisor *sv);
/* Totals now: the folded ones plus every live worker's record. Returns 0
 * or -1 (no memory). Free with ph_stat_counters_free. */
int ph_sup_admin_counters(const ph_supervisor *sv, ph_stat_counters *out);
/* True while the supervisor serves a generation and is not stopping. */
bool ph_sup_admin_ready(const ph_supervisor *sv);

/* supervisor_metrics.c: the Prometheus text exposition of the totals. */
int ph_sup_metrics_render(const ph_supervisor *sv, struct evbuffer *out);

/* supervisor_status.c: the JSON status document (routes, plugins,
 * workers, pool, loop, reloads). Returns malloc'd text or NULL. */
char *ph_sup_status_json(const ph_supervisor *sv);

/* supervisor_openapi.c: OpenAPI 3.0 document of the serving routes.
 * Returns malloc'd text or NULL. */
char *ph_sup_openapi_json(const ph_supervisor *sv);

/* supervisor_upgrade.c */
/* SIGUSR2: start the binary at sv->exe with the listening socket. */
void ph_sup_upgrade(ph_supervisor *sv);
/* The new binary's process ended (waitpid status). */
void ph_sup_upgrade_ended(ph_supervisor *sv, int status);
/* As the new binary: every worker serves; tell the old supervisor. */
void ph_sup_upgrade_tell_ready(ph_supervisor *sv);
void ph_sup_upgrade_teardown(ph_supervisor *sv);

#endif
