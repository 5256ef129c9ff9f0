/* watchdog.h - how long plugin callbacks hold the event loop, and how late
 * the loop runs its timers (loop lag). A callback longer than loop_warn is
 * logged naming the plugin and route: the classic blocking call inside an
 * async handler. Loop thread only. */
#ifndef PH_WATCHDOG_H
#define PH_WATCHDOG_H

#include "clock_ns.h"
#include "crash_handler.h"
#include "plughost.h"
#include "router.h"

#include <stdint.h>
#include <time.h>

struct event_base;

/* Start the lag probe on `base`. Returns 0 or -1. */
int ph_watchdog_setup(struct event_base *base);
void ph_watchdog_shutdown(void);

/* Warn when one callback takes longer than `ms` (0 = never). Picks the
 * clock that times callbacks (ph_watchdog_pick_clock). */
void ph_watchdog_set_threshold(uint64_t ms);

/* No clock: callbacks are not timed (loop_warn 0). */
#define PH_WATCHDOG_NO_CLOCK ((clockid_t)-1)

/* The clock that times callbacks against a warning at `threshold_ms`:
 * none for 0; CLOCK_MONOTONIC_COARSE (a plain load, no timer read) when
 * its resolution `coarse_res_ns` is at most a tenth of the threshold;
 * else CLOCK_MONOTONIC. `coarse_res_ns` 0: no coarse clock. */
clockid_t ph_watchdog_pick_clock(uint64_t threshold_ms, uint64_t coarse_res_ns);

/* What ph_watchdog_begin/end read; written by ph_watchdog_set_threshold
 * only. */
typedef struct ph_watchdog_timing {
    clockid_t clock;  /* or PH_WATCHDOG_NO_CLOCK */
    uint64_t warn_ns; /* a call this long is slow; UINT64_MAX: never */
} ph_watchdog_timing;
extern ph_watchdog_timing ph_watchdog_current;

/* One call into plugin code on the loop thread, between begin and end
 * (its route and what it is are in the crash handler's site meanwhile). */
typedef struct ph_plugin_call {
    uint64_t started;
    ph_crash_mark previous; /* the crash handler's mark to restore (ph_watchdog_begin_at: its site) */
} ph_plugin_call;

/* The watchdog's clock now (ns), 0 without one. */
static inline uint64_t ph_watchdog_clock_ns(void)
{
    if (ph_watchdog_current.clock == PH_WATCHDOG_NO_CLOCK)
        return 0;
    return ph_clock_ns(ph_watchdog_current.clock);
}

/* The watchdog's clock now (ns), 0 without one: `read_ns` when this
 * callback has just read `clock` (a clock, never PH_WATCHDOG_NO_CLOCK)
 * and that is the watchdog's clock (one reading serves both), else a
 * reading of its own. */
static inline uint64_t ph_watchdog_clock_ns_from(clockid_t clock, uint64_t read_ns)
{
    if (clock == ph_watchdog_current.clock)
        return read_ns;
    return ph_watchdog_clock_ns();
}

/* The call at `site` (the crash handler's site of it) took `took_ns`,
 * over the threshold: count and log it. */
void ph_watchdog_slow(const ph_crash_site *site, uint64_t took_ns);

/* Bracket every call into plugin code on the loop thread:
 *   const struct ph_route *route = req->route;   (before: the callback may
 *                                                 release req)
 *   ph_plugin_call call = ph_watchdog_begin(route, "timer callback");
 *   cb(...);
 *   ph_watchdog_end(&call);
 * It times the call (loop_warn) and marks the thread for the crash
 * handler, so a crash inside names the route and plugin. The route stays
 * valid until control returns to the loop, since generations are freed
 * from their own event. Inline: a clock read and a few stores each. */
static inline ph_plugin_call ph_watchdog_begin(const struct ph_route *route, const char *what)
{
    ph_plugin_call call = {.started = ph_watchdog_clock_ns()}; /* (first: no call after the mark) */
    call.previous = ph_crash_enter(route ? route->path : NULL, route ? route->instance->lib : NULL, what);
    return call;
}

/* ph_watchdog_begin for a call at `site` (a route's handle(): its
 * handle_site, which outlives the call) that started at `started_ns`
 * (the watchdog's clock). End it with ph_watchdog_end_at. */
static inline ph_plugin_call ph_watchdog_begin_at(const ph_crash_site *site, uint64_t started_ns)
{
    return (ph_plugin_call){.started = started_ns, .previous = {.site = ph_crash_enter_site(site)}};
}

static inline void ph_watchdog_end(const ph_plugin_call *call)
{
    uint64_t took_ns = ph_watchdog_clock_ns() - call->started;
    const ph_crash_site *site = ph_crash_current; /* this call's (it outlives the call), for a report */
    ph_crash_leave(call->previous);
    if (__builtin_expect(took_ns >= ph_watchdog_current.warn_ns, 0))
        ph_watchdog_slow(site, took_ns);
}

/* ph_watchdog_end for the call at `site` ph_watchdog_begin_at began. */
static inline void ph_watchdog_end_at(const ph_plugin_call *call, const ph_crash_site *site)
{
    uint64_t took_ns = ph_watchdog_clock_ns() - call->started;
    ph_crash_leave_site(call->previous.site);
    if (__builtin_expect(took_ns >= ph_watchdog_current.warn_ns, 0))
        ph_watchdog_slow(site, took_ns);
}

/* Loop lag: the latest and the largest delay of the probe timer (ms). */
typedef struct ph_loop_lag {
    double last_ms;
    double max_ms;
    uint64_t slow_callbacks; /* callbacks over the threshold */
} ph_loop_lag;
ph_loop_lag ph_watchdog_lag(void);

#endif
