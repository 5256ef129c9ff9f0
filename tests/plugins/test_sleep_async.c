/* test_sleep_async.c - plugins/sleep_async/sleep_async.c through the mock
 * host, on its virtual clock: no test here waits for real time. */
#include "mock_fixture.h"

#include <cjson/cJSON.h>
#include <string.h>

/* sleep_async on /async with `seconds` (absent when NULL). */
static ph_mock_instance *load(ph_settings **s, const char *seconds)
{
    *s = seconds ? ph_mock_settings_new("/async", "seconds", seconds, NULL)
                 : ph_mock_settings_new("/async", NULL);
    assert_non_null(*s);
    ph_mock_instance *inst = NULL;
    assert_int_equal(ph_mock_init(ph_plugin_entry(), *s, &inst), 0);
    return inst;
}

/* A GET that handle() left pending. */
static ph_request *start(ph_mock_instance *inst)
{
    ph_request *req = ph_mock_request_new("GET", "/async");
    assert_non_null(req);
    assert_int_equal(ph_mock_handle(inst, req), PH_PENDING);
    assert_false(ph_mock_responded(req));
    return req;
}

/* Serve one request with `seconds`; assert the timer is exactly `ms` long
 * and the answer is `expect`. */
static void assert_waits_then_says(const char *seconds, uint64_t ms, const char *expect)
{
    ph_settings *s;
    ph_mock_instance *inst = load(&s, seconds);
    ph_request *req = start(inst);

    ph_mock_timer_info info;
    assert_int_equal(ph_mock_timer_list(&info, 1), 1);
    assert_int_equal(info.delay_ms, ms);
    assert_ptr_equal(info.req, req);

    if (ms > 0) {
        ph_mock_run_timers(ms - 1);
        assert_false(ph_mock_responded(req));
        assert_int_equal(ph_mock_complete_calls(req), 0);
    }
    assert_int_equal(ph_mock_run_timers(1), 1);
    mock_assert_json_reply(req, "message", expect);

    ph_mock_request_free(req);
    ph_mock_fini(inst);
    ph_mock_settings_free(s);
}

static void sleep_async_declares_itself_async(void **state)
{
    (void)state;
    const ph_plugin *p = ph_plugin_entry();
    assert_string_equal(p->name, "sleep_async");
    assert_int_equal(p->mode, PH_MODE_ASYNC);
}

static void sleep_async_does_not_respond_until_the_timer_fires(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL);
    ph_request *req = start(inst);

    assert_int_equal(ph_mock_timers_pending(req), 1);
    assert_int_equal(ph_mock_run_timers(1999), 0);
    assert_false(ph_mock_responded(req));
    assert_int_equal(ph_mock_complete_calls(req), 0);
    assert_int_equal(ph_mock_response_body(req, NULL)[0], '\0');

    assert_int_equal(ph_mock_run_timers(1), 1);
    assert_int_equal(ph_mock_now_ms(), 2000);
    mock_assert_json_reply(req, "message", "Async response after 2 seconds");

    ph_mock_request_free(req);
    ph_mock_fini(inst);
    ph_mock_settings_free(s);
}

static void sleep_async_completes_exactly_once(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, "0.5");
    ph_request *req = start(inst);
    ph_mock_run_timers(500);
    assert_int_equal(ph_mock_complete_calls(req), 1);
    /* nothing left to fire, however long we wait */
    assert_int_equal(ph_mock_timers_pending(NULL), 0);
    assert_int_equal(ph_mock_run_timers(60000), 0);
    assert_int_equal(ph_mock_complete_calls(req), 1);
    ph_mock_request_free(req);
    ph_mock_fini(inst);
    ph_mock_settings_free(s);
}

static void sleep_async_defaults_to_2000_ms_printed_as_2(void **state)
{
    (void)state;
    assert_waits_then_says(NULL, 2000, "Async response after 2 seconds");
}

static void sleep_async_prints_half_a_second_as_0_5(void **state)
{
    (void)state;
    assert_waits_then_says("0.5", 500, "Async response after 0.5 seconds");
}

static void sleep_async_prints_0_3_seconds_as_0_3(void **state)
{
    (void)state;
    assert_waits_then_says("0.3", 300, "Async response after 0.3 seconds");
}

static void sleep_async_zero_seconds_completes_on_next_loop_turn(void **state)
{
    (void)state;
    assert_waits_then_says("0", 0, "Async response after 0 seconds");
}

static void sleep_async_serves_overlapping_requests_independently(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, "1");
    ph_request *a = start(inst);
    ph_mock_run_timers(400);
    ph_request *b = start(inst); /* due at 1400 */
    assert_int_equal(ph_mock_timers_pending(NULL), 2);

    assert_int_equal(ph_mock_run_timers(600), 1); /* t = 1000 */
    mock_assert_json_reply(a, "message", "Async response after 1 seconds");
    assert_false(ph_mock_responded(b));

    assert_int_equal(ph_mock_run_timers(400), 1); /* t = 1400 */
    mock_assert_json_reply(b, "message", "Async response after 1 seconds");

    ph_mock_request_free(a);
    ph_mock_request_free(b);
    ph_mock_fini(inst);
    ph_mock_settings_free(s);
}

static void sleep_async_answers_500_at_once_when_timer_start_fails(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL);
    ph_request *req = ph_mock_request_new("GET", "/async");
    ph_mock_fail_next(PH_MOCK_FAULT_TIMER_START, 1);

    assert_int_equal(ph_mock_handle(inst, req), PH_OK);
    assert_true(ph_mock_responded(req));
    assert_int_equal(ph_mock_complete_calls(req), 0);
    assert_int_equal(ph_mock_response_status(req), 500);
    cJSON *json = ph_mock_response_json(req);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(json, "error")));
    cJSON_Delete(json);
    assert_true(ph_mock_log_find(PH_LOG_ERROR, "timer") >= 1);

    ph_mock_request_free(req);
    ph_mock_fini(inst);
    ph_mock_settings_free(s);
}

static void sleep_async_answers_500_when_the_response_cannot_be_built(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, "0.1");
    ph_request *req = start(inst);
    ph_mock_fail_next(PH_MOCK_FAULT_NOMEM, 1); /* respond_json fails */
    ph_mock_run_timers(100);
    assert_true(ph_mock_responded(req));
    assert_int_equal(ph_mock_complete_calls(req), 1);
    assert_int_equal(ph_mock_response_status(req), 500);
    ph_mock_request_free(req);
    ph_mock_fini(inst);
    ph_mock_settings_free(s);
}

static void sleep_async_client_gone_before_timer_fires_nothing(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL);
    ph_request *req = start(inst);
    ph_mock_request_free(req); /* the host cancels the request's timers */
    assert_int_equal(ph_mock_timers_pending(NULL), 0);
    assert_int_equal(ph_mock_run_timers(5000), 0);
    ph_mock_fini(inst);
    ph_mock_settings_free(s);
}

/* Assert init refuses `seconds` = `value` and logs an error naming it. */
static void assert_init_refuses(const char *value)
{
    ph_settings *s = ph_mock_settings_new("/async", "seconds", value, NULL);
    ph_mock_instance *inst = NULL;
    assert_int_not_equal(ph_mock_init(ph_plugin_entry(), s, &inst), 0);
    assert_null(inst);
    assert_true(ph_mock_log_find(PH_LOG_ERROR, "seconds") >= 1);
    assert_true(ph_mock_log_find(PH_LOG_ERROR, "/async") >= 1);
    ph_mock_settings_free(s);
}

static void sleep_async_init_refuses_a_non_number(void **state)
{
    (void)state;
    assert_init_refuses("abc");
    assert_true(ph_mock_log_find(PH_LOG_ERROR, "abc") >= 1);
}

static void sleep_async_init_refuses_negative_seconds(void **state)
{
    (void)state;
    assert_init_refuses("-0.5");
    assert_true(ph_mock_log_find(PH_LOG_ERROR, "out of range") >= 1);
}

static void sleep_async_init_refuses_empty_trailing_junk_and_huge(void **state)
{
    (void)state;
    assert_init_refuses("");
    assert_init_refuses("2s");
    assert_init_refuses("inf");
    assert_init_refuses("1e9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        MOCK_TEST(sleep_async_declares_itself_async),
        MOCK_TEST(sleep_async_does_not_respond_until_the_timer_fires),
        MOCK_TEST(sleep_async_completes_exactly_once),
        MOCK_TEST(sleep_async_defaults_to_2000_ms_printed_as_2),
        MOCK_TEST(sleep_async_prints_half_a_second_as_0_5),
        MOCK_TEST(sleep_async_prints_0_3_seconds_as_0_3),
        MOCK_TEST(sleep_async_zero_seconds_completes_on_next_loop_turn),
        MOCK_TEST(sleep_async_serves_overlapping_requests_independently),
        MOCK_TEST(sleep_async_answers_500_at_once_when_timer_start_fails),
        MOCK_TEST(sleep_async_answers_500_when_the_response_cannot_be_built),
        MOCK_TEST(sleep_async_client_gone_before_timer_fires_nothing),
        MOCK_TEST(sleep_async_init_refuses_a_non_number),
        MOCK_TEST(sleep_async_init_refuses_negative_seconds),
        MOCK_TEST(sleep_async_init_refuses_empty_trailing_junk_and_huge),
    };
    return cmocka_run_group_tests_name("plugin sleep_async", tests, NULL, NULL);
}
