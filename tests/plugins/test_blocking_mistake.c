/* test_blocking_mistake.c - the deliberately wrong blocking_mistake plugin
 * (plugins/blocking_mistake/blocking_mistake.c) through the mock host: it
 * really blocks the calling (loop) thread for at least `seconds` inside
 * handle() and then answers at once. Only lower bounds on time: a loaded
 * machine may sleep longer, never shorter. */
#define _POSIX_C_SOURCE 200809L

#include "mock_fixture.h"

#include <cjson/cJSON.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Handle one GET with `seconds` (NULL: default); assert it blocked at
 * least `min_s` inside handle() and answered `message` with PH_OK. */
static void assert_blocks_then_says(const char *seconds, double min_s, const char *message)
{
    ph_settings *s;
    ph_mock_instance *inst = mock_load(&s, "/blocking", "seconds", seconds, NULL);
    ph_request *req = ph_mock_request_new("GET", "/blocking");

    double t0 = now_s();
    assert_int_equal(ph_mock_handle(inst, req), PH_OK);
    double blocked = now_s() - t0;
    if (blocked < min_s)
        fail_msg("blocked %.3f s, expected at least %.3f s", blocked, min_s);

    assert_int_equal(ph_mock_complete_calls(req), 0);
    assert_int_equal(ph_mock_response_status(req), 200);
    cJSON *json = ph_mock_response_json(req);
    assert_non_null(json);
    assert_string_equal(cJSON_GetObjectItem(json, "message")->valuestring, message);
    cJSON_Delete(json);
    assert_int_equal(ph_mock_timers_pending(NULL), 0); /* no loop primitive: it blocked */

    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void blocking_mistake_declares_itself_async(void **state)
{
    (void)state;
    /* async on purpose: the mistake is blocking on the loop */
    assert_int_equal(ph_plugin_entry()->mode, PH_MODE_ASYNC);
    assert_string_equal(ph_plugin_entry()->name, "blocking_mistake");
}

static void blocking_mistake_blocks_the_default_0_2_seconds(void **state)
{
    (void)state;
    assert_blocks_then_says(NULL, 0.2, "blocked the event loop for 0.2 seconds");
}

static void blocking_mistake_blocks_the_configured_time(void **state)
{
    (void)state;
    assert_blocks_then_says("0.05", 0.05, "blocked the event loop for 0.05 seconds");
}

static void blocking_mistake_zero_seconds_answers_at_once(void **state)
{
    (void)state;
    assert_blocks_then_says("0", 0.0, "blocked the event loop for 0 seconds");
}

static void assert_init_refuses(const char *value, const char *needle)
{
    mock_assert_init_refuses(needle, "/blocking", "seconds", value, NULL);
}

static void blocking_mistake_init_refuses_bad_seconds(void **state)
{
    (void)state;
    assert_init_refuses("abc", "not a number");
    assert_init_refuses("0.2s", "not a number");
    assert_init_refuses("-1", "out of range");
    assert_init_refuses("61", "out of range");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        MOCK_TEST(blocking_mistake_declares_itself_async),
        MOCK_TEST(blocking_mistake_blocks_the_default_0_2_seconds),
        MOCK_TEST(blocking_mistake_blocks_the_configured_time),
        MOCK_TEST(blocking_mistake_zero_seconds_answers_at_once),
        MOCK_TEST(blocking_mistake_init_refuses_bad_seconds),
    };
    return cmocka_run_group_tests_name("plugin blocking_mistake", tests, NULL, NULL);
}
