/* host_api.c - the functions behind ph_host_api: settings, request
 * accessors, argument checks of the response builders, and the hooks of
 * the serving layer for everything that depends on a request's life. */
#include "host_api.h"

#include "log.h"
#include "bytes.h"
#include "request.h"
#include "route_settings.h"
#include "settings_typed.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The loop thread: each naming gets a new number (from 2) and the naming
 * thread keeps it, so the thread holding the latest number is the loop,
 * and the test is one thread-local compare (the builders make it on every
 * call). 1: no loop named yet, a number no thread holds (a thread that
 * never named itself holds 0). */
static unsigned loop_naming = 1;
static _Thread_local unsigned my_naming __attribute__((tls_model("initial-exec")));

void ph_host_api_set_loop_thread(void) { my_naming = ++loop_naming; }

static inline bool is_loop_thread(void) { return my_naming == loop_naming; }

int ph_host_api_on_loop_thread(void) { return is_loop_thread(); }

static const ph_host_hooks *hooks;

void ph_host_api_set_hooks(const ph_host_hooks *h) { hooks = h; }

/* The hooks, or NULL after logging that `slot` needs a serving host. */
static const ph_host_hooks *serving(const char *slot)
{
    if (!hooks)
        ph_log_error("%s: no request is served in this process; refused", slot);
    return hooks;
}

/* True on the loop thread; logs the refusal of `slot` elsewhere. */
static bool on_loop(const char *slot)
{
    if (ph_host_api_on_loop_thread())
        return true;
    ph_log_error("%s called off the loop thread; refused", slot);
    return false;
}

/* The hook's answer to may_build (serving() logs when there is none).
 * Out of line: the builders' common path stays small. */
__attribute__((noinline)) static bool ask_may_build(ph_request *req, const char *slot)
{
    const ph_host_hooks *h = serving(slot);
    return h && h->may_build(req, slot);
}

/* The common case of may_build, answered without the hook (which allows
 * it too: host_api.h): a request whose handler runs (RUNNING, not
 * streaming; an async one on the loop thread). Inline: every builder call
 * passes here. */
static inline bool builds_now(const ph_request *req)
{
    return hooks && req && req->life == PH_LIFE_RUNNING && !req->streaming && (!req->async || is_loop_thread());
}

/* May `slot` build the response of `req` now (logged when not)? Past
 * builds_now, every case is the hook's to decide and log, so refusals
 * and their messages are the hook's. */
static inline bool may_build(ph_request *req, const char *slot)
{
    return builds_now(req) || ask_may_build(req, slot);
}

/* ---- settings ---- */

static const char *api_setting(const ph_settings *s, const char *key)
{
    if (!s || !key)
        return NULL;
    for (size_t i = 0; i < s->count; i++) {
        if (strcmp(s->items[i].key, key) == 0)
            return s->items[i].value;
    }
    return NULL;
}

static int api_setting_double(const ph_settings *s, const char *key, double def, double *out)
{
    const char *text = api_setting(s, key);
    if (!text) {
        *out = def;
        return 0;
    }
    errno = 0;
    char *end;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static const char *api_route_path(const ph_settings *s) { return s ? s->route_path : NULL; }

/* ---- request accessors ---- */

static const char *api_method(const ph_request *req) { return req->method; }
static const char *api_path(const ph_request *req) { return ph_request_path(req); }
static const char *api_query(const ph_request *req) { return ph_request_query(req); }

static const char *api_query_param(ph_request *req, const char *name)
{
    return name ? ph_request_query_param(req, name) : NULL;
}

static const char *api_header(const ph_request *req, const char *name)
{
    return name ? ph_request_header(req, name) : NULL;
}

static const void *api_body(const ph_request *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.len ? req->body.data : "";
}

/* ---- response builders ---- */

/* A plugin's status is a final one, 200-599: a 1xx is interim and would
 * go out unframed, with the real answer read as the next request's. */
static bool plugin_status_ok(ph_request *req, int status, const char *slot)
{
    if (status >= 200 && status <= 599)
        return true;
    if (hooks && hooks->log && req) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s with status %d refused: a plugin's status must be 200-599", slot, status);
        hooks->log(req, PH_LOG_WARN, msg);
    }
    return false;
}

static int api_set_status(ph_request *req, int status)
{
    if (!plugin_status_ok(req, status, "set_status()") || !may_build(req, "set_status()"))
        return -1;
    req->status = status;
    return 0;
}

/* tchar of RFC 9110 5.6.2, the characters a field name may hold: 1 for
 * letters, digits and "!#$%&'*+-.^_`|~", 0 for every other byte. */
static const unsigned char tchar[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
    ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
    ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,
    ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
};

/* Whether the `len` bytes at `name` are a field name: one or more tchar.
 * Four lookups a step joined without a branch (the length is known), the
 * last four overlapping. */
static bool is_token(const char *name, size_t len)
{
    const unsigned char *n = (const unsigned char *)name;
    if (len < 4) {
        unsigned ok = len != 0;
        for (size_t i = 0; i < len; i++)
            ok &= tchar[n[i]];
        return ok;
    }
    unsigned ok = tchar[n[len - 4]] & tchar[n[len - 3]] & tchar[n[len - 2]] & tchar[n[len - 1]];
    for (size_t i = 0; i + 4 < len; i += 4)
        ok &= tchar[n[i]] & tchar[n[i + 1]] & tchar[n[i + 2]] & tchar[n[i + 3]];
    return ok;
}

/* Whether the `n` bytes at `v` hold a CR, LF or NUL, a byte at a time. */
static bool bytes_break_line(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0')
            return true;
    }
    return false;
}

#define ONES 0x0101010101010101u

/* The bytes of `w` below 0x0E (CR, LF, NUL, TAB and the other controls
 * under CR) as high bits: nonzero exactly when `w` holds one (which lane
 * is not exact, so a nonzero word is then looked at byte by byte). */
static inline uint64_t low_bytes(uint64_t w) { return (w - ONES * 0x0E) & ~w & ONES * 0x80; }

/* Whether the `len` bytes of a header value hold a CR or LF (which would
 * end its line early) or a NUL (which only add_header_n can pass). Eight
 * bytes a word test, the last 9 to 16 bytes in two overlapping words;
 * only a word with a control byte (a TAB is allowed) is looked at byte by
 * byte, and a value under 8 bytes is. Reads only the `len` bytes.
 * Inline: every header added passes here. */
static inline bool breaks_line(const char *v, size_t len)
{
    size_t at = 0;
    for (; at + 16 < len; at += 8) {
        if (low_bytes(ph_load_word(v + at)) && bytes_break_line(v + at, 8))
            return true;
    }
    if (len - at < 8 || (low_bytes(ph_load_word(v + at)) | low_bytes(ph_load_word(v + len - 8))))
        return bytes_break_line(v + at, len - at);
    return false;
}

/* What the host makes of a field name. */
typedef enum name_kind {
    NAME_OTHER,        /* any other: valid when is_token */
    NAME_CONTENT_TYPE, /* the plugin's, and the host adds no type of its own */
    NAME_MANAGED,      /* Content-Length, Transfer-Encoding, Connection, Date: the host's */
} name_kind;

/* The kind of the `len` bytes at `name`, in any case (a name the host
 * knows is a valid one). Inline: every header added passes here. */
static inline name_kind kind_of(const char *name, size_t len)
{
    if (len == 12)
        return ph_name_is(name, 12, "content-type") ? NAME_CONTENT_TYPE : NAME_OTHER;
    bool managed = (len == 4 && ph_name_is(name, 4, "date")) || (len == 10 && ph_name_is(name, 10, "connection")) ||
                   (len == 14 && ph_name_is(name, 14, "content-length")) ||
                   (len == 17 && ph_name_is(name, 17, "transfer-encoding"));
    return managed ? NAME_MANAGED : NAME_OTHER;
}

/* Append "name: value\r\n", the `nlen` bytes at `name` and the `vlen` at
 * `value`, to the response's plugin headers: the one body of add_header
 * and add_header_n (`slot`, named when may_build refuses). Refused (-1):
 * a NULL name or value, a name that is empty or not a token (a NUL in it
 * too), a value with CR, LF or NUL, a header the host manages, a response
 * may_build does not allow, no memory. Reads only the given bytes; a
 * name the host knows needs no byte look. Always inline: one source, and
 * each slot's code stays one call (out of line, add_header paid a second
 * call and its register saves: 20 instructions per header). */
static inline __attribute__((always_inline)) int add_header(ph_request *req, const char *name, size_t nlen,
                                                            const char *value, size_t vlen, const char *slot)
{
    if (!name || !value)
        return -1;
    name_kind kind = kind_of(name, nlen);
    if (kind == NAME_MANAGED || (kind == NAME_OTHER && !is_token(name, nlen)) || breaks_line(value, vlen) ||
        !may_build(req, slot))
        return -1;
    ph_buf *h = &req->resp_headers;
    if (ph_buf_reserve(h, nlen + vlen + 4) < 0)
        return -1;
    char *p = h->data + h->len;
    ph_copy_bytes(p, name, nlen);
    p += nlen;
    *p++ = ':';
    *p++ = ' ';
    ph_copy_bytes(p, value, vlen);
    p += vlen;
    *p++ = '\r';
    *p++ = '\n';
    h->len = (size_t)(p - h->data);
    if (kind == NAME_CONTENT_TYPE)
        req->has_content_type = true;
    return 0;
}

/* add_header: C strings, measured by libc's SIMD strlen. */
static int api_add_header(ph_request *req, const char *name, const char *value)
{
    if (!name || !value)
        return -1;
    return add_header(req, name, strlen(name), value, strlen(value), "add_header()");
}

/* add_header_n (ABI 1.5): the lengths are the plugin's. */
static int api_add_header_n(ph_request *req, const char *name, size_t name_len, const char *value, size_t value_len)
{
    return add_header(req, name, name_len, value, value_len, "add_header_n()");
}

/* Make the `len` bytes at `data` the body `b`, which has room for them. */
static inline void fill_body(ph_buf *b, const void *data, size_t len)
{
    b->len = len;
    ph_copy_bytes(b->data, data, len);
}

/* set_body past its common case (builds_now, and room for the body): the
 * hook decides, the body grows. Out of line, and a tail call: the common
 * case keeps no registers for these calls. */
static __attribute__((noinline)) int set_body_slow(ph_request *req, const void *data, size_t len)
{
    if (!may_build(req, "set_body()"))
        return -1;
    ph_buf *b = &req->resp_body;
    b->len = 0; /* the new body replaces the old one (also when it does not fit) */
    if (ph_buf_reserve(b, len) < 0)
        return -1;
    fill_body(b, data, len);
    return 0;
}

static int api_set_body(ph_request *req, const void *data, size_t len)
{
    if (len && !data)
        return -1;
    if (!builds_now(req) || len > req->resp_body.cap)
        return set_body_slow(req, data, len);
    fill_body(&req->resp_body, data, len);
    return 0;
}

static int respond_json(ph_request *req, int status, const cJSON *json, const char *slot)
{
    if (!json || !plugin_status_ok(req, status, slot) || !may_build(req, slot))
        return -1;
    return ph_request_set_json(req, status, json);
}

static int api_respond_json(ph_request *req, int status, const cJSON *json)
{
    return respond_json(req, status, json, "respond_json()");
}

static int api_respond_error(ph_request *req, int status, const char *message)
{
    if (!plugin_status_ok(req, status, "respond_error()") || !may_build(req, "respond_error()"))
        return -1;
    cJSON *obj = cJSON_CreateObject();
    if (!obj || !cJSON_AddStringToObject(obj, "error", message ? message : "")) {
        cJSON_Delete(obj);
        return -1;
    }
    int rc = ph_request_set_json(req, status, obj);
    cJSON_Delete(obj);
    return rc;
}

/* ---- logging ---- */

static void api_log(const ph_request *req, ph_log_level level, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (req && hooks)
        hooks->log(req, level, msg);
    else
        ph_log(level, "plugin: %s", msg);
}

/* ---- async (loop thread; the hooks check the request's state) ---- */

static int api_complete(ph_request *req)
{
    const ph_host_hooks *h;
    if (!on_loop("complete()") || !(h = serving("complete()")))
        return -1;
    return h->complete(req);
}

static ph_timer *timer_start(ph_request *req, uint64_t ms, bool repeat, ph_timer_cb cb, void *arg, const char *slot)
{
    const ph_host_hooks *h;
    if (!on_loop(slot) || !(h = serving(slot)))
        return NULL;
    return h->timer_start(req, ms, repeat, cb, arg);
}

static ph_timer *api_timer_start(ph_request *req, uint64_t ms, ph_timer_cb cb, void *arg)
{
    return timer_start(req, ms, false, cb, arg, "timer_start()");
}

static void api_timer_cancel(ph_timer *timer)
{
    const ph_host_hooks *h;
    if (on_loop("timer_cancel()") && (h = serving("timer_cancel()")))
        h->timer_cancel(timer);
}

/* ---- ABI 1.1 ---- */

static const char *api_path_param(ph_request *req, const char *name)
{
    return req && name ? ph_request_path_param(req, name) : NULL;
}

static ph_timer *api_timer_repeat(ph_request *req, uint64_t ms, ph_timer_cb cb, void *arg)
{
    return timer_start(req, ms, true, cb, arg, "timer_repeat()");
}

static int api_on_abort(ph_request *req, ph_abort_cb cb, void *arg)
{
    const ph_host_hooks *h;
    if (!on_loop("on_abort()") || !(h = serving("on_abort()")))
        return -1;
    return h->on_abort(req, cb, arg);
}

static ph_fetch *api_fetch(ph_request *req, const ph_fetch_request *freq, ph_fetch_cb cb, void *arg)
{
    const ph_host_hooks *h;
    if (!on_loop("fetch()") || !(h = serving("fetch()")))
        return NULL;
    return h->fetch(req, freq, cb, arg);
}

static void api_fetch_cancel(ph_fetch *fetch)
{
    const ph_host_hooks *h;
    if (on_loop("fetch_cancel()") && (h = serving("fetch_cancel()")))
        h->fetch_cancel(fetch);
}

/* ABI 1.4: the streaming fetch, and failing a pending request. */
static ph_fetch *api_fetch_stream(ph_request *req, const ph_fetch_request *freq, const ph_fetch_stream_cbs *cbs,
                                  void *arg)
{
    const ph_host_hooks *h;
    if (!on_loop("fetch_stream()") || !(h = serving("fetch_stream()")))
        return NULL;
    return h->fetch_stream(req, freq, cbs, arg);
}

static int api_fetch_pause(ph_fetch *fetch)
{
    const ph_host_hooks *h;
    if (!on_loop("fetch_pause()") || !(h = serving("fetch_pause()")))
        return -1;
    return h->fetch_pause(fetch);
}

static int api_fetch_resume(ph_fetch *fetch)
{
    const ph_host_hooks *h;
    if (!on_loop("fetch_resume()") || !(h = serving("fetch_resume()")))
        return -1;
    return h->fetch_resume(fetch);
}

static int api_complete_failed(ph_request *req, const char *why)
{
    const ph_host_hooks *h;
    if (!on_loop("complete_failed()") || !(h = serving("complete_failed()")))
        return -1;
    return h->complete_failed(req, why);
}

static int api_offload(ph_request *req, ph_work_fn work, ph_work_done_fn done, void *arg)
{
    const ph_host_hooks *h;
    if (!on_loop("offload()") || !(h = serving("offload()")))
        return -1;
    return h->offload(req, work, done, arg);
}

static int api_stream_begin(ph_request *req)
{
    const ph_host_hooks *h;
    if (!on_loop("stream_begin()") || !(h = serving("stream_begin()")))
        return -1;
    return h->stream_begin(req);
}

static int api_stream_write(ph_request *req, const void *data, size_t len)
{
    const ph_host_hooks *h;
    if (!on_loop("stream_write()") || !(h = serving("stream_write()")))
        return -1;
    return h->stream_write(req, data, len);
}

static int api_stream_on_drain(ph_request *req, ph_drain_cb cb, void *arg)
{
    const ph_host_hooks *h;
    if (!on_loop("stream_on_drain()") || !(h = serving("stream_on_drain()")))
        return -1;
    return h->stream_on_drain(req, cb, arg);
}

static size_t api_header_count(const ph_request *req) { return req ? req->nheaders : 0; }

static int api_header_at(const ph_request *req, size_t i, const char **name, const char **value)
{
    if (!req || i >= req->nheaders || !name || !value)
        return -1;
    *name = req->arena.data + req->headers[i].name_off;
    *value = req->arena.data + req->headers[i].value_off;
    return 0;
}

static const char *api_client_addr(const ph_request *req) { return req ? ph_request_client_addr(req) : ""; }

/* The typed setting slots (ABI 1.2): settings_typed.c's readers (one
 * syntax with server.ini, shared with the mock host) over this table. */
static int api_setting_duration_ms(const ph_settings *s, const char *key, uint64_t def, uint64_t *out)
{
    return ph_settings_typed_duration_ms(ph_host_api_table(), s, key, def, out);
}

static int api_setting_size(const ph_settings *s, const char *key, size_t def, size_t *out)
{
    return ph_settings_typed_size(ph_host_api_table(), s, key, def, out);
}

static int api_setting_int(const ph_settings *s, const char *key, long def, long min, long max, long *out)
{
    return ph_settings_typed_int(ph_host_api_table(), s, key, def, min, max, out);
}

static int api_setting_bool(const ph_settings *s, const char *key, int def, int *out)
{
    return ph_settings_typed_bool(ph_host_api_table(), s, key, def, out);
}

static const ph_host_api host_api = {
    .struct_size = sizeof(ph_host_api),
    .abi_version = PH_ABI_VERSION,
    .setting = api_setting,
    .setting_double = api_setting_double,
    .route_path = api_route_path,
    .method = api_method,
    .path = api_path,
    .query = api_query,
    .query_param = api_query_param,
    .header = api_header,
    .body = api_body,
    .set_status = api_set_status,
    .add_header = api_add_header,
    .set_body = api_set_body,
    .respond_json = api_respond_json,
    .respond_error = api_respond_error,
    .log = api_log,
    .complete = api_complete,
    .timer_start = api_timer_start,
    .timer_cancel = api_timer_cancel,
    .path_param = api_path_param,
    .on_abort = api_on_abort,
    .timer_repeat = api_timer_repeat,
    .fetch = api_fetch,
    .fetch_cancel = api_fetch_cancel,
    .offload = api_offload,
    .stream_begin = api_stream_begin,
    .stream_write = api_stream_write,
    .stream_on_drain = api_stream_on_drain,
    .header_count = api_header_count,
    .header_at = api_header_at,
    .client_addr = api_client_addr,
    .setting_duration_ms = api_setting_duration_ms,
    .setting_size = api_setting_size,
    .setting_int = api_setting_int,
    .setting_bool = api_setting_bool,
    .fetch_stream = api_fetch_stream,
    .fetch_pause = api_fetch_pause,
    .fetch_resume = api_fetch_resume,
    .complete_failed = api_complete_failed,
    .add_header_n = api_add_header_n,
};

const ph_host_api *ph_host_api_table(void) { return &host_api; }
