/* router.c - exact routes in a hash table, parameter routes in
 * precedence order. */
#include "router.h"

#include "bytes.h"
#include "config_value.h"
#include "request.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A path's key: its length and two words that hold all of it up to 16
 * bytes (path_key). */
typedef struct path_key {
    uint64_t head, tail;
    size_t len;
} path_key;

/* A slot of the exact routes' table: empty when route is NULL. */
typedef struct exact_slot {
    path_key key;
    const ph_route *route;
} exact_slot;

struct ph_router {
    ph_route *routes;     /* in the order added */
    size_t count;
    exact_slot *exact;    /* exact routes by path_key, open addressing (after seal; else `no_exact`) */
    size_t exact_mask;    /* slots - 1 (a power of two less one) */
    ph_route **patterns;  /* parameter routes in precedence order */
    size_t npatterns;
};

/* The table of a router without exact routes (also before seal). */
static exact_slot no_exact[1];

ph_router *ph_router_create(void)
{
    ph_router *router = calloc(1, sizeof(ph_router));
    if (router)
        router->exact = no_exact;
    return router;
}

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
    r.handle_site = (ph_crash_site){.route = r.path, .lib = instance->lib, .what = "handle()"};
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

/* Shorter first, then by bytes: a total order of literal segments. */
static int compare_paths(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return memcmp(a, b, alen);
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

/* The key of the `len` bytes at `path`: for 8 bytes or more the first and
 * the last 8 (overlapping), for 4 to 7 the first and the last 4, under 4
 * the first, middle and last byte. Up to 16 bytes the key holds every
 * byte, so equal keys are equal paths; longer paths compare the rest. */
static inline path_key key_of(const char *path, size_t len)
{
    path_key k = {.head = 0, .tail = 0, .len = len};
    if (len >= 8) {
        k.head = ph_load_word(path);
        k.tail = ph_load_word(path + len - 8);
    } else if (len >= 4) {
        uint32_t head, tail;
        memcpy(&head, path, 4);
        memcpy(&tail, path + len - 4, 4);
        k.head = head;
        k.tail = tail;
    } else if (len) {
        k.head = (uint64_t)(unsigned char)path[0] | (uint64_t)(unsigned char)path[len / 2] << 8 |
                 (uint64_t)(unsigned char)path[len - 1] << 16;
    }
    return k;
}

/* The slot `k` starts probing at, in a table of `mask` + 1 slots. */
static inline size_t slot_of(path_key k, size_t mask)
{
    uint64_t h = (k.head ^ (k.tail << 29 | k.tail >> 35) ^ k.len) * 0x9E3779B97F4A7C15u;
    return (size_t)(h >> 32) & mask;
}

/* Put the exact routes in a table of at least twice their number of
 * slots (linear probing, never full). Returns 0 or -1 (no memory). */
static int build_exact(ph_router *router, size_t nexact)
{
    size_t slots = 2;
    while (slots < 2 * nexact)
        slots *= 2;
    exact_slot *table = calloc(slots, sizeof *table);
    if (!table)
        return -1;
    router->exact = table;
    router->exact_mask = slots - 1;
    for (size_t i = 0; i < router->count; i++) {
        const ph_route *r = &router->routes[i];
        if (r->segments)
            continue;
        path_key k = key_of(r->path, r->path_len);
        size_t at = slot_of(k, router->exact_mask);
        while (table[at].route)
            at = (at + 1) & router->exact_mask;
        table[at] = (exact_slot){.key = k, .route = r};
    }
    return 0;
}

int ph_router_seal(ph_router *router)
{
    if (router->exact != no_exact)
        free(router->exact);
    free(router->patterns);
    router->exact = no_exact;
    router->exact_mask = 0;
    router->patterns = calloc(router->count + 1, sizeof *router->patterns);
    router->npatterns = 0;
    if (!router->patterns)
        return -1;
    for (size_t i = 0; i < router->count; i++) {
        ph_route *r = &router->routes[i];
        if (r->segments)
            router->patterns[router->npatterns++] = r;
    }
    qsort(router->patterns, router->npatterns, sizeof *router->patterns, compare_patterns);
    return router->count > router->npatterns ? build_exact(router, router->count - router->npatterns) : 0;
}

/* The exact route of the `len` bytes at `path`, or NULL: one hash, and
 * the key compared (the bytes past 16 with memcmp). Inline: every
 * request's lookup. */
static inline const ph_route *find_exact(const ph_router *router, const char *path, size_t len)
{
    path_key k = key_of(path, len);
    for (size_t at = slot_of(k, router->exact_mask);; at = (at + 1) & router->exact_mask) {
        const exact_slot *s = &router->exact[at];
        if (!s->route)
            return NULL;
        if (s->key.len == len && s->key.head == k.head && s->key.tail == k.tail &&
            (len <= 16 || memcmp(path + 8, s->route->path + 8, len - 16) == 0))
            return s->route;
    }
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
    if (router->exact != no_exact)
        free(router->exact);
    free(router->patterns);
    free(router);
}
