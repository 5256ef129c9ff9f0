/* test_route_keys.c - server/route_keys.c: a route's keys against the
 * reserved ones and the plugin's declared settings (ABI 1.3). */
#include "route_keys.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

static int handle(void *state, ph_request *req)
{
    (void)state;
    (void)req;
    return PH_OK;
}

static const char *const declared[] = {"seconds", "upstream", NULL};
static const ph_plugin declaring = {PH_ABI_VERSION, sizeof(ph_plugin), "d", "1", PH_MODE_SYNC,
                                    NULL,           NULL,              handle, declared, NULL, NULL, NULL};
static const ph_plugin silent = {PH_ABI_VERSION, sizeof(ph_plugin), "s", "1", PH_MODE_SYNC, NULL, NULL, handle, NULL, NULL, NULL, NULL};

static ph_route_conf route_with(ph_setting *items, size_t n)
{
    return (ph_route_conf){.path = (char *)"/r", .settings = items, .nsettings = n};
}

static void a_declaring_plugin_refuses_a_misspelt_reserved_key(void **state)
{
    (void)state;
    ph_setting items[] = {{(char *)"seconds", (char *)"1"}, {(char *)"methds", (char *)"GET"}};
    ph_route_conf r = route_with(items, 2);
    char err[256] = "";
    assert_int_equal(ph_route_keys_check(&declaring, "/p/d.so", &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "/p/d.so: route /r: unknown key 'methds' (did you mean 'methods'?)"));
}

static void a_declaring_plugin_refuses_any_undeclared_key(void **state)
{
    (void)state;
    ph_setting items[] = {{(char *)"colour", (char *)"red"}};
    ph_route_conf r = route_with(items, 1);
    char err[256] = "";
    assert_int_equal(ph_route_keys_check(&declaring, "/p/d.so", &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown key 'colour' (plugin 'd' declares its settings)"));
}

static void reserved_and_declared_keys_pass(void **state)
{
    (void)state;
    ph_setting items[] = {{(char *)"timeout", (char *)"1s"}, {(char *)"seconds", (char *)"1"},
                          {(char *)"upstream", (char *)"http://x/"}};
    ph_route_conf r = route_with(items, 3);
    char err[256] = "";
    assert_int_equal(ph_route_keys_check(&declaring, "/p/d.so", &r, err, sizeof err), 0);
}

/* Without a list only a warning: the file is accepted. */
static void a_plugin_that_declares_nothing_is_only_warned(void **state)
{
    (void)state;
    ph_setting items[] = {{(char *)"timout", (char *)"1s"}, {(char *)"anything", (char *)"x"}};
    ph_route_conf r = route_with(items, 2);
    char err[256] = "";
    assert_int_equal(ph_route_keys_check(&silent, "/p/s.so", &r, err, sizeof err), 0);
}

/* A 1.2 descriptor ends before the slot: never read past it. */
static void a_descriptor_older_than_1_3_declares_nothing(void **state)
{
    (void)state;
    ph_plugin old = declaring;
    old.struct_size = (uint32_t)offsetof(ph_plugin, settings);
    assert_null(ph_route_keys_declared(&old));
    assert_ptr_equal(ph_route_keys_declared(&declaring), declared);
    ph_setting items[] = {{(char *)"colour", (char *)"red"}};
    ph_route_conf r = route_with(items, 1);
    char err[256] = "";
    assert_int_equal(ph_route_keys_check(&old, "/p/o.so", &r, err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_declaring_plugin_refuses_a_misspelt_reserved_key),
        cmocka_unit_test(a_declaring_plugin_refuses_any_undeclared_key),
        cmocka_unit_test(reserved_and_declared_keys_pass),
        cmocka_unit_test(a_plugin_that_declares_nothing_is_only_warned),
        cmocka_unit_test(a_descriptor_older_than_1_3_declares_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
