/* clock_ns.h - a clock's time as one count of nanoseconds (durations and
 * deadlines are differences of two of them). Any thread. */
#ifndef PH_CLOCK_NS_H
#define PH_CLOCK_NS_H

#include <stdint.h>
#include <time.h>

/* `ts` in nanoseconds. */
static inline uint64_t ph_timespec_ns(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

/* `clock` now, in nanoseconds. */
static inline uint64_t ph_clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ph_timespec_ns(&ts);
}

#endif
