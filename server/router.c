/* router.c - exact routes by binary search, parameter routes in
 * precedence order. */
#include "router.h"

#include "config_value.h"
#include "request.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ph_router {
    ph_route *routes;     /* in the order added */
    size_t count;
    ph_route **exact;     /* exact routes sorted by path (after seal) */
    size_t nexact;
    ph_route **patterns;  /* parameter routes in precedence order */
    size_t npatterns;
};

ph_router *ph_router_create(void) { return calloc(1, sizeof(ph_router)); }

void ph_router_format_allow(unsigned allowed, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "Allow: ");
    const char *sep = "";
    for (unsigned i = 0; i < PH_METHOD_COUNT && n < len; i++) {
        if (allowed & (1u << i)) {
            n += (size_t)snprintf(buf + n, len - n, "%s%s", sep, ph_method_name(1u << i));
            sep = ", ";
        }
    }
    if (n < len)
        snprintf(buf + n, len - n, "\r\n");
}

/* Split r->path into segments when it has parameters. Returns 0, or -1
 * with err set for a malformed pattern. */
static int parse_pattern(ph_route *r, char *err, size_t errlen)
{
    if (!strchr(r->path, '{') && !strchr(r->path, '}'))
        return 0;
    size_t n = 0;
    for (const char *p = r->path; *p; p++)
        n += *p == '/';
    r->segments = calloc(n, sizeof *r->segments);
    if (!r->segments) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *p = r->path + 1;
    for (size_t i = 0; i < n; i++) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        ph_route_segment *s = &r->segments[r->nsegments++];
        s->text = p;
        s->len = len;
        if (memchr(p, '{', len) || memchr(p, '}', len)) {
            bool ok = len > 2 && p[0] == '{' && p[len - 1] == '}';
            for (size_t k = 1; ok && k + 1 < len; k++)
                ok = isalnum((unsigned char)p[k]) || p[k] == '_';
            if (!ok) {
                snprintf(err, errlen, "route %s: a parameter is a whole segment '{name}' (letters, digits, _)",
                         r->path);
                return -1;
            }
            s->text = p + 1;
            s->len = len - 2;
            s->param = true;
            for (size_t k = 0; k + 1 < r->nsegments; k++) {
                const ph_route_segment *o = &r->segments[k];
                if (o->param && o->len == s->len && memcmp(o->text, s->text, s->len) == 0) {
                    snprintf(err, errlen, "route %s: parameter {%.*s} appears twice", r->path, (int)s->len,
                             s->text);
                    return -1;
                }
            }
        }
        p = end ? end + 1 : p + len;
    }
    return 0;
}

/* Same segment count, parameters in the same places, same literals:
 * every path one matches, the other matches too. */
static bool same_shape(const ph_route *a, const ph_route *b)
{
    if (!a->segments || !b->segments || a->nsegments != b->nsegments)
        return false;
    for (size_t i = 0; i < a->nsegments; i++) {
        const ph_route_segment *x = &a->segments[i], *y = &b->segments[i];
        if (x->param != y->param || (!x->param && (x->len != y->len || memcmp(x->text, y->text, x->len) != 0)))
            return false;
    }
    return true;
}

static void free_route(ph_route *r)
{
    ph_instance_unref(r->instance);
    free(r->segments);
    free(r->path);
}

int ph_router_add(ph_router *router, const char *path, unsigned methods, uint64_t timeout_ms,
                  ph_instance *instance, char *err, size_t errlen)
{
    ph_route r = {.methods = methods, .timeout_ms = timeout_ms, .instance = instance, .board_slot = -1};
    r.allowed = methods | ((methods & PH_METHOD_GET) ? PH_METHOD_HEAD : 0);
    r.async = ph_instance_mode(instance) == PH_MODE_ASYNC;
    if (!(r.path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    r.path_len = strlen(path);
    if (parse_pattern(&r, err, errlen) < 0)
        goto fail;
    for (size_t i = 0; i < router->count; i++) {
        const ph_route *o = &router->routes[i];
        if (strcmp(o->path, path) == 0) {
            snprintf(err, errlen, "duplicate route %s", path);
            goto fail;
        }
        if (same_shape(o, &r)) {
            snprintf(err, errlen, "route %s is ambiguous with route %s (they match the same paths)", path,
                     o->path);
            goto fail;
        }
    }
    ph_route *routes = realloc(router->routes, (router->count + 1) * sizeof *routes);
    if (!routes) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    router->routes = routes;
    routes[router->count++] = r;
    return 0;
fail:
    free_route(&r);
    return -1;
}

/* Order two byte strings of the same length `n` by their 8-byte words
 * (the last one overlapping the one before), 4-byte words under 8 bytes,
 * bytes under 4: a total order (not the alphabetical one), which is all
 * the binary search needs, compared without a call, so a lookup keeps
 * its values in registers. */
static inline int compare_same_length(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        for (size_t at = 0;; at = at + 16 <= n ? at + 8 : n - 8) {
            uint64_t x, y;
            memcpy(&x, a + at, 8);
            memcpy(&y, b + at, 8);
            if (x != y)
                return x < y ? -1 : 1;
            if (at + 8 == n)
                return 0;
        }
    }
    if (n >= 4) {
        uint32_t x[2], y[2];
        memcpy(&x[0], a, 4);
        memcpy(&y[0], b, 4);
        memcpy(&x[1], a + n - 4, 4);
        memcpy(&y[1], b + n - 4, 4);
        if (x[0] != y[0])
            return x[0] < y[0] ? -1 : 1;
        return x[1] == y[1] ? 0 : x[1] < y[1] ? -1 : 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
    }
    return 0;
}

/* Shorter first, then compare_same_length. */
static int compare_paths(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return compare_same_length(a, b, alen);
}

static int compare_exact(const void *a, const void *b)
{
    const ph_route *x = *(ph_route *const *)a, *y = *(ph_route *const *)b;
    return compare_paths(x->path, x->path_len, y->path, y->path_len);
}

/* Precedence: segment by segment, a literal before a parameter; ties
 * ordered by the literal text so the order is total. */
static int compare_patterns(const void *a, const void *b)
{
    const ph_route *x = *(ph_route *const *)a, *y = *(ph_route *const *)b;
    for (size_t i = 0; i < x->nsegments && i < y->nsegments; i++) {
        const ph_route_segment *s = &x->segments[i], *t = &y->segments[i];
        if (s->param != t->param)
            return s->param ? 1 : -1;
        if (!s->param) {
            int c = compare_paths(s->text, s->len, t->text, t->len);
            if (c)
                return c;
        }
    }
    return x->nsegments < y->nsegments ? -1 : x->nsegments > y->nsegments;
}

int ph_router_seal(ph_router *router)
{
    free(router->exact);
    free(router->patterns);
    router->exact = calloc(router->count + 1, sizeof *router->exact);
    router->patterns = calloc(router->count + 1, sizeof *router->patterns);
    router->nexact = router->npatterns = 0;
    if (!router->exact || !router->patterns)
        return -1;
    for (size_t i = 0; i < router->count; i++) {
        ph_route *r = &router->routes[i];
        if (r->segments)
            router->patterns[router->npatterns++] = r;
        else
            router->exact[router->nexact++] = r;
    }
    qsort(router->exact, router->nexact, sizeof *router->exact, compare_exact);
    qsort(router->patterns, router->npatterns, sizeof *router->patterns, compare_patterns);
    return 0;
}

static const ph_route *find_exact(const ph_router *router, const char *path, size_t len)
{
    size_t lo = 0, hi = router->nexact;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ph_route *r = router->exact[mid];
        int c = compare_paths(path, len, r->path, r->path_len);
        if (c == 0)
            return r;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Does pattern `r` match `path`? Parameters must be non-empty. */
static bool pattern_matches(const ph_route *r, const char *path, size_t len)
{
    const char *p = path + 1, *end = path + len;
    for (size_t i = 0; i < r->nsegments; i++) {
        if (p > end)
            return false;
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *seg_end = slash ? slash : end;
        size_t seg_len = (size_t)(seg_end - p);
        const ph_route_segment *s = &r->segments[i];
        if (s->param ? seg_len == 0 : (seg_len != s->len || memcmp(p, s->text, seg_len) != 0))
            return false;
        if (i + 1 == r->nsegments)
            return !slash;
        if (!slash)
            return false;
        p = slash + 1;
    }
    return false;
}

/* Store r's parameters from `path` as "name\0value\0...". */
static void collect_params(const ph_route *r, const char *path, size_t len, ph_buf *params)
{
    ph_buf_reset(params);
    /* names (within the pattern) + decoded values (within the path) + NULs */
    if (ph_buf_reserve(params, r->path_len + len + 2 * r->nsegments + 2) < 0)
        return;
    const char *p = path + 1, *end = path + len;
    for (size_t i = 0; i < r->nsegments; i++) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t seg_len = (size_t)((slash ? slash : end) - p);
        const ph_route_segment *s = &r->segments[i];
        if (s->param) {
            memcpy(params->data + params->len, s->text, s->len);
            params->len += s->len;
            params->data[params->len++] = '\0';
            params->len += ph_percent_decode(params->data + params->len, p, seg_len, false) + 1;
        }
        p = slash ? slash + 1 : end;
    }
}

/* ph_router_match past the exact routes: the parameter routes, when
 * *route (the exact route of the path, or NULL) did not take `method`.
 * Out of line, and a tail call: a request of an exact route never pays
 * for this loop's registers. */
static __attribute__((noinline)) ph_route_match match_patterns(const ph_router *router, const char *path,
                                                               size_t len, unsigned method,
                                                               const ph_route **route, ph_buf *params)
{
    const ph_route *path_match = *route;
    for (size_t i = 0; i < router->npatterns; i++) {
        const ph_route *r = router->patterns[i];
        if (!pattern_matches(r, path, len))
            continue;
        if (r->allowed & method) {
            *route = r;
            if (params)
                collect_params(r, path, len, params);
            return PH_ROUTE_FOUND;
        }
        if (!path_match)
            path_match = r;
    }
    *route = path_match;
    return path_match ? PH_ROUTE_METHOD_NOT_ALLOWED : PH_ROUTE_NOT_FOUND;
}

ph_route_match ph_router_match(const ph_router *router, const char *path, size_t len, unsigned method,
                               const ph_route **route, ph_buf *params)
{
    *route = find_exact(router, path, len);
    if (*route && ((*route)->allowed & method)) {
        if (params)
            ph_buf_reset(params);
        return PH_ROUTE_FOUND;
    }
    return match_patterns(router, path, len, method, route, params);
}

unsigned ph_router_allowed(const ph_router *router, const char *path, size_t len)
{
    const ph_route *exact = find_exact(router, path, len);
    unsigned allowed = exact ? exact->allowed : 0;
    for (size_t i = 0; i < router->npatterns; i++) {
        if (pattern_matches(router->patterns[i], path, len))
            allowed |= router->patterns[i]->allowed;
    }
    return allowed;
}

size_t ph_router_count(const ph_router *router) { return router->count; }

const ph_route *ph_router_route(const ph_router *router, size_t i) { return &router->routes[i]; }

void ph_router_set_board_slot(ph_router *router, size_t i, int slot)
{
    if (i < router->count)
        router->routes[i].board_slot = slot;
}

void ph_router_set_gate(ph_router *router, size_t i, struct ph_route_gate *gate)
{
    if (i < router->count)
        router->routes[i].gate = gate;
}

const ph_route *ph_router_find_pattern(const ph_router *router, const char *path)
{
    for (size_t i = 0; i < router->count; i++) {
        if (strcmp(router->routes[i].path, path) == 0)
            return &router->routes[i];
    }
    return NULL;
}

void ph_router_free(ph_router *router)
{
    if (!router)
        return;
    for (size_t i = 0; i < router->count; i++)
        free_route(&router->routes[i]);
    free(router->routes);
    free(router->exact);
    free(router->patterns);
    free(router);
}
