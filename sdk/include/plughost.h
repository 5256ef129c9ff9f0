/*
 * plughost.h - the one header a plughost plugin includes.
 *
 * A plugin is a shared object that exports exactly one function,
 * ph_plugin_entry(), returning a const descriptor (declare it with
 * PH_PLUGIN_DECLARE). The host hands a const table of host functions
 * (ph_host_api) to the plugin's init; the plugin never links against the
 * server, so it builds out of tree with this header alone and can be tested
 * with the mock host in sdk/testing/ph_mock_host.h.
 *
 * Two execution modes:
 *   PH_MODE_SYNC   handle() runs on a worker thread of the host's bounded
 *                  pool; it may block (sleep, a database driver, CPU work).
 *                  It builds the response and returns PH_OK or PH_ERROR.
 *   PH_MODE_ASYNC  handle() runs on the event-loop thread and must never
 *                  block. It either responds at once (PH_OK) or starts work
 *                  with the loop primitives (timers) and returns PH_PENDING,
 *                  then calls api->complete() later, on the loop thread.
 *
 * ABI rules: structs only grow at the end, every struct carries its size,
 * the host refuses a plugin whose PH_ABI_MAJOR differs from its own. A slot
 * added in minor version N is marked "since 1.N"; test for it with
 * PH_HOST_HAS(api, slot) before use when built against a newer header.
 *
 * JSON: plugins link cJSON themselves (-lcjson). cJSON_Parse* stores its
 * error position in a process-wide variable; read it only through the
 * return_parse_end argument of cJSON_ParseWithLengthOpts in sync plugins.
 *
 * C++ plugin authors: build with -fno-gnu-unique, otherwise a STB_GNU_UNIQUE
 * symbol pins the library in memory and a reloaded plugin keeps old code.
 */
#ifndef PLUGHOST_H
#define PLUGHOST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PH_ABI_MAJOR 1
#define PH_ABI_MINOR 5
#define PH_ABI_VERSION ((uint32_t)((PH_ABI_MAJOR << 16) | PH_ABI_MINOR))
#define PH_ABI_VERSION_MAJOR(v) ((uint32_t)(v) >> 16)
#define PH_ABI_VERSION_MINOR(v) ((uint32_t)(v)&0xffffu)

/* The name of the one symbol every plugin exports. */
#define PH_PLUGIN_ENTRY_SYMBOL "ph_plugin_entry"

#if defined(__GNUC__)
#define PH_PRINTF_FORMAT(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define PH_PRINTF_FORMAT(fmt, args)
#endif

/* Opaque handles: a request (with its response under construction), the
 * settings of the route a plugin instance serves, and a loop timer. */
typedef struct ph_request ph_request;
typedef struct ph_settings ph_settings;
typedef struct ph_timer ph_timer;

/* cJSON's tree type; include <cjson/cJSON.h> to build or read one. */
struct cJSON;

typedef enum ph_mode {
    PH_MODE_SYNC = 1,  /* handle() runs on the worker thread pool */
    PH_MODE_ASYNC = 2, /* handle() runs on the event loop, never blocks */
} ph_mode;

/* What handle() returns. */
typedef enum ph_result {
    PH_ERROR = -1,  /* failure: the host answers 500 and logs plugin + route */
    PH_OK = 0,      /* the response is built; the host sends it */
    PH_PENDING = 1, /* async only: api->complete(req) will follow later */
} ph_result;

typedef enum ph_log_level {
    PH_LOG_DEBUG = 0,
    PH_LOG_INFO = 1,
    PH_LOG_WARN = 2,
    PH_LOG_ERROR = 3,
} ph_log_level;

/* Called on the loop thread when a timer started with timer_start fires. */
typedef void (*ph_timer_cb)(ph_request *req, void *arg);

/* ---- types of ABI 1.1 ---- */

/* Called once on the loop thread when a pending async request ends before
 * complete(): the client went away or the route's timeout passed. The
 * request is ending: the callback frees what the plugin keeps for it and
 * cancels what the host cannot (its own resources). Inside it:
 *   allowed   the request accessors (method, path, query, query_param,
 *             header, body, path_param, header_count, header_at,
 *             client_addr), log, timer_cancel and fetch_cancel on handles
 *             that are still valid
 *   refused   complete() and complete_failed() (the host finishes the request when
 *             the callback returns), the response builders (set_status,
 *             add_header, add_header_n, set_body, respond_json,
 *             respond_error: nothing is sent), and new work: timer_start,
 *             timer_repeat, fetch, fetch_stream, offload, on_abort,
 *             stream_begin, stream_write, stream_on_drain.
 *             Each returns -1 (or NULL) and the host logs it; the mock
 *             host records it as a misuse.
 * After the callback returns, `req` is gone. */
typedef void (*ph_abort_cb)(ph_request *req, void *arg);

/* Called on the loop thread when a stream's buffered output has drained
 * below the low-water mark after stream_write returned 1. */
typedef void (*ph_drain_cb)(ph_request *req, void *arg);

/* Offloaded blocking work: `work` runs on a pool thread and must not touch
 * the request; `done` runs afterwards on the loop thread, with req NULL
 * when the request was aborted meanwhile. */
typedef void (*ph_work_fn)(void *arg);
typedef void (*ph_work_done_fn)(ph_request *req, void *arg);

/* An outbound HTTP request in flight (fetch). */
typedef struct ph_fetch ph_fetch;

/* What to fetch. Strings and body are copied by fetch(). */
typedef struct ph_fetch_request {
    uint32_t struct_size;        /* sizeof(ph_fetch_request) */
    const char *method;          /* "GET" when NULL */
    const char *url;             /* http://host[:port]/path?query */
    const char *const *headers;  /* name, value, name, value, ..., NULL; may be NULL */
    const void *body;            /* may be NULL */
    size_t body_len;
    uint64_t timeout_ms;         /* whole exchange; 0 = 30 s */
} ph_fetch_request;

typedef enum ph_fetch_error {
    PH_FETCH_OK = 0,        /* a response arrived (any status) */
    PH_FETCH_REFUSED = 1,   /* connection refused / host unreachable */
    PH_FETCH_TIMEOUT = 2,   /* timeout_ms passed: answer 504 */
    PH_FETCH_RESET = 3,     /* connection reset or closed mid-response */
    PH_FETCH_DNS = 4,       /* name did not resolve */
    PH_FETCH_INVALID = 5,   /* bad URL, scheme other than http, bad response (malformed,
                               a 1xx other than 100, a head over 64 KiB, a body over
                               upstream_max_body) */
} ph_fetch_error;

/* The outcome, valid only during the callback. */
typedef struct ph_fetch_response {
    uint32_t struct_size;        /* sizeof(ph_fetch_response) of the host */
    ph_fetch_error error;
    const char *error_text;      /* human-readable reason, "" when OK */
    int status;                  /* HTTP status when error == PH_FETCH_OK */
    size_t nheaders;
    const char *const *headers;  /* name, value pairs: 2 * nheaders strings */
    const void *body;
    size_t body_len;
} ph_fetch_response;

/* Called once on the loop thread with the outcome of a fetch (not called
 * after fetch_cancel or when the request was aborted). */
typedef void (*ph_fetch_cb)(ph_request *req, const ph_fetch_response *resp, void *arg);

/* ---- types of ABI 1.4 ---- */

/* The callbacks of a streaming fetch (fetch_stream): the response head,
 * then its body piece by piece as it arrives, then the end. Each runs on
 * the loop thread, never inside fetch_stream(), and not at all after
 * fetch_cancel or once the request has ended (complete(), complete_failed(), an
 * abort). Inside on_head and on_body the plugin may call fetch_pause,
 * fetch_resume and fetch_cancel on `fetch`, and anything an async
 * request allows (stream_begin, stream_write, complete...). Since 1.4. */
typedef struct ph_fetch_stream_cbs {
    uint32_t struct_size; /* sizeof(ph_fetch_stream_cbs) */
    /* The final response's status and headers (a 100 Continue before them
     * is skipped), at most once: `head` has error PH_FETCH_OK, status,
     * nheaders and headers (the upstream's, framing ones included), an
     * empty body; it is valid during the call only. Required. */
    void (*on_head)(ph_request *req, ph_fetch *fetch, const ph_fetch_response *head, void *arg);
    /* `len` (> 0) more bytes of body, chunked framing removed; `data` is
     * valid during the call only. Not called while the fetch is paused.
     * Required. */
    void (*on_body)(ph_request *req, ph_fetch *fetch, const void *data, size_t len, void *arg);
    /* The end, exactly once unless cancelled: `end->error` PH_FETCH_OK
     * when the whole body arrived, else why it failed; after on_head a
     * failure means the body is cut short (PH_FETCH_RESET when the
     * upstream closed early, PH_FETCH_TIMEOUT, PH_FETCH_INVALID for bad
     * framing). end->status is the head's status, 0 when no head came;
     * no headers, no body. The fetch handle is gone when it runs.
     * Required. */
    void (*on_end)(ph_request *req, const ph_fetch_response *end, void *arg);
} ph_fetch_stream_cbs;

/*
 * The host function table. Handed to init(); valid until fini() returns.
 * "any thread" means: the loop thread, or the pool thread running this
 * request's sync handle().
 */
typedef struct ph_host_api {
    uint32_t struct_size; /* sizeof(ph_host_api) of the host; since 1.0 */
    uint32_t abi_version; /* the host's PH_ABI_VERSION; since 1.0 */

    /* ---- settings (init time; the ph_settings lives until fini) ---- */

    /* Value of route key `key`, or NULL when the route has none. The string
     * is owned by the host. Since 1.0. */
    const char *(*setting)(const ph_settings *s, const char *key);
    /* Parse route key `key` as a number into *out (`def` when absent).
     * Returns 0, or -1 if present but not a finite number. Since 1.0. */
    int (*setting_double)(const ph_settings *s, const char *key, double def, double *out);
    /* The route path this instance serves, e.g. "/sync". Since 1.0. */
    const char *(*route_path)(const ph_settings *s);

    /* ---- request accessors (any thread; strings owned by the request,
     *      valid until the response is sent) ---- */

    /* Request method, e.g. "GET"; "HEAD" for the HEAD a GET route answers
     * automatically (build the GET response; the host sends no body).
     * Since 1.0. */
    const char *(*method)(const ph_request *req);
    /* Request path without the query string, as sent. Since 1.0. */
    const char *(*path)(const ph_request *req);
    /* Raw query string without '?', "" when absent. Since 1.0. */
    const char *(*query)(const ph_request *req);
    /* Percent-decoded value of the first query parameter `name`, "" for a
     * key without '=', NULL when absent. Since 1.0. Decoding: "+" is a
     * space, "%2F" is '/', "%26" is '&' (inside the value: the split is
     * on the raw text); a target holding "%00" is answered 400 before any
     * plugin runs, so a value never holds a NUL. */
    const char *(*query_param)(ph_request *req, const char *name);
    /* Value of the first header `name` (case-insensitive), or NULL. Since 1.0. */
    const char *(*header)(const ph_request *req, const char *name);
    /* Request body bytes and length (chunked bodies arrive decoded);
     * never NULL, length 0 when there is no body. Since 1.0. */
    const void *(*body)(const ph_request *req, size_t *len);

    /* ---- response builders (the thread running handle(), or the loop
     *      thread for an async request before complete()). Refused with
     *      -1 and logged once the response is final (after complete() or
     *      a returned handle()), inside the abort callback, after
     *      stream_begin(), and from an offloaded work function ---- */

    /* Set the status code (default 200). Returns 0, -1 if not 100..599. Since 1.0. */
    int (*set_status)(ph_request *req, int status);
    /* Add a response header; name and value are copied. Returns 0, or -1
     * for a NULL name or value, a name that is not a token (RFC 9110:
     * letters, digits and !#$%&'*+-.^_`|~; so no CR, LF, space or ':'), a
     * value with CR or LF (a TAB and the other control bytes are kept), a
     * host-managed header (Content-Length, Transfer-Encoding, Connection,
     * Date, in any case), a response that may not be built now (see
     * above) or no memory. add_header_n (since 1.5) takes lengths instead.
     * Since 1.0. */
    int (*add_header)(ph_request *req, const char *name, const char *value);
    /* Replace the body with a copy of `len` bytes. Returns 0 or -1 (no
     * memory). Since 1.0. */
    int (*set_body)(ph_request *req, const void *data, size_t len);
    /* Set status and the compact serialisation of `json` as the body (not
     * taken: the caller still owns it), and "Content-Type: application/json"
     * unless the plugin already added a Content-Type. Returns 0 or -1.
     * Since 1.0. */
    int (*respond_json)(ph_request *req, int status, const struct cJSON *json);
    /* Convenience for errors: status and {"error": message}. Since 1.0. */
    int (*respond_error)(ph_request *req, int status, const char *message);

    /* ---- logging (any thread) ---- */

    /* Log one line. With a request, the line names the plugin and route.
     * Since 1.0. */
    void (*log)(const ph_request *req, ph_log_level level, const char *fmt, ...)
        PH_PRINTF_FORMAT(3, 4);

    /* ---- async (loop thread only) ---- */

    /* Finish a request whose handle() returned PH_PENDING: the host sends
     * the response built so far (to fail, respond_error(req, 500, ...)
     * first). Its pending timers and fetches are cancelled; offloads still
     * running call their done with a NULL request. After it, `req` must
     * not be touched. Returns 0, or -1 (logged, nothing happens) when the
     * request is not pending: inside handle() (return PH_OK there
     * instead), inside the abort callback, a second time, on a sync
     * request, or off the loop thread. The mock host and the real host
     * refuse the same calls. Since 1.0. */
    int (*complete)(ph_request *req);
    /* Start a one-shot timer of `ms` milliseconds bound to `req`. The host
     * cancels it if the request completes first. The handle is valid until
     * the timer fires, is cancelled or the request completes. Returns the
     * timer, or NULL on failure. Since 1.0. */
    ph_timer *(*timer_start)(ph_request *req, uint64_t ms, ph_timer_cb cb, void *arg);
    /* Cancel a timer whose handle is still valid (see timer_start). Since 1.0. */
    void (*timer_cancel)(ph_timer *timer);

    /* ---- since 1.1 ---- */

    /* Percent-decoded value of path parameter `name` of the matched route
     * ([route /items/{id}] → path_param(req, "id")), or NULL. Any thread.
     * "%2F" decodes to '/' inside the value (/items/a%2Fb gives "a/b");
     * "%00" never reaches a plugin (400). */
    const char *(*path_param)(ph_request *req, const char *name);

    /* Register the abort callback of a pending async request (one per
     * request; a second call replaces the first). When the client
     * disconnects or the route's timeout passes before complete(), the host
     * calls it once, then cancels every timer, fetch and offload result of
     * the request and frees it: after the callback returns `req` is gone.
     * A plugin that keeps `req` anywhere but in host primitives must
     * register one; what the callback may call is listed at ph_abort_cb.
     * Loop thread. Returns 0 or -1. Since 1.1. */
    int (*on_abort)(ph_request *req, ph_abort_cb cb, void *arg);

    /* Like timer_start, but fires every `ms` until cancelled or the request
     * ends. Loop thread. Since 1.1. */
    ph_timer *(*timer_repeat)(ph_request *req, uint64_t ms, ph_timer_cb cb, void *arg);

    /* Send an HTTP/1.1 request to another server (connections to the same
     * host:port are reused). The host sets Host (unless given) and
     * Content-Length, and drops a plugin's Content-Length, Transfer-Encoding
     * and Expect. A 100 Continue before the answer is skipped; any other
     * 1xx is PH_FETCH_INVALID. The whole body is held in memory up to the
     * server's `upstream_max_body` (default 16 MiB): a larger one is
     * PH_FETCH_INVALID (fetch_stream has no such cap). `cb` runs once with
     * the outcome, always later from the loop, never inside fetch().
     * Returns the fetch (valid until its callback runs or it is cancelled)
     * or NULL when it could not be started (bad URL or method, no memory:
     * logged). Loop thread. Since 1.1. */
    ph_fetch *(*fetch)(ph_request *req, const ph_fetch_request *freq, ph_fetch_cb cb, void *arg);
    /* Cancel a fetch whose callback has not run (for fetch_stream: whose
     * on_end has not run; also from inside its on_head or on_body): no
     * callback of it runs afterwards. Loop thread. Since 1.1. */
    void (*fetch_cancel)(ph_fetch *fetch);

    /* Run `work(arg)` on the sync pool (the route's own when its section
     * has `sync_threads`), then `done(req, arg)` on the loop (FastAPI's
     * run_in_threadpool). Shares the pool's bounded queue:
     * returns -1 when it is full (answer 503) or off the loop thread, else
     * 0. `done` always runs exactly once; when the request ended before
     * (aborted), `req` is NULL and `done` only frees `arg`. Since 1.1. */
    int (*offload)(ph_request *req, ph_work_fn work, ph_work_done_fn done, void *arg);

    /* Streaming (async): send the status and headers set so far now; the
     * body follows in stream_write calls (chunked for HTTP/1.1,
     * close-delimited for 1.0) and ends with complete(), or with handle()
     * returning PH_OK. After stream_begin the route timeout no longer
     * applies, and PH_ERROR can only cut the stream short (the connection
     * closes). Returns 0 or -1. Loop thread. Since 1.1. */
    int (*stream_begin)(ph_request *req);
    /* Queue `len` bytes of body. Returns 0, 1 when the buffered output is
     * above the high-water mark (stop writing until the drain callback),
     * or -1 (not streaming, or no memory). Loop thread. Since 1.1. */
    int (*stream_write)(ph_request *req, const void *data, size_t len);
    /* Set the callback run when buffered output drains below the low-water
     * mark after stream_write returned 1. Loop thread. Since 1.1. */
    int (*stream_on_drain)(ph_request *req, ph_drain_cb cb, void *arg);

    /* Number of request headers, repeated fields counted each time. Any
     * thread. Since 1.1. */
    size_t (*header_count)(const ph_request *req);
    /* Header `i` (0-based, in arrival order) into *name and *value (owned
     * by the request). Returns 0, or -1 when i is out of range. Any
     * thread. Since 1.1. */
    int (*header_at)(const ph_request *req, size_t i, const char **name, const char **value);
    /* The client's IP address as text ("127.0.0.1", "::1"), "" when
     * unknown. Any thread. Since 1.1. */
    const char *(*client_addr)(const ph_request *req);

    /* ---- since 1.2: typed settings, spelled as in server.ini ----
     *
     * Each reads route key `key` into *out (`def` when the route has no
     * such key) and returns 0; for a value that does not parse it logs one
     * error line naming the route, the key, the value and the syntax
     * expected (`route /x: interval = "10 s" is not a duration (...)`) and
     * returns -1, so init() can simply return -1 to refuse the load (the
     * reload is refused, the old configuration keeps serving). Any thread;
     * meant for init(). */

    /* "500ms", "10s", "1.5s", or a bare number of seconds ("2"), up to 30
     * days, into milliseconds. Since 1.2. */
    int (*setting_duration_ms)(const ph_settings *s, const char *key, uint64_t def, uint64_t *out);
    /* "65536", "64k", "1m", "1g" (binary multiples; "64kb" too) into bytes.
     * Since 1.2. */
    int (*setting_size)(const ph_settings *s, const char *key, size_t def, size_t *out);
    /* A decimal integer within [min, max] (a value outside is an error; the
     * default is not checked). Since 1.2. */
    int (*setting_int)(const ph_settings *s, const char *key, long def, long min, long max, long *out);
    /* true/false, yes/no, on/off or 1/0 (any case) into 1 or 0. Since 1.2. */
    int (*setting_bool)(const ph_settings *s, const char *key, int def, int *out);

    /* ---- since 1.4: streaming fetch, and failing a pending request ---- */

    /* Like fetch(), but the response is handed over as it arrives (see
     * ph_fetch_stream_cbs), never held whole: a body of any size costs a
     * bounded buffer. `cbs` is copied. freq->timeout_ms (0 = 30 s) bounds
     * the wait for the response head; after the head it bounds each
     * silence of the upstream while the fetch is not paused (no limit
     * while paused). Returns the fetch (valid until on_end runs or it is
     * cancelled) or NULL when it could not be started (bad URL, method or
     * header, a callback missing, no memory, or the request state refuses
     * new work: logged). Loop thread. Since 1.4. */
    ph_fetch *(*fetch_stream)(ph_request *req, const ph_fetch_request *freq, const ph_fetch_stream_cbs *cbs,
                              void *arg);
    /* Back-pressure: stop reading the upstream's response; no on_body runs
     * until fetch_resume (what was read stays buffered, a bounded amount;
     * the upstream then waits on TCP flow control). Pausing before the
     * head holds the head back too (its deadline keeps running). Returns
     * 0, or -1 (logged) for a fetch started with fetch(), a NULL fetch, or
     * off the loop thread. Idempotent. Loop thread. Since 1.4. */
    int (*fetch_pause)(ph_fetch *fetch);
    /* Read on: buffered body is delivered from the loop (never inside this
     * call), then what arrives. Returns 0 or -1 like fetch_pause. Loop
     * thread. Since 1.4. */
    int (*fetch_resume)(ph_fetch *fetch);
    /* Finish a pending async request as failed: the counterpart of
     * handle() returning PH_ERROR, for a request whose handle() returned
     * PH_PENDING. Before stream_begin the client gets 500; after it the
     * stream is cut short: the connection closes without the body's end
     * (no terminating chunk), so the client sees a truncated response,
     * never a clean one. `why` (may be NULL) is logged with the route and
     * plugin. Everything complete() ends ends too. Returns 0, or -1 when
     * complete() would be refused (not pending, inside handle() or the
     * abort callback, twice, a sync request, off the loop thread). Loop
     * thread. Since 1.4. */
    int (*complete_failed)(ph_request *req, const char *why);

    /* ---- since 1.5: a header of known length ---- */

    /* add_header for a name and a value given as (pointer, length), not
     * NUL-terminated: slices of a buffer, or literals with PH_LIT. The
     * `name_len` bytes at `name` and the `value_len` bytes at `value` are
     * copied; nothing past them is read. Same threads and states as
     * add_header, and refused (-1) exactly as it is, a NUL byte inside
     * either length too (one could never reach add_header): a NULL name
     * or value, an empty name or one that is not a token, a value with
     * CR, LF or NUL (a TAB and the other control bytes are kept), a
     * host-managed header, a response that may not be built now, no
     * memory. Returns 0 or -1. Since 1.5. */
    int (*add_header_n)(ph_request *req, const char *name, size_t name_len, const char *value, size_t value_len);
} ph_host_api;

/* A string literal and its length, as two arguments (for add_header_n):
 *   api->add_header_n(req, PH_LIT("Content-Type"), PH_LIT("text/plain"));
 * Only a literal compiles (a pointer would give sizeof(char *) - 1). */
#define PH_LIT(s) ("" s ""), (sizeof("" s "") - 1)

/* True when the host's table has slot `field` (it may be older). */
#define PH_HOST_HAS(api, field)                                                \
    ((api)->struct_size >= offsetof(ph_host_api, field) + sizeof((api)->field) && \
     (api)->field != NULL)

/*
 * The descriptor a plugin exports. Fill it with PH_PLUGIN_DECLARE.
 *
 * init   Called once per route instance on the loop thread before any
 *        request, with the route's settings. Stores per-instance state in
 *        *state. Returns 0, or non-zero to refuse the load (the host logs
 *        it and keeps serving the old configuration); on failure init has
 *        freed what it allocated and fini is not called. May be NULL.
 * fini   Called on the loop thread after the last request of the instance
 *        finished; frees `state`. May be NULL.
 * handle Serves one request (thread per the mode). Returns a ph_result.
 *
 * Processes: before any serving process maps a new or changed plugin, the
 * host proves it in a short-lived check process (dlopen, init() with the
 * route's settings, fini(), then _exit): init and fini may run there as
 * well as in each worker, so they must not take anything exclusive (a
 * lock file, a port) that a second init would find taken, nor expect to
 * run only once. The host then serves with several worker processes
 * (`workers`), and each loads the plugin and runs init() on its own, so
 * state set up in init lives once per worker and a request may reach any
 * of them; a
 * worker that is recycled or crashed starts with fresh state. Keep state
 * that must be shared outside (a database, a file, shared memory with its
 * own locking). A plugin that crashes its worker (SIGSEGV, abort()) is
 * named in the supervisor's log with a backtrace of "file+0xoffset"
 * frames for addr2line; build plugins with -g to get lines.
 */
typedef struct ph_plugin {
    uint32_t abi_version; /* PH_ABI_VERSION the plugin was built with; since 1.0 */
    uint32_t struct_size; /* sizeof(ph_plugin) the plugin was built with; since 1.0 */
    const char *name;     /* short plugin name, for logs; since 1.0 */
    const char *version;  /* the plugin's own version string; since 1.0 */
    ph_mode mode;         /* PH_MODE_SYNC or PH_MODE_ASYNC; since 1.0 */
    int (*init)(const ph_host_api *api, const ph_settings *settings, void **state);
    void (*fini)(void *state);
    int (*handle)(void *state, ph_request *req);
    /* ---- since 1.3 ----
     * The route setting names the plugin reads, NULL-terminated; NULL when
     * it does not declare them. With a list, any key of its route that is
     * neither reserved (plugin, methods, timeout) nor listed is an error
     * (startup, plughost -t, reloads): a misspelt "methds" is caught
     * instead of silently becoming a setting. Without one, keys that look
     * like a misspelt reserved key are warned about. */
    const char *const *settings;
    /* What the admin listener's GET /openapi.json says about the plugin's
     * routes; each may be NULL (not declared). Up to 200 bytes each, no
     * control characters (tab, newline...): a longer or otherwise unfit
     * text is ignored as if NULL. */
    const char *summary;       /* one line, e.g. "Say hello"; since 1.3 */
    const char *request_type;  /* request body media type, e.g. "application/json"; since 1.3 */
    const char *response_type; /* media type of its 200 answers, e.g. "text/plain"; since 1.3 */
} ph_plugin;

#if defined(__GNUC__)
#define PH_EXPORT __attribute__((visibility("default")))
#else
#define PH_EXPORT
#endif

/* The signature of the exported entry point. */
typedef const ph_plugin *(*ph_plugin_entry_fn)(void);

/*
 * Declare the plugin, e.g.
 *   PH_PLUGIN_DECLARE("hello", "1.0.0", PH_MODE_ASYNC, hello_init, NULL, hello_handle);
 * or, declaring the route settings it reads (since 1.3),
 *   static const char *const keys[] = {"seconds", NULL};
 *   PH_PLUGIN_DECLARE_SETTINGS("sleep", "1.0.0", PH_MODE_SYNC, init, NULL, handle, keys);
 * or, also describing its routes for GET /openapi.json (since 1.3; any of
 * SETTINGS, SUMMARY, REQUEST_TYPE, RESPONSE_TYPE may be NULL),
 *   PH_PLUGIN_DESCRIBE("hello", "1.0.0", PH_MODE_ASYNC, init, NULL, handle, NULL,
 *                      "Say hello", NULL, "text/plain");
 */
#define PH_PLUGIN_DECLARE(NAME, VERSION, MODE, INIT, FINI, HANDLE)            \
    PH_EXPORT const ph_plugin *ph_plugin_entry(void);                        \
    PH_EXPORT const ph_plugin *ph_plugin_entry(void)                         \
    {                                                                         \
        static const ph_plugin descriptor = {PH_ABI_VERSION, sizeof(ph_plugin), \
                                             (NAME), (VERSION), (MODE),       \
                                             (INIT), (FINI), (HANDLE), NULL, NULL, NULL, NULL}; \
        return &descriptor;                                                   \
    }

#define PH_PLUGIN_DECLARE_SETTINGS(NAME, VERSION, MODE, INIT, FINI, HANDLE, SETTINGS) \
    PH_EXPORT const ph_plugin *ph_plugin_entry(void);                        \
    PH_EXPORT const ph_plugin *ph_plugin_entry(void)                         \
    {                                                                         \
        static const ph_plugin descriptor = {PH_ABI_VERSION, sizeof(ph_plugin), \
                                             (NAME), (VERSION), (MODE),       \
                                             (INIT), (FINI), (HANDLE), (SETTINGS), NULL, NULL, NULL}; \
        return &descriptor;                                                   \
    }

#define PH_PLUGIN_DESCRIBE(NAME, VERSION, MODE, INIT, FINI, HANDLE, SETTINGS, SUMMARY, REQUEST_TYPE,      \
                           RESPONSE_TYPE)                                                                 \
    PH_EXPORT const ph_plugin *ph_plugin_entry(void);                                                     \
    PH_EXPORT const ph_plugin *ph_plugin_entry(void)                                                      \
    {                                                                                                      \
        static const ph_plugin descriptor = {PH_ABI_VERSION, sizeof(ph_plugin), (NAME), (VERSION), (MODE), \
                                             (INIT), (FINI), (HANDLE), (SETTINGS), (SUMMARY),             \
                                             (REQUEST_TYPE), (RESPONSE_TYPE)};                             \
        return &descriptor;                                                                                \
    }

#ifdef __cplusplus
}
#endif

#endif /* PLUGHOST_H */
