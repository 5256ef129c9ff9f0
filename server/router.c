/* router.c - exact-path route table with binary search. */
#include "router.h"

#include "config_value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ph_router {
    ph_route *routes;
    size_t count;
};

ph_router *ph_router_create(void) { return calloc(1, sizeof(ph_router)); }

static void format_allow(ph_route *r)
{
    char *p = r->allow_header;
    p += sprintf(p, "Allow: ");
    const char *sep = "";
    for (unsigned i = 0; i < PH_METHOD_COUNT; i++) {
        if (r->allowed & (1u << i)) {
            p += sprintf(p, "%s%s", sep, ph_method_name(1u << i));
            sep = ", ";
        }
    }
    sprintf(p, "\r\n");
}

int ph_router_add(ph_router *router, const char *path, unsigned methods, ph_instance *instance)
{
    for (size_t i = 0; i < router->count; i++) {
        if (strcmp(router->routes[i].path, path) == 0)
            goto fail;
    }
    ph_route *routes = realloc(router->routes, (router->count + 1) * sizeof *routes);
    if (!routes)
        goto fail;
    router->routes = routes;
    ph_route *r = &routes[router->count];
    memset(r, 0, sizeof *r);
    r->path = strdup(path);
    if (!r->path)
        goto fail;
    r->path_len = strlen(path);
    r->methods = methods;
    r->allowed = methods | ((methods & PH_METHOD_GET) ? PH_METHOD_HEAD : 0);
    format_allow(r);
    r->instance = instance;
    router->count++;
    return 0;
fail:
    ph_instance_unref(instance);
    return -1;
}

static int compare_paths(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return memcmp(a, b, alen);
}

static int compare_routes(const void *a, const void *b)
{
    const ph_route *x = a, *y = b;
    return compare_paths(x->path, x->path_len, y->path, y->path_len);
}

void ph_router_seal(ph_router *router)
{
    if (router->count > 1)
        qsort(router->routes, router->count, sizeof *router->routes, compare_routes);
}

ph_route_match ph_router_match(const ph_router *router, const char *path, size_t len, unsigned method,
                               const ph_route **route)
{
    size_t lo = 0, hi = router->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ph_route *r = &router->routes[mid];
        int c = compare_paths(path, len, r->path, r->path_len);
        if (c == 0) {
            *route = r;
            return (r->allowed & method) ? PH_ROUTE_FOUND : PH_ROUTE_METHOD_NOT_ALLOWED;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *route = NULL;
    return PH_ROUTE_NOT_FOUND;
}

size_t ph_router_count(const ph_router *router) { return router->count; }

const ph_route *ph_router_route(const ph_router *router, size_t i) { return &router->routes[i]; }

void ph_router_free(ph_router *router)
{
    if (!router)
        return;
    for (size_t i = 0; i < router->count; i++) {
        ph_instance_unref(router->routes[i].instance);
        free(router->routes[i].path);
    }
    free(router->routes);
    free(router);
}
