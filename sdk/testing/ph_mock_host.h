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
 * was sent, PH_PENDING from a sync plugin, timer_cancel on a fired timer...)
 * and records each as a "misuse" that a test can assert is absent.
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
 * Link with the `ph_mock_host` CMake target (it brings plughost.h, cJSON and
 * pthreads along). Set PH_MOCK_LOG=1 in the environment to echo every
 * plugin log line to stderr.
 *
 * Threads: the mock plays both the loop thread and the pool thread on the
 * thread that calls ph_mock_handle()/ph_mock_run_timers(). Distinct requests
 * may be handled on distinct threads at once (to stress a sync plugin's
 * shared state); the log, the misuse list, fault injection and the timer
 * list are locked. Everything else (settings, init/fini, reset) belongs to
 * one thread.
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

/* Forget all timers (pending ones are dropped without firing), log lines,
 * misuses and injected faults, and set the virtual clock to 0. Call at the
 * start of every test. Does not touch requests, settings or instances, which
 * the test owns. Stale ph_timer handles a plugin kept become invalid. */
void ph_mock_reset(void);

/* The host table the mock hands to init(): every 1.0 slot filled,
 * struct_size = sizeof(ph_host_api), abi_version = PH_ABI_VERSION.
 * Static storage; never NULL. */
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
 * mode, handle present), then call its init with ph_mock_api() and
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
 * that is not a ph_result, make the status 500, as the host answers); the
 * request's pending timers are cancelled. After PH_PENDING (async plugins
 * only) the response is final once the plugin calls complete(). */
int ph_mock_handle(ph_mock_instance *inst, ph_request *req);

/* Call the plugin's fini (if any) with its state and free the instance.
 * Requests of the instance still pending are detached and their timers
 * cancelled; that is recorded as a misuse, since the real host never calls
 * fini with requests in flight. NULL is ignored. */
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

/* Append a request header (duplicates kept, lookup is case-insensitive
 * and returns the first). Returns 0 or -1 (no memory, NULL argument). */
int ph_mock_request_add_header(ph_request *req, const char *name, const char *value);

/* Replace the request body with a copy of `len` bytes. Returns 0 or -1. */
int ph_mock_request_set_body(ph_request *req, const void *data, size_t len);

/* Same, for a NUL-terminated string (the NUL is not part of the body). */
int ph_mock_request_set_body_str(ph_request *req, const char *body);

/* Free a request and everything it owns. A request still pending (handle
 * returned PH_PENDING, no complete() yet) is treated like a client that went
 * away: its timers are cancelled without firing. NULL is ignored. */
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
 * returned PH_PENDING and complete() has succeeded. */
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
} ph_mock_timer_info;

/* Fill up to `max` entries of `out` with the pending timers, soonest first.
 * Returns how many are pending in all (may exceed `max`). */
size_t ph_mock_timer_list(ph_mock_timer_info *out, size_t max);

/* ------------------------------------------------------------------ */
/* Fault injection                                                     */
/* ------------------------------------------------------------------ */

typedef enum ph_mock_fault {
    PH_MOCK_FAULT_TIMER_START = 0, /* timer_start returns NULL */
    PH_MOCK_FAULT_NOMEM = 1,       /* add_header, set_body, respond_json,
                                      respond_error, query_param fail as if
                                      out of memory (-1 / NULL) */
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
