/* supervisor_reload.c - watching server.ini and the plugin folder, and
 * the two-phase reload: every serving worker prepares the new
 * generation, then all commit, or all abort and keep the current one. */
#include "log.h"
#include "supervisor_internal.h"
#include "watch.h"
#include "worker_channel.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plugin_loader.h"
#include "worker.h"

/* How long workers get to prepare (load and init) or commit. */
#define RELOAD_ANSWER_MS 30000

static void finish(ph_supervisor *sv);
static void stop_check(ph_supervisor *sv);

static void on_answer_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_supervisor *sv = arg;
    if (sv->reload.checking) {
        sv->reload.check_timed_out = true;
        kill(sv->reload.check.pid, SIGKILL); /* its reaping gives the verdict */
        return;
    }
    for (int i = 0; i < PH_BOARD_RECORDS; i++) {
        ph_proc *p = &sv->procs[i];
        if (p->pid <= 0 || (p->reload != PH_PROC_PREPARING && p->reload != PH_PROC_COMMITTING))
            continue;
        if (!sv->reload.refusal[0])
            snprintf(sv->reload.refusal, sizeof sv->reload.refusal,
                     "worker %d (pid %d) did not answer within %d ms; it is restarted", p->slot, (int)p->pid,
                     RELOAD_ANSWER_MS);
        kill(p->pid, SIGKILL); /* stuck in a plugin's init: its death is reported and it respawns */
    }
}

int ph_sup_reload_setup(ph_supervisor *sv)
{
    sv->reload.timer = evtimer_new(sv->base, on_answer_timeout, sv);
    return sv->reload.timer ? 0 : -1;
}

static void clear(ph_supervisor *sv)
{
    ph_sup_reload_state *r = &sv->reload;
    if (r->fd >= 0)
        close(r->fd);
    if (r->map_fd >= 0)
        close(r->map_fd);
    ph_config_free(r->config);
    free(r->versions);
    stop_check(sv);
    r->fd = -1;
    r->map_fd = -1;
    r->config = NULL;
    r->versions = NULL;
    r->active = false;
    r->committing = false;
    if (r->timer)
        event_del(r->timer);
    for (int i = 0; i < PH_BOARD_RECORDS; i++)
        sv->procs[i].reload = PH_PROC_IDLE;
}

void ph_sup_reload_teardown(ph_supervisor *sv)
{
    clear(sv);
    if (sv->reload.timer)
        event_free(sv->reload.timer);
    sv->reload.timer = NULL;
}

static void on_files_changed(void *arg, const char *what)
{
    char trigger[300];
    snprintf(trigger, sizeof trigger, "change of %s", what);
    ph_sup_reload(arg, trigger);
}

void ph_sup_watch_update(ph_supervisor *sv)
{
    const ph_server_conf *sc = &sv->good_config->server;
    if (!sc->watch) {
        if (sv->watch)
            ph_log_info("watch = false: no longer watching for changes (SIGHUP still reloads)");
        ph_sup_watch_stop(sv);
        return;
    }
    if (sv->watch && ph_watch_is_for(sv->watch, sv->config_path, sc->plugin_dir))
        return;
    ph_sup_watch_stop(sv);
    sv->watch = ph_watch_start(sv->base, sv->config_path, sc->plugin_dir, on_files_changed, sv);
}

void ph_sup_watch_stop(ph_supervisor *sv)
{
    ph_watch_stop(sv->watch);
    sv->watch = NULL;
}

/* Warn about [server] settings a reload cannot apply to running workers. */
static void report_static_changes(const ph_server_conf *old, const ph_server_conf *new)
{
    if (strcmp(old->listen, new->listen) != 0)
        ph_log_warn("reload: listen changed from %s to %s; this needs a restart, still listening on %s",
                    old->listen, new->listen, old->listen);
    if (old->sync_threads != new->sync_threads || old->sync_queue != new->sync_queue)
        ph_log_warn("reload: sync_threads/sync_queue changed; running workers keep %d threads and a queue of %d, "
                    "new and recycled workers use the new values",
                    old->sync_threads, old->sync_queue);
}

/* Kill and forget a check still running (stopping, teardown). */
static void stop_check(ph_supervisor *sv)
{
    ph_sup_reload_state *r = &sv->reload;
    if (!r->checking)
        return;
    if (r->check_ev)
        event_free(r->check_ev);
    r->check_ev = NULL;
    if (r->check.pid > 0) {
        kill(r->check.pid, SIGKILL);
        waitpid(r->check.pid, NULL, 0);
    }
    if (r->check.report_fd >= 0)
        close(r->check.report_fd);
    ph_loader_remove_dir(r->check.copy_dir);
    ph_check_forget_described(&r->check);
    r->checking = false;
}

static void reject(ph_supervisor *sv, const char *why)
{
    ph_log_error("reload (%s) rejected, still serving generation %lu: %s", sv->reload.trigger, sv->good_number, why);
    ph_sup_stats_reload(&sv->stats, sv->reload.trigger, sv->good_number, (ph_sup_now() - sv->reload.started) * 1e3,
                        why);
    finish(sv);
}

/* Every plugin is checked: hand the generation to the workers. */
static void send_prepare(ph_supervisor *sv)
{
    ph_sup_reload_state *r = &sv->reload;
    ph_ctl_msg map_msg = {.type = PH_CTL_MAP, .generation = r->number};
    ph_ctl_msg msg = {.type = PH_CTL_PREPARE, .generation = r->number};
    for (int i = 0; i < PH_BOARD_RECORDS; i++) {
        ph_proc *p = &sv->procs[i];
        if (p->pid <= 0 || p->state != PH_PROC_READY)
            continue;
        if (ph_ctl_send(p->ctl, &map_msg, r->map_fd) < 0 || ph_ctl_send(p->ctl, &msg, r->fd) < 0) {
            ph_log_warn("worker %d (pid %d): cannot send the reload; it is restarted", p->slot, (int)p->pid);
            ph_sup_retire(sv, p, "unreachable");
            continue;
        }
        p->reload = PH_PROC_PREPARING;
        r->workers++;
    }
    struct timeval tv = {RELOAD_ANSWER_MS / 1000, 0};
    event_add(r->timer, &tv);
    ph_sup_reload_prepared(sv, NULL, NULL); /* decides at once when no worker serves */
}

/* The check's report and its exit are both in: judge. */
static void check_verdict(ph_supervisor *sv)
{
    ph_sup_reload_state *r = &sv->reload;
    if (!r->checking || r->check.pid > 0 || r->check.report_fd >= 0)
        return;
    if (r->check_ev)
        event_free(r->check_ev);
    r->check_ev = NULL;
    r->checking = false;
    event_del(r->timer);
    char err[1700];
    ph_sup_describing describing = {.sv = sv, .versions = r->versions};
    if (ph_check_finish(&r->check, r->config, r->check_timed_out, ph_sup_plugins_described, &describing, err,
                        sizeof err) < 0) {
        reject(sv, err);
        return;
    }
    ph_sup_plugins_checked(sv, r->config, r->versions);
    send_prepare(sv);
}

static void on_check_report(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_supervisor *sv = arg;
    if (ph_check_read(&sv->reload.check) == 1) {
        event_free(sv->reload.check_ev);
        sv->reload.check_ev = NULL;
        check_verdict(sv);
    }
}

bool ph_sup_reload_check_reaped(ph_supervisor *sv, pid_t pid, int status)
{
    ph_sup_reload_state *r = &sv->reload;
    if (!r->checking || pid != r->check.pid)
        return false;
    r->check.pid = -1;
    r->check.wait_status = status;
    check_verdict(sv);
    return true;
}

/* Start reload `trigger` of the config in memfd `fd` (taken over). */
static void start(ph_supervisor *sv, const char *trigger, int fd, ph_config *config)
{
    ph_sup_reload_state *r = &sv->reload;
    *r = (ph_sup_reload_state){.active = true, .number = sv->good_number + 1, .fd = fd, .map_fd = -1,
                               .config = config, .started = ph_sup_now(), .timer = r->timer,
                               .config_hash = ph_sup_fd_hash(fd)};
    snprintf(r->trigger, sizeof r->trigger, "%s", trigger);
    report_static_changes(&sv->good_config->server, &config->server);
    char err[1700];
    size_t *unchecked = NULL, n = 0;
    r->map_fd = ph_sup_plugins_resolve(sv, config, r->config_hash, &r->versions, &unchecked, &n, err, sizeof err);
    if (r->map_fd < 0) {
        reject(sv, err);
        return;
    }
    if (n == 0) {
        free(unchecked);
        send_prepare(sv);
        return;
    }
    int rc = ph_check_start(&r->check, config, unchecked, n, false, &sv->privileges, err, sizeof err);
    free(unchecked);
    if (rc < 0) {
        reject(sv, err);
        return;
    }
    r->checking = true;
    r->check_ev = event_new(sv->base, r->check.report_fd, EV_READ | EV_PERSIST, on_check_report, sv);
    if (!r->check_ev || event_add(r->check_ev, NULL) < 0) {
        reject(sv, "cannot watch the plugin check");
        return;
    }
    uint64_t ms = config->server.load_timeout_ms;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    event_add(r->timer, &tv);
}

void ph_sup_reload(ph_supervisor *sv, const char *trigger)
{
    ph_sup_reload_state *r = &sv->reload;
    if (sv->stopping)
        return;
    if (r->active) {
        r->again = true; /* the files may have changed again: look once more afterwards */
        snprintf(r->again_trigger, sizeof r->again_trigger, "%s", trigger);
        return;
    }
    char err[1700];
    ph_config *config = NULL;
    int fd = ph_sup_snapshot_config(sv->config_path, &config, err, sizeof err);
    if (fd < 0) {
        ph_log_error("reload (%s) rejected, still serving generation %lu: %s", trigger, sv->good_number, err);
        ph_sup_stats_reload(&sv->stats, trigger, sv->good_number, 0, err);
        return;
    }
    start(sv, trigger, fd, config);
}

void ph_sup_reload_good(ph_supervisor *sv, const char *trigger)
{
    if (sv->stopping)
        return;
    if (sv->reload.active) { /* the reload after it applies the pin too */
        sv->reload.again = true;
        snprintf(sv->reload.again_trigger, sizeof sv->reload.again_trigger, "%s", trigger);
        return;
    }
    char err[1700];
    ph_config *config = NULL;
    int fd = ph_sup_snapshot_config_fd(sv->good_fd, sv->config_path, &config, err, sizeof err);
    if (fd < 0) {
        ph_log_error("reload (%s) failed: cannot copy the serving config: %s", trigger, err);
        return;
    }
    start(sv, trigger, fd, config);
}

static int count(const ph_supervisor *sv, ph_proc_reload state)
{
    int n = 0;
    for (int i = 0; i < PH_BOARD_RECORDS; i++)
        n += sv->procs[i].pid > 0 && sv->procs[i].reload == state;
    return n;
}

/* Every worker said yes: the new generation is the good one; commit. */
static void commit(ph_supervisor *sv)
{
    ph_sup_reload_state *r = &sv->reload;
    close(sv->good_fd);
    close(sv->good_map_fd);
    ph_config_free(sv->good_config);
    sv->good_fd = r->fd;
    sv->good_map_fd = r->map_fd;
    sv->good_hash = r->config_hash;
    sv->good_config = r->config;
    sv->good_number = r->number;
    ph_sup_plugins_committed(sv, sv->good_config, r->versions, r->number);
    r->versions = NULL; /* now the good generation's */
    r->fd = -1;
    r->map_fd = -1;
    r->config = NULL;
    r->committing = true;
    ph_log_set_level(sv->good_config->server.log_level);
    ph_ctl_msg msg = {.type = PH_CTL_COMMIT, .generation = r->number};
    for (int i = 0; i < PH_BOARD_RECORDS; i++) {
        ph_proc *p = &sv->procs[i];
        if (p->pid > 0 && p->reload == PH_PROC_PREPARED) {
            p->reload = PH_PROC_COMMITTING;
            if (ph_ctl_send(p->ctl, &msg, -1) < 0)
                ph_sup_retire(sv, p, "unreachable during a commit");
        }
    }
    ph_sup_reload_committed(sv, NULL, NULL);
}

void ph_sup_reload_prepared(ph_supervisor *sv, ph_proc *p, const ph_ctl_msg *msg)
{
    ph_sup_reload_state *r = &sv->reload;
    if (p && msg) {
        if (!r->active || r->committing || msg->generation != r->number || p->reload != PH_PROC_PREPARING)
            return; /* an answer to a reload already decided */
        p->reload = msg->ok ? PH_PROC_PREPARED : PH_PROC_IDLE;
        if (!msg->ok && !r->refusal[0])
            snprintf(r->refusal, sizeof r->refusal, "worker %d (pid %d) refused: %.1500s", p->slot, (int)p->pid,
                     msg->text);
    }
    if (!r->active || r->committing || count(sv, PH_PROC_PREPARING) > 0)
        return;
    if (!r->refusal[0]) {
        commit(sv);
        return;
    }
    ph_ctl_msg abort_msg = {.type = PH_CTL_ABORT, .generation = r->number};
    for (int i = 0; i < PH_BOARD_RECORDS; i++) {
        if (sv->procs[i].pid > 0 && sv->procs[i].reload == PH_PROC_PREPARED)
            ph_ctl_send(sv->procs[i].ctl, &abort_msg, -1);
    }
    reject(sv, r->refusal);
}

void ph_sup_reload_committed(ph_supervisor *sv, ph_proc *p, const ph_ctl_msg *msg)
{
    ph_sup_reload_state *r = &sv->reload;
    if (p && msg) {
        if (!r->committing || p->reload != PH_PROC_COMMITTING || msg->generation != r->number)
            return;
        p->reload = PH_PROC_IDLE;
        p->generation = (unsigned long)msg->generation;
    }
    if (!r->active || !r->committing || count(sv, PH_PROC_COMMITTING) > 0)
        return;
    ph_log_info("reload (%s): generation %lu serving %zu routes on %d workers, took %.1f ms", r->trigger, r->number,
                sv->good_config->nroutes, r->workers, (ph_sup_now() - r->started) * 1e3);
    ph_sup_stats_reload(&sv->stats, r->trigger, r->number, (ph_sup_now() - r->started) * 1e3, NULL);
    finish(sv);
}

/* The reload is decided: follow the new settings, replace workers still
 * on an older generation, take the next trigger. */
static void finish(ph_supervisor *sv)
{
    bool again = sv->reload.again;
    char trigger[320];
    snprintf(trigger, sizeof trigger, "%s", sv->reload.again_trigger);
    clear(sv);
    sv->reload.again = false;
    ph_sup_watch_update(sv);
    ph_sup_admin_update(sv);
    int target = ph_sup_target_workers(sv->good_config);
    if (target != sv->target)
        ph_log_info("reload: workers %d → %d", sv->target, target);
    sv->target = target;
    for (int i = 0; i < PH_BOARD_RECORDS; i++) {
        ph_proc *p = &sv->procs[i];
        if (p->pid <= 0 || p->state == PH_PROC_RETIRING)
            continue;
        if (p->slot > target)
            ph_sup_retire(sv, p, "no longer wanted (workers lowered)");
        else if (p->state == PH_PROC_READY && p->generation != sv->good_number)
            ph_sup_retire(sv, p, "still on an older generation");
        else if (p->state == PH_PROC_STARTING)
            ph_sup_settle_started(sv, p); /* loaded during the reload: GO, or replaced */
    }
    ph_sup_fill_slots(sv);
    if (again)
        ph_sup_reload(sv, trigger);
}

void ph_sup_reload_forget(ph_supervisor *sv, ph_proc *p, bool died_preparing)
{
    ph_sup_reload_state *r = &sv->reload;
    ph_proc_reload was = p->reload;
    p->reload = PH_PROC_IDLE;
    if (!r->active)
        return;
    if (was == PH_PROC_PREPARING) {
        /* A death in the new generation's init() refuses it; any other
         * (a crash of the version being replaced, a kill) just leaves the
         * worker out: its replacement catches up after the switch. */
        if (!died_preparing)
            r->workers--;
        else if (!r->refusal[0])
            snprintf(r->refusal, sizeof r->refusal, "worker %d (pid %d) died while preparing it", p->slot,
                     (int)p->pid);
        ph_sup_reload_prepared(sv, NULL, NULL);
    } else if (was == PH_PROC_COMMITTING) {
        ph_sup_reload_committed(sv, NULL, NULL);
    } else if (was == PH_PROC_PREPARED) {
        ph_sup_reload_prepared(sv, NULL, NULL);
    }
}

void ph_sup_reload_cancel(ph_supervisor *sv)
{
    if (sv->reload.active)
        ph_log_info("reload (%s) abandoned: stopping", sv->reload.trigger);
    clear(sv);
}
