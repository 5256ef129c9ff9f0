/* worker.c - a worker process's life: start from the supervisor's
 * parameters, the control channel (reload steps, supervisor gone), and
 * asking to be recycled. */
#include "worker.h"

#include "board.h"
#include "crash_handler.h"
#include "generation.h"
#include "host_api.h"
#include "log.h"
#include "plugin_loader.h"
#include "plugin_map.h"
#include "reload.h"
#include "request_life.h"
#include "server.h"
#include "worker_channel.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECYCLE_CHECK_MS 100

/* The worker's loop-thread state beside its server. */
typedef struct worker {
    ph_worker_spec spec;
    const char *config_path;
    ph_server *srv;
    struct event control_ev;  /* event_assign'd: freed with the base */
    struct event recycle_ev;
    ph_generation *pending;   /* prepared, waiting for COMMIT or ABORT */
    int next_map_fd;          /* the plugin map for the next PREPARE, or -1 */
    unsigned long recycle_at; /* max_requests with this worker's jitter; 0 = off */
    bool recycle_asked;
    unsigned ticks;
} worker;

void ph_worker_spec_format(const ph_worker_spec *s, char *out, size_t outlen)
{
    snprintf(out, outlen, "%d,%d,%d,%d,%d,%d,%d,%lu", s->id, s->record, s->listen_fd, s->control_fd, s->board_fd,
             s->config_fd, s->map_fd, s->generation);
}

static int spec_parse(const char *text, ph_worker_spec *s)
{
    int used = 0;
    if (sscanf(text, "%d,%d,%d,%d,%d,%d,%d,%lu%n", &s->id, &s->record, &s->listen_fd, &s->control_fd, &s->board_fd,
               &s->config_fd, &s->map_fd, &s->generation, &used) != 8 ||
        text[used] != '\0' || s->id < 1)
        return -1;
    return 0;
}

ph_config *ph_worker_read_config(int fd, const char *config_path, char *err, size_t errlen)
{
    /* pread, not read: the supervisor and every worker share the memfd's
     * file offset, and several workers read it at once */
    struct stat st;
    char *text = NULL;
    FILE *f = NULL;
    if (fstat(fd, &st) == 0 && (text = malloc((size_t)st.st_size + 1)) &&
        pread(fd, text, (size_t)st.st_size, 0) == (ssize_t)st.st_size)
        f = st.st_size > 0 ? fmemopen(text, (size_t)st.st_size, "r") : fopen("/dev/null", "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read the config handed over by the supervisor: %s", config_path,
                 strerror(errno));
        free(text);
        return NULL;
    }
    ph_config *config = ph_config_load_stream(f, config_path, err, errlen);
    fclose(f);
    free(text);
    return config;
}

static void drop_pending(worker *w)
{
    if (w->pending)
        ph_generation_unref(w->pending);
    w->pending = NULL;
}

/* The config in memfd `fd` with the plugin map in `map_fd` applied, or
 * NULL with err set. */
static ph_config *read_config_and_map(int fd, int map_fd, const char *config_path, char *err, size_t errlen)
{
    if (fd < 0 || map_fd < 0) {
        snprintf(err, errlen, "no config or plugin map came with the reload");
        return NULL;
    }
    ph_config *config = ph_worker_read_config(fd, config_path, err, errlen);
    if (config && ph_plugin_map_apply_fd(config, map_fd, err, errlen) < 0) {
        ph_config_free(config);
        config = NULL;
    }
    return config;
}

/* PREPARE: build the generation from the config in `fd`, answer. */
static void on_prepare(worker *w, const ph_ctl_msg *msg, int fd)
{
    char err[1536];
    drop_pending(w);
    ph_config *config = read_config_and_map(fd, w->next_map_fd, w->config_path, err, sizeof err);
    if (config)
        w->pending = ph_reload_prepare(w->srv, config, (unsigned long)msg->generation, err, sizeof err);
    if (w->pending)
        ph_ctl_sendf(w->spec.control_fd, PH_CTL_PREPARED, msg->generation, 1, "%s", "");
    else
        ph_ctl_sendf(w->spec.control_fd, PH_CTL_PREPARED, msg->generation, 0, "%s", err);
}

static void on_commit(worker *w, const ph_ctl_msg *msg)
{
    if (!w->pending || w->pending->number != msg->generation) {
        ph_log_error("commit of generation %lu, which this worker has not prepared; ignored",
                     (unsigned long)msg->generation);
        return;
    }
    ph_reload_commit(w->srv, w->pending);
    w->pending = NULL;
    atomic_store_explicit(&ph_board_self()->generation, (unsigned long)msg->generation, memory_order_relaxed);
    ph_ctl_sendf(w->spec.control_fd, PH_CTL_COMMITTED, msg->generation, 1, "%s", "");
}

static void on_control(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    worker *w = arg;
    for (;;) {
        ph_ctl_msg msg;
        int mfd;
        int rc = ph_ctl_recv(fd, &msg, &mfd);
        if (rc == 0) {
            event_del(&w->control_ev);
            ph_server_begin_drain(w->srv, "the supervisor is gone");
            return;
        }
        if (rc < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                ph_log_error("control channel: %s", strerror(errno));
            return;
        }
        switch (msg.type) {
        case PH_CTL_MAP:
            if (w->next_map_fd >= 0)
                close(w->next_map_fd);
            w->next_map_fd = mfd;
            mfd = -1;
            break;
        case PH_CTL_PREPARE: on_prepare(w, &msg, mfd); break;
        case PH_CTL_COMMIT: on_commit(w, &msg); break;
        case PH_CTL_ABORT: drop_pending(w); break;
        case PH_CTL_GO: ph_server_accept(w->srv, true); break;
        default: ph_log_error("control channel: unexpected message %u", msg.type); break;
        }
        if (mfd >= 0)
            close(mfd);
    }
}

/* Resident set size in bytes, or 0 when unknown. */
static size_t current_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Why this worker should be replaced now, into why; false when it
 * should not. */
static bool wants_recycling(worker *w, char *why, size_t len)
{
    const ph_server_conf *sc = ph_server_conf_now(w->srv);
    if (sc->max_requests > 0 && !w->recycle_at) {
        unsigned long jitter = (unsigned long)getpid() % ((unsigned long)sc->max_requests / 10 + 1);
        w->recycle_at = (unsigned long)sc->max_requests + jitter; /* workers do not all leave at once */
    }
    const ph_life_counts *n = ph_life_counts_now();
    if (w->recycle_at && n->requests_done >= w->recycle_at) {
        snprintf(why, len, "served %lu requests (max_requests = %d)", n->requests_done, sc->max_requests);
        return true;
    }
    if (sc->max_stuck_sync > 0 && n->stuck_sync >= sc->max_stuck_sync) {
        snprintf(why, len, "%d sync threads stuck past their route timeout (max_stuck_sync = %d)", n->stuck_sync,
                 sc->max_stuck_sync);
        return true;
    }
    if (sc->max_worker_rss > 0 && w->ticks % 10 == 0) {
        size_t rss = current_rss();
        if (rss > sc->max_worker_rss) {
            snprintf(why, len, "RSS %zu KiB above max_worker_rss (%zu KiB)", rss >> 10, sc->max_worker_rss >> 10);
            return true;
        }
    }
    return false;
}

static void on_recycle_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker *w = arg;
    ph_board_record *rec = ph_board_self();
    w->ticks++;
    atomic_store_explicit(&rec->connections, w->srv->nconns, memory_order_relaxed);
    atomic_store_explicit(&rec->requests_done, ph_life_counts_now()->requests_done, memory_order_relaxed);
    char why[256];
    if (w->recycle_asked || w->srv->draining || !wants_recycling(w, why, sizeof why))
        return;
    w->recycle_asked = true;
    ph_log_info("asking to be replaced: %s", why);
    ph_ctl_sendf(w->spec.control_fd, PH_CTL_RECYCLE, w->srv->gen->number, 1, "%s", why);
}

/* The server is set up: hook in the control channel, say READY. */
static int on_server_ready(ph_server *srv, void *arg)
{
    worker *w = arg;
    w->srv = srv;
    struct timeval tick = {0, RECYCLE_CHECK_MS * 1000};
    if (event_assign(&w->control_ev, srv->base, w->spec.control_fd, EV_READ | EV_PERSIST, on_control, w) < 0 ||
        event_add(&w->control_ev, NULL) < 0 ||
        event_assign(&w->recycle_ev, srv->base, -1, EV_PERSIST, on_recycle_check, w) < 0 ||
        event_add(&w->recycle_ev, &tick) < 0)
        return -1;
    atomic_store_explicit(&ph_board_self()->generation, srv->gen->number, memory_order_relaxed);
    ph_server_accept(srv, false); /* until the supervisor says GO */
    if (ph_ctl_sendf(w->spec.control_fd, PH_CTL_READY, srv->gen->number, 1, "%s", "") < 0) {
        ph_log_error("cannot reach the supervisor: %s", strerror(errno));
        return -1;
    }
    sigset_t held; /* the loop handles them now: a stop that came early drains */
    sigemptyset(&held);
    for (size_t i = 0; i < sizeof ph_worker_held_signals / sizeof ph_worker_held_signals[0]; i++)
        sigaddset(&held, ph_worker_held_signals[i]);
    pthread_sigmask(SIG_UNBLOCK, &held, NULL);
    return 0;
}

int ph_worker_main(const char *config_path, const char *env_value)
{
    worker w = {.config_path = config_path, .next_map_fd = -1};
    if (spec_parse(env_value, &w.spec) < 0) {
        fprintf(stderr, "plughost: %s='%s' is not a worker description\n", PH_WORKER_ENV, env_value);
        return 2;
    }
    unsetenv(PH_WORKER_ENV); /* not for plugins or their children */
    char tag[32];
    snprintf(tag, sizeof tag, "worker %d", w.spec.id);
    ph_log_set_tag(tag);
    prctl(PR_SET_NAME, "plughost-w", 0, 0, 0);
    if (ph_board_attach(w.spec.board_fd, w.spec.record) < 0 || ph_crash_handler_install("loop") < 0)
        return 1;
    close(w.spec.board_fd);
    ph_host_api_set_loop_thread();
    if (ph_loader_init() < 0)
        return 1;
    snprintf(ph_board_self()->copy_dir, sizeof ph_board_self()->copy_dir, "%s", ph_loader_copy_dir());
    char err[2048];
    ph_config *config = read_config_and_map(w.spec.config_fd, w.spec.map_fd, config_path, err, sizeof err);
    close(w.spec.config_fd);
    close(w.spec.map_fd);
    ph_generation *gen = config ? ph_generation_build(config, NULL, w.spec.generation, err, sizeof err) : NULL;
    if (!gen) {
        ph_log_error("%s", err);
        ph_loader_cleanup();
        return PH_WORKER_EXIT_CONFIG;
    }
    ph_log_set_level(gen->config->server.log_level);
    int status = ph_server_run(gen, config_path, w.spec.id, w.spec.listen_fd, on_server_ready, &w);
    drop_pending(&w);
    if (w.next_map_fd >= 0)
        close(w.next_map_fd);
    close(w.spec.control_fd);
    ph_loader_cleanup();
    return status;
}
