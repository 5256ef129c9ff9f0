/* server.h - one worker's serving state: loop, its share of the listening
 * socket, current generation, sync pool, connections, drain. Loop thread
 * only. The supervisor (supervisor.c) runs no server: it starts workers,
 * each of which runs one of these. */
#ifndef PH_SERVER_H
#define PH_SERVER_H

#include "generation.h"
#include "pool.h"

#include <stdbool.h>

struct event_base;
struct event;

typedef struct ph_server ph_server;

/* Called once the server is set up, before the loop runs: the worker
 * hooks its control channel in. Returns 0 or -1 (stop). */
typedef int (*ph_server_ready_fn)(ph_server *srv, void *arg);

struct ph_server {
    const char *config_path;  /* server.ini, for messages */
    int worker_id;            /* 1..workers, for logs and the status document */
    struct event_base *base;
    int listen_fd;            /* the shared listening socket; -1 once closed */
    struct event *listen_ev;
    bool accept_paused;       /* at max_connections or after EMFILE */
    bool accept_held;         /* not told to accept yet (a new worker before GO) */
    ph_generation *gen;       /* current generation (one reference) */
    ph_pool *pool;
    int nconns;               /* open connections: the connection layer's count, refreshed as it changes
                                 (request counts: request_life.h, ph_life_counts_now) */
    bool draining;
    struct event *drain_timer;
    struct event *accept_resume; /* re-enables accepting after EMFILE */
    struct event *accept_defer;  /* above its fair share: takes pending connections itself after a moment */
    struct event *rebalance;     /* each second: moves connections beyond its share to other workers */
    struct event *signals[4];    /* SIGTERM, SIGINT, SIGHUP, SIGUSR1 */
};

/* Serve generation `gen` (taken over) on the inherited listening socket
 * `listen_fd` until SIGTERM/SIGINT (or ph_server_begin_drain) and a
 * drain. `ready` (may be NULL) runs once set up. Returns the process exit
 * status. Main thread, which becomes the loop thread. */
int ph_server_run(ph_generation *gen, const char *config_path, int worker_id, int listen_fd,
                  ph_server_ready_fn ready, void *ready_arg);

/* Stop accepting, close idle connections, let in-flight requests finish
 * up to drain_timeout, then leave the loop. `why` names the cause in the
 * log. Idempotent. */
void ph_server_begin_drain(ph_server *srv, const char *why);

/* Accept connections from the shared socket (the default once set up),
 * or hold off (`on` false) until told: a new worker waits for the
 * supervisor's GO. */
void ph_server_accept(ph_server *srv, bool on);

/* Make `gen` (taken over) the current generation; the old one lives on
 * until its last request is done. Applies its log level, watchdog
 * threshold and upstream limit. */
void ph_server_switch(ph_server *srv, ph_generation *gen);

/* The server's limits and timeouts now (of the current generation). */
const ph_server_conf *ph_server_conf_now(const ph_server *srv);

#endif
