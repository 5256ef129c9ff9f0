/* supervisor.c - keeping the workers: start, respawn with back-off,
 * death reports from the board, recycling, graceful stop, binary upgrade.
 * Reload coordination is in supervisor_reload.c. Main thread only. */
#include "supervisor.h"

#include "board.h"
#include "file_copy.h"
#include "listen_socket.h"
#include "log.h"
#include "plugin_loader.h"
#include "supervisor_internal.h"
#include "worker.h"
#include "worker_channel.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QUICK_DEATH_S 10.0   /* a worker dying sooner after its start counts towards back-off */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
#define STOP_GRACE_MS 5000   /* after drain_timeout, before SIGKILL */

extern char **environ;

double ph_sup_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ph_sup_target_workers(const ph_config *config)
{
    int n = config->server.workers;
    if (n == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)(cores > PH_SUP_MAX_SLOTS ? PH_SUP_MAX_SLOTS : cores) : 1;
    }
    return n;
}

int ph_sup_live_count(const ph_supervisor *sv, ph_proc_state state)
{
    int n = 0;
    for (int i = 0; i < PH_BOARD_RECORDS; i++)
        n += sv->procs[i].pid > 0 && sv->procs[i].state == state;
    return n;
}

static void on_control(evutil_socket_t fd, short what, void *arg);

void ph_sup_publish_accepting(ph_supervisor *sv)
{
    ph_board_index *idx = &sv->board->accepting;
    int n = 0;
    for (int i = 0; i < PH_BOARD_RECORDS && n < PH_BOARD_INDEX_MAX; i++) {
        if (sv->procs[i].pid > 0 && sv->procs[i].state == PH_PROC_READY)
            atomic_store_explicit(&idx->records[n++], i, memory_order_relaxed);
    }
    atomic_store_explicit(&idx->count, n, memory_order_release);
}

/* Build the environment of a new worker: ours plus PH_WORKER_ENV.
 * Returns a malloc'd array (strings borrowed but the last) or NULL. */
static char **worker_environment(const ph_worker_spec *spec)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    char *mine = malloc(128);
    if (!env || !mine) {
        free(env);
        free(mine);
        return NULL;
    }
    size_t k = 0;
    size_t prefix = strlen(PH_WORKER_ENV);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], PH_WORKER_ENV, prefix) != 0 || environ[i][prefix] != '=')
            env[k++] = environ[i];
    }
    int used = snprintf(mine, 128, "%s=", PH_WORKER_ENV);
    ph_worker_spec_format(spec, mine + used, 128 - (size_t)used);
    env[k++] = mine;
    env[k] = NULL;
    return env;
}

/* Child side of a spawn, between fork and exec: async-signal-safe only. */
static void exec_worker(const ph_supervisor *sv, const ph_worker_spec *spec, char *const *argv, char *const *env)
{
    const int keep[] = {spec->listen_fd, spec->control_fd, spec->board_fd, spec->config_fd, spec->map_fd};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        if (fcntl(keep[i], F_SETFD, 0) < 0)
            _exit(127);
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* besides the channel's end-of-file */
    sigset_t held; /* until the worker's loop handles them: a stop then drains it, never kills it */
    sigemptyset(&held);
    for (size_t i = 0; i < sizeof ph_worker_held_signals / sizeof ph_worker_held_signals[0]; i++)
        sigaddset(&held, ph_worker_held_signals[i]);
    sigprocmask(SIG_BLOCK, &held, NULL);
    if (ph_priv_drop(&sv->privileges) < 0) {
        static const char msg[] = "plughost: worker: cannot switch to the configured user\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        _exit(126);
    }
    fexecve(sv->exe_fd, argv, env); /* the running binary even if its file was replaced */
    _exit(127);
}

int ph_sup_spawn(ph_supervisor *sv, int slot)
{
    int rec = -1;
    for (int i = 0; i < PH_BOARD_RECORDS && rec < 0; i++) {
        if (sv->procs[i].pid == 0)
            rec = i;
    }
    int pair[2] = {-1, -1};
    if (rec < 0 || ph_ctl_pair(pair) < 0) {
        ph_log_error("cannot start worker %d: %s", slot, rec < 0 ? "too many processes" : strerror(errno));
        return -1;
    }
    ph_worker_spec spec = {.id = slot, .record = rec, .listen_fd = sv->listen_fd, .control_fd = pair[1],
                           .board_fd = sv->board_fd, .config_fd = sv->good_fd, .map_fd = sv->good_map_fd,
                           .generation = sv->good_number};
    char name[32];
    snprintf(name, sizeof name, "plughost: worker %d", slot);
    char *argv[] = {name, "-c", (char *)sv->config_path, NULL};
    char **env = worker_environment(&spec);
    ph_board_reset(&sv->board->records[rec]);
    pid_t pid = env ? fork() : -1;
    if (pid == 0)
        exec_worker(sv, &spec, argv, env);
    int saved = errno;
    if (env) {
        for (int i = 0; env[i]; i++) {
            if (strncmp(env[i], PH_WORKER_ENV "=", strlen(PH_WORKER_ENV) + 1) == 0)
                free(env[i]);
        }
        free(env);
    }
    close(pair[1]);
    if (pid < 0) {
        ph_log_error("cannot start worker %d: %s", slot, strerror(saved));
        close(pair[0]);
        return -1;
    }
    ph_proc *p = &sv->procs[rec];
    *p = (ph_proc){.pid = pid, .slot = slot, .record = rec, .ctl = pair[0], .state = PH_PROC_STARTING,
                   .started = ph_sup_now(), .sv_back = sv};
    atomic_store(&sv->board->records[rec].pid, pid);
    p->ctl_ev = event_new(sv->base, pair[0], EV_READ | EV_PERSIST, on_control, p);
    if (!p->ctl_ev || event_add(p->ctl_ev, NULL) < 0)
        ph_log_error("worker %d (pid %d): cannot watch its control channel", slot, (int)pid);
    ph_log_info("worker %d (pid %d) starting on generation %lu", slot, (int)pid, sv->good_number);
    return 0;
}

void ph_sup_retire(ph_supervisor *sv, ph_proc *p, const char *why)
{
    (void)sv;
    if (p->pid <= 0 || p->state == PH_PROC_RETIRING)
        return;
    ph_log_info("worker %d (pid %d): %s; it drains and exits", p->slot, (int)p->pid, why);
    p->state = PH_PROC_RETIRING;
    ph_sup_publish_accepting(sv);
    kill(p->pid, SIGTERM);
}

/* Back-off before the next start of `slot` after a death. */
static int backoff_ms(ph_slot *s)
{
    if (s->quick_deaths <= 1)
        return 0;
    long ms = (long)BACKOFF_MIN_MS << (s->quick_deaths - 2 > 12 ? 12 : s->quick_deaths - 2);
    return ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : (int)ms;
}

/* Start what is due: a slot below the target without a live worker. */
static void on_respawn_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_supervisor *sv = arg;
    ph_sup_fill_slots(sv);
}

void ph_sup_fill_slots(ph_supervisor *sv)
{
    if (sv->stopping)
        return;
    double now = ph_sup_now();
    double next_due = 0;
    for (int slot = 1; slot <= sv->target; slot++) {
        bool live = false;
        for (int i = 0; i < PH_BOARD_RECORDS && !live; i++)
            live = sv->procs[i].pid > 0 && sv->procs[i].slot == slot && sv->procs[i].state != PH_PROC_RETIRING;
        if (live)
            continue;
        ph_slot *s = &sv->slots[slot];
        if (s->respawn_at <= now) {
            ph_sup_spawn(sv, slot);
            continue;
        }
        if (next_due == 0 || s->respawn_at < next_due)
            next_due = s->respawn_at;
    }
    if (next_due > 0) {
        double wait = next_due - now;
        struct timeval tv = {.tv_sec = (time_t)wait, .tv_usec = (suseconds_t)((wait - (double)(time_t)wait) * 1e6)};
        event_add(sv->respawn_timer, &tv);
    }
}

/* Describe how the worker ended, with what its board record says, into
 * out. Returns true when it died by a plugin's fault. */
static bool describe_death(const ph_proc *p, const ph_board_record *rec, int status, char *out, size_t len)
{
    int in_flight = atomic_load(&rec->in_flight);
    int conns = atomic_load(&rec->connections);
    const ph_crash_record *cr = &rec->crash;
    bool written = atomic_load_explicit(&cr->written, memory_order_acquire) == 1;
    int n;
    if (WIFEXITED(status))
        n = snprintf(out, len, "worker %d (pid %d) exited with status %d with %d requests in flight on about %d "
                     "connections", p->slot, (int)p->pid, WEXITSTATUS(status), in_flight, conns);
    else
        n = snprintf(out, len, "worker %d (pid %d) killed by SIG%s%s with %d requests in flight on about %d "
                     "connections", p->slot, (int)p->pid,
                     sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?",
                     written && cr->external ? " (sent by another process)" : "", in_flight, conns);
    if (n < 0 || (size_t)n >= len)
        return false;
    if (!WIFSIGNALED(status) || !written || cr->external)
        return false;
    if (!cr->marked) {
        snprintf(out + n, len - (size_t)n, ", outside plugin code (%s thread)", cr->thread);
        return false;
    }
    snprintf(out + n, len - (size_t)n, ", in route %s: plugin %s version %s (%s), %s on the %s thread", cr->route,
             cr->plugin, cr->version, cr->mode, cr->what, cr->thread);
    return true;
}

/* Log the backtrace a crashed worker left, one line per frame. */
static void log_backtrace(const ph_proc *p, const ph_crash_record *cr)
{
    if (atomic_load_explicit(&cr->written, memory_order_acquire) != 1 || !cr->backtrace[0])
        return;
    char bt[sizeof cr->backtrace];
    memcpy(bt, cr->backtrace, sizeof bt);
    bt[sizeof bt - 1] = '\0';
    ph_log_error("worker %d (pid %d) backtrace (addr2line -e FILE OFFSET):", p->slot, (int)p->pid);
    char *save = NULL;
    for (char *line = strtok_r(bt, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        ph_log_error("  %s", line);
}

/* Remove what a dead worker left in its plugin-copy folder (a copy is
 * unlinked once loaded, but a worker can die while copying). Only a
 * folder the loader would have made: the name comes from the board. */
static void remove_copy_dir(const char *dir)
{
    if (dir[0] == '/' && strstr(dir, "/plughost-"))
        ph_loader_remove_dir(dir);
}

static void release_proc(ph_supervisor *sv, ph_proc *p)
{
    char dir[sizeof sv->board->records[0].copy_dir];
    memcpy(dir, sv->board->records[p->record].copy_dir, sizeof dir);
    dir[sizeof dir - 1] = '\0';
    remove_copy_dir(dir);
    ph_sup_stats_fold(&sv->stats, &sv->board->records[p->record]); /* its counts outlive it */
    if (p->ctl_ev)
        event_free(p->ctl_ev);
    if (p->ctl >= 0)
        close(p->ctl);
    atomic_store(&sv->board->records[p->record].pid, 0);
    *p = (ph_proc){.ctl = -1, .sv_back = sv};
}

/* A worker process ended with wait status `status`. */
static void on_worker_exit(ph_supervisor *sv, ph_proc *p, int status)
{
    const ph_board_record *rec = &sv->board->records[p->record];
    char line[1400];
    bool expected = p->state == PH_PROC_RETIRING;
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    describe_death(p, rec, status, line, sizeof line);
    if (expected && clean) {
        ph_log_info("worker %d (pid %d) drained and exited", p->slot, (int)p->pid);
    } else if (expected) {
        ph_log_error("%s while draining", line);
        log_backtrace(p, &rec->crash);
        if (p->told_to_stop)
            sv->exit_status = 1; /* the stop was not clean (under ASan: a leak report) */
    } else {
        ph_log_error("%s%s", line, sv->stopping || !sv->serving ? "" : "; starting a new one");
        log_backtrace(p, &rec->crash);
    }
    const ph_crash_record *cr = &rec->crash;
    bool plugin_fault = WIFSIGNALED(status) && atomic_load_explicit(&cr->written, memory_order_acquire) == 1 &&
                        cr->marked && !cr->external;
    char crashed_plugin[sizeof cr->plugin];
    snprintf(crashed_plugin, sizeof crashed_plugin, "%s", plugin_fault ? cr->plugin : "");
    unsigned long crashed_generation = atomic_load(&rec->generation);
    if (plugin_fault)
        sv->stats.plugin_crashes++;
    if (!expected || !clean)
        sv->stats.worker_exits++;
    bool sent_from_outside = atomic_load(&cr->written) == 1 && cr->external;
    int slot = p->slot;
    double lived = ph_sup_now() - p->started;
    bool was_ready = p->state != PH_PROC_STARTING;
    ph_sup_reload_forget(sv, p, plugin_fault && strcmp(cr->what, "init()") == 0);
    release_proc(sv, p);
    ph_sup_publish_accepting(sv);
    if (!sv->serving && !expected) {
        ph_log_error("worker %d could not start serving; stopping", slot);
        sv->exit_status = 1;
        ph_sup_stop(sv, "startup failed");
    }
    if (sv->stopping) {
        if (ph_sup_live_count(sv, PH_PROC_STARTING) + ph_sup_live_count(sv, PH_PROC_READY) +
                ph_sup_live_count(sv, PH_PROC_RETIRING) == 0)
            event_base_loopbreak(sv->base);
        return;
    }
    if (crashed_plugin[0] && ph_sup_plugins_crashed(sv, crashed_plugin, sv->good_hash, crashed_generation)) {
        char trigger[sizeof crashed_plugin + 32];
        snprintf(trigger, sizeof trigger, "rollback of %s", crashed_plugin);
        ph_sup_reload_good(sv, trigger);
    }
    if (expected)
        return; /* a replacement already serves its slot */
    ph_slot *s = &sv->slots[slot];
    if (sent_from_outside) /* an operator's kill says nothing about a crash loop */
        s->quick_deaths = 0;
    else
        s->quick_deaths = lived < QUICK_DEATH_S || !was_ready ? s->quick_deaths + 1 : 1;
    int delay = backoff_ms(s);
    if (delay > 0)
        ph_log_warn("worker %d died %d times in a row within %.0f s of its start; next start in %d ms", slot,
                    s->quick_deaths, QUICK_DEATH_S, delay);
    s->respawn_at = ph_sup_now() + delay / 1000.0;
    ph_sup_fill_slots(sv);
}

static void reap_children(ph_supervisor *sv)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        if (pid == sv->upgrade_pid) {
            ph_sup_upgrade_ended(sv, status);
            continue;
        }
        if (ph_sup_reload_check_reaped(sv, pid, status))
            continue;
        for (int i = 0; i < PH_BOARD_RECORDS; i++) {
            if (sv->procs[i].pid == pid) {
                on_worker_exit(sv, &sv->procs[i], status);
                break;
            }
        }
    }
}

void ph_sup_let_serve(ph_supervisor *sv, ph_proc *p)
{
    if (ph_ctl_sendf(p->ctl, PH_CTL_GO, p->generation, 1, "%s", "") < 0) {
        ph_sup_retire(sv, p, "unreachable");
        return;
    }
    p->state = PH_PROC_READY;
    ph_sup_publish_accepting(sv);
    /* An old worker this one replaces (recycling) now drains. */
    for (int i = 0; i < PH_BOARD_RECORDS; i++) {
        ph_proc *old = &sv->procs[i];
        if (old != p && old->pid > 0 && old->slot == p->slot && old->state == PH_PROC_READY && old->replaced)
            ph_sup_retire(sv, old, "replaced");
    }
    if (!sv->serving && ph_sup_live_count(sv, PH_PROC_READY) >= sv->target) {
        sv->serving = true;
        char where[96];
        ph_log_info("listening on %s", ph_listen_describe(sv->listen_fd, where, sizeof where));
        ph_log_info("generation %lu serving %zu routes on %d workers", sv->good_number, sv->good_config->nroutes,
                    sv->target);
        ph_sup_upgrade_tell_ready(sv);
    }
}

void ph_sup_settle_started(ph_supervisor *sv, ph_proc *p)
{
    if (p->pid <= 0 || p->state != PH_PROC_STARTING || !p->loaded || sv->reload.active || sv->stopping)
        return;
    if (p->generation == sv->good_number) {
        ph_sup_let_serve(sv, p);
        return;
    }
    /* it started before the switch: it never accepted; start another */
    ph_sup_retire(sv, p, "started on a generation that is no longer current");
    ph_sup_fill_slots(sv);
}

/* A worker `p` has loaded generation `number` and waits for GO: it
 * serves at once if that is the current one; during a reload it waits
 * for the outcome (finish() settles it). */
static void on_ready(ph_supervisor *sv, ph_proc *p, unsigned long number)
{
    p->generation = number;
    p->loaded = true;
    ph_sup_settle_started(sv, p);
}

/* The worker asks to be replaced (max_requests, stuck threads, RSS): its
 * replacement starts now and it drains once that one serves. */
static void on_recycle(ph_supervisor *sv, ph_proc *p, const char *why)
{
    if (sv->stopping || p->state != PH_PROC_READY || p->replaced)
        return;
    ph_log_info("worker %d (pid %d) is recycled: %s", p->slot, (int)p->pid, why);
    p->replaced = true;
    if (ph_sup_spawn(sv, p->slot) < 0)
        p->replaced = false;
}

static void on_control(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    ph_proc *p = arg;
    ph_supervisor *sv = p->sv_back;
    for (;;) {
        ph_ctl_msg msg;
        int mfd;
        int rc = ph_ctl_recv(fd, &msg, &mfd);
        if (mfd >= 0)
            close(mfd);
        if (rc == 0) {
            event_del(p->ctl_ev); /* the worker is gone; SIGCHLD tells the rest */
            return;
        }
        if (rc < 0)
            return;
        switch (msg.type) {
        case PH_CTL_READY: on_ready(sv, p, (unsigned long)msg.generation); break;
        case PH_CTL_PREPARED: ph_sup_reload_prepared(sv, p, &msg); break;
        case PH_CTL_COMMITTED: ph_sup_reload_committed(sv, p, &msg); break;
        case PH_CTL_RECYCLE: on_recycle(sv, p, msg.text); break;
        default: ph_log_error("worker %d: unexpected message %u", p->slot, msg.type); break;
        }
        if (p->pid <= 0)
            return; /* released meanwhile */
    }
}

static void on_kill_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_supervisor *sv = arg;
    for (int i = 0; i < PH_BOARD_RECORDS; i++) {
        if (sv->procs[i].pid > 0) {
            ph_log_error("worker %d (pid %d) still running after its drain; killing it", sv->procs[i].slot,
                         (int)sv->procs[i].pid);
            kill(sv->procs[i].pid, SIGKILL);
            sv->exit_status = 1;
        }
    }
}

void ph_sup_stop(ph_supervisor *sv, const char *why)
{
    if (sv->stopping)
        return;
    sv->stopping = true;
    int live = 0;
    for (int i = 0; i < PH_BOARD_RECORDS; i++)
        live += sv->procs[i].pid > 0;
    ph_log_info("%s: stopping %d workers (each drains up to %llu ms)", why, live,
                (unsigned long long)sv->good_config->server.drain_timeout_ms);
    ph_sup_reload_cancel(sv);
    ph_sup_watch_stop(sv);
    if (sv->listen_fd >= 0) {
        close(sv->listen_fd); /* the workers close theirs as they drain */
        sv->listen_fd = -1;
    }
    for (int i = 0; i < PH_BOARD_RECORDS; i++) {
        ph_proc *p = &sv->procs[i];
        if (p->pid > 0 && p->state != PH_PROC_RETIRING) { /* a retiring one drains already */
            p->state = PH_PROC_RETIRING;
            p->told_to_stop = true;
            kill(p->pid, SIGTERM);
        }
    }
    ph_sup_publish_accepting(sv);
    uint64_t ms = sv->good_config->server.drain_timeout_ms + STOP_GRACE_MS;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    event_add(sv->kill_timer, &tv);
    if (live == 0)
        event_base_loopbreak(sv->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    ph_supervisor *sv = arg;
    switch (sig) {
    case SIGCHLD: reap_children(sv); return;
    case SIGHUP: ph_sup_reload(sv, "SIGHUP"); return;
    case SIGUSR2: ph_sup_upgrade(sv); return;
    case SIGUSR1: /* logrotate's habit: passed on to every worker */
        for (int i = 0; i < PH_BOARD_RECORDS; i++) {
            if (sv->procs[i].pid > 0)
                kill(sv->procs[i].pid, SIGUSR1);
        }
        ph_log_info("SIGUSR1: passed on to the workers; logs go to stderr, which the process manager owns");
        return;
    default:
        break;
    }
    if (sv->stopping) {
        ph_log_warn("%s again: workers exit without waiting", strsignal((int)sig));
        for (int i = 0; i < PH_BOARD_RECORDS; i++) {
            if (sv->procs[i].pid > 0)
                kill(sv->procs[i].pid, SIGTERM);
        }
        return;
    }
    ph_sup_stop(sv, strsignal((int)sig));
}

/* plughost -l: replaces `listen` in every parse of the config. */
static const char *listen_override;

/* Copy the config file into a new memfd (what the workers will parse) and
 * parse it. Returns the fd with *config, or -1 with the reason in err. */
int ph_sup_snapshot_config_fd(int in, const char *path, ph_config **config, char *err, size_t errlen)
{
    int fd = memfd_create("server.ini", MFD_CLOEXEC);
    if (fd < 0 || ph_file_copy_fd(in, fd) < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *config = ph_worker_read_config(fd, path, err, errlen);
    if (*config && listen_override && ph_config_override_listen(*config, listen_override, err, errlen) < 0) {
        ph_config_free(*config);
        *config = NULL;
    }
    if (!*config) {
        close(fd);
        return -1;
    }
    return fd;
}

int ph_sup_snapshot_config(const char *path, ph_config **config, char *err, size_t errlen)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int fd = ph_sup_snapshot_config_fd(in, path, config, err, errlen);
    close(in);
    return fd;
}

/* Bind the listening socket, or take over the one an old supervisor
 * handed down. Returns 0 or -1 (logged). "listening on" is logged once
 * the workers serve: a config no worker can load never claims to listen. */
static int open_listener(ph_supervisor *sv)
{
    char err[512];
    const char *handed = getenv(PH_UPGRADE_ENV);
    if (handed) {
        int lfd = -1, rfd = -1;
        if (sscanf(handed, "%d,%d", &lfd, &rfd) != 2 || !ph_listen_is_listening(lfd)) {
            ph_log_error("%s='%s' does not name a listening socket", PH_UPGRADE_ENV, handed);
            return -1;
        }
        unsetenv(PH_UPGRADE_ENV);
        fcntl(lfd, F_SETFD, FD_CLOEXEC);
        fcntl(rfd, F_SETFD, FD_CLOEXEC);
        sv->listen_fd = lfd;
        sv->upgrade_ready_fd = rfd;
    } else {
        const ph_server_conf *sc = &sv->good_config->server;
        sv->listen_fd = ph_listen_bind(sc->listen_host, sc->listen_port, err, sizeof err);
        if (sv->listen_fd < 0) {
            ph_log_error("%s", err);
            return -1;
        }
        fcntl(sv->listen_fd, F_SETFD, FD_CLOEXEC);
    }
    return 0;
}

static int setup(ph_supervisor *sv)
{
    const int sigs[PH_SUP_SIGNALS] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD};
    sv->base = event_base_new();
    if (!sv->base)
        return -1;
    sv->respawn_timer = evtimer_new(sv->base, on_respawn_timer, sv);
    sv->kill_timer = evtimer_new(sv->base, on_kill_timer, sv);
    if (!sv->respawn_timer || !sv->kill_timer || ph_sup_reload_setup(sv) < 0)
        return -1;
    for (int i = 0; i < PH_SUP_SIGNALS; i++) {
        sv->signals[i] = evsignal_new(sv->base, sigs[i], on_signal, sv);
        if (!sv->signals[i] || event_add(sv->signals[i], NULL) < 0)
            return -1;
    }
    sv->board_fd = ph_board_create(&sv->board);
    if (sv->board_fd < 0 || open_listener(sv) < 0)
        return -1;
    fcntl(sv->board_fd, F_SETFD, FD_CLOEXEC);
    for (int i = 0; i < PH_BOARD_RECORDS; i++)
        sv->procs[i] = (ph_proc){.ctl = -1, .sv_back = sv};
    ph_sup_watch_update(sv);
    ph_sup_admin_update(sv);
    return 0;
}

static void teardown(ph_supervisor *sv)
{
    for (int i = 0; i < PH_BOARD_RECORDS; i++) {
        if (sv->procs[i].pid > 0) {
            kill(sv->procs[i].pid, SIGKILL);
            waitpid(sv->procs[i].pid, NULL, 0);
            release_proc(sv, &sv->procs[i]);
        }
    }
    ph_sup_watch_stop(sv);
    ph_sup_admin_teardown(sv);
    ph_sup_reload_teardown(sv);
    ph_sup_upgrade_teardown(sv);
    for (int i = 0; i < PH_SUP_SIGNALS; i++) {
        if (sv->signals[i])
            event_free(sv->signals[i]);
    }
    if (sv->respawn_timer)
        event_free(sv->respawn_timer);
    if (sv->kill_timer)
        event_free(sv->kill_timer);
    if (sv->board)
        munmap(sv->board, sizeof(ph_board));
    if (sv->board_fd >= 0)
        close(sv->board_fd);
    if (sv->listen_fd >= 0)
        close(sv->listen_fd);
    if (sv->good_fd >= 0)
        close(sv->good_fd);
    if (sv->exe_fd >= 0)
        close(sv->exe_fd);
    if (sv->good_map_fd >= 0)
        close(sv->good_map_fd);
    ph_sup_plugins_teardown(sv);
    ph_config_free(sv->good_config);
    ph_sup_stats_free(&sv->stats);
    if (sv->base)
        event_base_free(sv->base);
}

/* Trust, snapshot and check (in a throwaway process) every plugin of the
 * first generation, before any worker starts. Returns 0 or -1 with err
 * set. */
static int first_generation(ph_supervisor *sv, char *err, size_t errlen)
{
    if (ph_sup_plugins_setup(sv, err, errlen) < 0)
        return -1;
    sv->good_hash = ph_sup_fd_hash(sv->good_fd);
    ph_plugin_version **versions = NULL;
    size_t *unchecked = NULL, n = 0;
    sv->good_map_fd = ph_sup_plugins_resolve(sv, sv->good_config, sv->good_hash, &versions, &unchecked, &n, err, errlen);
    if (sv->good_map_fd < 0)
        return -1;
    ph_sup_describing describing = {.sv = sv, .versions = versions};
    int rc = ph_check_run(sv->good_config, unchecked, n, true, &sv->privileges, ph_sup_plugins_described, &describing,
                          err, errlen);
    free(unchecked);
    if (rc < 0) {
        free(versions);
        return -1;
    }
    ph_sup_plugins_checked(sv, sv->good_config, versions);
    ph_sup_plugins_committed(sv, sv->good_config, versions, sv->good_number);
    return 0;
}

int ph_supervisor_run(const char *config_path, const char *listen, char *const argv[])
{
    listen_override = listen;
    static ph_supervisor sv; /* large (the process table); one per process */
    sv = (ph_supervisor){.config_path = config_path, .argv = argv, .listen_fd = -1, .board_fd = -1,
                         .good_fd = -1, .good_map_fd = -1, .upgrade_ready_fd = -1, .upgrade_pipe = -1,
                         .upgrade_pid = -1, .reload = {.fd = -1, .map_fd = -1}, .exe_fd = -1,
                         .good_number = 1};
    signal(SIGPIPE, SIG_IGN);
    ph_log_set_tag(NULL);
    ph_sup_stats_init(&sv.stats);
    if (!realpath("/proc/self/exe", sv.exe))
        snprintf(sv.exe, sizeof sv.exe, "%s", argv[0]);
    /* An fd, not the /proc/self/exe path: exec'ing that path runs
     * valgrind's tool instead of plughost under valgrind (callgrind runs of
     * the benchmarks), while the fd is the binary itself either way. */
    sv.exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (sv.exe_fd < 0) {
        fprintf(stderr, "plughost: cannot open /proc/self/exe to start workers: %s\n", strerror(errno));
        return 1;
    }
    char err[2048];
    sv.good_fd = ph_sup_snapshot_config(config_path, &sv.good_config, err, sizeof err);
    if (sv.good_fd < 0) {
        fprintf(stderr, "plughost: %s\n", err);
        close(sv.exe_fd);
        return 1;
    }
    ph_log_set_level(sv.good_config->server.log_level);
    sv.target = ph_sup_target_workers(sv.good_config);
    if (first_generation(&sv, err, sizeof err) < 0) {
        fprintf(stderr, "plughost: %s\n", err);
        teardown(&sv);
        return 1;
    }
    if (setup(&sv) < 0) {
        ph_log_error("cannot start the supervisor");
        teardown(&sv);
        return 1;
    }
    ph_sup_fill_slots(&sv);
    event_base_dispatch(sv.base);
    ph_log_info("stopped");
    int status = sv.exit_status;
    teardown(&sv);
    return status;
}
