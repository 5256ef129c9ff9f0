/* host_api.h - the ph_host_api table the host hands to plugins.
 *
 * The table is complete and constant from the start (a plugin's init may
 * test any slot with PH_HOST_HAS, also in `plughost -t`). Settings and
 * request accessors are answered here. Everything that depends on where a
 * request is in its life (response builders, complete, abort, timers,
 * fetch, offload, streams, a log line naming its route) goes through the
 * hooks the serving layer installs at start: this module sits below the
 * plugin instances and the router, and calls up only through them. */
#ifndef PH_HOST_API_H
#define PH_HOST_API_H

#include "plughost.h"

#include <stdbool.h>

/* The table (static, lives for the process). Any thread. */
const ph_host_api *ph_host_api_table(void);

/* The calling thread is the loop thread from now on (any thread that
 * named itself before is not): loop-only calls made elsewhere are refused.
 * Call from the loop thread before serving. */
void ph_host_api_set_loop_thread(void);

/* True on the loop thread. */
int ph_host_api_on_loop_thread(void);

/* The request-life part of the table, installed by the serving layer
 * (sdk_calls.c). Each slot has the SDK slot's contract; host_api has
 * already checked the thread (the loop for all but may_build and log) and
 * the arguments it can check alone. */
typedef struct ph_host_hooks {
    /* May the response of `req` be built now (`slot` names the builder)?
     * Logs a refusal. Any thread. host_api answers true without asking
     * for a request in PH_LIFE_RUNNING that is not streaming (an async one
     * only on the loop thread): the hook must allow that case too. */
    bool (*may_build)(ph_request *req, const char *slot);
    /* Log `msg` naming the route and plugin of `req`. Any thread. */
    void (*log)(const ph_request *req, ph_log_level level, const char *msg);
    int (*complete)(ph_request *req);
    int (*on_abort)(ph_request *req, ph_abort_cb cb, void *arg);
    ph_timer *(*timer_start)(ph_request *req, uint64_t ms, bool repeat, ph_timer_cb cb, void *arg);
    void (*timer_cancel)(ph_timer *timer);
    ph_fetch *(*fetch)(ph_request *req, const ph_fetch_request *freq, ph_fetch_cb cb, void *arg);
    void (*fetch_cancel)(ph_fetch *fetch);
    int (*offload)(ph_request *req, ph_work_fn work, ph_work_done_fn done, void *arg);
    int (*stream_begin)(ph_request *req);
    int (*stream_write)(ph_request *req, const void *data, size_t len);
    int (*stream_on_drain)(ph_request *req, ph_drain_cb cb, void *arg);
    /* since 1.4 */
    ph_fetch *(*fetch_stream)(ph_request *req, const ph_fetch_request *freq, const ph_fetch_stream_cbs *cbs,
                              void *arg);
    int (*fetch_pause)(ph_fetch *fetch);
    int (*fetch_resume)(ph_fetch *fetch);
    int (*complete_failed)(ph_request *req, const char *why);
} ph_host_hooks;

/* Install `hooks` (static storage; NULL uninstalls: those slots then
 * refuse, as in a process that loads plugins without serving). Call from
 * the loop thread before the pool threads start. */
void ph_host_api_set_hooks(const ph_host_hooks *hooks);

#endif
