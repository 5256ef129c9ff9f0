/* test_router.c - server/router.c: exact-path route table.
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
                                    NULL,           fake_fini,         fake_handle};
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
    assert_string_equal(route->allow_header, "Allow: POST\r\n");
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
    assert_string_equal(route->allow_header, "Allow: GET, HEAD, POST\r\n");
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
    assert_string_equal(route->allow_header, "Allow: GET, HEAD\r\n");
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
    assert_string_equal(route->allow_header, "Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\n");
    assert_int_equal(match(r, "/some", PH_METHOD_POST, &route), PH_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(route->allow_header, "Allow: GET, HEAD, DELETE, OPTIONS\r\n");
    ph_router_free(r);
}

static void router_refuses_duplicate_path_and_releases_that_reference(void **state)
{
    (void)state;
    ph_router *r = ph_router_create();
    ph_instance *first = fake_instance();
    assert_int_equal(ROUTER_ADD(r, "/a", PH_METHOD_GET, first), 0);
    assert_int_equal(ROUTER_ADD(r, "/a", PH_METHOD_POST, fake_instance()), -1);
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

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, reset, NULL)
    const struct CMUnitTest tests[] = {
        T(router_finds_exact_path_with_its_instance),
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
    };
#undef T
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
