/* router.h - the immutable route table of one generation: exact paths and
 * method sets. Built on the loop thread, then only read. */
#ifndef PH_ROUTER_H
#define PH_ROUTER_H

#include "plugin_instance.h"

#include <stddef.h>

typedef struct ph_route {
    char *path;
    size_t path_len;
    unsigned methods;      /* PH_METHOD_* bits as configured */
    unsigned allowed;      /* methods plus HEAD when GET is allowed */
    char allow_header[96]; /* "Allow: GET, HEAD\r\n" */
    ph_instance *instance; /* one reference held */
} ph_route;

typedef struct ph_router ph_router;

typedef enum ph_route_match {
    PH_ROUTE_FOUND,
    PH_ROUTE_NOT_FOUND,
    PH_ROUTE_METHOD_NOT_ALLOWED,
} ph_route_match;

ph_router *ph_router_create(void);

/* Add a route, taking over one reference of `instance`. Returns 0, or -1
 * for a duplicate path or no memory (the reference is then released). */
int ph_router_add(ph_router *router, const char *path, unsigned methods, ph_instance *instance);

/* Sort the table for lookups; call once after the last add. */
void ph_router_seal(ph_router *router);

/* Find the route for `path` (len bytes) and method bit (0 for a method
 * plughost does not know). *route is set for FOUND and for
 * METHOD_NOT_ALLOWED (to build the Allow header). Any thread. */
ph_route_match ph_router_match(const ph_router *router, const char *path, size_t len, unsigned method,
                               const ph_route **route);

size_t ph_router_count(const ph_router *router);
const ph_route *ph_router_route(const ph_router *router, size_t i);

/* Free the table, releasing each route's instance. */
void ph_router_free(ph_router *router);

#endif
