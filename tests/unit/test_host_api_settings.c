/* test_host_api_settings.c - server/host_api.c: the server's host table
 * carries the ABI 1.2 typed setting slots and they read a route's real
 * settings. (Parsing and messages: test_settings_typed.c.) */
#include "host_api.h"
#include "plugin_instance.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static ph_setting items[] = {
    {(char *)"interval", (char *)"250ms"}, {(char *)"limit", (char *)"1m"},
    {(char *)"count", (char *)"12"},       {(char *)"verbose", (char *)"on"},
    {(char *)"bad", (char *)"soon"},
};
static struct ph_settings settings = {(char *)"/route", items, sizeof items / sizeof items[0]};

static void the_table_has_the_typed_slots_since_1_2(void **state)
{
    (void)state;
    const ph_host_api *api = ph_host_api_table();
    assert_true(PH_ABI_VERSION_MINOR(api->abi_version) >= 2);
    assert_true(PH_HOST_HAS(api, setting_duration_ms));
    assert_true(PH_HOST_HAS(api, setting_size));
    assert_true(PH_HOST_HAS(api, setting_int));
    assert_true(PH_HOST_HAS(api, setting_bool));
}

static void the_slots_read_the_routes_settings(void **state)
{
    (void)state;
    const ph_host_api *api = ph_host_api_table();
    uint64_t ms = 0;
    size_t size = 0;
    long n = 0;
    int b = 0;
    assert_int_equal(api->setting_duration_ms(&settings, "interval", 1, &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(api->setting_size(&settings, "limit", 1, &size), 0);
    assert_int_equal(size, 1u << 20);
    assert_int_equal(api->setting_int(&settings, "count", 1, 0, 100, &n), 0);
    assert_int_equal(n, 12);
    assert_int_equal(api->setting_bool(&settings, "verbose", 0, &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(api->setting_duration_ms(&settings, "absent", 1234, &ms), 0);
    assert_int_equal(ms, 1234);
    assert_int_equal(api->setting_duration_ms(&settings, "bad", 1, &ms), -1);
    assert_int_equal(ms, 1234);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_table_has_the_typed_slots_since_1_2),
        cmocka_unit_test(the_slots_read_the_routes_settings),
    };
    return cmocka_run_group_tests_name("host_api_settings", tests, NULL, NULL);
}
