/* pool.h - the bounded worker thread pool for sync handlers.
 *
 * Jobs run strictly in arrival order (FIFO); at most `queue_max` jobs wait
 * for a thread, beyond that ph_pool_submit refuses at once (the caller
 * answers 503). A finished job's done() runs on the loop thread, which is
 * woken through an eventfd. */
#ifndef PH_POOL_H
#define PH_POOL_H

#include "request.h" /* ph_job */

struct event_base;
typedef struct ph_pool ph_pool;

/* A pool of `threads` workers, started by the first submit (until then
 * the process has no thread for it), with completions hooked into `base`.
 * Returns the pool or NULL (logged). Loop thread. */
ph_pool *ph_pool_create(struct event_base *base, int threads, int queue_max);

/* Queue `job` (the first submit starts the threads). Returns 0, or -1 when
 * `queue_max` jobs already wait, the pool is stopping, or no thread could
 * be started (logged). Loop thread. */
int ph_pool_submit(ph_pool *pool, ph_job *job);

/* Jobs queued or running, not yet done() (loop thread). */
int ph_pool_pending(const ph_pool *pool);

/* Stop the workers after the jobs already queued, join them, run the last
 * done() callbacks, free the pool. Loop thread. */
void ph_pool_destroy(ph_pool *pool);

#endif
