/* config.c - server.ini parsed with inih into an immutable ph_config.
 *
 * Debian's inih has no line numbers in the handler, so the parser reads the
 * file through its own line reader (ini_parse_stream) that counts lines and
 * notes section headers; any non-zero result from inih rejects the file. */
#include "config.h"

#include "config_value.h"
#include "log.h"
#include "real_ip.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parse_state {
    const char *path;
    FILE *file;
    int line;              /* line number of the line last handed to inih */
    char *linebuf;
    size_t linecap;
    ph_config *config;
    ph_route_conf *route;  /* section being read, NULL for [server] */
    bool in_section;
    char seen_server[64];  /* one flag per [server] key seen (duplicates) */
    char *err;
    size_t errlen;
    bool failed;
} parse_state;

static int fail(parse_state *st, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record the first error as "<path>:<line>: <message>". Returns 0 (inih's
 * "handler failed"). */
static int fail(parse_state *st, int line, const char *fmt, ...)
{
    if (st->failed)
        return 0;
    st->failed = true;
    int n = snprintf(st->err, st->errlen, "%s:%d: ", st->path, line);
    if (n < 0 || (size_t)n >= st->errlen)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err + n, st->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int add_route(parse_state *st, const char *path)
{
    if (path[0] != '/' || strpbrk(path, " \t?#"))
        return fail(st, st->line, "route path '%s' must start with '/' and contain no spaces, '?' or '#'", path);
    for (size_t i = 0; i < st->config->nroutes; i++) {
        if (strcmp(st->config->routes[i].path, path) == 0)
            return fail(st, st->line, "duplicate route %s (first at line %d)", path,
                        st->config->routes[i].line);
    }
    ph_route_conf *routes = realloc(st->config->routes, (st->config->nroutes + 1) * sizeof *routes);
    if (!routes)
        return fail(st, st->line, "out of memory");
    st->config->routes = routes;
    ph_route_conf *r = &routes[st->config->nroutes];
    memset(r, 0, sizeof *r);
    r->path = strdup(path);
    if (!r->path)
        return fail(st, st->line, "out of memory");
    r->line = st->line;
    r->methods = PH_METHOD_GET;
    st->config->nroutes++;
    st->route = r;
    return 1;
}

/* A section header line "[...]" seen by the reader. A malformed one is
 * reported here with its line (inih would go on and hand the keys after
 * it to the previous section). */
static void note_section(parse_state *st, char *line)
{
    char *s = trim(line);
    char *semi = strchr(s, ';');
    if (semi)
        *semi = '\0';
    s = trim(s);
    size_t n = strlen(s);
    if (n < 2 || s[0] != '[' || s[n - 1] != ']') {
        fail(st, st->line, "syntax error: a section header is '[server]' or '[route /path]'");
        return;
    }
    s[n - 1] = '\0';
    char *name = trim(s + 1);
    st->in_section = true;
    st->route = NULL;
    if (strcmp(name, "server") == 0)
        return;
    if (strncmp(name, "route", 5) == 0 && isspace((unsigned char)name[5])) {
        add_route(st, trim(name + 5));
        return;
    }
    fail(st, st->line, "unknown section [%s] (expected [server] or [route /path])", name);
}

/* inih's line reader: like fgets, but counts lines, refuses over-long ones
 * and notes section headers. */
static char *read_line(char *str, int num, void *stream)
{
    parse_state *st = stream;
    if (st->failed)
        return NULL;
    ssize_t n = getline(&st->linebuf, &st->linecap, st->file);
    if (n < 0)
        return NULL;
    st->line++;
    if (n >= num) {
        fail(st, st->line, "line longer than %d characters", num - 1);
        return NULL;
    }
    memcpy(str, st->linebuf, (size_t)n + 1);
    char copy[n + 1];
    memcpy(copy, st->linebuf, (size_t)n + 1);
    char *t = trim(copy);
    if (t[0] == '[')
        note_section(st, t);
    return str;
}

typedef enum { V_SIZE, V_DURATION, V_INT, V_BOOL, V_STRING, V_LISTEN, V_LOGLEVEL, V_OPERATOR } value_kind;

typedef struct server_key {
    const char *name;
    value_kind kind;
    size_t offset;
    long min, max; /* V_INT bounds; V_SIZE, V_DURATION (ms): the largest value, 0 = the parser's */
    const char *why; /* what the largest value protects, for the message */
} server_key;

#define SK(name, kind, field, min, max) {name, kind, offsetof(ph_server_conf, field), min, max, NULL}
#define SKW(name, kind, field, max, why) {name, kind, offsetof(ph_server_conf, field), 0, max, why}
/* Where the sizes land: a request's URL (twice: the URL and its path) and
 * header names and values share one buffer addressed by 32-bit offsets
 * and lengths (request.h: ph_header, url_len), so each is at
 * most 1 GiB (together under 4 GiB); a body is one buffer that grows by
 * doubling in memory (size_t, ph_buf), compared with llhttp's 64-bit
 * Content-Length: 1 TiB is far past any machine's memory and far from
 * the buffer's limit; max_worker_rss is compared with the RSS in size_t.
 * load_timeout is waited for in int milliseconds (plugin_check.c). */
#define GIB (1L << 30)
static const server_key server_keys[] = {
    SK("listen", V_LISTEN, listen, 0, 0),
    SK("workers", V_INT, workers, 0, 256),
    SK("sync_threads", V_INT, sync_threads, 1, 4096),
    SK("sync_queue", V_INT, sync_queue, 0, 1000000),
    SK("max_inflight_per_connection", V_INT, max_inflight_per_connection, 1, 32),
    SK("plugin_dir", V_STRING, plugin_dir, 0, 0),
    SK("watch", V_BOOL, watch, 0, 0),
    SKW("max_body_size", V_SIZE, max_body_size, 1024 * GIB, "a body is held in memory whole"),
    SKW("max_url_size", V_SIZE, max_url_size, GIB, "a request's offsets are 32-bit"),
    SKW("max_header_size", V_SIZE, max_header_size, GIB, "a request's offsets are 32-bit"),
    SK("max_connections", V_INT, max_connections, 1, 10000000),
    SK("header_timeout", V_DURATION, header_timeout_ms, 0, 0),
    SK("body_timeout", V_DURATION, body_timeout_ms, 0, 0),
    SK("keepalive_timeout", V_DURATION, keepalive_timeout_ms, 0, 0),
    SK("send_timeout", V_DURATION, send_timeout_ms, 0, 0),
    SK("drain_timeout", V_DURATION, drain_timeout_ms, 0, 0),
    SK("timeout", V_DURATION, timeout_ms, 0, 0),
    SK("loop_warn", V_DURATION, loop_warn_ms, 0, 0),
    SK("status_path", V_STRING, status_path, 0, 0),
    SK("upstream_connections", V_INT, upstream_connections, 1, 100000),
    SKW("upstream_max_body", V_SIZE, upstream_max_body, GIB, "a fetched body is held in memory whole"),
    SK("log_level", V_LOGLEVEL, log_level, 0, 0),
    SK("max_requests", V_INT, max_requests, 0, 2000000000),
    SK("max_worker_rss", V_SIZE, max_worker_rss, 0, 0),
    SK("max_stuck_sync", V_INT, max_stuck_sync, 0, 4096),
    SKW("load_timeout", V_DURATION, load_timeout_ms, 2147483000L, "it is waited for in int milliseconds"),
    SK("crash_limit", V_INT, crash_limit, 0, 1000),
    SK("crash_window", V_DURATION, crash_window_ms, 0, 0),
    SK("user", V_STRING, user, 0, 0),
    SK("access_log", V_STRING, access_log, 0, 0),
    SK("access_log_format", V_OPERATOR, access_log_json, 0, 0),
    SK("trusted_proxies", V_STRING, trusted_proxies, 0, 0),
    SK("admin_listen", V_OPERATOR, admin_listen, 0, 0),
};
#define N_SERVER_KEYS (sizeof server_keys / sizeof server_keys[0])
_Static_assert(N_SERVER_KEYS <= sizeof((parse_state *)0)->seen_server, "seen_server needs a flag per key");

/* `bytes` as the config writes it: "1g", "64k" or a number. */
static void format_size(char *out, size_t len, unsigned long long bytes)
{
    if (bytes && bytes % (1ull << 30) == 0)
        snprintf(out, len, "%llug", bytes >> 30);
    else if (bytes && bytes % (1ull << 20) == 0)
        snprintf(out, len, "%llum", bytes >> 20);
    else if (bytes && bytes % (1ull << 10) == 0)
        snprintf(out, len, "%lluk", bytes >> 10);
    else
        snprintf(out, len, "%llu", bytes);
}

/* Set *text (a copy of `value`), *host and *port from `value` read as
 * "host:port" or "[v6]:port", freeing what they held. Returns 0, or -1
 * (not an address, or no memory) leaving them as they were. */
static int set_address(const char *value, char **text, char **host, uint16_t *port)
{
    char *new_host = NULL;
    uint16_t new_port = 0;
    char *copy = strdup(value);
    if (!copy || ph_value_listen(value, &new_host, &new_port) < 0) {
        free(copy);
        return -1;
    }
    free(*text);
    free(*host);
    *text = copy;
    *host = new_host;
    *port = new_port;
    return 0;
}

/* access_log_format and admin_listen, which are not plain strings. */
static int set_operator_value(parse_state *st, const server_key *k, const char *value)
{
    ph_server_conf *s = &st->config->server;
    if (strcmp(k->name, "access_log_format") == 0) {
        if (strcmp(value, "combined") != 0 && strcmp(value, "json") != 0)
            return fail(st, st->line, "access_log_format: '%s' is not combined or json", value);
        s->access_log_json = strcmp(value, "json") == 0;
        return 1;
    }
    if (strcmp(value, "off") == 0) {
        free(s->admin_listen);
        free(s->admin_host);
        s->admin_listen = s->admin_host = NULL;
        s->admin_port = 0;
        return 1;
    }
    if (set_address(value, &s->admin_listen, &s->admin_host, &s->admin_port) < 0)
        return fail(st, st->line, "admin_listen: '%s' is not host:port or off", value);
    return 1;
}

static int set_server_value(parse_state *st, const server_key *k, const char *value)
{
    ph_server_conf *s = &st->config->server;
    char *field = (char *)s + k->offset;
    long v;
    switch (k->kind) {
    case V_SIZE: {
        size_t bytes;
        char most[32];
        if (ph_value_size(value, &bytes) < 0 || bytes == 0)
            return fail(st, st->line, "%s: '%s' is not a size (e.g. 1048576, 64k, 1m)", k->name, value);
        format_size(most, sizeof most, (unsigned long long)k->max);
        if (k->max > 0 && bytes > (size_t)k->max)
            return fail(st, st->line, "%s: '%s' is above %s, the most it can be (%s)", k->name, value, most, k->why);
        *(size_t *)(void *)field = bytes;
        return 1;
    }
    case V_DURATION: {
        uint64_t ms;
        if (ph_value_duration_ms(value, &ms) < 0)
            return fail(st, st->line, "%s: '%s' is not a duration (e.g. 500ms, 10s, 2)", k->name, value);
        if (k->max > 0 && ms > (uint64_t)k->max)
            return fail(st, st->line, "%s: '%s' is above %ld s, the most it can be (%s)", k->name, value,
                        k->max / 1000, k->why);
        *(uint64_t *)(void *)field = ms;
        return 1;
    }
    case V_INT:
        if (strcmp(k->name, "workers") == 0 && strcmp(value, "auto") == 0) {
            s->workers = 0;
            return 1;
        }
        if (ph_value_int(value, k->min, k->max, &v) < 0)
            return fail(st, st->line, "%s: '%s' is not an integer in %ld..%ld", k->name, value, k->min, k->max);
        *(int *)(void *)field = (int)v;
        return 1;
    case V_BOOL:
        if (ph_value_bool(value, (bool *)(void *)field) < 0)
            return fail(st, st->line, "%s: '%s' is not a boolean (true/false)", k->name, value);
        return 1;
    case V_STRING: {
        if (strcmp(k->name, "status_path") == 0 && value[0] != '/')
            return fail(st, st->line, "status_path: '%s' must start with '/'", value);
        if (strcmp(k->name, "user") == 0 && !value[0])
            return fail(st, st->line, "user: give a user name, or leave the key out");
        ph_real_ip_set proxies;
        char why[160];
        if (strcmp(k->name, "trusted_proxies") == 0 && ph_real_ip_parse(value, &proxies, why, sizeof why) < 0)
            return fail(st, st->line, "trusted_proxies: %s", why);
        if (strcmp(k->name, "access_log") == 0 && (!value[0] || strcmp(value, "off") == 0)) {
            free(s->access_log);
            s->access_log = NULL;
            return 1;
        }
        char *copy = strdup(value);
        if (!copy)
            return fail(st, st->line, "out of memory");
        free(*(char **)(void *)field);
        *(char **)(void *)field = copy;
        return 1;
    }
    case V_LISTEN:
        if (set_address(value, &s->listen, &s->listen_host, &s->listen_port) < 0)
            return fail(st, st->line, "listen: '%s' is not host:port", value);
        return 1;
    case V_OPERATOR:
        return set_operator_value(st, k, value);
    case V_LOGLEVEL:
        if (ph_log_parse_level(value, &s->log_level) < 0)
            return fail(st, st->line, "log_level: '%s' is not debug, info, warn or error", value);
        return 1;
    }
    return 0;
}

static int handle_server_key(parse_state *st, const char *name, const char *value)
{
    for (size_t i = 0; i < N_SERVER_KEYS; i++) {
        if (strcmp(server_keys[i].name, name) != 0)
            continue;
        if (st->seen_server[i])
            return fail(st, st->line, "duplicate key '%s' in [server]", name);
        st->seen_server[i] = 1;
        return set_server_value(st, &server_keys[i], value);
    }
    return fail(st, st->line, "unknown key '%s' in [server]", name);
}

/* A route's max_inflight, queue or sync_threads (route_gate.h). */
static int set_route_limit(parse_state *st, ph_route_conf *r, const char *name, const char *value, int *out)
{
    bool queue = out == &r->queue;
    long min = queue ? 0 : 1, max = strcmp(name, "sync_threads") == 0 ? 4096 : 1000000, v;
    if (queue ? r->has_queue : *out != 0)
        return fail(st, st->line, "duplicate key '%s' in [route %s]", name, r->path);
    if (ph_value_int(value, min, max, &v) < 0)
        return fail(st, st->line, "%s: '%s' is not an integer in %ld..%ld", name, value, min, max);
    *out = (int)v;
    r->has_queue |= queue;
    return 1;
}

static int handle_route_key(parse_state *st, const char *name, const char *value)
{
    ph_route_conf *r = st->route;
    if (strcmp(name, "plugin") == 0) {
        if (r->plugin)
            return fail(st, st->line, "duplicate key 'plugin' in [route %s]", r->path);
        if (!value[0] || strpbrk(value, "/\\") || strcmp(value, ".") == 0 || strcmp(value, "..") == 0)
            return fail(st, st->line, "plugin: '%s' must be a plain name (the file is <plugin_dir>/<name>.so)", value);
        r->plugin = strdup(value);
        return r->plugin ? 1 : fail(st, st->line, "out of memory");
    }
    if (strcmp(name, "methods") == 0) {
        char bad[32];
        if (ph_value_methods(value, &r->methods, bad, sizeof bad) < 0)
            return fail(st, st->line, "methods: unknown method '%s' (GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS)", bad);
        return 1;
    }
    int *limit = strcmp(name, "max_inflight") == 0 ? &r->max_inflight
               : strcmp(name, "queue") == 0        ? &r->queue
               : strcmp(name, "sync_threads") == 0 ? &r->sync_threads
                                                   : NULL;
    if (limit) /* the host's own: not handed to the plugin */
        return set_route_limit(st, r, name, value, limit);
    if (strcmp(name, "timeout") == 0) {
        if (ph_value_duration_ms(value, &r->timeout_ms) < 0)
            return fail(st, st->line, "timeout: '%s' is not a duration (e.g. 500ms, 10s, 2)", value);
        r->has_timeout = true;
    }
    for (size_t i = 0; i < r->nsettings; i++) {
        if (strcmp(r->settings[i].key, name) == 0)
            return fail(st, st->line, "duplicate key '%s' in [route %s] (an indented line continues the previous value)", name, r->path);
    }
    ph_setting *settings = realloc(r->settings, (r->nsettings + 1) * sizeof *settings);
    if (!settings)
        return fail(st, st->line, "out of memory");
    r->settings = settings;
    ph_setting *s = &settings[r->nsettings];
    s->key = strdup(name);
    s->value = strdup(value);
    if (!s->key || !s->value) {
        free(s->key);
        free(s->value);
        return fail(st, st->line, "out of memory");
    }
    r->nsettings++;
    return 1;
}

/* inih callback: one key. Returns 1 to go on, 0 on error. */
static int handle_key(void *user, const char *section, const char *name, const char *value)
{
    parse_state *st = user;
    (void)section; /* the reader tracks sections, with their line numbers */
    if (st->failed)
        return 0;
    if (!st->in_section)
        return fail(st, st->line, "key '%s' outside of any section", name);
    if (st->route)
        return handle_route_key(st, name, value);
    return handle_server_key(st, name, value);
}

static void set_defaults(ph_server_conf *s)
{
    s->workers = 1;
    s->sync_threads = 40;
    s->sync_queue = 1024;
    s->max_inflight_per_connection = 1;
    s->watch = true;
    s->max_body_size = 1u << 20;
    s->max_url_size = 8u << 10;
    s->max_header_size = 16u << 10;
    s->max_connections = 10000;
    s->header_timeout_ms = 10000;
    s->body_timeout_ms = 60000;
    s->keepalive_timeout_ms = 15000;
    s->send_timeout_ms = 60000;
    s->drain_timeout_ms = 30000;
    s->timeout_ms = 60000;
    s->loop_warn_ms = 100;
    s->upstream_connections = 256;
    s->upstream_max_body = 16u << 20;
    s->log_level = PH_LOG_INFO;
    s->load_timeout_ms = 10000;
    s->crash_limit = 3;
    s->crash_window_ms = 60000;
}

/* Fill the derived fields once the file is read: defaults that need
 * allocation, plugin_dir resolved against the ini's folder, each route's
 * plugin file. Returns 0 or -1 with err set. */
static int finish_config(parse_state *st)
{
    ph_config *c = st->config;
    ph_server_conf *s = &c->server;
    if (!s->listen) {
        s->listen = strdup("127.0.0.1:8080");
        s->listen_host = strdup("127.0.0.1");
        s->listen_port = 8080;
        if (!s->listen || !s->listen_host)
            return fail(st, 0, "out of memory"), -1;
    }
    const char *dir = s->plugin_dir ? s->plugin_dir : "plugins";
    char *resolved;
    if (dir[0] == '/') {
        resolved = strdup(dir);
    } else {
        char *pathcopy = strdup(c->path);
        if (!pathcopy)
            return fail(st, 0, "out of memory"), -1;
        const char *base = dirname(pathcopy);
        resolved = malloc(strlen(base) + strlen(dir) + 2);
        if (resolved)
            sprintf(resolved, "%s/%s", base, dir);
        free(pathcopy);
    }
    if (!resolved)
        return fail(st, 0, "out of memory"), -1;
    free(s->plugin_dir);
    s->plugin_dir = resolved;
    if (s->access_log && s->access_log[0] != '/' && strcmp(s->access_log, "-") != 0) {
        char *pathcopy = strdup(c->path);
        char *log = pathcopy ? malloc(strlen(pathcopy) + strlen(s->access_log) + 2) : NULL;
        if (log)
            sprintf(log, "%s/%s", dirname(pathcopy), s->access_log);
        free(pathcopy);
        if (!log)
            return fail(st, 0, "out of memory"), -1;
        free(s->access_log);
        s->access_log = log;
    }
    if (s->admin_listen && s->admin_port && s->admin_port == s->listen_port)
        return fail(st, 0, "admin_listen %s: the admin listener needs a port of its own, not listen's (%s)",
                    s->admin_listen, s->listen), -1;
    for (size_t i = 0; i < c->nroutes; i++) {
        ph_route_conf *r = &c->routes[i];
        if (s->status_path && strcmp(s->status_path, r->path) == 0)
            return fail(st, r->line, "route %s is also the status_path", r->path), -1;
        if (!r->plugin)
            return fail(st, r->line, "route %s has no 'plugin' key", r->path), -1;
        if (r->has_queue && !r->max_inflight && !r->sync_threads)
            return fail(st, r->line, "route %s: queue needs max_inflight or sync_threads (it holds the requests "
                        "past the route's limit)", r->path), -1;
        r->plugin_path = malloc(strlen(resolved) + strlen(r->plugin) + 5);
        if (!r->plugin_path)
            return fail(st, r->line, "out of memory"), -1;
        sprintf(r->plugin_path, "%s/%s.so", resolved, r->plugin);
    }
    return 0;
}

ph_config *ph_config_load_stream(FILE *file, const char *path, char *err, size_t errlen)
{
    parse_state st = {.path = path, .err = err, .errlen = errlen, .file = file};
    err[0] = '\0';
    st.config = calloc(1, sizeof *st.config);
    if (!st.config || !(st.config->path = strdup(path))) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(st.config);
        return NULL;
    }
    set_defaults(&st.config->server);
    int rc = ini_parse_stream(read_line, &st, handle_key, &st);
    free(st.linebuf);
    if (rc != 0 && !st.failed)
        fail(&st, rc > 0 ? rc : st.line, "syntax error (expected 'key = value', '[server]' or '[route /path]')");
    if (!st.failed)
        finish_config(&st);
    if (st.failed) {
        ph_config_free(st.config);
        return NULL;
    }
    return st.config;
}

ph_config *ph_config_load(const char *path, char *err, size_t errlen)
{
    FILE *file = fopen(path, "r");
    if (!file) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    ph_config *config = ph_config_load_stream(file, path, err, errlen);
    fclose(file);
    return config;
}

int ph_config_override_listen(ph_config *config, const char *value, char *err, size_t errlen)
{
    ph_server_conf *s = &config->server;
    if (set_address(value, &s->listen, &s->listen_host, &s->listen_port) < 0) {
        snprintf(err, errlen, "--listen: '%s' is not host:port", value);
        return -1;
    }
    return 0;
}

void ph_config_free(ph_config *config)
{
    if (!config)
        return;
    for (size_t i = 0; i < config->nroutes; i++) {
        ph_route_conf *r = &config->routes[i];
        free(r->path);
        free(r->plugin);
        free(r->plugin_path);
        free(r->plugin_source);
        for (size_t j = 0; j < r->nsettings; j++) {
            free(r->settings[j].key);
            free(r->settings[j].value);
        }
        free(r->settings);
    }
    free(config->routes);
    free(config->server.listen);
    free(config->server.listen_host);
    free(config->server.plugin_dir);
    free(config->server.status_path);
    free(config->server.user);
    free(config->server.access_log);
    free(config->server.trusted_proxies);
    free(config->server.admin_listen);
    free(config->server.admin_host);
    free(config->path);
    free(config);
}

const char *ph_route_conf_setting(const ph_route_conf *route, const char *key)
{
    for (size_t i = 0; i < route->nsettings; i++) {
        if (strcmp(route->settings[i].key, key) == 0)
            return route->settings[i].value;
    }
    return NULL;
}
