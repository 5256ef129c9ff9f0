/* fetch.h - outbound HTTP/1.1 for async plugins: the SDK's fetch (whole
 * response) and fetch_stream (head, body pieces, end, with pause/resume),
 * on our own client: upstream.c's pooled connections, fetch_request.c's
 * request bytes, fetch_parse.c's response parser. Loop thread only. */
#ifndef PH_FETCH_H
#define PH_FETCH_H

#include "plughost.h"

#include <stddef.h>

struct event_base;

#define PH_FETCH_DEFAULT_MAX_BODY ((size_t)16 << 20) /* upstream_max_body's default */

/* Set up DNS and the connection pool on `base`. Returns 0 or -1 (logged). */
int ph_fetch_setup(struct event_base *base);

/* Connections kept open at once per upstream host:port (0 = default 256);
 * fetches beyond wait in a FIFO. */
void ph_fetch_set_max_connections(unsigned n);

/* The largest body a whole-response fetch holds ([server]
 * upstream_max_body; 0 = PH_FETCH_DEFAULT_MAX_BODY). */
void ph_fetch_set_max_body(size_t n);

/* Cancel everything in flight and free the pool and DNS. */
void ph_fetch_shutdown(void);

/* Start `freq` for `req` (copied). `cb(req, resp, arg)` runs once, unless
 * cancelled. Returns the fetch or NULL (bad URL, no memory: logged). */
ph_fetch *ph_fetch_start(ph_request *req, const ph_fetch_request *freq, ph_fetch_cb cb, void *arg);

/* Start a streaming fetch (the SDK's fetch_stream): cbs->on_head, on_body
 * pieces, then on_end once, unless cancelled. Returns the fetch or NULL
 * (logged). */
ph_fetch *ph_fetch_start_stream(ph_request *req, const ph_fetch_request *freq, const ph_fetch_stream_cbs *cbs,
                                void *arg);

/* Stop / restart reading a streaming fetch's response (the SDK's
 * fetch_pause / fetch_resume). Return 0, or -1 (logged) when `fetch` is
 * not a streaming fetch in flight. */
int ph_fetch_pause(ph_fetch *fetch);
int ph_fetch_resume(ph_fetch *fetch);

/* Cancel one fetch whose (final) callback has not run; none of its
 * callbacks runs afterwards. Also from inside its own on_head/on_body. */
void ph_fetch_cancel(ph_fetch *fetch);

/* Cancel every fetch of `req` (the request is ending). */
void ph_fetch_cancel_all(ph_request *req);

#endif
