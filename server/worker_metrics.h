/* worker_metrics.h - a worker's counters for the admin listener's
 * metrics, kept on its board record (board.h) where the supervisor reads
 * them, also after this process died. Without a board record (plughost
 * -t, unit tests) every call does nothing. Loop thread only. */
#ifndef PH_WORKER_METRICS_H
#define PH_WORKER_METRICS_H

#include "request.h"

#include <stdbool.h>

struct ph_generation;

/* The pool of this worker has `threads` threads. */
void ph_wmetrics_setup(int threads);

/* `gen` goes live: give each of its routes a slot on the board (the one
 * its pattern already has, else a free one), publish which plugin,
 * version and mode serve it with its limits and own pool's threads, and
 * point its gate there (route_gate.c keeps its in-flight and queued
 * figures and 503 count on the slot from now on). */
void ph_wmetrics_publish(struct ph_generation *gen);

/* Count requests only while `on` (admin_listen is set: somebody can read
 * them) and this process has a board record (call after attaching it);
 * the slots and gauges stay published either way. */
void ph_wmetrics_enable(bool on);

/* True when finished requests are counted: callers skip timing a request
 * nobody counts. Inline, one test: ph_wmetrics_on is written by
 * ph_wmetrics_enable only. */
extern bool ph_wmetrics_on;
static inline bool ph_wmetrics_counting(void) { return ph_wmetrics_on; }

/* `req` finished with `status` after `seconds`: count it under its route
 * (slot 0 when no route took it), if enabled. */
void ph_wmetrics_request(const ph_request *req, int status, double seconds);

/* The sync pool has `pending` jobs queued or running now; `rejected`: a
 * request was just refused because its queue was full. */
void ph_wmetrics_pool(int pending, bool rejected);

/* The loop-lag probe measured `seconds`. */
void ph_wmetrics_lag(double seconds);

#endif
