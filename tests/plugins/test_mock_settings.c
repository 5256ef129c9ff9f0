/* test_mock_settings.c - the mock host's typed setting slots (ABI 1.2):
 * server.ini's syntax, and a plugin whose init refuses a bad value fails
 * ph_mock_init with the reason in the mock's log. */
#include "ph_mock_host.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

static int reset(void **state)
{
    (void)state;
    ph_mock_reset();
    return 0;
}

static void the_mock_table_has_the_typed_slots(void **state)
{
    (void)state;
    const ph_host_api *api = ph_mock_api();
    assert_true(PH_HOST_HAS(api, setting_duration_ms));
    assert_true(PH_HOST_HAS(api, setting_size));
    assert_true(PH_HOST_HAS(api, setting_int));
    assert_true(PH_HOST_HAS(api, setting_bool));
}

static void the_slots_parse_as_server_ini_does(void **state)
{
    (void)state;
    const ph_host_api *api = ph_mock_api();
    ph_settings *s = ph_mock_settings_new("/x", "delay", "1.5s", "max", "2m", "n", "-3", "on", "yes",
                                          NULL);
    assert_non_null(s);
    uint64_t ms = 0;
    size_t size = 0;
    long n = 0;
    int b = 0;
    assert_int_equal(api->setting_duration_ms(s, "delay", 0, &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(api->setting_size(s, "max", 0, &size), 0);
    assert_int_equal(size, 2u << 20);
    assert_int_equal(api->setting_int(s, "n", 0, -5, 5, &n), 0);
    assert_int_equal(n, -3);
    assert_int_equal(api->setting_bool(s, "on", 0, &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(api->setting_bool(s, "absent", 0, &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(api->setting_int(s, "n", 0, 0, 5, &n), -1);
    assert_int_equal(ph_mock_log_find(PH_LOG_ERROR, "route /x: n = \"-3\" is not an integer from 0 to 5"), 1);
    ph_mock_settings_free(s);
}

/* A plugin that needs `delay` as a duration. */
static int delay_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    uint64_t *ms = malloc(sizeof *ms);
    if (!ms)
        return -1;
    if (api->setting_duration_ms(settings, "delay", 100, ms) != 0) {
        free(ms);
        return -1;
    }
    *state = ms;
    return 0;
}

static int delay_handle(void *state, ph_request *req)
{
    (void)state;
    (void)req;
    return PH_OK;
}

static const ph_plugin delay_plugin = {PH_ABI_VERSION, sizeof(ph_plugin), "delay", "1", PH_MODE_SYNC,
                                       delay_init, free, delay_handle, NULL, NULL, NULL, NULL};

static void a_bad_value_refuses_init_with_the_reason_logged(void **state)
{
    (void)state;
    ph_settings *good = ph_mock_settings_new("/d", "delay", "250ms", NULL);
    ph_settings *bad = ph_mock_settings_new("/d", "delay", "250 ms", NULL);
    ph_mock_instance *inst = NULL;
    assert_int_equal(ph_mock_init(&delay_plugin, good, &inst), 0);
    assert_int_equal(*(uint64_t *)ph_mock_instance_state(inst), 250);
    ph_mock_fini(inst);
    inst = NULL;
    assert_int_not_equal(ph_mock_init(&delay_plugin, bad, &inst), 0);
    assert_null(inst);
    assert_int_equal(ph_mock_log_find(PH_LOG_ERROR, "route /d: delay = \"250 ms\" is not a duration"), 1);
    ph_mock_settings_free(good);
    ph_mock_settings_free(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(the_mock_table_has_the_typed_slots, reset),
        cmocka_unit_test_setup(the_slots_parse_as_server_ini_does, reset),
        cmocka_unit_test_setup(a_bad_value_refuses_init_with_the_reason_logged, reset),
    };
    return cmocka_run_group_tests_name("sdk mock host, ABI 1.2 settings", tests, NULL, NULL);
}
