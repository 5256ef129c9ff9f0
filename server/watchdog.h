/* watchdog.h - how long plugin callbacks hold the event loop, and how late
 * the loop runs its timers (loop lag). A callback longer than loop_warn is
 * logged naming the plugin and route: the classic blocking call inside an
 * async handler. Loop thread only. */
#ifndef PH_WATCHDOG_H
#define PH_WATCHDOG_H

#include "plughost.h"

#include <stdint.h>

struct event_base;

/* Start the lag probe on `base`. Returns 0 or -1. */
int ph_watchdog_setup(struct event_base *base);
void ph_watchdog_shutdown(void);

/* Warn when one callback takes longer than `ms` (0 = never). */
void ph_watchdog_set_threshold(uint64_t ms);

struct ph_route;

/* Bracket every call into plugin code on the loop thread:
 *   const struct ph_route *route = req->route;   (before: the callback may
 *                                                 release req)
 *   uint64_t t = ph_watchdog_begin();
 *   cb(...);
 *   ph_watchdog_end(t, route, "timer callback");
 * The route (plugin and path, for the warning) stays valid until control
 * returns to the loop, since generations are freed from their own event. */
uint64_t ph_watchdog_begin(void);
void ph_watchdog_end(uint64_t started, const struct ph_route *route, const char *what);

/* Loop lag: the latest and the largest delay of the probe timer (ms). */
typedef struct ph_loop_lag {
    double last_ms;
    double max_ms;
    uint64_t slow_callbacks; /* callbacks over the threshold */
} ph_loop_lag;
ph_loop_lag ph_watchdog_lag(void);

#endif
