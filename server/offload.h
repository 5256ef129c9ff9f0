/* offload.h - blocking work from an async plugin on the sync pool, with
 * its completion back on the loop (the SDK's offload). Loop thread only. */
#ifndef PH_OFFLOAD_H
#define PH_OFFLOAD_H

#include "plughost.h"

struct ph_pool;

/* Use `pool` for offloaded work. */
void ph_offload_setup(struct ph_pool *pool);

/* Queue work(arg) for `req` on its route's own pool (`sync_threads` in
 * the route section), else on the worker's; done(req, arg) follows on the
 * loop, with req NULL if the request ended first. The offload holds a reference on the
 * request's generation, so the plugin's code stays loaded until done has
 * run. Returns 0, or -1 when the pool queue is full. */
int ph_offload_start(ph_request *req, ph_work_fn work, ph_work_done_fn done, void *arg);

/* The request is ending: its pending offloads finish on their threads and
 * their done runs with a NULL request (to free their argument). */
void ph_offload_cancel_all(ph_request *req);

#endif
