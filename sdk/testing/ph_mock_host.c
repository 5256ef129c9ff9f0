/*
 * ph_mock_host.c - the plughost host API in memory, for plugin unit tests.
 * See ph_mock_host.h for the contract of every public function.
 */
#define _POSIX_C_SOURCE 200809L

#include "ph_mock_host.h"
#include "ph_mock_settings.h"

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
    REQ_ABORTING,  /* ph_mock_abort: the abort callback is on the stack */
    REQ_ABORTED,   /* ended by ph_mock_abort: the real host has freed it */
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
    mock_pairs path_params; /* set by the test, names case-sensitive */
    char client_addr[48];   /* "127.0.0.1" unless the test sets another */

    int status;
    mock_pairs resp_headers;
    char *resp_body; /* NUL-terminated; NULL when empty */
    size_t resp_body_len;
    size_t resp_body_cap; /* allocated size of resp_body (streams append) */

    req_state state;
    ph_mock_instance *inst;
    unsigned complete_calls;

    ph_abort_cb abort_cb;
    void *abort_arg;
    unsigned abort_calls;

    bool streaming;       /* stream_begin succeeded */
    bool stream_ended;    /* finished by the plugin */
    bool failed;          /* complete_failed() succeeded (since 1.4) */
    bool stream_over_hw;  /* stream_write returned 1, no drain since */
    size_t stream_writes;
    size_t stream_buffered; /* bytes written since the last drain */
    ph_drain_cb drain_cb;
    void *drain_arg;
    unsigned drain_calls;
};

typedef enum timer_state { TIMER_PENDING, TIMER_FIRED, TIMER_CANCELLED } timer_state;

struct ph_timer {
    struct ph_timer *next; /* g.timers: every timer since reset */
    ph_request *req;       /* NULL once the request is freed */
    uint64_t due_ms, delay_ms, seq;
    uint64_t repeat_ms;    /* timer_repeat period; 0 for a one-shot timer */
    ph_timer_cb cb;
    void *arg;
    struct ph_fetch *fetch; /* internal timer: the time-out of this fetch */
    timer_state state;
};

typedef enum fetch_state { FETCH_PENDING, FETCH_ANSWERED, FETCH_CANCELLED } fetch_state;

struct ph_fetch {
    struct ph_fetch *next; /* g.fetches, in start order: every fetch since reset */
    ph_request *req;       /* NULL once the request is freed */
    char *method, *url;
    char **headers;        /* name, value, ..., NULL */
    size_t nheaders;       /* pairs */
    char *body;            /* NUL-terminated copy */
    size_t body_len;
    uint64_t timeout_ms;
    ph_fetch_cb cb;
    void *arg;
    struct ph_timer *timeout;
    fetch_state state;
    /* fetch_stream (since 1.4) */
    bool streaming;
    ph_fetch_stream_cbs scb;
    bool paused;
    bool head_sent;
    int head_status;
};

/* An offloaded job: `work` still runs after its request ended (as on the
 * real pool), and `done` then runs with a NULL request. */
typedef struct mock_job {
    struct mock_job *next; /* g.jobs, in offload order: every job since reset */
    ph_request *req;       /* NULL once the request is freed */
    const ph_mock_instance *inst;
    ph_work_fn work;
    ph_work_done_fn done;
    void *arg;
    bool worked;   /* work() has returned */
    bool discard;  /* the request ended: done() gets a NULL request */
    bool finished; /* done() ran */
} mock_job;

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
    struct ph_fetch *fetches, **fetch_tail;
    mock_job *jobs, **job_tail;
    size_t high_water; /* stream_write returns 1 above it */
    ph_request *requests;
    mock_lines log;
    mock_lines misuses;
    unsigned faults[PH_MOCK_FAULT_COUNT_];
    int echo; /* -1: not decided yet (read PH_MOCK_LOG), 0, 1 */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .echo = -1,
       .fetch_tail = &g.fetches,
       .job_tail = &g.jobs,
       .high_water = SIZE_MAX};

/* The instance whose plugin code runs on this thread (init, handle, a
 * timer callback, fini), to name it in log lines logged without a request. */
static _Thread_local const ph_mock_instance *tl_inst;

/* True on a thread running an offloaded work function. */
static _Thread_local bool tl_in_work;

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

/* A malloc'ed formatted string, or NULL. */
static char *vformat_str(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *vformat_str(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(fmt, ap);
    va_end(ap);
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

/* The request is ending (response final, aborted, freed): cancel every
 * pending timer and fetch bound to `req`; its offloaded jobs still run and
 * their done callbacks get a NULL request. Detach them all when `detach`
 * (the request memory is going away). */
static void end_primitives(ph_request *req, bool detach)
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
    for (struct ph_fetch *f = g.fetches; f; f = f->next) {
        if (f->req != req)
            continue;
        if (f->state == FETCH_PENDING)
            f->state = FETCH_CANCELLED;
        if (detach)
            f->req = NULL;
    }
    for (mock_job *j = g.jobs; j; j = j->next) {
        if (j->req != req)
            continue;
        j->discard = true;
        if (detach)
            j->req = NULL;
    }
    pthread_mutex_unlock(&g.lock);
}

/* True (after recording a misuse) when the calling thread runs an offloaded
 * work function: `slot` must not be called there with a request. Checked
 * before `req` is read, since reading it there is the race itself. */
static bool in_work(const char *slot)
{
    if (!tl_in_work)
        return false;
    misuse(NULL, "%s() inside an offloaded work function: work runs on a pool thread and "
                 "must not touch the request (do it in the done callback)",
           slot);
    return true;
}

/* Why a request in `state` cannot be acted on, for misuse messages; NULL
 * when it is in flight (inside handle() or pending). */
static const char *not_in_flight(req_state state)
{
    switch (state) {
    case REQ_IN_HANDLE:
    case REQ_PENDING:
        return NULL;
    case REQ_NEW:
        return "on a request that is not being handled";
    case REQ_ABORTING:
        return "inside the abort callback: the request is ending, no new work or "
               "response is possible";
    case REQ_ABORTED:
        return "after the request was aborted: the real host has freed it";
    case REQ_DONE:
    default:
        return "after the response was sent (handle returned or complete() was called)";
    }
}

/* True when the async-only `slot` (timers, abort, fetch, offload, streams)
 * may act on `req` now: not from a work function, on a request of an async
 * plugin that is in flight. Records a misuse otherwise. */
static bool async_ok(const ph_request *req, const char *slot)
{
    if (in_work(slot))
        return false;
    if (!req) {
        misuse(NULL, "%s() with a NULL request", slot);
        return false;
    }
    if (!req->inst || req->inst->plugin->mode != PH_MODE_ASYNC) {
        misuse(req, "%s() from a sync plugin: it is a loop-thread primitive for async "
                    "plugins",
               slot);
        return false;
    }
    const char *why = not_in_flight(req->state);
    if (why) {
        misuse(req, "%s() %s", slot, why);
        return false;
    }
    return true;
}

/* Free what a plugin could have kept pointers into (body, headers, path
 * parameters, decoded query values), as the host frees an aborted request:
 * a plugin still holding one trips AddressSanitizer. */
static void release_request_data(ph_request *req)
{
    while (req->decoded) {
        mock_decoded *d = req->decoded;
        req->decoded = d->next;
        free(d);
    }
    pairs_free(&req->headers);
    pairs_free(&req->path_params);
    free(req->body);
    req->body = NULL;
    req->body_len = 0;
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
 * is recorded (the real host may have recycled the request) but allowed; a
 * read after an abort or from a work function is recorded and refused. */
static bool check_readable(const ph_request *req, const char *slot)
{
    if (in_work(slot))
        return false;
    if (!req) {
        misuse(NULL, "%s() with a NULL request", slot);
        return false;
    }
    if (req->state == REQ_DONE)
        misuse(req, "%s() after the response was sent: the real host may have "
                    "recycled the request",
               slot);
    if (req->state == REQ_ABORTED) {
        misuse(req, "%s() %s", slot, not_in_flight(req->state));
        return false;
    }
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

static size_t mock_header_count(const ph_request *req)
{
    return check_readable(req, "header_count") ? req->headers.n : 0;
}

static int mock_header_at(const ph_request *req, size_t i, const char **name, const char **value)
{
    if (!check_readable(req, "header_at") || !name || !value || i >= req->headers.n)
        return -1;
    *name = req->headers.v[i].name;
    *value = req->headers.v[i].value;
    return 0;
}

static const char *mock_client_addr(const ph_request *req)
{
    return check_readable(req, "client_addr") ? req->client_addr : "";
}

static const char *mock_path_param(ph_request *req, const char *name)
{
    if (!check_readable(req, "path_param") || !name)
        return NULL;
    long i = pairs_find(&req->path_params, name, false);
    return i < 0 ? NULL : req->path_params.v[i].value;
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

/* True when `slot` may build the response of `req` now: in flight, not
 * from a work function, and not a stream (whose status and headers are
 * already on the wire). */
static bool builder_ok(const ph_request *req, const char *slot)
{
    if (in_work(slot))
        return false;
    if (!req) {
        misuse(NULL, "%s() with a NULL request", slot);
        return false;
    }
    const char *why = not_in_flight(req->state);
    if (why) {
        misuse(req, "%s() %s", slot, why);
        return false;
    }
    if (req->streaming) {
        misuse(req, "%s() after stream_begin(): the status and headers are already sent; "
                    "the body goes through stream_write()",
               slot);
        return false;
    }
    return true;
}

/* Like the host: a plugin's status is final, 200-599 (a 1xx would go out
 * unframed); anything else is refused (-1, logged as the host logs it). */
static bool status_ok(const ph_request *req, int status, const char *slot)
{
    if (status >= 200 && status <= 599)
        return true;
    fprintf(stderr, "ph_mock [%s]: %s() with status %d refused: a plugin's status must be 200-599\n",
            plugin_name(req), slot, status);
    return false;
}

static int mock_set_status(ph_request *req, int status)
{
    if (!builder_ok(req, "set_status") || !status_ok(req, status, "set_status"))
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

/* True when `s` is a non-empty HTTP token (RFC 9110): a header name or a
 * method. Excludes CR, LF, NUL, spaces and separators. */
static bool is_token(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *c = s; *c; c++) {
        if (!is_tchar((unsigned char)*c))
            return false;
    }
    return true;
}

/* 0 when name: value may go on the wire, -1 otherwise. The name must be an
 * HTTP token (RFC 9110), which excludes CR, LF and NUL, and not a header the
 * host manages; the value must not hold CR or LF. */
static int check_header(const char *name, const char *value)
{
    if (!is_token(name) || !value || strpbrk(value, "\r\n"))
        return -1;
    for (size_t i = 0; i < sizeof host_managed / sizeof *host_managed; i++) {
        if (strcasecmp(name, host_managed[i]) == 0)
            return -1;
    }
    return 0;
}

/* The one body of add_header and add_header_n (`slot`, named in a
 * misuse): the `nlen` bytes at `name` and the `vlen` at `value`, read no
 * further, are added when the request may build and the host would take
 * them: no NUL inside either (only add_header_n can pass one), then
 * check_header's rules. Returns 0 or -1. */
static int add_header_span(ph_request *req, const char *slot, const char *name, size_t nlen, const char *value,
                           size_t vlen)
{
    if (!builder_ok(req, slot) || !name || !value || memchr(name, '\0', nlen) || memchr(value, '\0', vlen))
        return -1;
    char *n = dup_mem(name, nlen), *v = dup_mem(value, vlen);
    int rc = -1;
    if (n && v && check_header(n, v) == 0 && !take_fault(PH_MOCK_FAULT_NOMEM))
        rc = pairs_add(&req->resp_headers, n, v);
    free(n);
    free(v);
    return rc;
}

static int mock_add_header(ph_request *req, const char *name, const char *value)
{
    return add_header_span(req, "add_header", name, name ? strlen(name) : 0, value, value ? strlen(value) : 0);
}

/* ABI 1.5. */
static int mock_add_header_n(ph_request *req, const char *name, size_t name_len, const char *value,
                             size_t value_len)
{
    return add_header_span(req, "add_header_n", name, name_len, value, value_len);
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
    req->resp_body_cap = len ? len + 1 : 0;
    return 0;
}

/* Append `len` bytes to the response body (a stream), keeping it
 * NUL-terminated. Returns 0 or -1 (no memory). */
static int append_body(ph_request *req, const void *data, size_t len)
{
    size_t need = req->resp_body_len + len + 1;
    if (need > req->resp_body_cap) {
        size_t cap = req->resp_body_cap ? req->resp_body_cap : 256;
        while (cap < need)
            cap *= 2;
        char *b = realloc(req->resp_body, cap);
        if (!b)
            return -1;
        req->resp_body = b;
        req->resp_body_cap = cap;
    }
    if (len)
        memcpy(req->resp_body + req->resp_body_len, data, len);
    req->resp_body_len += len;
    req->resp_body[req->resp_body_len] = '\0';
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
    if (!builder_ok(req, "respond_json") || !status_ok(req, status, "respond_json") ||
        take_fault(PH_MOCK_FAULT_NOMEM))
        return -1;
    return put_json(req, status, json);
}

static int mock_respond_error(ph_request *req, int status, const char *message)
{
    if (!builder_ok(req, "respond_error") || !status_ok(req, status, "respond_error") ||
        take_fault(PH_MOCK_FAULT_NOMEM))
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
    if (req && in_work("log")) /* log(NULL, ...) is fine there */
        req = NULL;
    if (req && req->state == REQ_ABORTED) {
        misuse(req, "log() with a request %s", not_in_flight(req->state));
        req = NULL;
    }
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

/* True when `slot` (complete or complete_failed) may finish `req` now; records a
 * misuse otherwise. */
static bool finish_ok(ph_request *req, const char *slot)
{
    switch (req->state) {
    case REQ_PENDING:
        return true;
    case REQ_IN_HANDLE:
        misuse(req, "%s() inside handle(): build the response and return PH_OK (or PH_ERROR) instead", slot);
        return false;
    case REQ_NEW:
        misuse(req, "%s() on a request that was never handled", slot);
        return false;
    case REQ_ABORTING:
    case REQ_ABORTED:
        misuse(req, "%s() %s", slot, not_in_flight(req->state));
        return false;
    case REQ_DONE:
    default:
        misuse(req, "%s() on a finished request (complete() or complete_failed() twice, or after handle "
                    "returned PH_OK/PH_ERROR)",
               slot);
        return false;
    }
}

static int mock_complete(ph_request *req)
{
    if (in_work("complete"))
        return -1;
    if (!req) {
        misuse(NULL, "complete() with a NULL request");
        return -1;
    }
    req->complete_calls++;
    if (!finish_ok(req, "complete"))
        return -1;
    req->state = REQ_DONE;
    if (req->streaming)
        req->stream_ended = true;
    end_primitives(req, false);
    return 0;
}

/* ---- 1.4: fail ---- */

static int mock_complete_failed(ph_request *req, const char *why)
{
    if (in_work("complete_failed"))
        return -1;
    if (!req) {
        misuse(NULL, "complete_failed() with a NULL request");
        return -1;
    }
    if (!finish_ok(req, "complete_failed"))
        return -1;
    req->state = REQ_DONE;
    req->failed = true;
    const ph_mock_instance *inst = current_inst(req);
    if (req->streaming) {
        /* the host closes the connection without the body's end */
        log_line("host", inst ? inst->settings->route_path : NULL, PH_LOG_WARN,
                 vformat_str("complete_failed() after stream_begin: %s; cutting the stream short", why ? why : "no reason given"));
    } else {
        log_line("host", inst ? inst->settings->route_path : NULL, PH_LOG_ERROR,
                 vformat_str("complete_failed(): %s; answered 500", why ? why : "no reason given"));
        cJSON *obj = cJSON_CreateObject();
        if (obj && cJSON_AddStringToObject(obj, "error", "internal server error"))
            put_json(req, 500, obj);
        else
            req->status = 500;
        cJSON_Delete(obj);
    }
    end_primitives(req, false);
    return 0;
}

/* Add a pending timer to g.timers (plugin timer, or the time-out of
 * `fetch`). Returns it, or NULL (no memory). */
static struct ph_timer *add_timer(ph_request *req, uint64_t ms, uint64_t repeat_ms, ph_timer_cb cb,
                                  void *arg, struct ph_fetch *fetch)
{
    struct ph_timer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->req = req;
    t->delay_ms = ms;
    t->repeat_ms = repeat_ms;
    t->cb = cb;
    t->arg = arg;
    t->fetch = fetch;
    t->state = TIMER_PENDING;
    pthread_mutex_lock(&g.lock);
    t->due_ms = add_sat(g.now_ms, ms);
    t->seq = g.timer_seq++;
    t->next = g.timers;
    g.timers = t;
    pthread_mutex_unlock(&g.lock);
    return t;
}

/* timer_start / timer_repeat: `slot` names the one called. */
static ph_timer *start_timer(const char *slot, ph_request *req, uint64_t ms, bool repeat,
                             ph_timer_cb cb, void *arg)
{
    if (!async_ok(req, slot))
        return NULL;
    if (!cb) {
        misuse(req, "%s() with a NULL callback", slot);
        return NULL;
    }
    if (repeat && ms == 0) {
        misuse(req, "timer_repeat() with 0 ms: that busy-loops the event loop");
        return NULL;
    }
    if (take_fault(PH_MOCK_FAULT_TIMER_START))
        return NULL;
    return add_timer(req, ms, repeat ? ms : 0, cb, arg, NULL);
}

static ph_timer *mock_timer_start(ph_request *req, uint64_t ms, ph_timer_cb cb, void *arg)
{
    return start_timer("timer_start", req, ms, false, cb, arg);
}

static ph_timer *mock_timer_repeat(ph_request *req, uint64_t ms, ph_timer_cb cb, void *arg)
{
    return start_timer("timer_repeat", req, ms, true, cb, arg);
}

static void mock_timer_cancel(ph_timer *t)
{
    if (!t || in_work("timer_cancel"))
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

/* ---- 1.1: abort ---- */

static int mock_on_abort(ph_request *req, ph_abort_cb cb, void *arg)
{
    if (!async_ok(req, "on_abort"))
        return -1;
    req->abort_cb = cb;
    req->abort_arg = arg;
    return 0;
}

/* ---- 1.1: fetch ---- */

#define FETCH_DEFAULT_TIMEOUT_MS 30000u

/* True when the plugin's ph_fetch_request is large enough (struct_size) to
 * hold `field`: a plugin built against an older header has a smaller one. */
#define FREQ_HAS(freq, field)                                                  \
    ((freq)->struct_size >= offsetof(ph_fetch_request, field) + sizeof((freq)->field))

/* True for what the host's fetch can start: http://authority[/...], with a
 * non-empty authority and no space or control character anywhere. */
static bool fetchable_url(const char *url)
{
    if (strncasecmp(url, "http://", 7) != 0)
        return false;
    for (const char *c = url; *c; c++) {
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return false;
    }
    return strcspn(url + 7, "/?#") > 0;
}

static void fetch_free(struct ph_fetch *f)
{
    for (char **h = f->headers; h && *h; h++)
        free(*h);
    free(f->headers);
    free(f->method);
    free(f->url);
    free(f->body);
    free(f);
}

/* Check and count the plugin's header list (name, value, ..., NULL).
 * Returns the number of pairs, or -1 after recording a misuse. */
static long count_fetch_headers(const ph_request *req, const char *const *headers)
{
    long n = 0;
    for (const char *const *h = headers; h && h[0]; h += 2, n++) {
        if (!h[1]) {
            misuse(req, "fetch(): header %s has no value (the list is name, value, ..., NULL)",
                   h[0]);
            return -1;
        }
        if (!is_token(h[0]) || strpbrk(h[1], "\r\n")) {
            misuse(req, "fetch(): header \"%s\" is not a valid field (name must be a token, "
                        "value without CR/LF)",
                   h[0]);
            return -1;
        }
    }
    return n;
}

/* A recorded copy of what the plugin asked for, or NULL (no memory). */
static struct ph_fetch *fetch_copy(const char *method, const char *url,
                                   const char *const *headers, size_t nheaders,
                                   const void *body, size_t body_len)
{
    struct ph_fetch *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->method = dup_str(method);
    f->url = dup_str(url);
    f->body = dup_mem(body, body_len);
    f->body_len = body_len;
    f->headers = calloc(2 * nheaders + 1, sizeof *f->headers);
    bool ok = f->method && f->url && f->body && f->headers;
    for (size_t i = 0; ok && i < 2 * nheaders; i++)
        ok = (f->headers[i] = dup_str(headers[i])) != NULL;
    f->nheaders = nheaders;
    if (!ok) {
        fetch_free(f);
        return NULL;
    }
    return f;
}

/* fetch() and fetch_stream(): `slot` names the one called; the
 * callbacks were checked. */
static ph_fetch *start_fetch(const char *slot, ph_request *req, const ph_fetch_request *freq, ph_fetch_cb cb,
                             const ph_fetch_stream_cbs *scb, void *arg)
{
    if (!FREQ_HAS(freq, url)) {
        misuse(req, "%s(): ph_fetch_request.struct_size is %u; set it to "
                    "sizeof(ph_fetch_request)",
               slot, (unsigned)freq->struct_size);
        return NULL;
    }
    const char *method = freq->method ? freq->method : "GET";
    const char *const *headers = FREQ_HAS(freq, headers) ? freq->headers : NULL;
    const void *body = FREQ_HAS(freq, body) ? freq->body : NULL;
    size_t body_len = FREQ_HAS(freq, body_len) ? freq->body_len : 0;
    uint64_t timeout_ms = FREQ_HAS(freq, timeout_ms) ? freq->timeout_ms : 0;
    if (!freq->url || !is_token(method) || (body_len && !body)) {
        misuse(req, "%s() with %s", slot,
               !freq->url          ? "a NULL url"
               : !is_token(method) ? "a method that is not a token"
                                   : "body_len > 0 and a NULL body");
        return NULL;
    }
    long nheaders = count_fetch_headers(req, headers);
    if (nheaders < 0)
        return NULL;
    if (!fetchable_url(freq->url)) {
        host_log(PH_LOG_ERROR, "fetch: cannot start %s %s: not an http://host[:port]/path URL",
                 method, freq->url);
        return NULL;
    }
    if (take_fault(PH_MOCK_FAULT_FETCH))
        return NULL;
    struct ph_fetch *f = fetch_copy(method, freq->url, headers, (size_t)nheaders, body, body_len);
    if (!f)
        return NULL;
    f->req = req;
    f->timeout_ms = timeout_ms;
    f->cb = cb;
    f->arg = arg;
    f->state = FETCH_PENDING;
    f->streaming = scb != NULL;
    if (scb)
        f->scb = *scb;
    f->timeout = add_timer(req, timeout_ms ? timeout_ms : FETCH_DEFAULT_TIMEOUT_MS, 0, NULL,
                           NULL, f);
    if (!f->timeout) {
        fetch_free(f);
        return NULL;
    }
    pthread_mutex_lock(&g.lock);
    *g.fetch_tail = f;
    g.fetch_tail = &f->next;
    pthread_mutex_unlock(&g.lock);
    return f;
}

static ph_fetch *mock_fetch(ph_request *req, const ph_fetch_request *freq, ph_fetch_cb cb,
                            void *arg)
{
    if (!async_ok(req, "fetch"))
        return NULL;
    if (!freq || !cb) {
        misuse(req, "fetch() with a NULL %s", freq ? "callback" : "ph_fetch_request");
        return NULL;
    }
    return start_fetch("fetch", req, freq, cb, NULL, arg);
}

/* ---- 1.4: streaming fetch ---- */

static ph_fetch *mock_fetch_stream(ph_request *req, const ph_fetch_request *freq,
                                   const ph_fetch_stream_cbs *cbs, void *arg)
{
    if (!async_ok(req, "fetch_stream"))
        return NULL;
    if (!freq || !cbs) {
        misuse(req, "fetch_stream() with a NULL %s", freq ? "ph_fetch_stream_cbs" : "ph_fetch_request");
        return NULL;
    }
    if (cbs->struct_size < offsetof(ph_fetch_stream_cbs, on_end) + sizeof cbs->on_end || !cbs->on_head ||
        !cbs->on_body || !cbs->on_end) {
        misuse(req, "fetch_stream(): ph_fetch_stream_cbs needs struct_size = sizeof(ph_fetch_stream_cbs) and "
                    "on_head, on_body and on_end");
        return NULL;
    }
    ph_fetch_stream_cbs copy = {0};
    memcpy(&copy, cbs, cbs->struct_size < sizeof copy ? cbs->struct_size : sizeof copy);
    return start_fetch("fetch_stream", req, freq, NULL, &copy, arg);
}

/* fetch_pause / fetch_resume: `slot` names the one called. */
static int set_paused(ph_fetch *f, bool paused, const char *slot)
{
    if (in_work(slot))
        return -1;
    if (!f) {
        misuse(NULL, "%s() with a NULL fetch", slot);
        return -1;
    }
    pthread_mutex_lock(&g.lock);
    fetch_state state = f->state;
    bool streaming = f->streaming;
    if (state == FETCH_PENDING && streaming)
        f->paused = paused;
    pthread_mutex_unlock(&g.lock);
    if (!streaming) {
        misuse(f->req, "%s() on a fetch started with fetch(): only fetch_stream() fetches pause", slot);
        return -1;
    }
    if (state != FETCH_PENDING) {
        misuse(f->req, "%s() on a fetch that has ended (on_end ran, or it was cancelled): the real host has "
                       "freed it",
               slot);
        return -1;
    }
    return 0;
}

static int mock_fetch_pause(ph_fetch *f) { return set_paused(f, true, "fetch_pause"); }

static int mock_fetch_resume(ph_fetch *f) { return set_paused(f, false, "fetch_resume"); }

static void mock_fetch_cancel(ph_fetch *f)
{
    if (!f || in_work("fetch_cancel"))
        return;
    pthread_mutex_lock(&g.lock);
    fetch_state was = f->state;
    if (was == FETCH_PENDING) {
        f->state = FETCH_CANCELLED;
        f->timeout->state = TIMER_CANCELLED;
    }
    const ph_request *req = f->req;
    pthread_mutex_unlock(&g.lock);
    if (was == FETCH_ANSWERED)
        misuse(req, "fetch_cancel() on a fetch whose callback already ran: the real host has "
                    "freed it");
    else if (was == FETCH_CANCELLED)
        misuse(req, "fetch_cancel() on a fetch that was already cancelled (or whose request "
                    "ended): the real host has freed it");
}

/* ---- 1.1: offload ---- */

static int mock_offload(ph_request *req, ph_work_fn work, ph_work_done_fn done, void *arg)
{
    if (!async_ok(req, "offload"))
        return -1;
    if (!work || !done) {
        misuse(req, "offload() with a NULL %s function", work ? "done" : "work");
        return -1;
    }
    if (take_fault(PH_MOCK_FAULT_OFFLOAD))
        return -1;
    mock_job *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    j->req = req;
    j->inst = req->inst;
    j->work = work;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&g.lock);
    *g.job_tail = j;
    g.job_tail = &j->next;
    pthread_mutex_unlock(&g.lock);
    return 0;
}

/* ---- 1.1: streaming ---- */

static int mock_stream_begin(ph_request *req)
{
    if (!async_ok(req, "stream_begin"))
        return -1;
    if (req->streaming) {
        misuse(req, "stream_begin() twice on one request");
        return -1;
    }
    if (take_fault(PH_MOCK_FAULT_NOMEM))
        return -1;
    if (req->resp_body_len)
        misuse(req, "stream_begin() after a body was set: the host sends only the status and "
                    "headers, that body is lost (write it with stream_write)");
    put_body(req, NULL, 0);
    req->streaming = true;
    return 0;
}

static int mock_stream_write(ph_request *req, const void *data, size_t len)
{
    if (!async_ok(req, "stream_write"))
        return -1;
    if (!req->streaming) {
        misuse(req, "stream_write() before stream_begin()");
        return -1;
    }
    if (len && !data) {
        misuse(req, "stream_write() with a NULL buffer of %zu bytes", len);
        return -1;
    }
    if (req->stream_over_hw)
        misuse(req, "stream_write() after it returned 1 and before the drain callback: pause "
                    "until drained, or the host buffers without bound");
    if (take_fault(PH_MOCK_FAULT_NOMEM) || append_body(req, data, len) != 0)
        return -1;
    req->stream_writes++;
    req->stream_buffered += len;
    pthread_mutex_lock(&g.lock);
    bool over = req->stream_buffered > g.high_water;
    pthread_mutex_unlock(&g.lock);
    if (over)
        req->stream_over_hw = true;
    return over ? 1 : 0;
}

static int mock_stream_on_drain(ph_request *req, ph_drain_cb cb, void *arg)
{
    if (!async_ok(req, "stream_on_drain"))
        return -1;
    req->drain_cb = cb;
    req->drain_arg = arg;
    return 0;
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
    .path_param = mock_path_param,
    .on_abort = mock_on_abort,
    .timer_repeat = mock_timer_repeat,
    .fetch = mock_fetch,
    .fetch_cancel = mock_fetch_cancel,
    .offload = mock_offload,
    .stream_begin = mock_stream_begin,
    .stream_write = mock_stream_write,
    .stream_on_drain = mock_stream_on_drain,
    .header_count = mock_header_count,
    .header_at = mock_header_at,
    .client_addr = mock_client_addr,
    .setting_duration_ms = ph_mock_setting_duration_ms,
    .setting_size = ph_mock_setting_size,
    .setting_int = ph_mock_setting_int,
    .setting_bool = ph_mock_setting_bool,
    .fetch_stream = mock_fetch_stream,
    .fetch_pause = mock_fetch_pause,
    .fetch_resume = mock_fetch_resume,
    .complete_failed = mock_complete_failed,
    .add_header_n = mock_add_header_n,
};

const ph_host_api *ph_mock_api(void) { return &mock_api; }

void ph_mock_reset(void)
{
    pthread_mutex_lock(&g.lock);
    struct ph_timer *t = g.timers;
    struct ph_fetch *f = g.fetches;
    mock_job *j = g.jobs;
    g.timers = NULL;
    g.fetches = NULL;
    g.fetch_tail = &g.fetches;
    g.jobs = NULL;
    g.job_tail = &g.jobs;
    g.high_water = SIZE_MAX;
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
    while (f) {
        struct ph_fetch *next = f->next;
        fetch_free(f);
        f = next;
    }
    while (j) {
        mock_job *next = j->next;
        free(j);
        j = next;
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
/* Like the host (server/route_keys.c): a plugin that declares its
 * settings (ABI 1.3) is refused a route key that is neither reserved
 * (plugin, methods, timeout) nor declared. Returns 0 or -1 (logged). */
static int check_declared_settings(const ph_plugin *p, const ph_settings *settings)
{
    if (p->struct_size < offsetof(ph_plugin, settings) + sizeof p->settings || !p->settings)
        return 0;
    for (size_t i = 0; i < settings->kv.n; i++) {
        const char *key = settings->kv.v[i].name;
        bool known = strcmp(key, "plugin") == 0 || strcmp(key, "methods") == 0 || strcmp(key, "timeout") == 0;
        for (size_t k = 0; !known && p->settings[k]; k++)
            known = strcmp(p->settings[k], key) == 0;
        if (!known) {
            host_log(PH_LOG_ERROR, "plugin %s refused for route %s: unknown key '%s' (the plugin declares its settings)",
                     p->name, settings->route_path, key);
            return -1;
        }
    }
    return 0;
}

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
    if (check_declared_settings(plugin, settings) != 0) {
        ph_mock_settings_free(inst->owned_settings);
        free(inst);
        return -1;
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
    if (rc != PH_OK && !req->streaming) /* a stream's status is already sent */
        req->status = 500;
    if (rc == PH_OK && req->streaming)
        req->stream_ended = true;
    req->state = REQ_DONE;
    end_primitives(req, false);
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
            end_primitives(r, true);
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
    snprintf(req->client_addr, sizeof req->client_addr, "127.0.0.1");
    pthread_mutex_lock(&g.lock);
    req->next = g.requests;
    if (g.requests)
        g.requests->prev = req;
    g.requests = req;
    pthread_mutex_unlock(&g.lock);
    return req;
}

int ph_mock_request_set_client_addr(ph_request *req, const char *addr)
{
    if (!req || !addr || strlen(addr) >= sizeof req->client_addr)
        return -1;
    snprintf(req->client_addr, sizeof req->client_addr, "%s", addr);
    return 0;
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

int ph_mock_request_set_path_params(ph_request *req, ...)
{
    if (!req)
        return -1;
    mock_pairs params = {0};
    va_list ap;
    va_start(ap, req);
    int rc = 0;
    const char *name;
    while (rc == 0 && (name = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        rc = value ? pairs_add(&params, name, value) : -1;
    }
    va_end(ap);
    if (rc != 0) {
        pairs_free(&params);
        return -1;
    }
    pairs_free(&req->path_params);
    req->path_params = params;
    return 0;
}

void ph_mock_request_free(ph_request *req)
{
    if (!req)
        return;
    if (req->state == REQ_PENDING)
        ph_mock_abort(req); /* the client went away */
    end_primitives(req, true);
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
    pairs_free(&req->path_params);
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
/* Abort                                                               */
/* ------------------------------------------------------------------ */

int ph_mock_abort(ph_request *req)
{
    if (!req || req->state != REQ_PENDING)
        return -1;
    req->state = REQ_ABORTING;
    if (req->abort_cb) {
        req->abort_calls++;
        tl_inst = req->inst;
        req->abort_cb(req, req->abort_arg);
        tl_inst = NULL;
    }
    req->state = REQ_ABORTED;
    end_primitives(req, false);
    release_request_data(req);
    return 0;
}

bool ph_mock_aborted(const ph_request *req)
{
    return req && (req->state == REQ_ABORTING || req->state == REQ_ABORTED);
}

unsigned ph_mock_abort_calls(const ph_request *req) { return req ? req->abort_calls : 0; }

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

static void fetch_deliver_timeout(struct ph_fetch *f);

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
        if (t->repeat_ms && t->due_ms < UINT64_MAX - t->repeat_ms) {
            t->due_ms += t->repeat_ms; /* stays pending: the next tick */
            t->seq = g.timer_seq++;
        } else {
            t->state = TIMER_FIRED;
        }
        ph_request *req = t->req;
        ph_timer_cb cb = t->cb;
        void *arg = t->arg;
        struct ph_fetch *fetch = t->fetch;
        pthread_mutex_unlock(&g.lock);
        if (fetch) {
            fetch_deliver_timeout(fetch);
        } else {
            tl_inst = req ? req->inst : NULL;
            cb(req, arg);
            tl_inst = NULL;
            fired++;
        }
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
        if (t->state == TIMER_PENDING && !t->fetch && (!req || t->req == req))
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
            if (t->state != TIMER_PENDING || t->fetch)
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
            out[n] = (ph_mock_timer_info){best->due_ms, best->delay_ms, best->req,
                                          best->repeat_ms != 0};
        n++;
        last_due = best->due_ms;
        last_seq = best->seq;
        have_last = true;
    }
    pthread_mutex_unlock(&g.lock);
    return n;
}

/* ------------------------------------------------------------------ */
/* Fetch drivers                                                       */
/* ------------------------------------------------------------------ */

/* Claim a waiting fetch for delivery: mark it answered and cancel its
 * time-out. Returns false when it is not waiting. */
static bool fetch_take(struct ph_fetch *f)
{
    pthread_mutex_lock(&g.lock);
    bool pending = f->state == FETCH_PENDING;
    if (pending) {
        f->state = FETCH_ANSWERED;
        f->timeout->state = TIMER_CANCELLED;
    }
    pthread_mutex_unlock(&g.lock);
    return pending;
}

/* Run the final callback of a claimed fetch with `resp` (on_end for a
 * streaming one). */
static void fetch_deliver(struct ph_fetch *f, const ph_fetch_response *resp)
{
    tl_inst = f->req ? f->req->inst : NULL;
    if (f->streaming)
        f->scb.on_end(f->req, resp, f->arg);
    else
        f->cb(f->req, resp, f->arg);
    tl_inst = NULL;
}

/* Deliver an error outcome to a waiting fetch. Returns 0 or -1. */
static int fetch_fail(struct ph_fetch *f, ph_fetch_error error, const char *text)
{
    if (!fetch_take(f))
        return -1;
    ph_fetch_response resp = {.struct_size = sizeof resp,
                              .error = error,
                              .error_text = text ? text : "",
                              .status = f->head_sent ? f->head_status : 0,
                              .headers = (const char *const[]){NULL},
                              .body = ""};
    fetch_deliver(f, &resp);
    return 0;
}

static void fetch_deliver_timeout(struct ph_fetch *f)
{
    char text[64];
    snprintf(text, sizeof text, "timed out after %llu ms",
             (unsigned long long)(f->timeout_ms ? f->timeout_ms : FETCH_DEFAULT_TIMEOUT_MS));
    fetch_fail(f, PH_FETCH_TIMEOUT, text);
}

size_t ph_mock_fetch_pending(const ph_request *req)
{
    size_t n = 0;
    pthread_mutex_lock(&g.lock);
    for (struct ph_fetch *f = g.fetches; f; f = f->next) {
        if (f->state == FETCH_PENDING && (!req || f->req == req))
            n++;
    }
    pthread_mutex_unlock(&g.lock);
    return n;
}

ph_fetch *ph_mock_fetch_at(size_t i)
{
    struct ph_fetch *found = NULL;
    pthread_mutex_lock(&g.lock);
    for (struct ph_fetch *f = g.fetches; f && !found; f = f->next) {
        if (f->state == FETCH_PENDING && i-- == 0)
            found = f;
    }
    pthread_mutex_unlock(&g.lock);
    return found;
}

int ph_mock_fetch_get(const ph_fetch *f, ph_mock_fetch_info *out)
{
    if (!f || !out)
        return -1;
    pthread_mutex_lock(&g.lock);
    *out = (ph_mock_fetch_info){.req = f->req,
                                .method = f->method,
                                .url = f->url,
                                .headers = (const char *const *)f->headers,
                                .nheaders = f->nheaders,
                                .body = f->body,
                                .body_len = f->body_len,
                                .timeout_ms = f->timeout_ms,
                                .pending = f->state == FETCH_PENDING,
                                .streaming = f->streaming,
                                .paused = f->paused,
                                .head_sent = f->head_sent};
    pthread_mutex_unlock(&g.lock);
    return 0;
}

const char *ph_mock_fetch_header(const ph_fetch *f, const char *name)
{
    if (!f || !name)
        return NULL;
    for (size_t i = 0; i < f->nheaders; i++) {
        if (strcasecmp(f->headers[2 * i], name) == 0)
            return f->headers[2 * i + 1];
    }
    return NULL;
}

/* Copies of a header list (name, value, ..., NULL) that die with the
 * callback, so a plugin keeping a pointer into them after it returns trips
 * AddressSanitizer. Returns the copy and the pair count in *npairs, or
 * NULL (odd list, no memory). Free with free_strings. */
static char **copy_strings(const char *const *headers, size_t *npairs)
{
    size_t nstrings = 0;
    while (headers && headers[nstrings])
        nstrings++;
    if (nstrings % 2 != 0)
        return NULL;
    char **copy = calloc(nstrings + 1, sizeof *copy);
    for (size_t i = 0; copy && i < nstrings; i++) {
        if (!(copy[i] = dup_str(headers[i]))) {
            for (size_t k = 0; k < i; k++)
                free(copy[k]);
            free(copy);
            return NULL;
        }
    }
    *npairs = nstrings / 2;
    return copy;
}

static void free_strings(char **strings)
{
    for (size_t i = 0; strings && strings[i]; i++)
        free(strings[i]);
    free(strings);
}

int ph_mock_fetch_respond(ph_fetch *f, int status, const char *const *headers, const void *body,
                          size_t len)
{
    if (!f || (len && !body) || f->streaming)
        return -1;
    size_t npairs = 0;
    char **hcopy = copy_strings(headers, &npairs);
    char *bcopy = dup_mem(body, len); /* dies with the callback too */
    int rc = -1;
    if (hcopy && bcopy && fetch_take(f)) {
        ph_fetch_response resp = {.struct_size = sizeof resp,
                                  .error = PH_FETCH_OK,
                                  .error_text = "",
                                  .status = status,
                                  .nheaders = npairs,
                                  .headers = (const char *const *)hcopy,
                                  .body = bcopy,
                                  .body_len = len};
        fetch_deliver(f, &resp);
        rc = 0;
    }
    free_strings(hcopy);
    free(bcopy);
    return rc;
}

int ph_mock_fetch_fail(ph_fetch *f, ph_fetch_error error, const char *error_text)
{
    if (!f || error == PH_FETCH_OK)
        return -1;
    return fetch_fail(f, error, error_text);
}

/* A streaming fetch still waiting, in the head phase (`want_head`) or
 * past it. */
static bool stream_phase(const struct ph_fetch *f, bool want_head)
{
    pthread_mutex_lock(&g.lock);
    bool ok = f->streaming && f->state == FETCH_PENDING && f->head_sent != want_head;
    pthread_mutex_unlock(&g.lock);
    return ok;
}

int ph_mock_fetch_head(ph_fetch *f, int status, const char *const *headers)
{
    if (!f || !stream_phase(f, true))
        return -1;
    size_t npairs = 0;
    char **copy = copy_strings(headers, &npairs);
    if (!copy)
        return -1;
    pthread_mutex_lock(&g.lock);
    f->head_sent = true;
    f->head_status = status;
    f->timeout->state = TIMER_CANCELLED; /* the mock plays no silence limit */
    pthread_mutex_unlock(&g.lock);
    ph_fetch_response head = {.struct_size = sizeof head,
                              .error = PH_FETCH_OK,
                              .error_text = "",
                              .status = status,
                              .nheaders = npairs,
                              .headers = (const char *const *)copy,
                              .body = "",
                              .body_len = 0};
    tl_inst = f->req ? f->req->inst : NULL;
    f->scb.on_head(f->req, f, &head, f->arg);
    tl_inst = NULL;
    free_strings(copy);
    return 0;
}

int ph_mock_fetch_body(ph_fetch *f, const void *data, size_t len)
{
    if (!f || !data || !len || !stream_phase(f, false))
        return -1;
    pthread_mutex_lock(&g.lock);
    bool paused = f->paused;
    pthread_mutex_unlock(&g.lock);
    if (paused)
        return 1; /* the host would not read it now */
    char *copy = dup_mem(data, len); /* dies with the callback */
    if (!copy)
        return -1;
    tl_inst = f->req ? f->req->inst : NULL;
    f->scb.on_body(f->req, f, copy, len, f->arg);
    tl_inst = NULL;
    free(copy);
    return 0;
}

int ph_mock_fetch_end(ph_fetch *f)
{
    if (!f || !stream_phase(f, false))
        return -1;
    pthread_mutex_lock(&g.lock);
    bool paused = f->paused;
    pthread_mutex_unlock(&g.lock);
    if (paused)
        return 1;
    if (!fetch_take(f))
        return -1;
    ph_fetch_response end = {.struct_size = sizeof end,
                             .error = PH_FETCH_OK,
                             .error_text = "",
                             .status = f->head_status,
                             .headers = (const char *const[]){NULL},
                             .body = ""};
    fetch_deliver(f, &end);
    return 0;
}

bool ph_mock_fetch_paused(const ph_fetch *f)
{
    if (!f)
        return false;
    pthread_mutex_lock(&g.lock);
    bool paused = f->paused && f->state == FETCH_PENDING;
    pthread_mutex_unlock(&g.lock);
    return paused;
}

/* ------------------------------------------------------------------ */
/* Offload drivers                                                     */
/* ------------------------------------------------------------------ */

/* Pool-thread body: run one job's work function as a pool thread would. */
static void *work_thread(void *arg)
{
    mock_job *j = arg;
    tl_in_work = true;
    tl_inst = j->inst;
    j->work(j->arg);
    tl_inst = NULL;
    tl_in_work = false;
    return NULL;
}

size_t ph_mock_run_offload_work(void)
{
    pthread_mutex_lock(&g.lock);
    size_t n = 0;
    for (mock_job *j = g.jobs; j; j = j->next)
        n += !j->worked;
    mock_job **batch = n ? calloc(n, sizeof *batch) : NULL;
    pthread_t *threads = n ? calloc(n, sizeof *threads) : NULL;
    bool *started = n ? calloc(n, sizeof *started) : NULL;
    size_t k = 0;
    for (mock_job *j = g.jobs; j && batch; j = j->next) {
        if (!j->worked)
            batch[k++] = j;
    }
    pthread_mutex_unlock(&g.lock);
    if (n && (!batch || !threads || !started))
        k = 0; /* no memory: nothing runs, the jobs stay queued */
    /* All at once, like pool threads; a job that cannot get a thread runs
     * on this one after the others started. */
    for (size_t i = 0; i < k; i++)
        started[i] = pthread_create(&threads[i], NULL, work_thread, batch[i]) == 0;
    for (size_t i = 0; i < k; i++) {
        if (started[i])
            pthread_join(threads[i], NULL);
        else
            work_thread(batch[i]);
    }
    pthread_mutex_lock(&g.lock);
    for (size_t i = 0; i < k; i++)
        batch[i]->worked = true;
    pthread_mutex_unlock(&g.lock);
    free(batch);
    free(threads);
    free(started);
    return k;
}

/* The first worked job whose done callback is due, claimed (finished), or
 * NULL. A job of an ended request is due too: like the host, its done runs
 * with a NULL request, only to free its argument. */
static mock_job *next_done(void)
{
    mock_job *found = NULL;
    pthread_mutex_lock(&g.lock);
    for (mock_job *j = g.jobs; j && !found; j = j->next) {
        if (!j->worked || j->finished)
            continue;
        j->finished = true;
        found = j;
    }
    pthread_mutex_unlock(&g.lock);
    return found;
}

size_t ph_mock_run_offloads(void)
{
    size_t n = 0;
    for (;;) {
        ph_mock_run_offload_work();
        mock_job *j = next_done();
        if (!j)
            break;
        tl_inst = j->inst;
        j->done(j->discard ? NULL : j->req, j->arg);
        tl_inst = NULL;
        n++;
    }
    return n;
}

size_t ph_mock_offloads_pending(const ph_request *req)
{
    size_t n = 0;
    pthread_mutex_lock(&g.lock);
    for (mock_job *j = g.jobs; j; j = j->next) {
        if (!j->finished && !j->discard && (!req || j->req == req))
            n++;
    }
    pthread_mutex_unlock(&g.lock);
    return n;
}

/* ------------------------------------------------------------------ */
/* Stream drivers                                                      */
/* ------------------------------------------------------------------ */

void ph_mock_stream_set_high_water(size_t bytes)
{
    pthread_mutex_lock(&g.lock);
    g.high_water = bytes;
    pthread_mutex_unlock(&g.lock);
}

int ph_mock_stream_drain(ph_request *req)
{
    if (!req || !req->streaming || req->state != REQ_PENDING)
        return -1;
    req->stream_buffered = 0;
    bool was_over = req->stream_over_hw;
    req->stream_over_hw = false;
    if (!was_over || !req->drain_cb)
        return 0;
    req->drain_calls++;
    tl_inst = req->inst;
    req->drain_cb(req, req->drain_arg);
    tl_inst = NULL;
    return 1;
}

bool ph_mock_stream_begun(const ph_request *req) { return req && req->streaming; }

bool ph_mock_stream_ended(const ph_request *req) { return req && req->stream_ended; }

bool ph_mock_failed(const ph_request *req) { return req && req->failed; }

size_t ph_mock_stream_writes(const ph_request *req) { return req ? req->stream_writes : 0; }

size_t ph_mock_stream_buffered(const ph_request *req) { return req ? req->stream_buffered : 0; }

unsigned ph_mock_drain_calls(const ph_request *req) { return req ? req->drain_calls : 0; }

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
