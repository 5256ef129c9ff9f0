/*
 * ph_mock_host.h - a complete plughost host, without the server, for plugin
 * unit tests.
 *
 * The mock implements every slot of ph_host_api in memory: settings from
 * key/value pairs, requests you build by hand, responses you inspect, a log
 * you can search, and a virtual clock that fires timers only when the test
 * says so. Nothing here needs a socket, a thread pool or an event loop, so a
 * test is deterministic and fast.
 *
 * It also watches the plugin for mistakes the real host would punish with a
 * crash or a wrong response (complete() twice, a builder after the response
 * was sent, PH_PENDING from a sync plugin, timer_cancel on a fired timer,
 * complete() after an abort, stream_write before stream_begin, fetch from a
 * sync plugin, a work function touching its request...) and records each as
 * a "misuse" that a test can assert is absent.
 *
 * ABI 1.1 (see the sections below): path parameters are set on the request
 * by the test; the test plays the client going away (ph_mock_abort), the
 * upstream server of every fetch (ph_mock_fetch_respond / _fail), the pool
 * that runs offloaded work (ph_mock_run_offloads) and the slow reader of a
 * stream (ph_mock_stream_set_high_water / ph_mock_stream_drain). ABI 1.4:
 * the upstream of a streaming fetch, step by step (ph_mock_fetch_head /
 * _body / _end, ph_mock_fetch_paused), and complete_failed() (ph_mock_failed).
 *
 * A typical test (the plugin's .c file compiled into the test executable):
 *
 *     ph_mock_reset();
 *     ph_settings *s = ph_mock_settings_new("/sync", "seconds", "0.5", NULL);
 *     ph_mock_instance *inst;
 *     assert_int_equal(ph_mock_init(ph_plugin_entry(), s, &inst), 0);
 *
 *     ph_request *req = ph_mock_request_new("GET", "/sync?x=1");
 *     assert_int_equal(ph_mock_handle(inst, req), PH_PENDING);
 *     ph_mock_run_timers(500);                    // virtual milliseconds
 *     assert_int_equal(ph_mock_complete_calls(req), 1);
 *     assert_int_equal(ph_mock_response_status(req), 200);
 *     assert_string_equal(ph_mock_response_body(req, NULL), "...");
 *     assert_int_equal(ph_mock_misuse_count(), 0);
 *
 *     ph_mock_request_free(req);
 *     ph_mock_fini(inst);
 *     ph_mock_settings_free(s);
 *
 * Installed (cmake --install): `$(pkg-config --cflags --libs plughost-testing
 * cmocka)`, or find_package(plughost) and plughost::testing; in this tree,
 * the `ph_mock_host` CMake target. Set PH_MOCK_LOG=1 in the environment to echo every
 * plugin log line to stderr.
 *
 * Threads: the mock plays both the loop thread and the pool thread on the
 * thread that calls ph_mock_handle()/ph_mock_run_timers(). Distinct requests
 * may be handled on distinct threads at once (to stress a sync plugin's
 * shared state); the log, the misuse list, fault injection and the timer,
 * fetch and offload lists are locked. Offloaded work functions run on real
 * threads of their own (ph_mock_run_offloads), so ThreadSanitizer sees what
 * they share. Everything else (settings, init/fini, reset, the drivers of
 * abort, fetch, offload and streams) belongs to the one thread that plays
 * the loop.
 *
 * Errors follow the project convention: 0 / -1, or NULL.
 */
#ifndef PH_MOCK_HOST_H
#define PH_MOCK_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <plughost.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PH_MOCK_SENTINEL __attribute__((sentinel))
#else
#define PH_MOCK_SENTINEL
#endif

/* The entry point PH_PLUGIN_DECLARE defines, declared here so a test that
 * compiles the plugin's source in can call it. */
PH_EXPORT const ph_plugin *ph_plugin_entry(void);

/* ------------------------------------------------------------------ */
/* Whole-mock state                                                    */
/* ------------------------------------------------------------------ */

/* Forget all timers (pending ones are dropped without firing), fetches
 * (pending ones never call back), offload jobs (queued ones never run: their
 * argument is not freed), log lines, misuses and injected faults; set the
 * virtual clock to 0 and the stream high-water mark back to unlimited. Call
 * at the start of every test. Does not touch requests, settings or
 * instances, which the test owns. Stale ph_timer / ph_fetch handles a plugin
 * kept become invalid. */
void ph_mock_reset(void);

/* The host table the mock hands to init(): every slot up to ABI 1.5 filled,
 * struct_size = sizeof(ph_host_api), abi_version = PH_ABI_VERSION. To play
 * a 1.0 host, copy it and set struct_size = offsetof(ph_host_api,
 * path_param). Static storage; never NULL. */
const ph_host_api *ph_mock_api(void);

/* ------------------------------------------------------------------ */
/* Settings                                                            */
/* ------------------------------------------------------------------ */

/* New route settings for `route_path` ("/" when NULL) from a NULL-terminated
 * list of key, value strings, e.g.
 *     ph_mock_settings_new("/sync", "seconds", "2", "methods", "GET", NULL);
 * Strings are copied; a later duplicate key replaces the earlier one.
 * Returns NULL on no memory or when a key has no value. */
ph_settings *ph_mock_settings_new(const char *route_path, ...) PH_MOCK_SENTINEL;

/* Add or replace `key`; a NULL `value` removes the key. Returns 0 or -1
 * (no memory, NULL key). */
int ph_mock_settings_set(ph_settings *s, const char *key, const char *value);

/* Free settings from ph_mock_settings_new. NULL is ignored. Free them only
 * after ph_mock_fini of every instance initialised with them. */
void ph_mock_settings_free(ph_settings *s);

/* ------------------------------------------------------------------ */
/* Plugin instances                                                    */
/* ------------------------------------------------------------------ */

typedef struct ph_mock_instance ph_mock_instance;

/* Check `plugin`'s descriptor as the host does (ABI major, struct size,
 * mode, handle present; since ABI 1.3 a declared settings list refuses an
 * undeclared, non-reserved key of `settings`), then call its init with ph_mock_api() and
 * `settings` (an empty "/" route when NULL; otherwise they must outlive the
 * instance). On success stores the instance in *out and returns 0. On
 * failure *out is NULL and the result is init's non-zero return, or -1 for
 * a refused descriptor or no memory; the reason is in the log at
 * PH_LOG_ERROR. fini is not called when init fails. */
int ph_mock_init(const ph_plugin *plugin, const ph_settings *settings, ph_mock_instance **out);

/* As ph_mock_init, handing `api` to init instead of ph_mock_api(): use a
 * modified copy of *ph_mock_api() to play an older host (smaller
 * struct_size, NULL slots). `api` must outlive the instance. */
int ph_mock_init_with_api(const ph_host_api *api, const ph_plugin *plugin,
                          const ph_settings *settings, ph_mock_instance **out);

/* Run the plugin's handle() on `req` as the host would, on the calling
 * thread. Returns what handle returned. `req` must be fresh (never handled).
 * After PH_OK or PH_ERROR the response is final (PH_ERROR, and any result
 * that is not a ph_result, make the status 500, as the host answers,
 * unless a stream already sent its status); the request's pending timers
 * and fetches are cancelled and its offload results dropped, as after
 * complete(). After PH_PENDING (async plugins only) the response is final
 * once the plugin calls complete(). */
int ph_mock_handle(ph_mock_instance *inst, ph_request *req);

/* Call the plugin's fini (if any) with its state and free the instance.
 * Requests of the instance still pending are detached, their timers and
 * fetches cancelled and their offload results dropped (no abort callback
 * runs); that is recorded as a misuse, since the real host never calls fini
 * with requests in flight. NULL is ignored. */
void ph_mock_fini(ph_mock_instance *inst);

/* The plugin state init stored, for white-box checks. */
void *ph_mock_instance_state(const ph_mock_instance *inst);

/* dlopen (RTLD_NOW | RTLD_LOCAL) a built plugin .so and call its entry
 * point. Returns its descriptor and stores the library handle in *handle,
 * or returns NULL (reason logged at PH_LOG_ERROR). The descriptor is valid
 * until ph_mock_plugin_close(*handle). */
const ph_plugin *ph_mock_plugin_open(const char *path, void **handle);

/* dlclose a handle from ph_mock_plugin_open. Returns dlclose's result
 * (0 on success). NULL is ignored (returns 0). */
int ph_mock_plugin_close(void *handle);

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/* A new request: `method` ("GET"...) and `target` as on the request line,
 * path with an optional "?query" ("/items?id=7&q=a+b"). No headers, empty
 * body. Returns NULL on no memory or a NULL argument. */
ph_request *ph_mock_request_new(const char *method, const char *target);

/* The client address client_addr() reports ("127.0.0.1" by default).
 * Returns 0 or -1 (NULL or longer than 47 bytes). */
int ph_mock_request_set_client_addr(ph_request *req, const char *addr);

/* Append a request header (duplicates kept, lookup is case-insensitive
 * and returns the first). Returns 0 or -1 (no memory, NULL argument). */
int ph_mock_request_add_header(ph_request *req, const char *name, const char *value);

/* Replace the request body with a copy of `len` bytes. Returns 0 or -1. */
int ph_mock_request_set_body(ph_request *req, const void *data, size_t len);

/* Same, for a NUL-terminated string (the NUL is not part of the body). */
int ph_mock_request_set_body_str(ph_request *req, const char *body);

/* Set the request's path parameters, as the host's router would for a
 * route like /items/{id}: a NULL-terminated list of name, value strings,
 * values already percent-decoded, e.g.
 *     ph_mock_request_set_path_params(req, "id", "42", NULL);
 * Replaces earlier ones; strings are copied; names are case-sensitive.
 * Returns 0 or -1 (no memory, a name without value). */
int ph_mock_request_set_path_params(ph_request *req, ...) PH_MOCK_SENTINEL;

/* Free a request and everything it owns. A request still pending (handle
 * returned PH_PENDING, no complete() yet) is treated like a client that went
 * away: ph_mock_abort() runs first (the abort callback, then every timer,
 * fetch and offload result of it cancelled). NULL is ignored. */
void ph_mock_request_free(ph_request *req);

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

/* Status the client would get: what the plugin set (200 by default), or
 * 500 when handle() returned PH_ERROR. */
int ph_mock_response_status(const ph_request *req);

/* Value of the first response header `name` (case-insensitive), or NULL.
 * Valid until the request is freed or the plugin changes the response. */
const char *ph_mock_response_header(const ph_request *req, const char *name);

/* Number of response headers the plugin added (host-managed ones like
 * Content-Length are never among them). */
size_t ph_mock_response_header_count(const ph_request *req);

/* The i-th response header, in the order added. Returns 0, or -1 when `i`
 * is out of range. `name`/`value` may be NULL. */
int ph_mock_response_header_at(const ph_request *req, size_t i, const char **name,
                               const char **value);

/* Response body; its length in *len when `len` is non-NULL. Never NULL and
 * always NUL-terminated (the NUL is not counted), so a text body can be
 * compared as a string. */
const char *ph_mock_response_body(const ph_request *req, size_t *len);

/* The body parsed as JSON, or NULL when it is not valid JSON. The caller
 * frees the tree with cJSON_Delete. */
struct cJSON *ph_mock_response_json(const ph_request *req);

/* True once the response is final: handle() returned PH_OK/PH_ERROR, or it
 * returned PH_PENDING and complete() has succeeded. False for an aborted
 * request. */
bool ph_mock_responded(const ph_request *req);

/* How many times the plugin called complete() on `req`, successful or not.
 * A correct async plugin makes it exactly 1 after PH_PENDING, 0 otherwise. */
unsigned ph_mock_complete_calls(const ph_request *req);

/* ------------------------------------------------------------------ */
/* Virtual clock and timers                                            */
/* ------------------------------------------------------------------ */

/* The virtual clock in milliseconds since the last ph_mock_reset(). */
uint64_t ph_mock_now_ms(void);

/* Advance the virtual clock by `ms`, firing every timer that falls due by
 * then in deadline order (ties in start order), each with the clock set to
 * its deadline. Timers started by a callback fire in the same call if they
 * fall due inside the window. Callbacks run on the calling thread, with no
 * mock lock held. Returns how many timers fired. */
size_t ph_mock_run_timers(uint64_t ms);

/* Number of pending timers of `req`, or of all requests when NULL. */
size_t ph_mock_timers_pending(const ph_request *req);

/* One pending timer, as ph_mock_timer_list reports it. */
typedef struct ph_mock_timer_info {
    uint64_t due_ms;   /* virtual time at which it fires */
    uint64_t delay_ms; /* the `ms` it was started with */
    ph_request *req;   /* the request it is bound to */
    bool repeat;       /* started with timer_repeat (since 1.1) */
} ph_mock_timer_info;

/* Fill up to `max` entries of `out` with the pending timers, soonest first.
 * Returns how many are pending in all (may exceed `max`). */
size_t ph_mock_timer_list(ph_mock_timer_info *out, size_t max);

/* Repeating timers (timer_repeat, since 1.1) are pending timers too: each
 * firing schedules the next one `ms` later (deadline + ms, so a late
 * ph_mock_run_timers call fires every missed tick, in order), until the
 * plugin cancels it or the request completes or is aborted. The mock
 * refuses timer_repeat with 0 ms (a busy loop) as a misuse. Fetch time-outs
 * also fall due on this clock (see below) but are not counted as timers. */

/* ------------------------------------------------------------------ */
/* Abort (since 1.1)                                                   */
/* ------------------------------------------------------------------ */

/* Play a client that disconnects (or the route timeout passing) while `req`
 * is pending: the plugin's abort callback, if it registered one, runs once;
 * then every pending timer, fetch and offload result of the request is
 * cancelled, and the request's body, headers, path parameters and decoded
 * query values are freed (as the host frees the request: a plugin that kept
 * a pointer into them trips AddressSanitizer). From then on any plugin call
 * on `req` is a misuse, and the plugin gets no callback for it. The
 * response inspectors keep working and ph_mock_responded() is false.
 * Returns 0, or -1 when `req` is not pending (never handled, still inside
 * handle(), already finished or aborted): the host aborts only pending
 * requests, so nothing happens. Loop thread. */
int ph_mock_abort(ph_request *req);

/* True once ph_mock_abort() (or ph_mock_request_free of a pending request)
 * ended `req`. */
bool ph_mock_aborted(const ph_request *req);

/* How many times the abort callback of `req` ran (0 or 1). */
unsigned ph_mock_abort_calls(const ph_request *req);

/* ------------------------------------------------------------------ */
/* Outbound HTTP: fetch (since 1.1)                                    */
/* ------------------------------------------------------------------ */

/* Every fetch the plugin starts is recorded (copied) and waits until the
 * test answers it as the upstream server would, or its time-out passes on
 * the virtual clock (timeout_ms of the request, 30 000 when 0): then
 * ph_mock_run_timers delivers PH_FETCH_TIMEOUT. A fetch ends unanswered
 * when the plugin cancels it, when its request is aborted, or when its
 * request completes (the host cannot call back into a finished request).
 * fetch() returns NULL, with a line logged at PH_LOG_ERROR, for a URL that
 * is not http://host[:port][/...] (as the host refuses to start it). */

/* What a plugin asked to fetch, as ph_mock_fetch_get reports it. Pointers
 * stay valid until ph_mock_reset(). */
typedef struct ph_mock_fetch_info {
    ph_request *req;            /* the request it is bound to (NULL once freed) */
    const char *method;         /* "GET" when the plugin passed NULL */
    const char *url;
    const char *const *headers; /* name, value, ..., NULL (never NULL itself) */
    size_t nheaders;            /* number of name/value pairs */
    const char *body;           /* NUL-terminated copy; "" when none */
    size_t body_len;
    uint64_t timeout_ms;        /* as passed: 0 means the host's 30 s */
    bool pending;               /* false once answered, failed or cancelled */
    bool streaming;             /* started with fetch_stream (since 1.4) */
    bool paused;                /* fetch_pause in effect (since 1.4) */
    bool head_sent;             /* ph_mock_fetch_head played (since 1.4) */
} ph_mock_fetch_info;

/* Number of fetches of `req` (all requests when NULL) still waiting. */
size_t ph_mock_fetch_pending(const ph_request *req);

/* The i-th waiting fetch, oldest first, or NULL when out of range. */
ph_fetch *ph_mock_fetch_at(size_t i);

/* Describe `fetch` (any fetch since the last reset, answered or not) in
 * *out. Returns 0, or -1 for a NULL argument. */
int ph_mock_fetch_get(const ph_fetch *fetch, ph_mock_fetch_info *out);

/* Value of the first header `name` (case-insensitive) the plugin put on
 * `fetch`, or NULL. */
const char *ph_mock_fetch_header(const ph_fetch *fetch, const char *name);

/* Answer a waiting fetch as the upstream: run the plugin's callback with
 * error PH_FETCH_OK, `status`, `headers` (name, value, ..., NULL; NULL for
 * none) and `len` bytes of `body` (may be NULL when len is 0). Returns 0, or
 * -1 when the fetch is not waiting (already answered, cancelled, aborted:
 * nothing is called) or is a streaming one (use the drivers below). Loop
 * thread. */
int ph_mock_fetch_respond(ph_fetch *fetch, int status, const char *const *headers,
                          const void *body, size_t len);

/* Fail a waiting fetch: run the callback with `error` (not PH_FETCH_OK) and
 * `error_text` ("" when NULL); for a streaming fetch, on_end, before or
 * after its head (status: the head's, 0 before it), paused or not.
 * Returns 0 or -1 as ph_mock_fetch_respond (streaming fetches included). */
int ph_mock_fetch_fail(ph_fetch *fetch, ph_fetch_error error, const char *error_text);

/* ---- streaming fetch (fetch_stream, since 1.4) ----
 *
 * The test plays the upstream of a fetch_stream in steps: the head, body
 * pieces, the end (or ph_mock_fetch_fail at any point). The fetch's
 * time-out (timeout_ms, 30 000 when 0) runs on the virtual clock until the
 * head is played; the mock plays no silence limit after it. A paused fetch
 * takes no body and no end (the host would not read them): the drivers
 * return 1 and deliver nothing. fetch_pause / fetch_resume on a fetch
 * started with fetch(), or on one that ended, are misuses. */

/* Deliver the head: on_head with `status` and `headers` (name, value,
 * ..., NULL; NULL for none; copies that die with the callback). Returns 0,
 * or -1 when `fetch` is not a waiting streaming fetch without a head. */
int ph_mock_fetch_head(ph_fetch *fetch, int status, const char *const *headers);

/* Deliver `len` (> 0) bytes of body to on_body (a copy that dies with the
 * callback). Returns 0, 1 when the fetch is paused (nothing delivered:
 * resume it first), or -1 when it is not a waiting streaming fetch past
 * its head. */
int ph_mock_fetch_body(ph_fetch *fetch, const void *data, size_t len);

/* The body is complete: on_end with PH_FETCH_OK and the head's status.
 * Returns 0, 1 when paused (nothing delivered), or -1 as
 * ph_mock_fetch_body. */
int ph_mock_fetch_end(ph_fetch *fetch);

/* True while the plugin has the (waiting) fetch paused. */
bool ph_mock_fetch_paused(const ph_fetch *fetch);

/* ------------------------------------------------------------------ */
/* Offload (since 1.1)                                                 */
/* ------------------------------------------------------------------ */

/* offload() queues the job; nothing runs until the test says so. */

/* Run the work function of every queued job, each on a thread of its own,
 * all at once (as pool threads would), and wait for them. Their done
 * callbacks stay pending. Returns how many work functions ran. Jobs queued
 * by those work functions (a misuse) are not run. Loop thread. */
size_t ph_mock_run_offload_work(void);

/* ph_mock_run_offload_work(), then every pending done callback on the
 * calling thread, in offload order; jobs queued by a done callback run in
 * the same call. A job whose request was aborted or completed meanwhile
 * runs its work but not its done. Returns how many done callbacks ran.
 * Loop thread. */
size_t ph_mock_run_offloads(void);

/* Number of jobs of `req` (all requests when NULL) whose done callback is
 * still due: queued, or worked and waiting for ph_mock_run_offloads. */
size_t ph_mock_offloads_pending(const ph_request *req);

/* ------------------------------------------------------------------ */
/* Streaming (since 1.1)                                               */
/* ------------------------------------------------------------------ */

/* After stream_begin the status and headers count as sent: set_status,
 * add_header, add_header_n, set_body, respond_json and respond_error are
 * misuses, and each stream_write appends to the response body that
 * ph_mock_response_body returns. The mock's "socket" never drains by
 * itself: bytes written since the last ph_mock_stream_drain count as
 * buffered, and stream_write returns 1 once they pass the high-water mark.
 * A write after a 1 and before the drain callback is a misuse (the plugin
 * must pause). complete() ends the stream; so does handle() returning PH_OK
 * after stream_begin; complete_failed() (since 1.4) cuts it short. */

/* Set the high-water mark of every stream: stream_write returns 1 when the
 * buffered bytes exceed `bytes`. SIZE_MAX (the default after reset) means
 * never. */
void ph_mock_stream_set_high_water(size_t bytes);

/* Play the reader catching up: the buffered count drops to 0 and, if a
 * stream_write returned 1 since the last drain, the drain callback runs
 * (once). Returns 1 when the callback ran, 0 when not, -1 when `req` is not
 * a stream in flight. Loop thread. */
int ph_mock_stream_drain(ph_request *req);

/* True once stream_begin succeeded on `req`. */
bool ph_mock_stream_begun(const ph_request *req);

/* True when the stream was finished by the plugin (complete(), or PH_OK
 * from handle() after stream_begin); false while in flight, aborted, or
 * cut short by complete_failed(). */
bool ph_mock_stream_ended(const ph_request *req);

/* True once complete_failed() (since 1.4) succeeded on `req`: the response is final
 * (ph_mock_responded), a 500 {"error": "internal server error"} before
 * stream_begin, a stream cut short (the client sees it truncated) after. */
bool ph_mock_failed(const ph_request *req);

/* Number of stream_write calls that succeeded (returned 0 or 1). */
size_t ph_mock_stream_writes(const ph_request *req);

/* Bytes written since the last drain. */
size_t ph_mock_stream_buffered(const ph_request *req);

/* How many times the drain callback of `req` ran. */
unsigned ph_mock_drain_calls(const ph_request *req);

/* ------------------------------------------------------------------ */
/* Fault injection                                                     */
/* ------------------------------------------------------------------ */

typedef enum ph_mock_fault {
    PH_MOCK_FAULT_TIMER_START = 0, /* timer_start and timer_repeat return NULL */
    PH_MOCK_FAULT_NOMEM = 1,       /* add_header, add_header_n, set_body, respond_json,
                                      respond_error, query_param,
                                      stream_begin, stream_write fail as if
                                      out of memory (-1 / NULL) */
    PH_MOCK_FAULT_FETCH = 2,       /* fetch returns NULL (could not start) */
    PH_MOCK_FAULT_OFFLOAD = 3,     /* offload returns -1 (the pool queue is full) */
    PH_MOCK_FAULT_COUNT_           /* number of faults; not a fault */
} ph_mock_fault;

/* Make the next `count` calls subject to `fault` fail (0 disarms it).
 * Cleared by ph_mock_reset(). */
void ph_mock_fail_next(ph_mock_fault fault, unsigned count);

/* ------------------------------------------------------------------ */
/* Log and misuse                                                      */
/* ------------------------------------------------------------------ */

/* When `on`, every log line is also written to stderr (as does the
 * PH_MOCK_LOG environment variable). */
void ph_mock_log_echo(bool on);

/* Number of lines logged (by the plugin through api->log, and by the mock
 * itself when it refuses a plugin) since the last reset. */
size_t ph_mock_log_count(void);

/* The i-th logged message (without prefix) and its level in *level (may be
 * NULL). Returns NULL when `i` is out of range. Valid until reset. */
const char *ph_mock_log_line(size_t i, ph_log_level *level);

/* Number of logged lines at `min_level` or above whose message contains
 * `needle` ("" matches every line). */
size_t ph_mock_log_find(ph_log_level min_level, const char *needle);

/* Number of plugin API misuses detected since the last reset. Each is also
 * printed to stderr as it happens. */
size_t ph_mock_misuse_count(void);

/* The i-th misuse, described in words, or NULL when out of range. */
const char *ph_mock_misuse(size_t i);

#ifdef __cplusplus
}
#endif

#endif /* PH_MOCK_HOST_H */
