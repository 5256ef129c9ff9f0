/* server.c - one worker: accepting from the shared listening socket,
 * signals, the generation switch, drain, and the loop. */
#include "server.h"

#include "access_log.h"
#include "accept_balance.h"
#include "dispatch.h"
#include "fetch.h"
#include "host_api.h"
#include "http_conn.h"
#include "http_response.h"
#include "log.h"
#include "offload.h"
#include "real_ip.h"
#include "request_life.h"
#include "request_timer.h"
#include "route_gate.h"
#include "sdk_calls.h"
#include "watchdog.h"
#include "worker_metrics.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connections taken per wake-up of the shared socket: small, so that a
 * burst of new connections spreads over the workers racing for it. */
#define ACCEPT_BATCH 4

/* The server of this process, for the hooks of the layers below (which
 * carry no context: there is one server per worker process). */
static ph_server *serving;

const ph_server_conf *ph_server_conf_now(const ph_server *srv) { return &srv->gen->config->server; }

static void check_drained(ph_server *srv);

static void pause_accepting(ph_server *srv)
{
    if (srv->listen_ev && !srv->accept_paused)
        event_del(srv->listen_ev);
    srv->accept_paused = true;
}

static void resume_accepting(ph_server *srv)
{
    if (srv->listen_ev && srv->accept_paused && !srv->draining && !srv->accept_held)
        event_add(srv->listen_ev, NULL);
    srv->accept_paused = false;
}

/* accept() failed for want of a resource (EMFILE, ENOBUFS, ...): pause
 * 100 ms rather than spin. */
static void accept_failed(ph_server *srv, int err)
{
    ph_log_warn("accept failed: %s; pausing accepts for 100 ms", strerror(err));
    pause_accepting(srv);
    struct timeval tv = {0, 100000};
    event_add(srv->accept_resume, &tv);
}

/* Accept up to ACCEPT_BATCH pending connections. Above its fair share
 * of the workers' connections (accept_balance.h) a worker first leaves
 * them to the others for PH_ACCEPT_DEFER_MS; `force` (the deferral is
 * over, so nobody else took them) accepts regardless. */
static void accept_some(ph_server *srv, bool force)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (!force && !ph_accept_fair(srv->nconns)) {
            if (!event_pending(srv->accept_defer, EV_TIMEOUT, NULL)) {
                event_del(srv->listen_ev);
                struct timeval tv = {0, PH_ACCEPT_DEFER_MS * 1000};
                event_add(srv->accept_defer, &tv);
            }
            return;
        }
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int c = accept4(srv->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_failed(srv, errno);
            return; /* EAGAIN: another worker took it; ECONNABORTED: gone */
        }
        ph_conn_accept(c, (struct sockaddr *)&ss);
        srv->nconns = ph_conn_count();
        ph_accept_note_connections(srv->nconns);
        force = false;
        if (srv->nconns >= ph_server_conf_now(srv)->max_connections) {
            ph_log_warn("max_connections (%d) reached; not accepting until a connection closes",
                        ph_server_conf_now(srv)->max_connections);
            pause_accepting(srv);
            return;
        }
    }
}

static void on_listen_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    accept_some(arg, false);
}

/* Every second: hand connections beyond this worker's fair share back
 * (after a worker died its clients all reconnected to the survivors). */
static void on_rebalance(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_server *srv = arg;
    int excess = srv->draining ? 0 : ph_accept_excess(srv->nconns);
    if (excess > 0)
        ph_log_debug("%d connections above this worker's share: moving them on", ph_conn_shed(excess));
}

void ph_server_accept(ph_server *srv, bool on)
{
    srv->accept_held = !on;
    if (!srv->listen_ev || srv->draining)
        return;
    if (!on) {
        event_del(srv->listen_ev);
        event_del(srv->accept_defer);
    } else if (!srv->accept_paused) {
        event_add(srv->listen_ev, NULL);
    }
}

/* The deferral is over: listen again, and take what is still pending. */
static void on_accept_defer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_server *srv = arg;
    if (!srv->listen_ev || srv->accept_paused || srv->accept_held || srv->draining)
        return;
    event_add(srv->listen_ev, NULL);
    accept_some(srv, true);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_server *srv = arg;
    if (srv->nconns < ph_server_conf_now(srv)->max_connections)
        resume_accepting(srv);
}

/* The connection hook `closed`: resume accepting below max_connections,
 * finish a drain when nothing is left. */
static void on_conn_closed(void)
{
    ph_server *srv = serving;
    srv->nconns = ph_conn_count();
    ph_accept_note_connections(srv->nconns);
    if (srv->accept_paused && srv->nconns < ph_server_conf_now(srv)->max_connections &&
        !event_pending(srv->accept_resume, EV_TIMEOUT, NULL))
        resume_accepting(srv);
    check_drained(srv);
}

/* request_life's counts changed while draining: maybe the drain is done. */
static void on_life_changed(void) { check_drained(serving); }

/* In flight: requests begun and not finished, and pool jobs (sync
 * handlers, offloads; the worker's pool and the routes' own) whose done()
 * has not run. */
static int in_flight(const ph_server *srv)
{
    return ph_life_counts_now()->in_flight + ph_pool_pending(srv->pool) + ph_gate_pools_pending();
}

static void check_drained(ph_server *srv)
{
    if (srv->draining && ph_conn_count() == 0 && in_flight(srv) == 0)
        event_base_loopbreak(srv->base);
}

/* Close this worker's copy of the listening socket: the supervisor and
 * the other workers keep it, so queued connections go to them. */
static void stop_listening(ph_server *srv)
{
    if (srv->listen_ev) {
        event_free(srv->listen_ev);
        srv->listen_ev = NULL;
    }
    if (srv->listen_fd >= 0) {
        close(srv->listen_fd);
        srv->listen_fd = -1;
    }
}

void ph_server_begin_drain(ph_server *srv, const char *why)
{
    if (srv->draining)
        return;
    srv->draining = true;
    ph_life_watch(on_life_changed); /* every finish from now on may end the drain */
    stop_listening(srv);
    const ph_life_counts *n = ph_life_counts_now();
    ph_log_info("%s: draining %d connections, %d requests in flight (%d async incl. pending, %d sync or host; "
                "%d pool jobs queued or running); up to %llu ms",
                why, ph_conn_count(), n->in_flight, n->async_in_flight, n->in_flight - n->async_in_flight,
                ph_pool_pending(srv->pool), (unsigned long long)ph_server_conf_now(srv)->drain_timeout_ms);
    ph_conn_drain_all();
    uint64_t ms = ph_server_conf_now(srv)->drain_timeout_ms;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    event_add(srv->drain_timer, &tv);
    check_drained(srv);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_server *srv = arg;
    ph_log_warn("drain timeout: %d connections and %d requests still open; exiting", ph_conn_count(),
                in_flight(srv));
    event_base_loopbreak(srv->base);
}

/* The access log, trusted proxies and request counting (for the admin
 * listener) of the generation going live. */
static void apply_operator_settings(const ph_server_conf *sc)
{
    ph_alog_configure(sc->access_log, sc->access_log_json);
    ph_real_ip_configure(sc->trusted_proxies);
    ph_wmetrics_enable(sc->admin_listen != NULL);
    ph_life_timing_changed();
}

void ph_server_switch(ph_server *srv, ph_generation *gen)
{
    ph_generation *old = srv->gen;
    srv->gen = gen;
    ph_dispatch_set_generation(gen);
    const ph_server_conf *sc = ph_server_conf_now(srv);
    ph_conn_set_limits(sc);
    ph_log_set_level(sc->log_level);
    ph_watchdog_set_threshold(sc->loop_warn_ms);
    ph_fetch_set_max_connections((unsigned)sc->upstream_connections);
    ph_fetch_set_max_body(sc->upstream_max_body);
    apply_operator_settings(sc);
    ph_wmetrics_publish(gen);
    ph_generation_unref(old);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    ph_server *srv = arg;
    if (sig == SIGHUP) {
        ph_log_info("SIGHUP to a worker: reloads are the supervisor's; send it there");
        return;
    }
    if (sig == SIGUSR1) { /* logrotate moved the access log: reopen it */
        ph_alog_reopen();
        ph_life_timing_changed(); /* (a log whose first open failed may begin now) */
        return;
    }
    if (srv->draining) {
        ph_log_warn("%s again: exiting without waiting", strsignal((int)sig));
        event_base_loopbreak(srv->base);
        return;
    }
    ph_server_begin_drain(srv, strsignal((int)sig));
}

static int setup(ph_server *srv)
{
    srv->base = event_base_new();
    if (!srv->base)
        return -1;
    ph_request_timer_setup(srv->base);
    if (ph_generation_reaper_setup(srv->base) < 0)
        return -1;
    const ph_server_conf *sc = ph_server_conf_now(srv);
    ph_sdk_calls_install(); /* before the pool threads start */
    srv->pool = ph_pool_create(srv->base, sc->sync_threads, sc->sync_queue);
    ph_offload_setup(srv->pool);
    ph_life_setup(srv->base);
    ph_dispatch_setup(srv->pool, srv->worker_id);
    char err[1024] = "out of memory";
    if (ph_dispatch_setup_gates(srv->base) < 0 ||
        ph_generation_start_pools(srv->gen, NULL, srv->base, err, sizeof err) < 0) {
        ph_log_error("%s", err);
        return -1;
    }
    ph_dispatch_set_generation(srv->gen);
    static const ph_conn_hooks conn_hooks = {
        .received = ph_dispatch_request,
        .dropped = ph_life_dropped,
        .drained = ph_life_drained,
        .closed = on_conn_closed,
    };
    ph_conn_setup(srv->base, &conn_hooks);
    ph_conn_set_limits(sc);
    ph_watchdog_set_threshold(sc->loop_warn_ms);
    ph_fetch_set_max_connections((unsigned)sc->upstream_connections);
    ph_fetch_set_max_body(sc->upstream_max_body);
    if (ph_watchdog_setup(srv->base) < 0 || ph_fetch_setup(srv->base) < 0 ||
        ph_alog_setup(srv->base, srv->worker_id) < 0 || ph_http_date_setup(srv->base) < 0)
        return -1;
    apply_operator_settings(sc);
    ph_wmetrics_setup(sc->sync_threads);
    ph_wmetrics_publish(srv->gen);
    srv->drain_timer = evtimer_new(srv->base, on_drain_timeout, srv);
    srv->accept_resume = evtimer_new(srv->base, on_accept_resume, srv);
    srv->accept_defer = evtimer_new(srv->base, on_accept_defer, srv);
    srv->rebalance = event_new(srv->base, -1, EV_PERSIST, on_rebalance, srv);
    struct timeval every_second = {1, 0};
    srv->listen_ev = event_new(srv->base, srv->listen_fd, EV_READ | EV_PERSIST, on_listen_readable, srv);
    if (!srv->pool || !srv->drain_timer || !srv->accept_resume || !srv->accept_defer || !srv->rebalance ||
        event_add(srv->rebalance, &every_second) < 0 || !srv->listen_ev ||
        event_add(srv->listen_ev, NULL) < 0)
        return -1;
    const int sigs[4] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
    for (int i = 0; i < 4; i++) {
        srv->signals[i] = evsignal_new(srv->base, sigs[i], on_signal, srv);
        if (!srv->signals[i] || event_add(srv->signals[i], NULL) < 0)
            return -1;
    }
    return 0;
}

/* Free everything; with work still running (drain timeout) exit at once
 * instead, since a stuck sync handler cannot be joined. */
static void teardown(ph_server *srv)
{
    /* a late stop signal must not kill a worker that is already leaving */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    if (srv->base)
        ph_conn_close_all();
    if (srv->pool && in_flight(srv) > 0) {
        ph_log_warn("exiting with %d requests still running", in_flight(srv));
        _exit(0);
    }
    stop_listening(srv);
    ph_fetch_shutdown();
    ph_pool_destroy(srv->pool);
    ph_alog_shutdown();
    ph_watchdog_shutdown();
    ph_http_date_shutdown();
    for (int i = 0; i < 4; i++) {
        if (srv->signals[i])
            event_free(srv->signals[i]);
    }
    if (srv->drain_timer)
        event_free(srv->drain_timer);
    if (srv->accept_resume)
        event_free(srv->accept_resume);
    if (srv->accept_defer)
        event_free(srv->accept_defer);
    if (srv->rebalance)
        event_free(srv->rebalance);
    ph_host_api_set_hooks(NULL);
    ph_generation_unref(srv->gen);
    ph_generation_reaper_shutdown(); /* (the routes' own pools stop with their last generation) */
    ph_gates_shutdown();
    ph_request_free_cache();
    if (srv->base)
        event_base_free(srv->base);
}

int ph_server_run(ph_generation *gen, const char *config_path, int worker_id, int listen_fd,
                  ph_server_ready_fn ready, void *ready_arg)
{
    ph_server srv = {.config_path = config_path, .worker_id = worker_id, .gen = gen, .listen_fd = listen_fd};
    serving = &srv;
    signal(SIGPIPE, SIG_IGN);
    ph_host_api_set_loop_thread();
    int status = 0;
    if (setup(&srv) < 0 || (ready && ready(&srv, ready_arg) < 0)) {
        ph_log_error("cannot start serving");
        status = 1;
    } else {
        event_base_dispatch(srv.base);
    }
    teardown(&srv);
    return status;
}
