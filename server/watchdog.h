/* watchdog.h - how long plugin callbacks hold the event loop, and how late
 * the loop runs its timers (loop lag). A callback longer than loop_warn is
 * logged naming the plugin and route: the classic blocking call inside an
 * async handler. Loop thread only. */
#ifndef PH_WATCHDOG_H
#define PH_WATCHDOG_H

#include "crash_handler.h"
#include "plughost.h"

#include <stdint.h>

struct event_base;

/* Start the lag probe on `base`. Returns 0 or -1. */
int ph_watchdog_setup(struct event_base *base);
void ph_watchdog_shutdown(void);

/* Warn when one callback takes longer than `ms` (0 = never). */
void ph_watchdog_set_threshold(uint64_t ms);

struct ph_route;

/* One call into plugin code on the loop thread, between begin and end. */
typedef struct ph_plugin_call {
    uint64_t started;
    const struct ph_route *route;
    const char *what;
    ph_crash_mark previous; /* the crash handler's mark to restore */
} ph_plugin_call;

/* Bracket every call into plugin code on the loop thread:
 *   const struct ph_route *route = req->route;   (before: the callback may
 *                                                 release req)
 *   ph_plugin_call call = ph_watchdog_begin(route, "timer callback");
 *   cb(...);
 *   ph_watchdog_end(&call);
 * It times the call (loop_warn) and marks the thread for the crash
 * handler, so a crash inside names the route and plugin. The route stays
 * valid until control returns to the loop, since generations are freed
 * from their own event. */
ph_plugin_call ph_watchdog_begin(const struct ph_route *route, const char *what);
void ph_watchdog_end(const ph_plugin_call *call);

/* Loop lag: the latest and the largest delay of the probe timer (ms). */
typedef struct ph_loop_lag {
    double last_ms;
    double max_ms;
    uint64_t slow_callbacks; /* callbacks over the threshold */
} ph_loop_lag;
ph_loop_lag ph_watchdog_lag(void);

#endif
