/* server.h - one worker's serving state: loop, listener, current
 * generation, sync pool, connections, drain. Loop thread only. */
#ifndef PH_SERVER_H
#define PH_SERVER_H

#include "generation.h"
#include "pool.h"

#include <stdbool.h>

struct event_base;
struct evconnlistener;
struct event;
struct ph_conn;

typedef struct ph_server {
    const char *config_path;  /* server.ini, re-read on reload */
    struct event_base *base;
    struct evconnlistener *listener;
    bool listener_paused;     /* at max_connections */
    ph_generation *gen;       /* current generation (one reference) */
    ph_pool *pool;
    struct ph_conn *conns;    /* all open connections */
    int nconns;
    int detached;             /* running requests whose client is gone */
    int stuck_sync;           /* sync handlers still running past their timeout */
    bool draining;
    struct event *drain_timer;
    struct event *accept_resume; /* re-enables accepting after EMFILE */
    struct event *signals[4];    /* SIGTERM, SIGINT, SIGHUP, SIGUSR1 */
    struct ph_watch *watch;      /* NULL when watch = false */
} ph_server;

/* Serve generation `gen` (taken over; built from `config_path`) until
 * SIGTERM/SIGINT and a drain. Returns the process exit status. Main
 * thread, which becomes the loop thread. */
int ph_server_run(ph_generation *gen, const char *config_path);

/* The server's limits and timeouts now (of the current generation). */
const ph_server_conf *ph_server_conf_now(const ph_server *srv);

/* A connection closed or a detached request finished: resume accepting
 * below max_connections, finish a drain when nothing is left. */
void ph_server_on_conn_closed(ph_server *srv);
void ph_server_check_drained(ph_server *srv);

#endif
