/* test_router.c - server/router.c: the route table (exact paths and
 * "/items/{id}" parameter patterns, methods, precedence).
 *
 * Routes hold stand-in instances (no plugin file is loaded): a fake
 * library whose descriptor's fini counts how often an instance is
 * released for good. */
#include "router.h"

#include "config_value.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fini_calls;

static void fake_fini(void *state)
{
    (void)state;
    fini_calls++;
}

static int fake_handle(void *state, ph_request *req)
{
    (void)state;
    (void)req;
    return PH_OK;
}

static const ph_plugin fake_desc = {PH_ABI_VERSION, sizeof(ph_plugin), "fake", "1", PH_MODE_ASYNC,
                                    NULL,           fake_fini,         fake_handle, NULL, NULL, NULL, NULL};
/* Never reaches zero references, so it is never dlclosed. */
static ph_plugin_lib fake_lib = {.path = (char *)"/fake.so", .desc = &fake_desc, .refs = 1 << 30};

static ph_instance *fake_instance(void)
{
    ph_instance *inst = calloc(1, sizeof *inst);
    assert_non_null(inst);
    inst->lib = &fake_lib;
    inst->refs = 1;
    return inst;
}

static int reset(void **state)
{
    (void)state;
    fini_calls = 0;
    return 0;
}

static ph_route_match match(const ph_router *r, const char *path, unsigned method, const ph_route **route)
{
    return ph_router_match(r, path, strlen(path), method, route, NULL);
}

/* The Allow header a 405 for `path` carries. */
static const char *allow_for(const ph_router *r, const char *path)
{
    static char buf[128];
    ph_router_format_allow(ph_router_allowed(r, path, strlen(path)), buf, sizeof buf);
    return buf;
}

/* ph_router_add without a timeout, its reason in add_err. */
static char add_err[256];
#define ROUTER_ADD(r, path, methods, inst) ph_router_add((r), (path), (methods), 0, (inst), add_err, sizeof add_err)

static void router_finds_exact_path_with_its_instance(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_non_null(r);
    ph_instance *a = fake_instance(), *b = fake_instance();
    assert_int_equal(ROUTER_ADD(r, "/hello", PH_METHOD_GET, a), 0);
    assert_int_equal(ROUTER_ADD(r, "/echo", PH_METHOD_POST, b), 0);
    ph_router_seal(r);
    const ph_route *route = NULL;
    assert_int_equal(match(r, "/hello", PH_METHOD_GET, &route), PH_ROUTE_FOUND);
    assert_non_null(route);
    assert_string_equal(route->path, "/hello");
    assert_int_equal(route->path_len, 6);
    assert_ptr_equal(route->instance, a);
    assert_int_equal(match(r, "/echo", PH_METHOD_POST, &route), PH_ROUTE_FOUND);
    assert_ptr_equal(route->instance, b);
    ph_router_free(r);
}

static void router_route_says_whether_its_plugin_is_async(void **state)
{
    (void)state;
    static const ph_plugin sync_desc = {PH_ABI_VERSION, sizeof(ph_plugin), "fake-sync", "1", PH_MODE_SYNC,
                                        NULL,           fake_fini,          fake_handle, NULL, NULL, NULL, NULL};
    static ph_plugin_lib sync_lib = {.path = (char *)"/fake-sync.so", .desc = &sync_desc, .refs = 1 << 30};
    ph_router *r = ph_router_create();
    assert_non_null(r);
    ph_instance *a = fake_instance(), *s = fake_instance();
    s->lib = &sync_lib;
    assert_int_equal(ROUTER_ADD(r, "/async", PH_METHOD_GET, a), 0);
    assert_int_equal(ROUTER_ADD(r, "/sync", PH_METHOD_GET, s), 0);
    assert_true(ph_router_route(r, 0)->async);
    assert_false(ph_router_route(r, 1)->async);
    ph_router_free(r);
}

static void router_unknown_path_prefix_or_longer_path_is_not_found(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_int_equal(ROUTER_ADD(r, "/hello", PH_METHOD_GET, fake_instance()), 0);
    ph_router_seal(r);
    static const char *const misses[] = {"/", "/hell", "/hello/", "/helloo", "/Hello", "/hello?x", "", "/nope"};
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        const ph_route *route = (const ph_route *)&route; /* must be reset to NULL */
        if (match(r, misses[i], PH_METHOD_GET, &route) != PH_ROUTE_NOT_FOUND)
            fail_msg("'%s' matched", misses[i]);
        assert_null(route);
    }
    ph_router_free(r);
}

static void router_matches_only_the_given_length_of_path(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_int_equal(ROUTER_ADD(r, "/a", PH_METHOD_GET, fake_instance()), 0);
    ph_router_seal(r);
    const ph_route *route = NULL;
    assert_int_equal(ph_router_match(r, "/a?q=1", 2, PH_METHOD_GET, &route, NULL), PH_ROUTE_FOUND);
    assert_string_equal(route->path, "/a");
    assert_int_equal(ph_router_match(r, "/a", 1, PH_METHOD_GET, &route, NULL), PH_ROUTE_NOT_FOUND);
    ph_router_free(r);
}

static void router_empty_table_finds_nothing(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    ph_router_seal(r);
    assert_int_equal(ph_router_count(r), 0);
    const ph_route *route = NULL;
    assert_int_equal(match(r, "/", PH_METHOD_GET, &route), PH_ROUTE_NOT_FOUND);
    assert_null(route);
    ph_router_free(r);
}

static void router_wrong_method_is_405_with_route_and_allow_header(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_int_equal(ROUTER_ADD(r, "/echo", PH_METHOD_POST, fake_instance()), 0);
    ph_router_seal(r);
    const ph_route *route = NULL;
    assert_int_equal(match(r, "/echo", PH_METHOD_GET, &route), PH_ROUTE_METHOD_NOT_ALLOWED);
    assert_non_null(route);
    assert_string_equal(route->path, "/echo");
    assert_string_equal(allow_for(r, "/echo"), "Allow: POST\r\n");
    assert_int_equal(match(r, "/echo", PH_METHOD_PUT, &route), PH_ROUTE_METHOD_NOT_ALLOWED);
    ph_router_free(r);
}

static void router_method_plughost_does_not_know_is_405(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_int_equal(ROUTER_ADD(r, "/a", PH_METHOD_GET | PH_METHOD_POST, fake_instance()), 0);
    ph_router_seal(r);
    const ph_route *route = NULL;
    assert_int_equal(match(r, "/a", 0, &route), PH_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(allow_for(r, "/a"), "Allow: GET, HEAD, POST\r\n");
    ph_router_free(r);
}

static void router_allows_head_for_get_routes_only(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_int_equal(ROUTER_ADD(r, "/get", PH_METHOD_GET, fake_instance()), 0);
    assert_int_equal(ROUTER_ADD(r, "/post", PH_METHOD_POST, fake_instance()), 0);
    ph_router_seal(r);
    const ph_route *route = NULL;
    assert_int_equal(match(r, "/get", PH_METHOD_HEAD, &route), PH_ROUTE_FOUND);
    assert_int_equal(route->methods, PH_METHOD_GET);
    assert_int_equal(route->allowed, PH_METHOD_GET | PH_METHOD_HEAD);
    assert_string_equal(allow_for(r, "/get"), "Allow: GET, HEAD\r\n");
    assert_int_equal(match(r, "/post", PH_METHOD_HEAD, &route), PH_ROUTE_METHOD_NOT_ALLOWED);
    assert_int_equal(route->allowed, PH_METHOD_POST);
    ph_router_free(r);
}

static void router_allow_header_lists_every_method_in_canonical_order(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    unsigned all = PH_METHOD_OPTIONS | PH_METHOD_PATCH | PH_METHOD_DELETE | PH_METHOD_PUT | PH_METHOD_POST |
                   PH_METHOD_HEAD | PH_METHOD_GET;
    assert_int_equal(ROUTER_ADD(r, "/all", all, fake_instance()), 0);
    assert_int_equal(ROUTER_ADD(r, "/some", PH_METHOD_DELETE | PH_METHOD_GET | PH_METHOD_OPTIONS, fake_instance()), 0);
    ph_router_seal(r);
    const ph_route *route = NULL;
    assert_int_equal(match(r, "/all", PH_METHOD_PATCH, &route), PH_ROUTE_FOUND);
    assert_string_equal(allow_for(r, "/all"), "Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\n");
    assert_int_equal(match(r, "/some", PH_METHOD_POST, &route), PH_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(allow_for(r, "/some"), "Allow: GET, HEAD, DELETE, OPTIONS\r\n");
    ph_router_free(r);
}

static void router_refuses_duplicate_path_and_releases_that_reference(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    ph_instance *first = fake_instance();
    assert_int_equal(ROUTER_ADD(r, "/a", PH_METHOD_GET, first), 0);
    assert_int_equal(ROUTER_ADD(r, "/a", PH_METHOD_POST, fake_instance()), -1);
    assert_string_equal(add_err, "duplicate route /a");
    assert_int_equal(fini_calls, 1); /* the refused instance is gone */
    assert_int_equal(ph_router_count(r), 1);
    ph_router_seal(r);
    const ph_route *route = NULL;
    assert_int_equal(match(r, "/a", PH_METHOD_GET, &route), PH_ROUTE_FOUND);
    assert_ptr_equal(route->instance, first);
    ph_router_free(r);
    assert_int_equal(fini_calls, 2);
}

static void router_free_releases_each_route_instance_once(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    ph_instance *shared = fake_instance();
    ph_instance_ref(shared); /* a second generation holds it too */
    assert_int_equal(ROUTER_ADD(r, "/a", PH_METHOD_GET, fake_instance()), 0);
    assert_int_equal(ROUTER_ADD(r, "/b", PH_METHOD_GET, fake_instance()), 0);
    assert_int_equal(ROUTER_ADD(r, "/c", PH_METHOD_GET, shared), 0);
    ph_router_seal(r);
    ph_router_free(r);
    assert_int_equal(fini_calls, 2);
    assert_int_equal(shared->refs, 1);
    ph_instance_unref(shared);
    assert_int_equal(fini_calls, 3);
    ph_router_free(NULL);
}

/* Many routes added in scrambled order: after seal every one is found
 * (with its own instance), the listing keeps the order they were added,
 * and near misses are not found. */
static void router_many_routes_are_all_found_and_listed_in_order(void **state)
{
    (void)state;
    enum { N = 300 };
    ph_router *r = ph_router_create();
    ph_instance *insts[N];
    char paths[N][32];
    for (unsigned i = 0; i < N; i++) {
        unsigned k = (i * 7919u) % N; /* a permutation of 0..N-1 */
        /* varying lengths and shared prefixes */
        snprintf(paths[k], sizeof paths[k], "/r%u%s", k, (k % 3 == 0) ? "/x" : (k % 3 == 1 ? "" : "/yy/z"));
        insts[k] = fake_instance();
        assert_int_equal(ROUTER_ADD(r, paths[k], PH_METHOD_GET, insts[k]), 0);
    }
    ph_router_seal(r);
    assert_int_equal(ph_router_count(r), N);
    for (unsigned i = 0; i < N; i++)
        assert_string_equal(ph_router_route(r, i)->path, paths[(i * 7919u) % N]);
    for (unsigned k = 0; k < N; k++) {
        const ph_route *route = NULL;
        if (match(r, paths[k], PH_METHOD_GET, &route) != PH_ROUTE_FOUND)
            fail_msg("'%s' not found", paths[k]);
        assert_ptr_equal(route->instance, insts[k]);
        char miss[40];
        snprintf(miss, sizeof miss, "%s!", paths[k]);
        assert_int_equal(match(r, miss, PH_METHOD_GET, &route), PH_ROUTE_NOT_FOUND);
    }
    ph_router_free(r);
    assert_int_equal(fini_calls, N);
}

/* Exact paths of one length differing in one byte, at every position, for
 * lengths that take each way of keying them (three bytes, 4- and 8-byte
 * words, the last word overlapping, the middle bytes past 16), all in
 * one table (shared probe chains). */
static void router_tells_apart_paths_of_one_length_differing_anywhere(void **state)
{
    (void)state;
    enum { MAX_LEN = 26 };
    ph_router *r = ph_router_create();
    static char paths[MAX_LEN + 1][MAX_LEN][MAX_LEN + 1];
    ph_instance *insts[MAX_LEN + 1][MAX_LEN];
    for (int len = 1; len <= MAX_LEN; len++) {
        for (int at = 0; at < len; at++) { /* at 0: the base path; else 'b' at `at` */
            char *p = paths[len][at];
            memset(p, 'a', (size_t)len);
            p[0] = '/';
            p[len] = '\0';
            if (at)
                p[at] = 'b';
            insts[len][at] = fake_instance();
            assert_int_equal(ROUTER_ADD(r, p, PH_METHOD_GET, insts[len][at]), 0);
        }
    }
    ph_router_seal(r);
    for (int len = 1; len <= MAX_LEN; len++) {
        for (int at = 0; at < len; at++) {
            const ph_route *route = NULL;
            if (match(r, paths[len][at], PH_METHOD_GET, &route) != PH_ROUTE_FOUND)
                fail_msg("'%s' not found", paths[len][at]);
            assert_ptr_equal(route->instance, insts[len][at]);
            if (!at)
                continue;
            char miss[MAX_LEN + 1];
            memcpy(miss, paths[len][at], (size_t)len + 1);
            miss[at] = 'c';
            assert_int_equal(match(r, miss, PH_METHOD_GET, &route), PH_ROUTE_NOT_FOUND);
        }
    }
    ph_router_free(r);
}

static void router_keeps_each_routes_timeout(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_int_equal(ph_router_add(r, "/slow", PH_METHOD_GET, 1500, fake_instance(), add_err, sizeof add_err), 0);
    assert_int_equal(ph_router_add(r, "/p/{id}", PH_METHOD_GET, 0, fake_instance(), add_err, sizeof add_err), 0);
    assert_int_equal(ph_router_seal(r), 0);
    const ph_route *route = NULL;
    assert_int_equal(match(r, "/slow", PH_METHOD_GET, &route), PH_ROUTE_FOUND);
    assert_int_equal(route->timeout_ms, 1500);
    assert_int_equal(match(r, "/p/1", PH_METHOD_GET, &route), PH_ROUTE_FOUND);
    assert_int_equal(route->timeout_ms, 0);
    ph_router_free(r);
}

/* ---- parameter routes ---- */

/* Value of `name` in a "name\0value\0..." buffer, or NULL. */
static const char *param(const ph_buf *params, const char *name)
{
    const char *p = params->data, *end = params->data + params->len;
    while (p && p < end) {
        const char *value = p + strlen(p) + 1;
        if (strcmp(p, name) == 0)
            return value;
        p = value + strlen(value) + 1;
    }
    return NULL;
}

static ph_route_match match_params(const ph_router *r, const char *path, unsigned method, const ph_route **route,
                                   ph_buf *params)
{
    return ph_router_match(r, path, strlen(path), method, route, params);
}

static void router_parameter_matches_one_whole_non_empty_segment(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    ph_instance *items = fake_instance();
    assert_int_equal(ROUTER_ADD(r, "/items/{id}", PH_METHOD_GET, items), 0);
    assert_int_equal(ph_router_seal(r), 0);
    ph_buf params = {0};
    const ph_route *route = NULL;
    assert_int_equal(match_params(r, "/items/42", PH_METHOD_GET, &route, &params), PH_ROUTE_FOUND);
    assert_ptr_equal(route->instance, items);
    assert_string_equal(route->path, "/items/{id}");
    assert_string_equal(param(&params, "id"), "42");
    assert_null(param(&params, "items"));
    static const char *const misses[] = {"/items", "/items/", "/items/42/", "/items/42/x", "/item/42", "/",
                                         "/items//"};
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        if (match_params(r, misses[i], PH_METHOD_GET, &route, &params) != PH_ROUTE_NOT_FOUND)
            fail_msg("'%s' matched /items/{id}", misses[i]);
        assert_null(route);
    }
    ph_buf_free(&params);
    ph_router_free(r);
}

static void router_parameter_values_are_percent_decoded_without_plus(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_int_equal(ROUTER_ADD(r, "/files/{name}", PH_METHOD_GET, fake_instance()), 0);
    assert_int_equal(ph_router_seal(r), 0);
    ph_buf params = {0};
    const ph_route *route = NULL;
    assert_int_equal(match_params(r, "/files/a%20b+c%2Fd%zz", PH_METHOD_GET, &route, &params), PH_ROUTE_FOUND);
    assert_string_equal(param(&params, "name"), "a b+c/d%zz");
    ph_buf_free(&params);
    ph_router_free(r);
}

static void router_collects_every_parameter_by_name(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_int_equal(ROUTER_ADD(r, "/users/{user}/posts/{post_id}", PH_METHOD_GET, fake_instance()), 0);
    assert_int_equal(ph_router_seal(r), 0);
    ph_buf params = {0};
    const ph_route *route = NULL;
    assert_int_equal(match_params(r, "/users/bob/posts/7", PH_METHOD_GET, &route, &params), PH_ROUTE_FOUND);
    assert_int_equal(params.len, sizeof "user\0bob\0post_id\0" "7");
    assert_memory_equal(params.data, "user\0bob\0post_id\0" "7", params.len);
    assert_int_equal(match_params(r, "/users/bob/comments/7", PH_METHOD_GET, &route, &params), PH_ROUTE_NOT_FOUND);
    ph_buf_free(&params);
    ph_router_free(r);
}

static void router_exact_match_leaves_no_stale_parameters(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_int_equal(ROUTER_ADD(r, "/items/{id}", PH_METHOD_GET, fake_instance()), 0);
    assert_int_equal(ROUTER_ADD(r, "/about", PH_METHOD_GET, fake_instance()), 0);
    assert_int_equal(ph_router_seal(r), 0);
    ph_buf params = {0};
    const ph_route *route = NULL;
    assert_int_equal(match_params(r, "/items/1", PH_METHOD_GET, &route, &params), PH_ROUTE_FOUND);
    assert_int_equal(match_params(r, "/about", PH_METHOD_GET, &route, &params), PH_ROUTE_FOUND);
    assert_int_equal(params.len, 0);
    assert_null(param(&params, "id"));
    ph_buf_free(&params);
    ph_router_free(r);
}

static void router_exact_route_wins_over_parameter_route(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    ph_instance *pattern = fake_instance(), *exact = fake_instance();
    assert_int_equal(ROUTER_ADD(r, "/items/{id}", PH_METHOD_GET, pattern), 0);
    assert_int_equal(ROUTER_ADD(r, "/items/new", PH_METHOD_GET, exact), 0);
    assert_int_equal(ph_router_seal(r), 0);
    const ph_route *route = NULL;
    assert_int_equal(match(r, "/items/new", PH_METHOD_GET, &route), PH_ROUTE_FOUND);
    assert_ptr_equal(route->instance, exact);
    assert_int_equal(match(r, "/items/old", PH_METHOD_GET, &route), PH_ROUTE_FOUND);
    assert_ptr_equal(route->instance, pattern);
    ph_router_free(r);
}

/* Among parameter routes, a literal segment beats a parameter at the
 * first place they differ, whatever the order they were added in. */
static void router_literal_segment_wins_over_parameter_in_either_add_order(void **state)
{
    (void)state;
    for (int order = 0; order < 2; order++) {
        ph_router *r = ph_router_create();
        ph_instance *lit_first = fake_instance(), *param_first = fake_instance();
        if (order == 0) {
            assert_int_equal(ROUTER_ADD(r, "/{kind}/b", PH_METHOD_GET, param_first), 0);
            assert_int_equal(ROUTER_ADD(r, "/a/{id}", PH_METHOD_GET, lit_first), 0);
        } else {
            assert_int_equal(ROUTER_ADD(r, "/a/{id}", PH_METHOD_GET, lit_first), 0);
            assert_int_equal(ROUTER_ADD(r, "/{kind}/b", PH_METHOD_GET, param_first), 0);
        }
        assert_int_equal(ph_router_seal(r), 0);
        ph_buf params = {0};
        const ph_route *route = NULL;
        assert_int_equal(match_params(r, "/a/b", PH_METHOD_GET, &route, &params), PH_ROUTE_FOUND);
        assert_ptr_equal(route->instance, lit_first);
        assert_string_equal(param(&params, "id"), "b");
        assert_int_equal(match_params(r, "/z/b", PH_METHOD_GET, &route, &params), PH_ROUTE_FOUND);
        assert_ptr_equal(route->instance, param_first);
        assert_string_equal(param(&params, "kind"), "z");
        ph_buf_free(&params);
        ph_router_free(r);
    }
}

static void router_parameter_route_with_wrong_method_is_405(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_int_equal(ROUTER_ADD(r, "/items/{id}", PH_METHOD_PUT | PH_METHOD_DELETE, fake_instance()), 0);
    assert_int_equal(ph_router_seal(r), 0);
    const ph_route *route = NULL;
    assert_int_equal(match(r, "/items/3", PH_METHOD_GET, &route), PH_ROUTE_METHOD_NOT_ALLOWED);
    assert_non_null(route);
    assert_string_equal(allow_for(r, "/items/3"), "Allow: PUT, DELETE\r\n");
    assert_int_equal(match(r, "/items/3", PH_METHOD_DELETE, &route), PH_ROUTE_FOUND);
    ph_router_free(r);
}

/* Documented: the first route matching path *and* method serves it, so a
 * parameter route answers a method the exact route lacks. */
static void router_method_missing_on_exact_route_is_served_by_parameter_route(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    ph_instance *exact = fake_instance(), *pattern = fake_instance();
    assert_int_equal(ROUTER_ADD(r, "/items/new", PH_METHOD_POST, exact), 0);
    assert_int_equal(ROUTER_ADD(r, "/items/{id}", PH_METHOD_GET, pattern), 0);
    assert_int_equal(ph_router_seal(r), 0);
    const ph_route *route = NULL;
    assert_int_equal(match(r, "/items/new", PH_METHOD_POST, &route), PH_ROUTE_FOUND);
    assert_ptr_equal(route->instance, exact);
    assert_int_equal(match(r, "/items/new", PH_METHOD_GET, &route), PH_ROUTE_FOUND);
    assert_ptr_equal(route->instance, pattern);
    ph_router_free(r);
}

static void router_refuses_malformed_parameter_patterns_and_releases_reference(void **state)
{
    (void)state;
    static const char *const bad[] = {"/items/{}",   "/items/{id",  "/items/id}", "/items/x{id}",
                                      "/items/{id}x", "/items/{i-d}", "/{a}{b}",   "/{a b}"};
    ph_router *r = ph_router_create();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fini_calls = 0;
        if (ROUTER_ADD(r, bad[i], PH_METHOD_GET, fake_instance()) != -1)
            fail_msg("accepted pattern '%s'", bad[i]);
        char want[300];
        snprintf(want, sizeof want, "route %s: a parameter is a whole segment '{name}' (letters, digits, _)", bad[i]);
        assert_string_equal(add_err, want);
        assert_int_equal(fini_calls, 1);
    }
    assert_int_equal(ph_router_count(r), 0);
    ph_router_free(r);
}

static void router_refuses_parameter_name_used_twice(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_int_equal(ROUTER_ADD(r, "/{id}/x/{id}", PH_METHOD_GET, fake_instance()), -1);
    assert_string_equal(add_err, "route /{id}/x/{id}: parameter {id} appears twice");
    assert_int_equal(fini_calls, 1);
    ph_router_free(r);
}

static void router_refuses_pattern_matching_the_same_paths_as_an_earlier_one(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_int_equal(ROUTER_ADD(r, "/items/{id}", PH_METHOD_GET, fake_instance()), 0);
    assert_int_equal(ROUTER_ADD(r, "/items/{name}", PH_METHOD_POST, fake_instance()), -1);
    assert_string_equal(add_err, "route /items/{name} is ambiguous with route /items/{id} (they match the same paths)");
    /* other shapes are fine */
    assert_int_equal(ROUTER_ADD(r, "/items/{id}/tags", PH_METHOD_GET, fake_instance()), 0);
    assert_int_equal(ROUTER_ADD(r, "/{kind}/{id}", PH_METHOD_GET, fake_instance()), 0);
    assert_int_equal(ph_router_count(r), 3);
    ph_router_free(r);
    assert_int_equal(fini_calls, 4);
}

static void router_find_pattern_returns_route_by_configured_text(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_int_equal(ROUTER_ADD(r, "/items/{id}", PH_METHOD_GET, fake_instance()), 0);
    assert_int_equal(ROUTER_ADD(r, "/about", PH_METHOD_GET, fake_instance()), 0);
    assert_int_equal(ph_router_seal(r), 0);
    const ph_route *route = ph_router_find_pattern(r, "/items/{id}");
    assert_non_null(route);
    assert_string_equal(route->path, "/items/{id}");
    assert_ptr_equal(ph_router_find_pattern(r, "/about"), ph_router_route(r, 1));
    assert_null(ph_router_find_pattern(r, "/items/1"));
    ph_router_free(r);
}

/* A 405 lists every method the path accepts (RFC 9110 15.5.6), here from
 * an exact route (POST) and a parameter route (GET) together. */
static void router_405_allow_header_lists_methods_of_every_route_matching_the_path(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    assert_int_equal(ROUTER_ADD(r, "/items/new", PH_METHOD_POST, fake_instance()), 0);
    assert_int_equal(ROUTER_ADD(r, "/items/{id}", PH_METHOD_GET, fake_instance()), 0);
    assert_int_equal(ph_router_seal(r), 0);
    const ph_route *route = NULL;
    assert_int_equal(match(r, "/items/new", PH_METHOD_GET, &route), PH_ROUTE_FOUND); /* GET works... */
    assert_int_equal(match(r, "/items/new", PH_METHOD_DELETE, &route), PH_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(allow_for(r, "/items/new"), "Allow: GET, HEAD, POST\r\n");
    ph_router_free(r);
}

/* The parameters buffer holds the pattern's parameter names too: a name
 * longer than the request path must still fit (was a heap overflow). */
static void router_collects_parameters_whose_names_are_longer_than_the_path(void **state)
{
    (void)state;
    char pattern[700];
    char name[300];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(pattern, sizeof pattern, "/{%s}/{x}", name);
    ph_router *r = ph_router_create();
    assert_int_equal(ROUTER_ADD(r, pattern, PH_METHOD_GET, fake_instance()), 0);
    assert_int_equal(ph_router_seal(r), 0);
    ph_buf params = {0};
    const ph_route *route = NULL;
    assert_int_equal(match_params(r, "/a/b", PH_METHOD_GET, &route, &params), PH_ROUTE_FOUND);
    assert_true(params.len <= params.cap);
    assert_string_equal(param(&params, name), "a");
    assert_string_equal(param(&params, "x"), "b");
    ph_buf_free(&params);
    ph_router_free(r);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, reset, NULL)
    const struct CMUnitTest tests[] = {
        T(router_finds_exact_path_with_its_instance),
        T(router_route_says_whether_its_plugin_is_async),
        T(router_unknown_path_prefix_or_longer_path_is_not_found),
        T(router_matches_only_the_given_length_of_path),
        T(router_empty_table_finds_nothing),
        T(router_wrong_method_is_405_with_route_and_allow_header),
        T(router_method_plughost_does_not_know_is_405),
        T(router_allows_head_for_get_routes_only),
        T(router_allow_header_lists_every_method_in_canonical_order),
        T(router_refuses_duplicate_path_and_releases_that_reference),
        T(router_free_releases_each_route_instance_once),
        T(router_many_routes_are_all_found_and_listed_in_order),
        T(router_tells_apart_paths_of_one_length_differing_anywhere),
        T(router_keeps_each_routes_timeout),
        T(router_parameter_matches_one_whole_non_empty_segment),
        T(router_parameter_values_are_percent_decoded_without_plus),
        T(router_collects_every_parameter_by_name),
        T(router_exact_match_leaves_no_stale_parameters),
        T(router_exact_route_wins_over_parameter_route),
        T(router_literal_segment_wins_over_parameter_in_either_add_order),
        T(router_parameter_route_with_wrong_method_is_405),
        T(router_method_missing_on_exact_route_is_served_by_parameter_route),
        T(router_refuses_malformed_parameter_patterns_and_releases_reference),
        T(router_refuses_parameter_name_used_twice),
        T(router_refuses_pattern_matching_the_same_paths_as_an_earlier_one),
        T(router_find_pattern_returns_route_by_configured_text),
        /* SERVER BUGS, see the comments above these tests */
        T(router_405_allow_header_lists_methods_of_every_route_matching_the_path),
        T(router_collects_parameters_whose_names_are_longer_than_the_path),
    };
#undef T
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
