/* watchdog.c - plugin callback durations and loop lag. */
#include "watchdog.h"

#include "worker_metrics.h"

#include "clock_ns.h"
#include "log.h"
#include "plugin_instance.h"

#include <event2/event.h>
#include <time.h>

/* The lag probe: a timer every PROBE_MS; how late it fires is the lag. */
#define PROBE_MS 100

static struct event *probe;
static uint64_t probe_due_ns;
static ph_loop_lag lag;
ph_watchdog_timing ph_watchdog_current = {.clock = CLOCK_MONOTONIC, .warn_ns = 100 * 1000000u};

static void arm_probe(void)
{
    struct timeval tv = {0, PROBE_MS * 1000};
    probe_due_ns = ph_clock_ns(CLOCK_MONOTONIC) + (uint64_t)PROBE_MS * 1000000u;
    event_add(probe, &tv);
}

static void on_probe(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    uint64_t now = ph_clock_ns(CLOCK_MONOTONIC);
    lag.last_ms = now > probe_due_ns ? (double)(now - probe_due_ns) / 1e6 : 0;
    if (lag.last_ms > lag.max_ms)
        lag.max_ms = lag.last_ms;
    ph_wmetrics_lag(lag.last_ms / 1e3);
    arm_probe();
}

int ph_watchdog_setup(struct event_base *base)
{
    probe = evtimer_new(base, on_probe, NULL);
    if (!probe)
        return -1;
    arm_probe();
    return 0;
}

void ph_watchdog_shutdown(void)
{
    if (probe)
        event_free(probe);
    probe = NULL;
}

clockid_t ph_watchdog_pick_clock(uint64_t ms, uint64_t coarse_res_ns)
{
    if (!ms)
        return PH_WATCHDOG_NO_CLOCK;
    if (coarse_res_ns && ms * 1000000u >= 10 * coarse_res_ns)
        return CLOCK_MONOTONIC_COARSE;
    return CLOCK_MONOTONIC;
}

/* The resolution of CLOCK_MONOTONIC_COARSE in ns, 0 when there is none. */
static uint64_t coarse_resolution_ns(void)
{
    struct timespec res;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) < 0)
        return 0;
    return ph_timespec_ns(&res);
}

void ph_watchdog_set_threshold(uint64_t ms)
{
    ph_watchdog_current.clock = ph_watchdog_pick_clock(ms, coarse_resolution_ns());
    ph_watchdog_current.warn_ns = ms ? ms * 1000000u : UINT64_MAX;
}

void ph_watchdog_slow(const ph_crash_site *site, uint64_t took_ns)
{
    lag.slow_callbacks++;
    uint64_t threshold_ms = ph_watchdog_current.warn_ns / 1000000u;
    double ms = (double)took_ns / 1e6;
    if (site->lib)
        ph_log_warn("route %s (plugin %s): %s held the event loop for %.0f ms (loop_warn %llu ms); "
                    "a blocking call in an async plugin stalls every connection",
                    site->route, site->lib->desc->name, site->what, ms, (unsigned long long)threshold_ms);
    else
        ph_log_warn("%s held the event loop for %.0f ms (loop_warn %llu ms)", site->what, ms,
                    (unsigned long long)threshold_ms);
}

ph_loop_lag ph_watchdog_lag(void) { return lag; }
