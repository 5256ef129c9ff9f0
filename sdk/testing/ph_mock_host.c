/*
 * ph_mock_host.c - the plughost host API in memory, for plugin unit tests.
 * See ph_mock_host.h for the contract of every public function.
 */
#define _POSIX_C_SOURCE 200809L

#include "ph_mock_host.h"

#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* Types                                                               */
/* ------------------------------------------------------------------ */

typedef struct mock_pair {
    char *name;
    char *value;
} mock_pair;

/* A growable list of name/value pairs: headers and settings. */
typedef struct mock_pairs {
    mock_pair *v;
    size_t n, cap;
} mock_pairs;

struct ph_settings {
    char *route_path;
    mock_pairs kv;
};

struct ph_mock_instance {
    const ph_plugin *plugin;
    const ph_host_api *api;
    const ph_settings *settings;
    ph_settings *owned_settings; /* the empty "/" route when none was given */
    void *state;
};

typedef enum req_state {
    REQ_NEW,       /* built by the test, not handled yet */
    REQ_IN_HANDLE, /* handle() is on the stack */
    REQ_PENDING,   /* async: handle() returned PH_PENDING, no complete() yet */
    REQ_DONE,      /* response final */
} req_state;

/* A decoded query value handed to the plugin; freed with the request. */
typedef struct mock_decoded {
    struct mock_decoded *next;
    char text[];
} mock_decoded;

struct ph_request {
    struct ph_request *prev, *next; /* all live requests (g.requests) */
    char *method;
    char *path;  /* up to '?' */
    char *query; /* after '?', "" when absent */
    mock_pairs headers;
    char *body;
    size_t body_len;
    mock_decoded *decoded;

    int status;
    mock_pairs resp_headers;
    char *resp_body; /* NUL-terminated; NULL when empty */
    size_t resp_body_len;

    req_state state;
    ph_mock_instance *inst;
    unsigned complete_calls;
};

typedef enum timer_state { TIMER_PENDING, TIMER_FIRED, TIMER_CANCELLED } timer_state;

struct ph_timer {
    struct ph_timer *next; /* g.timers: every timer since reset */
    ph_request *req;       /* NULL once the request is freed */
    uint64_t due_ms, delay_ms, seq;
    ph_timer_cb cb;
    void *arg;
    timer_state state;
};

typedef struct mock_line {
    ph_log_level level;
    char *text;
} mock_line;

typedef struct mock_lines {
    mock_line *v;
    size_t n, cap;
} mock_lines;

/* Everything global, under one lock that is never held across plugin code. */
static struct {
    pthread_mutex_t lock;
    uint64_t now_ms;
    uint64_t timer_seq;
    struct ph_timer *timers;
    ph_request *requests;
    mock_lines log;
    mock_lines misuses;
    unsigned faults[PH_MOCK_FAULT_COUNT_];
    int echo; /* -1: not decided yet (read PH_MOCK_LOG), 0, 1 */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .echo = -1};

/* The instance whose plugin code runs on this thread (init, handle, a
 * timer callback, fini), to name it in log lines logged without a request. */
static _Thread_local const ph_mock_instance *tl_inst;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static char *dup_str(const char *s)
{
    size_t len = strlen(s) + 1;
    char *d = malloc(len);
    if (d)
        memcpy(d, s, len);
    return d;
}

/* Copy of `len` bytes plus a NUL, or NULL (no memory). */
static char *dup_mem(const void *data, size_t len)
{
    char *d = malloc(len + 1);
    if (!d)
        return NULL;
    if (len)
        memcpy(d, data, len);
    d[len] = '\0';
    return d;
}

/* A malloc'ed formatted string, or NULL. */
static char *vformat(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

static uint64_t add_sat(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

static int pairs_add(mock_pairs *p, const char *name, const char *value)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        mock_pair *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return -1;
        p->v = v;
        p->cap = cap;
    }
    char *n = dup_str(name);
    char *val = dup_str(value);
    if (!n || !val) {
        free(n);
        free(val);
        return -1;
    }
    p->v[p->n].name = n;
    p->v[p->n].value = val;
    p->n++;
    return 0;
}

/* Index of the first pair named `name`, or -1. */
static long pairs_find(const mock_pairs *p, const char *name, bool nocase)
{
    for (size_t i = 0; i < p->n; i++) {
        if (nocase ? strcasecmp(p->v[i].name, name) == 0 : strcmp(p->v[i].name, name) == 0)
            return (long)i;
    }
    return -1;
}

static void pairs_remove_at(mock_pairs *p, size_t i)
{
    free(p->v[i].name);
    free(p->v[i].value);
    memmove(&p->v[i], &p->v[i + 1], (p->n - i - 1) * sizeof *p->v);
    p->n--;
}

static void pairs_free(mock_pairs *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].name);
        free(p->v[i].value);
    }
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* Append a line; the caller holds g.lock. Takes `text`. */
static void lines_add_locked(mock_lines *l, ph_log_level level, char *text)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        mock_line *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            free(text); /* nowhere to keep it: the line is lost */
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].level = level;
    l->v[l->n].text = text;
    l->n++;
}

static void lines_free(mock_lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].text);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static bool echo_enabled_locked(void)
{
    if (g.echo < 0) {
        const char *e = getenv("PH_MOCK_LOG");
        g.echo = e && *e && strcmp(e, "0") != 0;
    }
    return g.echo > 0;
}

/* Consume one armed failure of `fault`: true when the call must fail. */
static bool take_fault(ph_mock_fault fault)
{
    pthread_mutex_lock(&g.lock);
    bool fail = g.faults[fault] > 0;
    if (fail)
        g.faults[fault]--;
    pthread_mutex_unlock(&g.lock);
    return fail;
}

/* The instance `req` belongs to, else the one running on this thread. */
static const ph_mock_instance *current_inst(const ph_request *req)
{
    return req && req->inst ? req->inst : tl_inst;
}

static const char *plugin_name(const ph_request *req)
{
    const ph_mock_instance *inst = current_inst(req);
    return inst ? inst->plugin->name : "?";
}

/* Record a plugin API misuse (also printed to stderr). Any thread. */
static void misuse(const ph_request *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void misuse(const ph_request *req, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = vformat(fmt, ap);
    va_end(ap);
    fprintf(stderr, "ph_mock: plugin misuse [%s]: %s\n", plugin_name(req), text ? text : fmt);
    if (!text)
        return;
    pthread_mutex_lock(&g.lock);
    lines_add_locked(&g.misuses, PH_LOG_ERROR, text);
    pthread_mutex_unlock(&g.lock);
}

/* Record a log line: `who` prefixes the stderr echo only. Takes `text`. */
static void log_line(const char *who, const char *route, ph_log_level level, char *text)
{
    if (!text)
        return;
    if ((unsigned)level > PH_LOG_ERROR)
        level = PH_LOG_ERROR;
    pthread_mutex_lock(&g.lock);
    if (echo_enabled_locked())
        fprintf(stderr, "[%s] [%s %s] %s\n", level_names[level], who, route ? route : "-", text);
    lines_add_locked(&g.log, level, text);
    pthread_mutex_unlock(&g.lock);
}

/* The mock's own log lines (a refused plugin, a failed dlopen). */
static void host_log(ph_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void host_log(ph_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = vformat(fmt, ap);
    va_end(ap);
    log_line("host", NULL, level, text);
}

/* Cancel every pending timer bound to `req`; detach them when `detach`. */
static void cancel_timers_of(ph_request *req, bool detach)
{
    pthread_mutex_lock(&g.lock);
    for (struct ph_timer *t = g.timers; t; t = t->next) {
        if (t->req != req)
            continue;
        if (t->state == TIMER_PENDING)
            t->state = TIMER_CANCELLED;
        if (detach)
            t->req = NULL;
    }
    pthread_mutex_unlock(&g.lock);
}

/* ------------------------------------------------------------------ */
/* Settings slots                                                      */
/* ------------------------------------------------------------------ */

static const char *mock_setting(const ph_settings *s, const char *key)
{
    if (!s || !key)
        return NULL;
    long i = pairs_find(&s->kv, key, false);
    return i < 0 ? NULL : s->kv.v[i].value;
}

/* Strict decimal number: what strtod accepts, whole string, finite, and
 * neither hex nor inf/nan spelled out. */
static int parse_number(const char *text, double *out)
{
    if (!*text || strpbrk(text, "xXiInN") || strchr(" \t\r\n\f\v", text[0]))
        return -1;
    char *end;
    double v = strtod(text, &end);
    if (*end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int mock_setting_double(const ph_settings *s, const char *key, double def, double *out)
{
    if (!out)
        return -1;
    const char *text = mock_setting(s, key);
    if (!text) {
        *out = def;
        return 0;
    }
    return parse_number(text, out);
}

static const char *mock_route_path(const ph_settings *s) { return s ? s->route_path : NULL; }

/* ------------------------------------------------------------------ */
/* Request accessor slots                                              */
/* ------------------------------------------------------------------ */

/* True when the plugin may read `req`; a read after the response was sent
 * is recorded (the real host may have recycled the request) but allowed. */
static bool check_readable(const ph_request *req, const char *slot)
{
    if (!req) {
        misuse(NULL, "%s() with a NULL request", slot);
        return false;
    }
    if (req->state == REQ_DONE)
        misuse(req, "%s() after the response was sent: the real host may have "
                    "recycled the request",
               slot);
    return true;
}

static const char *mock_method(const ph_request *req)
{
    return check_readable(req, "method") ? req->method : NULL;
}

static const char *mock_path(const ph_request *req)
{
    return check_readable(req, "path") ? req->path : NULL;
}

static const char *mock_query(const ph_request *req)
{
    return check_readable(req, "query") ? req->query : NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode `len` bytes of `src` into `dst` (room for len+1), '+' as
 * space, invalid escapes kept as written. Returns the decoded length. */
static size_t percent_decode(char *dst, const char *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (src[i] == '+') {
            dst[o++] = ' ';
        } else if (src[i] == '%' && i + 2 < len && (hi = hexval(src[i + 1])) >= 0 &&
                   (lo = hexval(src[i + 2])) >= 0) {
            dst[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dst[o++] = src[i];
        }
    }
    dst[o] = '\0';
    return o;
}

/* Keep a decoded value alive until the request is freed. */
static const char *keep_decoded(ph_request *req, const char *src, size_t len)
{
    mock_decoded *d = malloc(sizeof *d + len + 1);
    if (!d)
        return NULL;
    percent_decode(d->text, src, len);
    d->next = req->decoded;
    req->decoded = d;
    return d->text;
}

static const char *mock_query_param(ph_request *req, const char *name)
{
    if (!check_readable(req, "query_param") || !name || take_fault(PH_MOCK_FAULT_NOMEM))
        return NULL;
    const char *p = req->query;
    size_t qlen = strlen(p);
    char *key = malloc(qlen + 1);
    if (!key)
        return NULL;
    const char *found = NULL;
    size_t nlen = strlen(name);
    while (*p) {
        size_t plen = strcspn(p, "&");
        size_t klen = strcspn(p, "=&");
        if (plen > 0) {
            /* compare lengths too: a key with %00 must not match a prefix */
            if (percent_decode(key, p, klen) == nlen && memcmp(key, name, nlen) == 0) {
                found = klen == plen ? "" : keep_decoded(req, p + klen + 1, plen - klen - 1);
                break;
            }
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    free(key);
    return found;
}

static const char *mock_header(const ph_request *req, const char *name)
{
    if (!check_readable(req, "header") || !name)
        return NULL;
    long i = pairs_find(&req->headers, name, true);
    return i < 0 ? NULL : req->headers.v[i].value;
}

static const void *mock_body(const ph_request *req, size_t *len)
{
    if (len)
        *len = 0;
    if (!check_readable(req, "body"))
        return "";
    if (len)
        *len = req->body_len;
    return req->body ? req->body : "";
}

/* ------------------------------------------------------------------ */
/* Response builder slots                                              */
/* ------------------------------------------------------------------ */

/* True when `slot` may build the response of `req` now. */
static bool builder_ok(const ph_request *req, const char *slot)
{
    if (!req) {
        misuse(NULL, "%s() with a NULL request", slot);
        return false;
    }
    switch (req->state) {
    case REQ_IN_HANDLE:
    case REQ_PENDING:
        return true;
    case REQ_NEW:
        misuse(req, "%s() on a request that is not being handled", slot);
        return false;
    case REQ_DONE:
    default:
        misuse(req, "%s() after the response was sent (handle returned or "
                    "complete() was called)",
               slot);
        return false;
    }
}

static int mock_set_status(ph_request *req, int status)
{
    if (!builder_ok(req, "set_status") || status < 100 || status > 599)
        return -1;
    req->status = status;
    return 0;
}

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *const host_managed[] = {"Content-Length", "Transfer-Encoding", "Connection",
                                           "Date"};

/* 0 when name: value may go on the wire, -1 otherwise. The name must be an
 * HTTP token (RFC 9110), which excludes CR, LF and NUL, and not a header the
 * host manages; the value must not hold CR or LF. */
static int check_header(const char *name, const char *value)
{
    if (!name || !value || !*name)
        return -1;
    for (const char *c = name; *c; c++) {
        if (!is_tchar((unsigned char)*c))
            return -1;
    }
    if (strpbrk(value, "\r\n"))
        return -1;
    for (size_t i = 0; i < sizeof host_managed / sizeof *host_managed; i++) {
        if (strcasecmp(name, host_managed[i]) == 0)
            return -1;
    }
    return 0;
}

static int mock_add_header(ph_request *req, const char *name, const char *value)
{
    if (!builder_ok(req, "add_header") || check_header(name, value) != 0)
        return -1;
    if (take_fault(PH_MOCK_FAULT_NOMEM))
        return -1;
    return pairs_add(&req->resp_headers, name, value);
}

/* Replace the response body with a copy (no state or fault check). */
static int put_body(ph_request *req, const void *data, size_t len)
{
    char *copy = NULL;
    if (len) {
        if (!data || !(copy = dup_mem(data, len)))
            return -1;
    }
    free(req->resp_body);
    req->resp_body = copy;
    req->resp_body_len = len;
    return 0;
}

static int mock_set_body(ph_request *req, const void *data, size_t len)
{
    if (!builder_ok(req, "set_body") || take_fault(PH_MOCK_FAULT_NOMEM))
        return -1;
    return put_body(req, data, len);
}

/* respond_json without the state and fault checks. */
static int put_json(ph_request *req, int status, const cJSON *json)
{
    if (!json || status < 100 || status > 599)
        return -1;
    char *text = cJSON_PrintUnformatted(json);
    if (!text)
        return -1;
    /* Like the host: a Content-Type the plugin set earlier is kept. */
    long ct = pairs_find(&req->resp_headers, "Content-Type", true);
    int rc = ct >= 0 ? 0 : pairs_add(&req->resp_headers, "Content-Type", "application/json");
    if (rc == 0)
        rc = put_body(req, text, strlen(text));
    if (rc == 0)
        req->status = status;
    cJSON_free(text);
    return rc;
}

static int mock_respond_json(ph_request *req, int status, const cJSON *json)
{
    if (!builder_ok(req, "respond_json") || take_fault(PH_MOCK_FAULT_NOMEM))
        return -1;
    return put_json(req, status, json);
}

static int mock_respond_error(ph_request *req, int status, const char *message)
{
    if (!builder_ok(req, "respond_error") || take_fault(PH_MOCK_FAULT_NOMEM))
        return -1;
    cJSON *obj = cJSON_CreateObject();
    if (!obj)
        return -1;
    int rc = -1;
    if (cJSON_AddStringToObject(obj, "error", message ? message : ""))
        rc = put_json(req, status, obj);
    cJSON_Delete(obj);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Log slot                                                            */
/* ------------------------------------------------------------------ */

static void mock_log(const ph_request *req, ph_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void mock_log(const ph_request *req, ph_log_level level, const char *fmt, ...)
{
    if (!fmt) {
        misuse(req, "log() with a NULL format");
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *text = vformat(fmt, ap);
    va_end(ap);
    const ph_mock_instance *inst = current_inst(req);
    log_line(plugin_name(req), inst ? inst->settings->route_path : NULL, level, text);
}

/* ------------------------------------------------------------------ */
/* Async slots                                                         */
/* ------------------------------------------------------------------ */

static int mock_complete(ph_request *req)
{
    if (!req) {
        misuse(NULL, "complete() with a NULL request");
        return -1;
    }
    req->complete_calls++;
    switch (req->state) {
    case REQ_PENDING:
        break;
    case REQ_IN_HANDLE:
        misuse(req, "complete() inside handle(): build the response and return PH_OK instead");
        return -1;
    case REQ_NEW:
        misuse(req, "complete() on a request that was never handled");
        return -1;
    case REQ_DONE:
    default:
        misuse(req, "complete() on a finished request (called twice, or after handle "
                    "returned PH_OK/PH_ERROR)");
        return -1;
    }
    req->state = REQ_DONE;
    cancel_timers_of(req, false);
    return 0;
}

static ph_timer *mock_timer_start(ph_request *req, uint64_t ms, ph_timer_cb cb, void *arg)
{
    if (!req || !cb) {
        misuse(req, "timer_start() with a NULL %s", req ? "callback" : "request");
        return NULL;
    }
    if (!req->inst || req->inst->plugin->mode != PH_MODE_ASYNC) {
        misuse(req, "timer_start() from a sync plugin: timers are loop-thread only");
        return NULL;
    }
    if (req->state != REQ_IN_HANDLE && req->state != REQ_PENDING) {
        misuse(req, "timer_start() on a request that is not in flight");
        return NULL;
    }
    if (take_fault(PH_MOCK_FAULT_TIMER_START))
        return NULL;
    struct ph_timer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->req = req;
    t->delay_ms = ms;
    t->cb = cb;
    t->arg = arg;
    t->state = TIMER_PENDING;
    pthread_mutex_lock(&g.lock);
    t->due_ms = add_sat(g.now_ms, ms);
    t->seq = g.timer_seq++;
    t->next = g.timers;
    g.timers = t;
    pthread_mutex_unlock(&g.lock);
    return t;
}

static void mock_timer_cancel(ph_timer *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&g.lock);
    timer_state was = t->state;
    if (was == TIMER_PENDING)
        t->state = TIMER_CANCELLED;
    const ph_request *req = t->req;
    pthread_mutex_unlock(&g.lock);
    if (was == TIMER_FIRED)
        misuse(req, "timer_cancel() on a timer that already fired: the real host has "
                    "freed it");
    else if (was == TIMER_CANCELLED)
        misuse(req, "timer_cancel() on a timer that was already cancelled (or whose "
                    "request completed): the real host has freed it");
}

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

static const ph_host_api mock_api = {
    .struct_size = sizeof(ph_host_api),
    .abi_version = PH_ABI_VERSION,
    .setting = mock_setting,
    .setting_double = mock_setting_double,
    .route_path = mock_route_path,
    .method = mock_method,
    .path = mock_path,
    .query = mock_query,
    .query_param = mock_query_param,
    .header = mock_header,
    .body = mock_body,
    .set_status = mock_set_status,
    .add_header = mock_add_header,
    .set_body = mock_set_body,
    .respond_json = mock_respond_json,
    .respond_error = mock_respond_error,
    .log = mock_log,
    .complete = mock_complete,
    .timer_start = mock_timer_start,
    .timer_cancel = mock_timer_cancel,
};

const ph_host_api *ph_mock_api(void) { return &mock_api; }

void ph_mock_reset(void)
{
    pthread_mutex_lock(&g.lock);
    struct ph_timer *t = g.timers;
    g.timers = NULL;
    lines_free(&g.log);
    lines_free(&g.misuses);
    memset(g.faults, 0, sizeof g.faults);
    g.now_ms = 0;
    g.timer_seq = 0;
    pthread_mutex_unlock(&g.lock);
    while (t) {
        struct ph_timer *next = t->next;
        free(t);
        t = next;
    }
}

/* ------------------------------------------------------------------ */
/* Settings                                                            */
/* ------------------------------------------------------------------ */

ph_settings *ph_mock_settings_new(const char *route_path, ...)
{
    ph_settings *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->route_path = dup_str(route_path ? route_path : "/");
    if (!s->route_path)
        goto fail;
    va_list ap;
    va_start(ap, route_path);
    int rc = 0;
    const char *key;
    while (rc == 0 && (key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        rc = value ? ph_mock_settings_set(s, key, value) : -1;
    }
    va_end(ap);
    if (rc != 0)
        goto fail;
    return s;
fail:
    ph_mock_settings_free(s);
    return NULL;
}

int ph_mock_settings_set(ph_settings *s, const char *key, const char *value)
{
    if (!s || !key)
        return -1;
    long i = pairs_find(&s->kv, key, false);
    if (!value) {
        if (i >= 0)
            pairs_remove_at(&s->kv, (size_t)i);
        return 0;
    }
    if (i < 0)
        return pairs_add(&s->kv, key, value);
    char *v = dup_str(value);
    if (!v)
        return -1;
    free(s->kv.v[i].value);
    s->kv.v[i].value = v;
    return 0;
}

void ph_mock_settings_free(ph_settings *s)
{
    if (!s)
        return;
    pairs_free(&s->kv);
    free(s->route_path);
    free(s);
}

/* ------------------------------------------------------------------ */
/* Instances                                                           */
/* ------------------------------------------------------------------ */

/* 0 when the host would accept `p`, else -1 with the reason logged. */
static int check_descriptor(const ph_plugin *p)
{
    if (!p) {
        host_log(PH_LOG_ERROR, "plugin refused: no descriptor (entry point returned NULL)");
        return -1;
    }
    if (PH_ABI_VERSION_MAJOR(p->abi_version) != PH_ABI_MAJOR) {
        host_log(PH_LOG_ERROR, "plugin refused: built for ABI %u.%u, host has %u.%u",
                 PH_ABI_VERSION_MAJOR(p->abi_version), PH_ABI_VERSION_MINOR(p->abi_version),
                 (unsigned)PH_ABI_MAJOR, (unsigned)PH_ABI_MINOR);
        return -1;
    }
    if (p->struct_size < offsetof(ph_plugin, handle) + sizeof p->handle) {
        host_log(PH_LOG_ERROR, "plugin refused: descriptor of %u bytes is too small",
                 (unsigned)p->struct_size);
        return -1;
    }
    if (!p->name || !p->handle || (p->mode != PH_MODE_SYNC && p->mode != PH_MODE_ASYNC)) {
        host_log(PH_LOG_ERROR, "plugin %s refused: descriptor needs a name, a handle and "
                               "a mode of PH_MODE_SYNC or PH_MODE_ASYNC",
                 p->name ? p->name : "(unnamed)");
        return -1;
    }
    return 0;
}

int ph_mock_init_with_api(const ph_host_api *api, const ph_plugin *plugin,
                          const ph_settings *settings, ph_mock_instance **out)
{
    if (!out)
        return -1;
    *out = NULL;
    if (!api || check_descriptor(plugin) != 0)
        return -1;
    ph_mock_instance *inst = calloc(1, sizeof *inst);
    if (!inst)
        return -1;
    if (!settings) {
        inst->owned_settings = ph_mock_settings_new("/", NULL);
        if (!inst->owned_settings) {
            free(inst);
            return -1;
        }
        settings = inst->owned_settings;
    }
    inst->plugin = plugin;
    inst->api = api;
    inst->settings = settings;
    if (plugin->init) {
        tl_inst = inst;
        int rc = plugin->init(api, settings, &inst->state);
        tl_inst = NULL;
        if (rc != 0) {
            host_log(PH_LOG_ERROR, "plugin %s refused to load for route %s (init returned %d)",
                     plugin->name, settings->route_path, rc);
            ph_mock_settings_free(inst->owned_settings);
            free(inst);
            return rc;
        }
    }
    *out = inst;
    return 0;
}

int ph_mock_init(const ph_plugin *plugin, const ph_settings *settings, ph_mock_instance **out)
{
    return ph_mock_init_with_api(&mock_api, plugin, settings, out);
}

int ph_mock_handle(ph_mock_instance *inst, ph_request *req)
{
    if (!inst || !req)
        return PH_ERROR;
    if (req->state != REQ_NEW) {
        misuse(req, "ph_mock_handle() on a request that was already handled (test bug: "
                    "make a new request)");
        return PH_ERROR;
    }
    req->inst = inst;
    req->state = REQ_IN_HANDLE;
    tl_inst = inst;
    int rc = inst->plugin->handle(inst->state, req);
    tl_inst = NULL;
    if (rc == PH_PENDING && inst->plugin->mode == PH_MODE_ASYNC) {
        req->state = REQ_PENDING;
        return rc;
    }
    if (rc == PH_PENDING)
        misuse(req, "handle() of a sync plugin returned PH_PENDING (the host answers 500)");
    else if (rc != PH_OK && rc != PH_ERROR)
        misuse(req, "handle() returned %d, which is not a ph_result (the host answers 500)",
               rc);
    if (rc != PH_OK)
        req->status = 500;
    req->state = REQ_DONE;
    cancel_timers_of(req, false);
    return rc;
}

void ph_mock_fini(ph_mock_instance *inst)
{
    if (!inst)
        return;
    size_t inflight = 0;
    pthread_mutex_lock(&g.lock);
    ph_request *list = g.requests;
    pthread_mutex_unlock(&g.lock);
    for (ph_request *r = list; r; r = r->next) {
        if (r->inst != inst)
            continue;
        if (r->state == REQ_PENDING) {
            inflight++;
            cancel_timers_of(r, true);
            r->state = REQ_DONE;
        }
        r->inst = NULL;
    }
    if (inflight)
        misuse(NULL, "fini of plugin %s with %zu request(s) still pending (test bug: the "
                     "host waits for them)",
               inst->plugin->name, inflight);
    if (inst->plugin->fini) {
        tl_inst = inst;
        inst->plugin->fini(inst->state);
        tl_inst = NULL;
    }
    ph_mock_settings_free(inst->owned_settings);
    free(inst);
}

void *ph_mock_instance_state(const ph_mock_instance *inst) { return inst ? inst->state : NULL; }

const ph_plugin *ph_mock_plugin_open(const char *path, void **handle)
{
    if (!path || !handle)
        return NULL;
    *handle = NULL;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        host_log(PH_LOG_ERROR, "cannot load plugin %s: %s", path, dlerror());
        return NULL;
    }
    void *sym = dlsym(h, PH_PLUGIN_ENTRY_SYMBOL);
    if (!sym) {
        host_log(PH_LOG_ERROR, "plugin %s does not export %s", path, PH_PLUGIN_ENTRY_SYMBOL);
        dlclose(h);
        return NULL;
    }
    ph_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const ph_plugin *p = entry();
    if (check_descriptor(p) != 0) {
        host_log(PH_LOG_ERROR, "plugin %s refused", path);
        dlclose(h);
        return NULL;
    }
    *handle = h;
    return p;
}

int ph_mock_plugin_close(void *handle) { return handle ? dlclose(handle) : 0; }

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

ph_request *ph_mock_request_new(const char *method, const char *target)
{
    if (!method || !target)
        return NULL;
    ph_request *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    req->method = dup_str(method);
    req->path = dup_mem(target, plen);
    req->query = dup_str(q ? q + 1 : "");
    if (!req->method || !req->path || !req->query) {
        free(req->method);
        free(req->path);
        free(req->query);
        free(req);
        return NULL;
    }
    req->status = 200;
    req->state = REQ_NEW;
    pthread_mutex_lock(&g.lock);
    req->next = g.requests;
    if (g.requests)
        g.requests->prev = req;
    g.requests = req;
    pthread_mutex_unlock(&g.lock);
    return req;
}

int ph_mock_request_add_header(ph_request *req, const char *name, const char *value)
{
    if (!req || !name || !value)
        return -1;
    return pairs_add(&req->headers, name, value);
}

int ph_mock_request_set_body(ph_request *req, const void *data, size_t len)
{
    if (!req || (len && !data))
        return -1;
    char *copy = NULL;
    if (len && !(copy = dup_mem(data, len)))
        return -1;
    free(req->body);
    req->body = copy;
    req->body_len = len;
    return 0;
}

int ph_mock_request_set_body_str(ph_request *req, const char *body)
{
    return body ? ph_mock_request_set_body(req, body, strlen(body)) : -1;
}

void ph_mock_request_free(ph_request *req)
{
    if (!req)
        return;
    cancel_timers_of(req, true);
    pthread_mutex_lock(&g.lock);
    if (req->prev)
        req->prev->next = req->next;
    else
        g.requests = req->next;
    if (req->next)
        req->next->prev = req->prev;
    pthread_mutex_unlock(&g.lock);
    while (req->decoded) {
        mock_decoded *d = req->decoded;
        req->decoded = d->next;
        free(d);
    }
    pairs_free(&req->headers);
    pairs_free(&req->resp_headers);
    free(req->method);
    free(req->path);
    free(req->query);
    free(req->body);
    free(req->resp_body);
    free(req);
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

int ph_mock_response_status(const ph_request *req) { return req ? req->status : 0; }

const char *ph_mock_response_header(const ph_request *req, const char *name)
{
    if (!req || !name)
        return NULL;
    long i = pairs_find(&req->resp_headers, name, true);
    return i < 0 ? NULL : req->resp_headers.v[i].value;
}

size_t ph_mock_response_header_count(const ph_request *req) { return req ? req->resp_headers.n : 0; }

int ph_mock_response_header_at(const ph_request *req, size_t i, const char **name,
                               const char **value)
{
    if (!req || i >= req->resp_headers.n)
        return -1;
    if (name)
        *name = req->resp_headers.v[i].name;
    if (value)
        *value = req->resp_headers.v[i].value;
    return 0;
}

const char *ph_mock_response_body(const ph_request *req, size_t *len)
{
    if (len)
        *len = req ? req->resp_body_len : 0;
    return req && req->resp_body ? req->resp_body : "";
}

struct cJSON *ph_mock_response_json(const ph_request *req)
{
    if (!req || !req->resp_body)
        return NULL;
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(req->resp_body, req->resp_body_len, &end, 0);
    if (!json)
        return NULL;
    /* refuse trailing bytes other than whitespace */
    while (end < req->resp_body + req->resp_body_len && *end && strchr(" \t\r\n", *end))
        end++;
    if (end != req->resp_body + req->resp_body_len) {
        cJSON_Delete(json);
        return NULL;
    }
    return json;
}

bool ph_mock_responded(const ph_request *req) { return req && req->state == REQ_DONE; }

unsigned ph_mock_complete_calls(const ph_request *req) { return req ? req->complete_calls : 0; }

/* ------------------------------------------------------------------ */
/* Clock and timers                                                    */
/* ------------------------------------------------------------------ */

uint64_t ph_mock_now_ms(void)
{
    pthread_mutex_lock(&g.lock);
    uint64_t now = g.now_ms;
    pthread_mutex_unlock(&g.lock);
    return now;
}

/* The pending timer that fires first by `limit`, or NULL. Under g.lock. */
static struct ph_timer *next_due_locked(uint64_t limit)
{
    struct ph_timer *best = NULL;
    for (struct ph_timer *t = g.timers; t; t = t->next) {
        if (t->state != TIMER_PENDING || t->due_ms > limit)
            continue;
        if (!best || t->due_ms < best->due_ms ||
            (t->due_ms == best->due_ms && t->seq < best->seq))
            best = t;
    }
    return best;
}

size_t ph_mock_run_timers(uint64_t ms)
{
    size_t fired = 0;
    pthread_mutex_lock(&g.lock);
    uint64_t target = add_sat(g.now_ms, ms);
    for (;;) {
        struct ph_timer *t = next_due_locked(target);
        if (!t)
            break;
        if (t->due_ms > g.now_ms)
            g.now_ms = t->due_ms;
        t->state = TIMER_FIRED;
        ph_request *req = t->req;
        ph_timer_cb cb = t->cb;
        void *arg = t->arg;
        pthread_mutex_unlock(&g.lock);
        tl_inst = req ? req->inst : NULL;
        cb(req, arg);
        tl_inst = NULL;
        fired++;
        pthread_mutex_lock(&g.lock);
    }
    g.now_ms = target;
    pthread_mutex_unlock(&g.lock);
    return fired;
}

size_t ph_mock_timers_pending(const ph_request *req)
{
    size_t n = 0;
    pthread_mutex_lock(&g.lock);
    for (struct ph_timer *t = g.timers; t; t = t->next) {
        if (t->state == TIMER_PENDING && (!req || t->req == req))
            n++;
    }
    pthread_mutex_unlock(&g.lock);
    return n;
}

size_t ph_mock_timer_list(ph_mock_timer_info *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&g.lock);
    /* repeated minimum search in (due, seq) order: quadratic, and tests
     * hold a handful of timers */
    uint64_t last_due = 0, last_seq = 0;
    bool have_last = false;
    for (;;) {
        struct ph_timer *best = NULL;
        for (struct ph_timer *t = g.timers; t; t = t->next) {
            if (t->state != TIMER_PENDING)
                continue;
            if (have_last && (t->due_ms < last_due || (t->due_ms == last_due && t->seq <= last_seq)))
                continue;
            if (!best || t->due_ms < best->due_ms ||
                (t->due_ms == best->due_ms && t->seq < best->seq))
                best = t;
        }
        if (!best)
            break;
        if (out && n < max)
            out[n] = (ph_mock_timer_info){best->due_ms, best->delay_ms, best->req};
        n++;
        last_due = best->due_ms;
        last_seq = best->seq;
        have_last = true;
    }
    pthread_mutex_unlock(&g.lock);
    return n;
}

/* ------------------------------------------------------------------ */
/* Faults, log, misuse                                                 */
/* ------------------------------------------------------------------ */

void ph_mock_fail_next(ph_mock_fault fault, unsigned count)
{
    if ((unsigned)fault >= PH_MOCK_FAULT_COUNT_)
        return;
    pthread_mutex_lock(&g.lock);
    g.faults[fault] = count;
    pthread_mutex_unlock(&g.lock);
}

void ph_mock_log_echo(bool on)
{
    pthread_mutex_lock(&g.lock);
    g.echo = on;
    pthread_mutex_unlock(&g.lock);
}

size_t ph_mock_log_count(void)
{
    pthread_mutex_lock(&g.lock);
    size_t n = g.log.n;
    pthread_mutex_unlock(&g.lock);
    return n;
}

const char *ph_mock_log_line(size_t i, ph_log_level *level)
{
    const char *text = NULL;
    pthread_mutex_lock(&g.lock);
    if (i < g.log.n) {
        text = g.log.v[i].text;
        if (level)
            *level = g.log.v[i].level;
    }
    pthread_mutex_unlock(&g.lock);
    return text;
}

size_t ph_mock_log_find(ph_log_level min_level, const char *needle)
{
    size_t n = 0;
    pthread_mutex_lock(&g.lock);
    for (size_t i = 0; i < g.log.n; i++) {
        if (g.log.v[i].level >= min_level && (!needle || strstr(g.log.v[i].text, needle)))
            n++;
    }
    pthread_mutex_unlock(&g.lock);
    return n;
}

size_t ph_mock_misuse_count(void)
{
    pthread_mutex_lock(&g.lock);
    size_t n = g.misuses.n;
    pthread_mutex_unlock(&g.lock);
    return n;
}

const char *ph_mock_misuse(size_t i)
{
    pthread_mutex_lock(&g.lock);
    const char *text = i < g.misuses.n ? g.misuses.v[i].text : NULL;
    pthread_mutex_unlock(&g.lock);
    return text;
}
