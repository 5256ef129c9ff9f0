/* request_timer.h - one-shot loop timers bound to a request (the SDK's
 * timer_start/timer_cancel). Loop thread only. */
#ifndef PH_REQUEST_TIMER_H
#define PH_REQUEST_TIMER_H

#include "plughost.h"

#include <stdbool.h>
#include <stdint.h>

struct event_base;

/* Use `base` for all request timers. Call once before serving. */
void ph_request_timer_setup(struct event_base *base);

/* Start a timer of `ms` for `req`; `cb(req, arg)` runs on the loop once,
 * or every `ms` when `repeat`. Returns the timer (valid until a one-shot
 * fires, it is cancelled or the request ends) or NULL. */
ph_timer *ph_request_timer_start(ph_request *req, uint64_t ms, bool repeat, ph_timer_cb cb, void *arg);

/* Cancel and free a pending timer. */
void ph_request_timer_cancel(ph_timer *timer);

/* Cancel every pending timer of `req` (the request is finishing). */
void ph_request_timer_cancel_all(ph_request *req);

#endif
