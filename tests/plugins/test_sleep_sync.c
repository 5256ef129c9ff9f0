/* test_sleep_sync.c - plugins/sleep_sync/sleep_sync.c through the mock host.
 * Timing checks are lower bounds only: a loaded machine may sleep longer. */
#define _POSIX_C_SOURCE 200809L

#include "mock_fixture.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Init sleep_sync on /sync with `seconds` (absent when NULL), serve one
 * GET, check it answered 200 JSON {"message": `expect`}, and return the
 * wall-clock seconds handle() took. */
static double serve_once(const char *seconds, const char *expect)
{
    ph_settings *s = seconds ? ph_mock_settings_new("/sync", "seconds", seconds, NULL)
                             : ph_mock_settings_new("/sync", NULL);
    assert_non_null(s);
    ph_mock_instance *inst = NULL;
    assert_int_equal(ph_mock_init(ph_plugin_entry(), s, &inst), 0);

    ph_request *req = ph_mock_request_new("GET", "/sync");
    double t0 = now_s();
    assert_int_equal(ph_mock_handle(inst, req), PH_OK);
    double took = now_s() - t0;

    assert_int_equal(ph_mock_response_status(req), 200);
    assert_string_equal(ph_mock_response_header(req, "Content-Type"), "application/json");
    cJSON *json = ph_mock_response_json(req);
    assert_non_null(json);
    assert_int_equal(cJSON_GetArraySize(json), 1);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(json, "message");
    assert_true(cJSON_IsString(msg));
    assert_string_equal(msg->valuestring, expect);
    cJSON_Delete(json);

    ph_mock_request_free(req);
    ph_mock_fini(inst);
    ph_mock_settings_free(s);
    return took;
}

/* Assert init refuses `seconds` = `value` and logs an error naming it. */
static void assert_init_refuses(const char *value)
{
    ph_settings *s = ph_mock_settings_new("/sync", "seconds", value, NULL);
    ph_mock_instance *inst = NULL;
    assert_int_not_equal(ph_mock_init(ph_plugin_entry(), s, &inst), 0);
    assert_null(inst);
    assert_true(ph_mock_log_find(PH_LOG_ERROR, "seconds") >= 1);
    assert_true(ph_mock_log_find(PH_LOG_ERROR, "/sync") >= 1);
    ph_mock_settings_free(s);
}

static void sleep_sync_declares_itself_sync(void **state)
{
    (void)state;
    const ph_plugin *p = ph_plugin_entry();
    assert_string_equal(p->name, "sleep_sync");
    assert_int_equal(p->mode, PH_MODE_SYNC);
}

static void sleep_sync_blocks_at_least_the_configured_seconds(void **state)
{
    (void)state;
    double took = serve_once("0.05", "Sync response after 0.05 seconds");
    assert_true(took >= 0.05);
}

static void sleep_sync_defaults_to_2_seconds_printed_as_2(void **state)
{
    (void)state;
    double took = serve_once(NULL, "Sync response after 2 seconds");
    assert_true(took >= 2.0);
}

static void sleep_sync_prints_half_a_second_as_0_5(void **state)
{
    (void)state;
    double took = serve_once("0.5", "Sync response after 0.5 seconds");
    assert_true(took >= 0.5);
}

static void sleep_sync_prints_0_3_seconds_as_0_3(void **state)
{
    (void)state;
    double took = serve_once("0.3", "Sync response after 0.3 seconds");
    assert_true(took >= 0.3);
}

static void sleep_sync_zero_seconds_answers_at_once(void **state)
{
    (void)state;
    serve_once("0", "Sync response after 0 seconds");
}

static void sleep_sync_init_refuses_a_non_number(void **state)
{
    (void)state;
    assert_init_refuses("abc");
    assert_true(ph_mock_log_find(PH_LOG_ERROR, "abc") >= 1);
}

static void sleep_sync_init_refuses_negative_seconds(void **state)
{
    (void)state;
    assert_init_refuses("-1");
    assert_true(ph_mock_log_find(PH_LOG_ERROR, "out of range") >= 1);
}

static void sleep_sync_init_refuses_empty_trailing_junk_and_huge(void **state)
{
    (void)state;
    assert_init_refuses("");
    assert_init_refuses("2s");
    assert_init_refuses("nan");
    assert_init_refuses("1e9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        MOCK_TEST(sleep_sync_declares_itself_sync),
        MOCK_TEST(sleep_sync_blocks_at_least_the_configured_seconds),
        MOCK_TEST(sleep_sync_defaults_to_2_seconds_printed_as_2),
        MOCK_TEST(sleep_sync_prints_half_a_second_as_0_5),
        MOCK_TEST(sleep_sync_prints_0_3_seconds_as_0_3),
        MOCK_TEST(sleep_sync_zero_seconds_answers_at_once),
        MOCK_TEST(sleep_sync_init_refuses_a_non_number),
        MOCK_TEST(sleep_sync_init_refuses_negative_seconds),
        MOCK_TEST(sleep_sync_init_refuses_empty_trailing_junk_and_huge),
    };
    return cmocka_run_group_tests_name("plugin sleep_sync", tests, NULL, NULL);
}
