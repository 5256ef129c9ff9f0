/* config.h - server.ini parsed into an immutable configuration. */
#ifndef PH_CONFIG_H
#define PH_CONFIG_H

#include "plughost.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One key of a route section handed to the plugin. */
typedef struct ph_setting {
    char *key;
    char *value;
} ph_setting;

typedef struct ph_route_conf {
    char *path;        /* "/sync" */
    int line;          /* line of the [route ...] header */
    char *plugin;      /* plugin name as written */
    char *plugin_path; /* <plugin_dir>/<plugin>.so: the plugin's name in logs */
    char *plugin_source;  /* the file to load: a checked snapshot of plugin_path; NULL = plugin_path itself */
    bool plugin_disabled; /* rolled back with no version to go back to: its routes answer 503 */
    unsigned methods;  /* PH_METHOD_* bits; default GET */
    bool has_timeout;    /* route `timeout` given (also handed to the plugin) */
    uint64_t timeout_ms; /* else the [server] timeout applies */
    int max_inflight;    /* `max_inflight`: its requests in flight at once per worker; 0 = not given */
    int queue;           /* `queue`: its requests waiting past that (when has_queue) */
    bool has_queue;
    int sync_threads;    /* `sync_threads`: a pool of its own with this many threads; 0 = the worker's */
    ph_setting *settings;
    size_t nsettings;
} ph_route_conf;

typedef struct ph_server_conf {
    char *listen;       /* as written, "127.0.0.1:8080" */
    char *listen_host;  /* "127.0.0.1" */
    uint16_t listen_port;
    int workers;        /* worker processes (0 = auto) */
    int sync_threads;
    int sync_queue;
    int max_inflight_per_connection; /* one connection's requests holding a pool or route place at once */
    char *plugin_dir;   /* resolved against the ini file's folder */
    bool watch;
    size_t max_body_size;
    size_t max_url_size;
    size_t max_header_size;
    int max_connections;
    uint64_t header_timeout_ms;
    uint64_t body_timeout_ms;
    uint64_t keepalive_timeout_ms;
    uint64_t send_timeout_ms;
    uint64_t drain_timeout_ms;
    uint64_t timeout_ms;    /* default per-request handler timeout → 504 */
    uint64_t loop_warn_ms;  /* async callbacks longer than this are logged */
    int upstream_connections; /* fetch: open connections per upstream */
    size_t upstream_max_body; /* fetch: the largest body a whole-response fetch holds */
    char *status_path;      /* built-in JSON status (loop lag, load); NULL = off */
    ph_log_level log_level;
    int max_requests;       /* recycle a worker after this many requests; 0 = never */
    size_t max_worker_rss;  /* recycle a worker above this RSS (bytes); 0 = never */
    int max_stuck_sync;     /* recycle a worker with this many stuck sync threads; 0 = never */
    uint64_t load_timeout_ms;  /* a plugin's check (load, init, fini) in a throwaway process */
    int crash_limit;           /* crashes of one plugin within crash_window → roll it back; 0 = never */
    uint64_t crash_window_ms;
    char *user;                /* workers and the check run as this user; NULL = as started */
    char *access_log;          /* path ("-" = stdout), resolved against the ini's folder; NULL = off */
    bool access_log_json;      /* access_log_format = json (else combined) */
    char *trusted_proxies;     /* peers whose X-Forwarded-For is believed (real_ip.h); NULL = none */
    char *admin_listen;        /* "127.0.0.1:9090": the supervisor's admin listener; NULL = off */
    char *admin_host;
    uint16_t admin_port;
} ph_server_conf;

typedef struct ph_config {
    char *path; /* the ini file as given */
    ph_server_conf server;
    ph_route_conf *routes;
    size_t nroutes;
} ph_config;

/*
 * Parse `path`. Returns a new config (free with ph_config_free), or NULL
 * with a one-line reason "<path>:<line>: <what>" in err. Any syntax error
 * anywhere rejects the whole file. Touches no plugin files. Any thread.
 */
ph_config *ph_config_load(const char *path, char *err, size_t errlen);

/* The same from an open stream (read from its current position); `path`
 * names the file in messages and relative paths resolve against its
 * folder. The stream stays the caller's. */
ph_config *ph_config_load_stream(FILE *file, const char *path, char *err, size_t errlen);

void ph_config_free(ph_config *config);

/* Replace `listen` (plughost -l ADDR:PORT). Returns 0, or -1 with the
 * reason in err. */
int ph_config_override_listen(ph_config *config, const char *value, char *err, size_t errlen);

/* The route's setting `key`, or NULL. */
const char *ph_route_conf_setting(const ph_route_conf *route, const char *key);

#endif
