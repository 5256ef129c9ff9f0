/*
 * proxy - forwards each request to the `upstream` URL and relays the answer.
 *
 * Async: handle() starts the upstream request and returns PH_PENDING; no
 * thread waits on the upstream. By default the answer is relayed as it
 * arrives (fetch_stream, ABI 1.4): on the head, the status and end-to-end
 * headers go out with stream_begin (the body chunked); each body piece is
 * written with stream_write, and when the client's buffer is above the
 * high-water mark (stream_write returns 1) the fetch is paused until the
 * drain callback resumes it, so the upstream is read only as fast as the
 * client reads: a body of any size costs a bounded buffer. A response
 * without a body (HEAD, 204, 304) is sent whole when it ends.
 *
 * Settings (declared: PH_PLUGIN_DECLARE_SETTINGS)
 *   upstream  required, http://host[:port][/path][?query]. Every request of
 *             the route goes to exactly this URL plus the request's raw
 *             query string, joined with '?' (or '&' when the upstream has a
 *             query already). The request path is not appended: one route
 *             forwards to one upstream resource.
 *   timeout   a duration ("500ms", "2s", a bare number is seconds; default
 *             30s, 1ms to 1 day): streaming, the wait for the upstream's
 *             head, then the longest silence of the upstream while the
 *             client keeps up; buffered, the whole upstream exchange. (It is
 *             also the route's own timeout, which bounds the start of the
 *             answer.)
 *   buffer    off (default): stream as above. on: hold the whole upstream
 *             answer (the server's `upstream_max_body`, default 16 MiB, caps
 *             it: a larger one is a 502), then send it with its length; an
 *             upstream failure is then always a clean 502/504.
 *
 * Forwarded: the method, the body, and every end-to-end request header
 * (repeated fields each time): all but the hop-by-hop ones (Connection,
 * Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade, and any the
 * client's Connection header lists) and Host, Content-Length and Expect,
 * which the fetch sets itself. The client's address is appended to
 * X-Forwarded-For.
 *
 * Relayed back: the upstream status, its body, and its headers except the
 * hop-by-hop ones (Connection, Keep-Alive, Proxy-*, TE, Trailer,
 * Transfer-Encoding, Upgrade, and any the upstream's Connection header
 * lists) and those the host manages (Content-Length, Date).
 *
 * Errors before the head, each as {"error": "..."}: upstream timeout ->
 * 504; refused, reset, DNS failure, invalid response (an interim 1xx other
 * than 100 included), a body over upstream_max_body (buffered), or a fetch
 * that cannot start -> 502; each logged with the fetch's reason. After the
 * head (streaming), an upstream failure cuts the answer short with complete_failed():
 * the client's connection closes without the body's end, so it sees a
 * truncated response, never a clean one.
 * Client gone: the abort callback cancels the fetch and frees the
 * per-request context.
 */
#include <plughost.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plugin_duration.h"

#define PROXY_DEFAULT_TIMEOUT_MS 30000u

/* Request headers never forwarded: hop-by-hop (RFC 9110 7.6.1, plus the
 * Proxy-* family), the fetch's own, and X-Forwarded-For (rebuilt). */
static const char *const dropped_request_headers[] = {
    "Connection", "Keep-Alive",     "TE",     "Trailer",         "Transfer-Encoding",
    "Upgrade",    "Content-Length", "Expect", "X-Forwarded-For", "Host",
};

/* Response headers never relayed: hop-by-hop (RFC 9110 7.6.1, plus the
 * Proxy-* family) and those the host writes itself. */
static const char *const dropped_response_headers[] = {
    "Connection", "Keep-Alive", "TE",             "Trailer", "Transfer-Encoding",
    "Upgrade",    "Date",       "Content-Length",
};

typedef struct proxy_state {
    const ph_host_api *api;
    char *upstream;
    size_t upstream_len;
    char query_sep; /* joins the request's query: '?', '&', or 0 (upstream ends in one) */
    uint64_t timeout_ms;
    int buffer;     /* hold the whole answer (fetch) instead of streaming it */
} proxy_state;

/* One forwarded request: lives from handle() to the end of the fetch (its
 * callback, or on_end) or the abort callback, whichever runs first (the
 * other never runs after it). */
typedef struct proxy_call {
    const proxy_state *st;
    ph_fetch *fetch;  /* NULL once the fetch ended or was cancelled */
    bool streaming;   /* stream_begin succeeded: the status is on the wire */
} proxy_call;

/* True when the comma-separated token list `list` (a Connection header
 * value) names `name`, case-insensitively. Any thread. */
static bool token_listed(const char *list, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        size_t tlen = len;
        while (tlen && (p[tlen - 1] == ' ' || p[tlen - 1] == '\t'))
            tlen--;
        if (tlen == nlen && strncasecmp(p, name, nlen) == 0)
            return true;
        p += len;
    }
    return false;
}

/* True when [p, end) is a decimal port number from 1 to 65535. */
static bool valid_port(const char *p, const char *end)
{
    unsigned long port = 0;
    if (p == end)
        return false;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || (port = port * 10 + (unsigned long)(*p - '0')) > 65535)
            return false;
    }
    return port > 0;
}

/* Check an upstream URL: http://authority[/path][?query], an authority
 * without user info and with a port of 1..65535 if any, no fragment, no
 * space or control character. Returns NULL, or why it is refused. */
static const char *upstream_problem(const char *url)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return "https is not supported (the host's fetch speaks plain HTTP)";
    if (strncasecmp(url, "http://", 7) != 0)
        return "it must start with http://";
    for (const char *c = url; *c; c++) {
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return "it contains a space or a control character";
    }
    if (strchr(url, '#'))
        return "it contains a fragment ('#')";
    const char *auth = url + 7;
    size_t alen = strcspn(auth, "/?");
    if (alen == 0)
        return "it has no host";
    if (memchr(auth, '@', alen))
        return "user info (user@host) is not supported";
    const char *auth_end = auth + alen, *port = NULL;
    if (auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (!close || close == auth + 1 || (close + 1 < auth_end && close[1] != ':'))
            return "its [IPv6] host is malformed";
        if (close + 1 < auth_end)
            port = close + 2;
    } else {
        const char *colon = memchr(auth, ':', alen);
        if (colon == auth)
            return "it has no host";
        if (colon)
            port = colon + 1;
    }
    if (port && !valid_port(port, auth_end))
        return "its port is not a number from 1 to 65535";
    return NULL;
}

/* Read and check `upstream`. Returns 0 and fills st->upstream*, or -1
 * after logging why. Loop thread (init). */
static int read_upstream(const ph_host_api *api, const ph_settings *settings, proxy_state *st)
{
    const char *route = api->route_path(settings);
    const char *url = api->setting(settings, "upstream");
    if (!url || !*url) {
        api->log(NULL, PH_LOG_ERROR,
                 "proxy: route %s: upstream is required (e.g. upstream = "
                 "http://127.0.0.1:9000/base)",
                 route);
        return -1;
    }
    const char *why = upstream_problem(url);
    if (why) {
        api->log(NULL, PH_LOG_ERROR, "proxy: route %s: upstream = \"%s\" is refused: %s", route,
                 url, why);
        return -1;
    }
    st->upstream_len = strlen(url);
    st->upstream = malloc(st->upstream_len + 1);
    if (!st->upstream) {
        api->log(NULL, PH_LOG_ERROR, "proxy: route %s: out of memory", route);
        return -1;
    }
    memcpy(st->upstream, url, st->upstream_len + 1);
    char last = url[st->upstream_len - 1];
    st->query_sep = last == '?' || last == '&' ? 0 : strchr(url, '?') ? '&' : '?';
    return 0;
}

/* Read `buffer` (off by default). Returns 0, or -1 after logging why.
 * Loop thread (init). */
static int read_buffer(const ph_host_api *api, const ph_settings *settings, proxy_state *st)
{
    st->buffer = 0;
    if (PH_HOST_HAS(api, setting_bool))
        return api->setting_bool(settings, "buffer", 0, &st->buffer);
    if (!api->setting(settings, "buffer"))
        return 0;
    api->log(NULL, PH_LOG_ERROR, "proxy: route %s: buffer needs setting_bool (SDK ABI 1.2)",
             api->route_path(settings));
    return -1;
}

/* Check the host and the settings. Returns 0, or -1 with the reason
 * logged. Loop thread. */
static int proxy_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    if (!PH_HOST_HAS(api, fetch) || !PH_HOST_HAS(api, fetch_cancel) || !PH_HOST_HAS(api, on_abort) ||
        !PH_HOST_HAS(api, header_at) || !PH_HOST_HAS(api, client_addr)) {
        api->log(NULL, PH_LOG_ERROR,
                 "proxy: route %s: the host lacks fetch/on_abort/header_at (needs SDK ABI 1.1)",
                 api->route_path(settings));
        return -1;
    }
    proxy_state *st = calloc(1, sizeof *st);
    if (!st) {
        api->log(NULL, PH_LOG_ERROR, "proxy: out of memory for the instance state");
        return -1;
    }
    st->api = api;
    if (read_upstream(api, settings, st) != 0 ||
        plugin_duration_setting(api, settings, "proxy", "timeout", PROXY_DEFAULT_TIMEOUT_MS, 1,
                                PLUGIN_DURATION_MAX_MS, &st->timeout_ms) != 0 ||
        read_buffer(api, settings, st) != 0) {
        free(st->upstream);
        free(st);
        return -1;
    }
    if (!st->buffer && (!PH_HOST_HAS(api, fetch_stream) || !PH_HOST_HAS(api, fetch_pause) ||
                        !PH_HOST_HAS(api, fetch_resume) || !PH_HOST_HAS(api, complete_failed))) {
        api->log(NULL, PH_LOG_ERROR,
                 "proxy: route %s: streaming needs fetch_stream (SDK ABI 1.4); set buffer = on on an older host",
                 api->route_path(settings));
        free(st->upstream);
        free(st);
        return -1;
    }
    *state = st;
    return 0;
}

static void proxy_fini(void *state)
{
    proxy_state *st = state;
    free(st->upstream);
    free(st);
}

/* The upstream URL plus `query` (raw, without '?'), malloc'ed, or NULL (no
 * memory). Any thread. */
static char *build_url(const proxy_state *st, const char *query)
{
    size_t qlen = query ? strlen(query) : 0;
    char *url = malloc(st->upstream_len + 1 + qlen + 1);
    if (!url)
        return NULL;
    char *p = url;
    memcpy(p, st->upstream, st->upstream_len);
    p += st->upstream_len;
    if (qlen) {
        if (st->query_sep)
            *p++ = st->query_sep;
        memcpy(p, query, qlen);
        p += qlen;
    }
    *p = '\0';
    return url;
}

/* True when the request header `name` must not be forwarded; `connection`
 * is the client's Connection header value, or NULL. */
static bool drop_request_header(const char *name, const char *connection)
{
    if (strncasecmp(name, "Proxy-", 6) == 0 || (connection && token_listed(connection, name)))
        return true;
    for (size_t i = 0; i < sizeof dropped_request_headers / sizeof *dropped_request_headers; i++) {
        if (strcasecmp(name, dropped_request_headers[i]) == 0)
            return true;
    }
    return false;
}

/* The forwarded X-Forwarded-For: the incoming value(s) and the client's
 * address, comma-separated (malloc'ed; NULL when out of memory). */
static char *forwarded_for(const ph_host_api *api, ph_request *req)
{
    size_t n = api->header_count(req), len = strlen(api->client_addr(req)) + 1;
    const char *name, *value;
    for (size_t i = 0; i < n; i++) {
        if (api->header_at(req, i, &name, &value) == 0 && strcasecmp(name, "X-Forwarded-For") == 0)
            len += strlen(value) + 2;
    }
    char *out = malloc(len);
    if (!out)
        return NULL;
    char *p = out;
    for (size_t i = 0; i < n; i++) {
        if (api->header_at(req, i, &name, &value) == 0 && strcasecmp(name, "X-Forwarded-For") == 0) {
            size_t vlen = strlen(value);
            memcpy(p, value, vlen);
            p += vlen;
            *p++ = ',';
            *p++ = ' ';
        }
    }
    strcpy(p, api->client_addr(req));
    return out;
}

/* The name, value, ..., NULL list of headers to forward (malloc'ed; the
 * strings point into the request and `xff`, valid during handle — fetch
 * copies them). NULL when out of memory. Loop thread. */
static const char **collect_headers(const ph_host_api *api, ph_request *req, const char *xff)
{
    size_t n = api->header_count(req);
    const char **out = malloc((2 * n + 3) * sizeof *out);
    if (!out)
        return NULL;
    const char *connection = api->header(req, "Connection");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        if (api->header_at(req, i, &name, &value) == 0 && !drop_request_header(name, connection)) {
            out[k++] = name;
            out[k++] = value;
        }
    }
    if (xff[0]) {
        out[k++] = "X-Forwarded-For";
        out[k++] = xff;
    }
    out[k] = NULL;
    return out;
}

/* True when the upstream response header `name` must not be relayed;
 * `connection` is the upstream's Connection header value, or NULL. */
static bool drop_response_header(const char *name, const char *connection)
{
    if (strncasecmp(name, "Proxy-", 6) == 0)
        return true;
    for (size_t i = 0; i < sizeof dropped_response_headers / sizeof *dropped_response_headers;
         i++) {
        if (strcasecmp(name, dropped_response_headers[i]) == 0)
            return true;
    }
    return connection && token_listed(connection, name);
}

/* Answer `status` {"error": message}; if even that fails, a bare 500.
 * Any thread building `req`. */
static void answer_error(const ph_host_api *api, ph_request *req, int status, const char *message)
{
    if (api->respond_error(req, status, message) != 0)
        api->set_status(req, 500);
}

/* Copy an upstream head into `req`: status and end-to-end headers.
 * Returns 0, or -1 after answering 502 (an upstream status the host
 * refuses). Loop thread. */
static int relay_head(const proxy_state *st, ph_request *req, const ph_fetch_response *resp)
{
    const ph_host_api *api = st->api;
    const char *connection = NULL;
    for (size_t i = 0; i < resp->nheaders && !connection; i++) {
        if (strcasecmp(resp->headers[2 * i], "Connection") == 0)
            connection = resp->headers[2 * i + 1];
    }
    if (api->set_status(req, resp->status) != 0) {
        api->log(req, PH_LOG_WARN, "proxy: upstream %s answered status %d", st->upstream,
                 resp->status);
        answer_error(api, req, 502, "bad gateway: invalid upstream status");
        return -1;
    }
    for (size_t i = 0; i < resp->nheaders; i++) {
        const char *name = resp->headers[2 * i], *value = resp->headers[2 * i + 1];
        if (drop_response_header(name, connection))
            continue;
        if (api->add_header(req, name, value) != 0)
            api->log(req, PH_LOG_WARN, "proxy: upstream header %s not relayed (refused by "
                                       "the host)", name);
    }
    return 0;
}

/* Copy a whole upstream response into `req`: status, end-to-end headers,
 * body. On failure the response becomes a 502/500 error. Loop thread. */
static void relay_response(const proxy_state *st, ph_request *req, const ph_fetch_response *resp)
{
    const ph_host_api *api = st->api;
    if (relay_head(st, req, resp) != 0)
        return;
    if (api->set_body(req, resp->body, resp->body_len) != 0) {
        api->log(req, PH_LOG_ERROR, "proxy: no memory for a %zu-byte upstream body",
                 resp->body_len);
        answer_error(api, req, 500, "out of memory");
    }
}

/* Turn a failed fetch into 504 (time-out) or 502 (anything else). */
static void relay_failure(const proxy_state *st, ph_request *req, const ph_fetch_response *resp)
{
    const char *message;
    int status = 502;
    switch (resp->error) {
    case PH_FETCH_TIMEOUT:
        status = 504;
        message = "gateway timeout: the upstream did not answer in time";
        break;
    case PH_FETCH_REFUSED:
        message = "bad gateway: the upstream refused the connection";
        break;
    case PH_FETCH_RESET:
        message = "bad gateway: the upstream closed the connection mid-response";
        break;
    case PH_FETCH_DNS:
        message = "bad gateway: the upstream host name did not resolve";
        break;
    case PH_FETCH_INVALID:
        message = resp->error_text && strstr(resp->error_text, "upstream_max_body")
                      ? "bad gateway: the upstream response is larger than upstream_max_body"
                      : "bad gateway: invalid upstream response";
        break;
    default:
        message = "bad gateway: the upstream request failed";
        break;
    }
    st->api->log(req, PH_LOG_WARN, "proxy: upstream %s failed (%d): %s", st->upstream,
                 (int)resp->error, resp->error_text ? resp->error_text : "");
    answer_error(st->api, req, status, message);
}

/* buffer = on: the fetch's outcome: relay it and complete. Loop thread. */
static void on_upstream_response(ph_request *req, const ph_fetch_response *resp, void *arg)
{
    proxy_call *call = arg;
    const proxy_state *st = call->st;
    free(call); /* the fetch handle died with this callback; no abort after complete */
    if (resp->error == PH_FETCH_OK)
        relay_response(st, req, resp);
    else
        relay_failure(st, req, resp);
    if (st->api->complete(req) != 0)
        st->api->log(req, PH_LOG_ERROR, "proxy: complete() refused the request");
}

/* ---- streaming (the default) ---- */

/* Give up the fetch (if still running), finish `req` with `status` and
 * `message`, free the call. Before stream_begin only. Loop thread. */
static void stream_answer(proxy_call *call, ph_request *req, int status, const char *message)
{
    const ph_host_api *api = call->st->api;
    if (call->fetch)
        api->fetch_cancel(call->fetch);
    if (status)
        answer_error(api, req, status, message);
    if (api->complete(req) != 0)
        api->log(req, PH_LOG_ERROR, "proxy: complete() refused the request");
    free(call);
}

/* The client's buffer drained below the low-water mark: read on. */
static void on_client_drained(ph_request *req, void *arg)
{
    proxy_call *call = arg;
    if (call->fetch && call->st->api->fetch_resume(call->fetch) != 0)
        call->st->api->log(req, PH_LOG_ERROR, "proxy: fetch_resume() refused");
}

/* The upstream's head: relay status and headers, and start the stream
 * unless no body can follow. */
static void on_upstream_head(ph_request *req, ph_fetch *fetch, const ph_fetch_response *head, void *arg)
{
    (void)fetch;
    proxy_call *call = arg;
    const ph_host_api *api = call->st->api;
    if (relay_head(call->st, req, head) != 0) {
        stream_answer(call, req, 0, NULL); /* relay_head answered 502 */
        return;
    }
    if (head->status == 204 || head->status == 304 || strcmp(api->method(req), "HEAD") == 0)
        return; /* no body: the whole answer goes out at the end */
    if (api->stream_begin(req) != 0 || api->stream_on_drain(req, on_client_drained, call) != 0) {
        api->log(req, PH_LOG_ERROR, "proxy: cannot stream the answer of %s", call->st->upstream);
        stream_answer(call, req, 500, "cannot stream the answer");
        return;
    }
    call->streaming = true;
}

/* A piece of the upstream's body: to the client, pausing the upstream while
 * the client's buffer is full. */
static void on_upstream_body(ph_request *req, ph_fetch *fetch, const void *data, size_t len, void *arg)
{
    proxy_call *call = arg;
    const ph_host_api *api = call->st->api;
    if (!call->streaming)
        return; /* a body where none may be: the host's framing says it ends */
    int rc = api->stream_write(req, data, len);
    if (rc < 0) {
        api->fetch_cancel(fetch);
        call->fetch = NULL;
        if (api->complete_failed(req, "proxy: cannot write to the client") != 0)
            api->log(req, PH_LOG_ERROR, "proxy: complete_failed() refused the request");
        free(call);
        return;
    }
    if (rc == 1 && api->fetch_pause(fetch) != 0)
        api->log(req, PH_LOG_ERROR, "proxy: fetch_pause() refused");
}

/* The upstream's answer ended: a clean end completes it; a failure before
 * the head is a 502/504, after it the stream is cut short. */
static void on_upstream_end(ph_request *req, const ph_fetch_response *end, void *arg)
{
    proxy_call *call = arg;
    const proxy_state *st = call->st;
    call->fetch = NULL; /* gone with this callback */
    if (end->error == PH_FETCH_OK) {
        stream_answer(call, req, 0, NULL);
        return;
    }
    if (!call->streaming) {
        relay_failure(st, req, end);
        stream_answer(call, req, 0, NULL);
        return;
    }
    st->api->log(req, PH_LOG_WARN, "proxy: upstream %s failed mid-body (%d): %s; the client's answer is cut short",
                 st->upstream, (int)end->error, end->error_text ? end->error_text : "");
    if (st->api->complete_failed(req, "the upstream failed mid-body") != 0)
        st->api->log(req, PH_LOG_ERROR, "proxy: complete_failed() refused the request");
    free(call);
}

static const ph_fetch_stream_cbs stream_cbs = {
    .struct_size = sizeof(ph_fetch_stream_cbs),
    .on_head = on_upstream_head,
    .on_body = on_upstream_body,
    .on_end = on_upstream_end,
};

/* The client left (or the route timed out) first: stop the fetch, free the
 * call. Loop thread. */
static void on_client_gone(ph_request *req, void *arg)
{
    (void)req;
    proxy_call *call = arg;
    if (call->fetch)
        call->st->api->fetch_cancel(call->fetch);
    free(call);
}

/* Start the upstream request and return PH_PENDING; answer 502/500 at once
 * (PH_OK, or PH_ERROR when even that fails) when it cannot start. Loop
 * thread. */
static int proxy_handle(void *state, ph_request *req)
{
    const proxy_state *st = state;
    const ph_host_api *api = st->api;
    size_t body_len;
    const void *body = api->body(req, &body_len);
    char *xff = forwarded_for(api, req);
    const char **headers = xff ? collect_headers(api, req, xff) : NULL;
    proxy_call *call = malloc(sizeof *call);
    char *url = build_url(st, api->query(req));
    if (!call || !url || !headers) {
        free(call);
        free(url);
        free(headers);
        free(xff);
        api->log(req, PH_LOG_ERROR, "proxy: out of memory");
        return api->respond_error(req, 500, "out of memory") == 0 ? PH_OK : PH_ERROR;
    }
    ph_fetch_request freq = {.struct_size = sizeof freq,
                             .method = api->method(req),
                             .url = url,
                             .headers = headers,
                             .body = body_len ? body : NULL,
                             .body_len = body_len,
                             .timeout_ms = st->timeout_ms};
    call->st = st;
    call->streaming = false;
    call->fetch = st->buffer ? api->fetch(req, &freq, on_upstream_response, call)
                             : api->fetch_stream(req, &freq, &stream_cbs, call);
    free(url); /* fetch copied these */
    free(headers);
    free(xff);
    if (!call->fetch) {
        free(call);
        api->log(req, PH_LOG_ERROR, "proxy: cannot start the request to %s", st->upstream);
        return api->respond_error(req, 502, "bad gateway: cannot start the upstream request") == 0
                   ? PH_OK
                   : PH_ERROR;
    }
    if (api->on_abort(req, on_client_gone, call) != 0) {
        api->fetch_cancel(call->fetch);
        free(call);
        api->log(req, PH_LOG_ERROR, "proxy: cannot register the abort callback");
        return api->respond_error(req, 500, "cannot watch the client") == 0 ? PH_OK : PH_ERROR;
    }
    return PH_PENDING;
}

static const char *const proxy_settings[] = {"upstream", "timeout", "buffer", NULL};

PH_PLUGIN_DECLARE_SETTINGS("proxy", "1.1.0", PH_MODE_ASYNC, proxy_init, proxy_fini, proxy_handle, proxy_settings)
