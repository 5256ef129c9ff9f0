/* fetch.h - outbound HTTP/1.1 for async plugins (the SDK's fetch), on
 * libevent's HTTP client and DNS, with connection reuse per host:port.
 * Loop thread only. */
#ifndef PH_FETCH_H
#define PH_FETCH_H

#include "plughost.h"

struct event_base;

/* Set up DNS and the connection pool on `base`. Returns 0 or -1 (logged). */
int ph_fetch_setup(struct event_base *base);

/* Connections kept open at once per upstream host:port (0 = default 256);
 * fetches beyond wait in a FIFO. */
void ph_fetch_set_max_connections(unsigned n);

/* Cancel everything in flight and free the pool and DNS. */
void ph_fetch_shutdown(void);

/* Start `freq` for `req` (copied). `cb(req, resp, arg)` runs once, unless
 * cancelled. Returns the fetch or NULL (bad URL, no memory: logged). */
ph_fetch *ph_fetch_start(ph_request *req, const ph_fetch_request *freq, ph_fetch_cb cb, void *arg);

/* Cancel one fetch whose callback has not run; its callback never runs. */
void ph_fetch_cancel(ph_fetch *fetch);

/* Cancel every fetch of `req` (the request is ending). */
void ph_fetch_cancel_all(ph_request *req);

#endif
