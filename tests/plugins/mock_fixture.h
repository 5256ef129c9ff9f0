/* mock_fixture.h - cmocka setup/teardown shared by the plugin tests: every
 * test starts from a reset mock host and fails if the plugin misused the
 * host API (complete() twice, a builder after the response was sent...).
 * Also loading the plugin under test and asserting init refusals. */
#ifndef PH_TEST_MOCK_FIXTURE_H
#define PH_TEST_MOCK_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "ph_mock_host.h"

/* Setup: a fresh mock (clock 0, no timers, empty log). */
static inline int mock_setup(void **state)
{
    (void)state;
    ph_mock_reset();
    return 0;
}

/* Teardown: fail the test when a misuse was recorded, then reset. */
static inline int mock_teardown(void **state)
{
    (void)state;
    size_t n = ph_mock_misuse_count();
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "unexpected misuse: %s\n", ph_mock_misuse(i));
    ph_mock_reset();
    return n == 0 ? 0 : -1;
}

#define MOCK_TEST(fn) cmocka_unit_test_setup_teardown(fn, mock_setup, mock_teardown)

/* Settings for `route` from key, value pairs up to a NULL key; a NULL
 * value leaves its key out (handy for optional settings). */
static inline ph_settings *mock_settings_va(const char *route, va_list ap)
{
    ph_settings *s = ph_mock_settings_new(route, NULL);
    assert_non_null(s);
    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        if (value)
            assert_int_equal(ph_mock_settings_set(s, key, value), 0);
    }
    return s;
}

/* Init the plugin under test (its source is compiled into the test) for
 * `route` with mock_settings_va settings, asserting success. Release with
 * mock_unload(inst, *s). */
static inline ph_mock_instance *mock_load(ph_settings **s, const char *route, ...)
{
    va_list ap;
    va_start(ap, route);
    *s = mock_settings_va(route, ap);
    va_end(ap);
    ph_mock_instance *inst = NULL;
    assert_int_equal(ph_mock_init(ph_plugin_entry(), *s, &inst), 0);
    return inst;
}

static inline void mock_unload(ph_mock_instance *inst, ph_settings *s)
{
    ph_mock_fini(inst);
    ph_mock_settings_free(s);
}

/* Assert the plugin under test refuses to init for `route` with
 * mock_settings_va settings, logging an error that names the route and
 * contains `needle`. Resets the mock's log afterwards. */
static inline void mock_assert_init_refuses(const char *needle, const char *route, ...)
{
    va_list ap;
    va_start(ap, route);
    ph_settings *s = mock_settings_va(route, ap);
    va_end(ap);
    ph_mock_instance *inst = (ph_mock_instance *)&inst;
    assert_int_not_equal(ph_mock_init(ph_plugin_entry(), s, &inst), 0);
    assert_null(inst);
    if (ph_mock_log_find(PH_LOG_ERROR, needle) < 1)
        fail_msg("no error logged containing \"%s\"", needle);
    char where[128];
    snprintf(where, sizeof where, "route %s", route);
    if (ph_mock_log_find(PH_LOG_ERROR, where) < 1)
        fail_msg("no error logged naming \"%s\"", where);
    ph_mock_settings_free(s);
    ph_mock_reset();
}

/* Assert the plugin under test refuses an ABI 1.0 host (a table ending
 * before path_param) for `route`, logging that it needs ABI 1.1. */
static inline void mock_assert_refuses_a_1_0_host(const char *route)
{
    ph_host_api old = *ph_mock_api();
    old.struct_size = offsetof(ph_host_api, path_param);
    ph_settings *s = ph_mock_settings_new(route, NULL);
    ph_mock_instance *inst;
    assert_int_not_equal(ph_mock_init_with_api(&old, ph_plugin_entry(), s, &inst), 0);
    assert_int_equal(ph_mock_log_find(PH_LOG_ERROR, "ABI 1.1"), 1);
    ph_mock_settings_free(s);
}

/* Assert the plugin under test refuses an ABI 1.4 host (a table ending
 * before add_header_n) for `route`, logging once that it needs ABI 1.5
 * and naming the route. */
static inline void mock_assert_refuses_a_1_4_host(const char *route)
{
    ph_host_api old = *ph_mock_api();
    old.struct_size = offsetof(ph_host_api, add_header_n);
    ph_settings *s = ph_mock_settings_new(route, NULL);
    ph_mock_instance *inst = (ph_mock_instance *)&inst;
    assert_int_not_equal(ph_mock_init_with_api(&old, ph_plugin_entry(), s, &inst), 0);
    assert_null(inst);
    assert_int_equal(ph_mock_log_find(PH_LOG_ERROR, "needs SDK ABI 1.5"), 1);
    char where[128];
    snprintf(where, sizeof where, "route %s: the host lacks add_header_n", route);
    assert_int_equal(ph_mock_log_find(PH_LOG_ERROR, where), 1);
    ph_mock_settings_free(s);
    ph_mock_reset();
}

/* Assert `req` completed once with 200, Content-Type application/json and
 * the one-key object {`key`: `expect`}. */
static inline void mock_assert_json_reply(ph_request *req, const char *key, const char *expect)
{
    assert_true(ph_mock_responded(req));
    assert_int_equal(ph_mock_complete_calls(req), 1);
    assert_int_equal(ph_mock_response_status(req), 200);
    assert_string_equal(ph_mock_response_header(req, "Content-Type"), "application/json");
    cJSON *json = ph_mock_response_json(req);
    assert_non_null(json);
    assert_int_equal(cJSON_GetArraySize(json), 1);
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(json, key);
    assert_true(cJSON_IsString(value));
    assert_string_equal(value->valuestring, expect);
    cJSON_Delete(json);
}

#endif
