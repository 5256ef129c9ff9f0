/* sdk_calls.c - the host API's request-life slots (see host_api.h's
 * ph_host_hooks): a state check in request_life, then the act. */
#include "sdk_calls.h"

#include "fetch.h"
#include "host_api.h"
#include "http_conn.h"
#include "log.h"
#include "offload.h"
#include "request_life.h"
#include "request_timer.h"
#include "router.h"

/* Any thread: a sync handler on its pool thread, an async request on the
 * loop. An async request's response is never built elsewhere (an
 * offloaded work function must not touch it). */
static bool may_build(ph_request *req, const char *slot)
{
    if (req && req->async && !ph_host_api_on_loop_thread()) {
        ph_log_error("%s on an async request off the loop thread (an offloaded work function must not touch "
                     "its request); refused",
                     slot);
        return false;
    }
    return ph_life_allows(req, PH_CALL_BUILD, slot);
}

static void log_request(const ph_request *req, ph_log_level level, const char *msg)
{
    if (req->route)
        ph_log(level, "route %s (plugin %s): %s", req->route->path, ph_instance_name(req->route->instance), msg);
    else
        ph_log(level, "plugin: %s", msg);
}

static int on_abort(ph_request *req, ph_abort_cb cb, void *arg)
{
    if (!ph_life_allows(req, PH_CALL_ASYNC, "on_abort()"))
        return -1;
    ph_life_set_abort(req, cb, arg);
    return 0;
}

static ph_timer *timer_start(ph_request *req, uint64_t ms, bool repeat, ph_timer_cb cb, void *arg)
{
    if (!ph_life_allows(req, PH_CALL_ASYNC, repeat ? "timer_repeat()" : "timer_start()"))
        return NULL;
    return ph_request_timer_start(req, ms, repeat, cb, arg);
}

static ph_fetch *fetch(ph_request *req, const ph_fetch_request *freq, ph_fetch_cb cb, void *arg)
{
    if (!ph_life_allows(req, PH_CALL_ASYNC, "fetch()") || !freq || !cb)
        return NULL;
    return ph_fetch_start(req, freq, cb, arg);
}

static ph_fetch *fetch_stream(ph_request *req, const ph_fetch_request *freq, const ph_fetch_stream_cbs *cbs,
                              void *arg)
{
    if (!ph_life_allows(req, PH_CALL_ASYNC, "fetch_stream()") || !freq || !cbs)
        return NULL;
    return ph_fetch_start_stream(req, freq, cbs, arg);
}

/* complete_failed(): the async counterpart of handle() returning PH_ERROR. */
static int complete_failed(ph_request *req, const char *why)
{
    if (!ph_life_allows(req, PH_CALL_COMPLETE, "complete_failed()"))
        return -1;
    const char *route = req->route ? req->route->path : "(none)";
    const char *plugin = req->route ? ph_instance_name(req->route->instance) : "host";
    if (req->streaming) {
        ph_log_warn("route %s (plugin %s): complete_failed() after stream_begin: %s; cutting the stream short", route, plugin,
                    why ? why : "no reason given");
        if (req->conn)
            ph_conn_stream_end(req, false);
    } else {
        ph_log_error("route %s (plugin %s): complete_failed(): %s; answered 500", route, plugin, why ? why : "no reason given");
        ph_request_set_error(req, 500, "internal server error", NULL);
    }
    ph_life_finish(req);
    return 0;
}

static int offload(ph_request *req, ph_work_fn work, ph_work_done_fn done, void *arg)
{
    if (!ph_life_allows(req, PH_CALL_ASYNC, "offload()"))
        return -1;
    return ph_offload_start(req, work, done, arg);
}

static int stream_begin(ph_request *req)
{
    if (!ph_life_allows(req, PH_CALL_ASYNC, "stream_begin()") || ph_conn_stream_begin(req) < 0)
        return -1;
    ph_life_stream_begun(req);
    return 0;
}

static int stream_write(ph_request *req, const void *data, size_t len)
{
    if (!ph_life_allows(req, PH_CALL_ASYNC, "stream_write()"))
        return -1;
    return ph_conn_stream_write(req, data, len);
}

static int stream_on_drain(ph_request *req, ph_drain_cb cb, void *arg)
{
    if (!ph_life_allows(req, PH_CALL_ASYNC, "stream_on_drain()"))
        return -1;
    ph_life_set_drain(req, cb, arg);
    return 0;
}

static const ph_host_hooks hooks = {
    .may_build = may_build,
    .log = log_request,
    .complete = ph_life_complete,
    .on_abort = on_abort,
    .timer_start = timer_start,
    .timer_cancel = ph_request_timer_cancel,
    .fetch = fetch,
    .fetch_cancel = ph_fetch_cancel,
    .offload = offload,
    .stream_begin = stream_begin,
    .stream_write = stream_write,
    .stream_on_drain = stream_on_drain,
    .fetch_stream = fetch_stream,
    .fetch_pause = ph_fetch_pause,
    .fetch_resume = ph_fetch_resume,
    .complete_failed = complete_failed,
};

void ph_sdk_calls_install(void) { ph_host_api_set_hooks(&hooks); }
