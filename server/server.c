/* server.c - one worker: listener, signals, drain, and the loop. */
#include "server.h"

#include "dispatch.h"
#include "fetch.h"
#include "host_api.h"
#include "http_conn.h"
#include "log.h"
#include "offload.h"
#include "reload.h"
#include "request_timer.h"
#include "watch.h"
#include "watchdog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096

const ph_server_conf *ph_server_conf_now(const ph_server *srv) { return &srv->gen->config->server; }

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr, int len,
                      void *arg)
{
    (void)len;
    ph_server *srv = arg;
    ph_conn_accept(srv, fd, addr);
    if (srv->nconns >= ph_server_conf_now(srv)->max_connections && !srv->listener_paused) {
        ph_log_warn("max_connections (%d) reached; not accepting until a connection closes",
                    ph_server_conf_now(srv)->max_connections);
        evconnlistener_disable(listener);
        srv->listener_paused = true;
    }
}

/* accept() failed (EMFILE, ENOBUFS, ...): pause 100 ms rather than spin. */
static void on_accept_error(struct evconnlistener *listener, void *arg)
{
    ph_server *srv = arg;
    int err = EVUTIL_SOCKET_ERROR();
    ph_log_warn("accept failed: %s; pausing accepts for 100 ms", evutil_socket_error_to_string(err));
    evconnlistener_disable(listener);
    struct timeval tv = {0, 100000};
    event_add(srv->accept_resume, &tv);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_server *srv = arg;
    if (srv->listener && !srv->listener_paused)
        evconnlistener_enable(srv->listener);
}

void ph_server_on_conn_closed(ph_server *srv)
{
    if (srv->listener_paused && srv->listener && srv->nconns < ph_server_conf_now(srv)->max_connections) {
        evconnlistener_enable(srv->listener);
        srv->listener_paused = false;
    }
    ph_server_check_drained(srv);
}

void ph_server_check_drained(ph_server *srv)
{
    if (srv->draining && srv->nconns == 0 && srv->detached == 0 && ph_pool_pending(srv->pool) == 0)
        event_base_loopbreak(srv->base);
}

static void begin_drain(ph_server *srv)
{
    srv->draining = true;
    if (srv->listener) {
        evconnlistener_free(srv->listener);
        srv->listener = NULL;
    }
    ph_log_info("draining: %d connections, %d requests in flight; up to %llu ms", srv->nconns,
                ph_pool_pending(srv->pool) + srv->detached,
                (unsigned long long)ph_server_conf_now(srv)->drain_timeout_ms);
    ph_conn *c = srv->conns;
    while (c) {
        ph_conn *next = ph_conn_next(c);
        ph_conn_begin_drain(c);
        c = next;
    }
    uint64_t ms = ph_server_conf_now(srv)->drain_timeout_ms;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    event_add(srv->drain_timer, &tv);
    ph_server_check_drained(srv);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_server *srv = arg;
    ph_log_warn("drain timeout: %d connections and %d requests still open; exiting", srv->nconns,
                ph_pool_pending(srv->pool) + srv->detached);
    event_base_loopbreak(srv->base);
}

static void reload_and_rewatch(ph_server *srv, const char *trigger);

static void on_files_changed(void *arg, const char *what)
{
    char trigger[300];
    snprintf(trigger, sizeof trigger, "change of %s", what);
    reload_and_rewatch(arg, trigger);
}

/* Follow `watch` and `plugin_dir` of the current generation. */
static void update_watch(ph_server *srv)
{
    const ph_server_conf *sc = ph_server_conf_now(srv);
    if (!sc->watch) {
        if (srv->watch)
            ph_log_info("watch = false: no longer watching for changes (SIGHUP still reloads)");
        ph_watch_stop(srv->watch);
        srv->watch = NULL;
        return;
    }
    if (srv->watch && ph_watch_is_for(srv->watch, srv->config_path, sc->plugin_dir))
        return;
    ph_watch_stop(srv->watch);
    srv->watch = ph_watch_start(srv->base, srv->config_path, sc->plugin_dir, on_files_changed, srv);
}

static void reload_and_rewatch(ph_server *srv, const char *trigger)
{
    if (srv->draining)
        return;
    if (ph_reload(srv, trigger) == 0) {
        update_watch(srv);
        ph_watchdog_set_threshold(ph_server_conf_now(srv)->loop_warn_ms);
        ph_fetch_set_max_connections((unsigned)ph_server_conf_now(srv)->upstream_connections);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    ph_server *srv = arg;
    if (sig == SIGHUP) {
        reload_and_rewatch(srv, "SIGHUP");
        return;
    }
    if (sig == SIGUSR1) { /* logrotate's habit; must not kill the server */
        ph_log_info("SIGUSR1: the log goes to stderr, which the process manager owns; nothing to reopen");
        return;
    }
    if (srv->draining) {
        ph_log_warn("%s again: exiting without waiting", strsignal((int)sig));
        event_base_loopbreak(srv->base);
        return;
    }
    ph_log_info("%s: stopping", strsignal((int)sig));
    begin_drain(srv);
}

/* Bind the configured address. Returns 0 or -1 (logged). */
static int start_listener(ph_server *srv)
{
    const ph_server_conf *sc = ph_server_conf_now(srv);
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)sc->listen_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(sc->listen_host, port, &hints, &ai);
    if (rc != 0) {
        ph_log_error("listen %s: %s", sc->listen, gai_strerror(rc));
        return -1;
    }
    srv->listener = evconnlistener_new_bind(srv->base, on_accept, srv,
                                            LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                            LISTEN_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (!srv->listener) {
        ph_log_error("listen %s: %s", sc->listen, strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(srv->listener, on_accept_error);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned bound = 0;
    if (getsockname(evconnlistener_get_fd(srv->listener), (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
            bound = ntohs(s6->sin6_port);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
            bound = ntohs(s4->sin_port);
        }
    }
    ph_log_info(ss.ss_family == AF_INET6 ? "listening on [%s]:%u" : "listening on %s:%u", host, bound);
    return 0;
}

static int setup(ph_server *srv)
{
    srv->base = event_base_new();
    if (!srv->base)
        return -1;
    ph_request_timer_setup(srv->base);
    ph_dispatch_init(srv);
    if (ph_generation_reaper_setup(srv->base) < 0)
        return -1;
    const ph_server_conf *sc = ph_server_conf_now(srv);
    srv->pool = ph_pool_create(srv->base, sc->sync_threads, sc->sync_queue);
    ph_offload_setup(srv->pool);
    ph_watchdog_set_threshold(sc->loop_warn_ms);
    ph_fetch_set_max_connections((unsigned)sc->upstream_connections);
    if (ph_watchdog_setup(srv->base) < 0 || ph_fetch_setup(srv->base) < 0)
        return -1;
    srv->drain_timer = evtimer_new(srv->base, on_drain_timeout, srv);
    srv->accept_resume = evtimer_new(srv->base, on_accept_resume, srv);
    if (!srv->pool || !srv->drain_timer || !srv->accept_resume)
        return -1;
    const int sigs[4] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
    for (int i = 0; i < 4; i++) {
        srv->signals[i] = evsignal_new(srv->base, sigs[i], on_signal, srv);
        if (!srv->signals[i] || event_add(srv->signals[i], NULL) < 0)
            return -1;
    }
    if (start_listener(srv) < 0)
        return -1;
    update_watch(srv);
    return 0;
}

/* Free everything; with work still running (drain timeout) exit at once
 * instead, since a stuck sync handler cannot be joined. */
static void teardown(ph_server *srv)
{
    while (srv->conns)
        ph_conn_close(srv->conns);
    if (srv->pool && (ph_pool_pending(srv->pool) > 0 || srv->detached > 0)) {
        ph_log_warn("exiting with %d requests still running", ph_pool_pending(srv->pool) + srv->detached);
        _exit(0);
    }
    if (srv->listener)
        evconnlistener_free(srv->listener);
    ph_watch_stop(srv->watch);
    ph_fetch_shutdown();
    ph_pool_destroy(srv->pool);
    ph_watchdog_shutdown();
    for (int i = 0; i < 4; i++) {
        if (srv->signals[i])
            event_free(srv->signals[i]);
    }
    if (srv->drain_timer)
        event_free(srv->drain_timer);
    if (srv->accept_resume)
        event_free(srv->accept_resume);
    ph_generation_unref(srv->gen);
    ph_generation_reaper_shutdown();
    ph_request_free_cache();
    if (srv->base)
        event_base_free(srv->base);
}

int ph_server_run(ph_generation *gen, const char *config_path)
{
    ph_server srv = {.config_path = config_path, .gen = gen};
    signal(SIGPIPE, SIG_IGN);
    ph_host_api_set_loop_thread(pthread_self());
    int status = 0;
    if (setup(&srv) < 0) {
        ph_log_error("cannot start serving");
        status = 1;
    } else {
        event_base_dispatch(srv.base);
        ph_log_info("stopped");
    }
    teardown(&srv);
    return status;
}
