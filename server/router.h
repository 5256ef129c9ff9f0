/* router.h - the immutable route table of one generation: exact paths,
 * paths with parameters ("/items/{id}"), method sets. Built on the loop
 * thread, then only read (any thread). */
#ifndef PH_ROUTER_H
#define PH_ROUTER_H

#include "buf.h"
#include "crash_handler.h"
#include "plugin_instance.h"

#include <stddef.h>
#include <stdint.h>

/* One path segment of a route pattern. */
typedef struct ph_route_segment {
    const char *text; /* literal text, or the parameter name */
    size_t len;
    bool param;
} ph_route_segment;

typedef struct ph_route {
    char *path;            /* the pattern as configured */
    size_t path_len;
    unsigned methods;      /* PH_METHOD_* bits as configured */
    unsigned allowed;      /* methods plus HEAD when GET is allowed */
    ph_instance *instance; /* one reference held */
    bool async;            /* its plugin's mode is PH_MODE_ASYNC (read once, at add) */
    uint64_t timeout_ms;   /* handler timeout → 504; 0 = none */
    ph_route_segment *segments; /* parameter routes only, else NULL */
    size_t nsegments;
    int board_slot;        /* its counters on the worker's board record (worker_metrics.c); -1 = none yet */
    struct ph_route_gate *gate; /* its limits, queue, own pool and figures (route_gate.h), set and
                                 * freed by its generation; mutable on the loop thread */
    ph_crash_site handle_site;  /* its handle() for the crash handler: path, instance's library */
} ph_route;

typedef struct ph_router ph_router;

typedef enum ph_route_match {
    PH_ROUTE_FOUND,
    PH_ROUTE_NOT_FOUND,
    PH_ROUTE_METHOD_NOT_ALLOWED,
} ph_route_match;

ph_router *ph_router_create(void);

/*
 * Add a route, taking over one reference of `instance`. A pattern is
 * '/'-separated segments, each literal or a whole "{name}" parameter
 * (letters, digits, '_'). Returns 0, or -1 with the reason in err (bad
 * pattern, duplicate path, a pattern ambiguous with an earlier one, no
 * memory); the instance reference is then released.
 */
int ph_router_add(ph_router *router, const char *path, unsigned methods, uint64_t timeout_ms,
                  ph_instance *instance, char *err, size_t errlen);

/* Order the table for lookups; call once after the last add. Returns 0
 * or -1 (no memory). */
int ph_router_seal(ph_router *router);

/*
 * Find the route for `path` (len bytes, no query) and method bit (0 for a
 * method plughost does not know). Exact routes win over parameter routes;
 * among parameter routes the one whose literal segments reach furthest
 * wins. The first route matching path and method is FOUND; when routes
 * match the path but none the method, METHOD_NOT_ALLOWED with the best of
 * them. For FOUND, `params` (may be NULL) receives the percent-decoded
 * parameters as "name\0value\0...". Any thread.
 */
ph_route_match ph_router_match(const ph_router *router, const char *path, size_t len, unsigned method,
                               const ph_route **route, ph_buf *params);

/* Every method some route accepts for `path` (the Allow header of a
 * 405), 0 when no route matches the path. Any thread. */
unsigned ph_router_allowed(const ph_router *router, const char *path, size_t len);

/* "Allow: GET, HEAD\r\n" for the methods in `allowed` (96 bytes hold
 * them all). */
void ph_router_format_allow(unsigned allowed, char *buf, size_t len);

/* Routes in the order they were added. */
size_t ph_router_count(const ph_router *router);
const ph_route *ph_router_route(const ph_router *router, size_t i);

/* Record where route `i` counts on the board (worker_metrics.c, when its
 * generation goes live). Loop thread. */
void ph_router_set_board_slot(ph_router *router, size_t i, int slot);

/* Give route `i` its gate (route_gate.h; owned by the caller, its
 * generation). Loop thread. */
void ph_router_set_gate(ph_router *router, size_t i, struct ph_route_gate *gate);

/* The route whose pattern is exactly `path`, or NULL. */
const ph_route *ph_router_find_pattern(const ph_router *router, const char *path);

/* Free the table, releasing each route's instance. */
void ph_router_free(ph_router *router);

#endif
