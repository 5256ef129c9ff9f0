/* host_api.c - the functions behind ph_host_api: settings, request
 * accessors, response builders, logging and async primitives. */
#include "host_api.h"

#include "dispatch.h"
#include "fetch.h"
#include "http_conn.h"
#include "offload.h"
#include "log.h"
#include "plugin_instance.h"
#include "request.h"
#include "request_timer.h"
#include "router.h"
#include "settings_api.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_t loop_thread;
static int loop_thread_set;

void ph_host_api_set_loop_thread(pthread_t loop)
{
    loop_thread = loop;
    loop_thread_set = 1;
}

int ph_host_api_on_loop_thread(void) { return loop_thread_set && pthread_equal(loop_thread, pthread_self()); }

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

static int api_set_status(ph_request *req, int status)
{
    if (status < 100 || status > 599)
        return -1;
    req->status = status;
    return 0;
}

/* RFC 9110 token characters: visible ASCII except the separators. */
static bool is_token_char(unsigned char c)
{
    if (c <= 32 || c >= 127)
        return false;
    switch (c) {
    case '(': case ')': case '<': case '>': case '@': case ',': case ';': case ':':
    case '\\': case '"': case '/': case '[': case ']': case '?': case '=': case '{': case '}':
        return false;
    default:
        return true;
    }
}

/* Content-Length, Transfer-Encoding, Connection and Date are the host's. */
static bool is_managed_header(const char *name, size_t len)
{
    switch (len) {
    case 4: return strcasecmp(name, "Date") == 0;
    case 10: return strcasecmp(name, "Connection") == 0;
    case 14: return strcasecmp(name, "Content-Length") == 0;
    case 17: return strcasecmp(name, "Transfer-Encoding") == 0;
    default: return false;
    }
}

static int api_add_header(ph_request *req, const char *name, const char *value)
{
    if (!name || !value || !name[0])
        return -1;
    size_t nlen = 0;
    for (; name[nlen]; nlen++) {
        if (!is_token_char((unsigned char)name[nlen]))
            return -1;
    }
    size_t vlen = strcspn(value, "\r\n");
    if (value[vlen] || is_managed_header(name, nlen))
        return -1;
    size_t mark = req->resp_headers.len;
    if (ph_buf_append(&req->resp_headers, name, nlen) < 0 || ph_buf_append(&req->resp_headers, ": ", 2) < 0 ||
        ph_buf_append(&req->resp_headers, value, vlen) < 0 || ph_buf_append(&req->resp_headers, "\r\n", 2) < 0) {
        req->resp_headers.len = mark;
        return -1;
    }
    if (nlen == 12 && strcasecmp(name, "Content-Type") == 0)
        req->has_content_type = true;
    return 0;
}

static int api_set_body(ph_request *req, const void *data, size_t len)
{
    ph_buf_reset(&req->resp_body);
    if (len && !data)
        return -1;
    return ph_buf_append(&req->resp_body, data, len);
}

static int api_respond_json(ph_request *req, int status, const cJSON *json)
{
    if (!json || status < 100 || status > 599)
        return -1;
    return ph_request_set_json(req, status, json);
}

static int api_respond_error(ph_request *req, int status, const char *message)
{
    cJSON *obj = cJSON_CreateObject();
    if (!obj || !cJSON_AddStringToObject(obj, "error", message ? message : "")) {
        cJSON_Delete(obj);
        return -1;
    }
    int rc = api_respond_json(req, status, obj);
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
    if (req && req->route)
        ph_log(level, "route %s (plugin %s): %s", req->route->path, ph_instance_name(req->route->instance), msg);
    else
        ph_log(level, "plugin: %s", msg);
}

/* ---- async ---- */

static int api_complete(ph_request *req)
{
    if (!req || !ph_host_api_on_loop_thread()) {
        ph_log_error("complete() called off the loop thread; ignored");
        return -1;
    }
    return ph_dispatch_complete(req);
}

static ph_timer *api_timer_start(ph_request *req, uint64_t ms, ph_timer_cb cb, void *arg)
{
    if (!ph_host_api_on_loop_thread()) {
        ph_log_error("timer_start() called off the loop thread; refused");
        return NULL;
    }
    return ph_request_timer_start(req, ms, false, cb, arg);
}

static void api_timer_cancel(ph_timer *timer)
{
    if (!ph_host_api_on_loop_thread()) {
        ph_log_error("timer_cancel() called off the loop thread; ignored");
        return;
    }
    ph_request_timer_cancel(timer);
}

/* ---- ABI 1.1 ---- */

static const char *api_path_param(ph_request *req, const char *name)
{
    return req && name ? ph_request_path_param(req, name) : NULL;
}

/* Refuse a loop-only call made elsewhere, or on a request that is not a
 * pending async one. */
static int async_call_ok(const ph_request *req, const char *what)
{
    if (!ph_host_api_on_loop_thread()) {
        ph_log_error("%s called off the loop thread; refused", what);
        return 0;
    }
    if (!req || req->state != PH_REQ_RUNNING || !req->route ||
        ph_instance_mode(req->route->instance) != PH_MODE_ASYNC) {
        ph_log_error("%s on a request that is not a pending async request; refused", what);
        return 0;
    }
    return 1;
}

static int api_on_abort(ph_request *req, ph_abort_cb cb, void *arg)
{
    if (!async_call_ok(req, "on_abort()"))
        return -1;
    req->abort_cb = cb;
    req->abort_arg = arg;
    return 0;
}

static ph_timer *api_timer_repeat(ph_request *req, uint64_t ms, ph_timer_cb cb, void *arg)
{
    if (!ph_host_api_on_loop_thread()) {
        ph_log_error("timer_repeat() called off the loop thread; refused");
        return NULL;
    }
    return ph_request_timer_start(req, ms, true, cb, arg);
}

static ph_fetch *api_fetch(ph_request *req, const ph_fetch_request *freq, ph_fetch_cb cb, void *arg)
{
    if (!async_call_ok(req, "fetch()") || !freq || !cb)
        return NULL;
    return ph_fetch_start(req, freq, cb, arg);
}

static void api_fetch_cancel(ph_fetch *fetch)
{
    if (!ph_host_api_on_loop_thread()) {
        ph_log_error("fetch_cancel() called off the loop thread; ignored");
        return;
    }
    ph_fetch_cancel(fetch);
}

static int api_offload(ph_request *req, ph_work_fn work, ph_work_done_fn done, void *arg)
{
    if (!async_call_ok(req, "offload()"))
        return -1;
    return ph_offload_start(req, work, done, arg);
}

static int api_stream_begin(ph_request *req)
{
    if (!async_call_ok(req, "stream_begin()"))
        return -1;
    return ph_conn_stream_begin(req);
}

static int api_stream_write(ph_request *req, const void *data, size_t len)
{
    if (!async_call_ok(req, "stream_write()"))
        return -1;
    return ph_conn_stream_write(req, data, len);
}

static int api_stream_on_drain(ph_request *req, ph_drain_cb cb, void *arg)
{
    if (!async_call_ok(req, "stream_on_drain()"))
        return -1;
    req->drain_cb = cb;
    req->drain_arg = arg;
    return 0;
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

static const char *api_client_addr(const ph_request *req) { return req ? req->client_addr : ""; }

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
    .setting_duration_ms = ph_settings_api_duration_ms,
    .setting_size = ph_settings_api_size,
    .setting_int = ph_settings_api_int,
    .setting_bool = ph_settings_api_bool,
};

const ph_host_api *ph_host_api_table(void) { return &host_api; }
