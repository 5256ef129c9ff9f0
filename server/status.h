/* status.h - the built-in status document (GET <status_path>): loop lag,
 * slow callbacks, connections, requests in flight, stuck sync handlers,
 * generation, and each route's bulkhead in this worker (its limits, own
 * pool threads, requests in flight and queued, 503s for want of room).
 * JSON, for graphing. Loop thread only. */
#ifndef PH_STATUS_H
#define PH_STATUS_H

#include "request.h"

#include <stdint.h>

/* What the document reports, gathered by the caller. */
typedef struct ph_status_info {
    double lag_ms, lag_max_ms;
    uint64_t slow_callbacks;
    unsigned long generation;
    int worker;
    long pid;
    unsigned long requests_done;
    int connections;
    int sync_pending;
    int sync_stuck;
    int detached;
    const struct ph_router *router; /* its routes' figures; may be NULL */
} ph_status_info;

/* Fill `req`'s response with `info` as JSON (500 when out of memory). */
void ph_status_respond(ph_request *req, const ph_status_info *info);

#endif
