/* test_sse_clock.c - the sse_clock plugin (plugins/sse_clock/sse_clock.c)
 * through the mock host: the event-stream headers, one correctly framed
 * event per tick of the virtual clock, pausing on back-pressure and
 * resuming on drain, the end after `count`, and a clean stop when the
 * client leaves. */
#define _POSIX_C_SOURCE 200809L

#include "mock_fixture.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Load sse_clock with optional `interval` and `count` (NULL: absent). */
static ph_mock_instance *load(ph_settings **s, const char *interval, const char *count)
{
    return mock_load(s, "/clock", "interval", interval, "count", count, NULL);
}

static ph_request *start(ph_mock_instance *inst)
{
    ph_request *req = ph_mock_request_new("GET", "/clock");
    assert_int_equal(ph_mock_handle(inst, req), PH_PENDING);
    assert_true(ph_mock_stream_begun(req));
    return req;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Assert `ev` (one event, up to its blank line) is
 *     id: <id>\ndata: YYYY-MM-DDTHH:MM:SS.mmmZ\n\n
 * with a time within a minute of now. Returns the event's length. */
static size_t assert_event(const char *ev, unsigned long id)
{
    char head[32];
    int hlen = snprintf(head, sizeof head, "id: %lu\ndata: ", id);
    if (strncmp(ev, head, (size_t)hlen) != 0)
        fail_msg("event %lu starts with \"%.20s\"", id, ev);
    const char *t = ev + hlen;
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ\n\n";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        int ok = shape[i] == 'd' ? (t[i] >= '0' && t[i] <= '9') : t[i] == shape[i];
        if (!ok)
            fail_msg("event %lu: bad time \"%.26s\" at %zu", id, t, i);
    }
    long y = atol(t), mo = atol(t + 5), d = atol(t + 8);
    long h = atol(t + 11), mi = atol(t + 14), s = atol(t + 17);
    assert_in_range(mo, 1, 12);
    assert_in_range(d, 1, 31);
    assert_in_range(h, 0, 23);
    long epoch = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    long now = (long)time(NULL);
    assert_in_range(epoch, now - 60, now + 60); /* UTC, not local time */
    return (size_t)hlen + sizeof shape - 1;
}

/* Assert the streamed body is exactly events first..last, in order. */
static void assert_events(ph_request *req, unsigned long first, unsigned long last)
{
    size_t len;
    const char *body = ph_mock_response_body(req, &len);
    size_t at = 0;
    for (unsigned long id = first; id <= last; id++)
        at += assert_event(body + at, id);
    assert_int_equal(at, len);
}

static void sse_clock_declares_itself_async(void **state)
{
    (void)state;
    assert_int_equal(ph_plugin_entry()->mode, PH_MODE_ASYNC);
    assert_string_equal(ph_plugin_entry()->name, "sse_clock");
}

static void sse_clock_sends_event_stream_headers_and_ticks_every_second(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL, NULL);
    ph_request *req = start(inst);
    assert_int_equal(ph_mock_response_status(req), 200);
    assert_string_equal(ph_mock_response_header(req, "Content-Type"), "text/event-stream");
    assert_string_equal(ph_mock_response_header(req, "Cache-Control"), "no-cache");
    assert_string_equal(ph_mock_response_body(req, NULL), ""); /* nothing before the tick */
    ph_mock_timer_info t;
    assert_int_equal(ph_mock_timer_list(&t, 1), 1);
    assert_true(t.repeat);
    assert_int_equal(t.delay_ms, 1000);
    assert_int_equal(ph_mock_run_timers(999), 0);
    assert_int_equal(ph_mock_run_timers(1), 1);
    assert_events(req, 1, 1);
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void sse_clock_emits_one_framed_event_per_tick(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, "100ms", NULL);
    ph_request *req = start(inst);
    assert_int_equal(ph_mock_run_timers(100), 1);
    assert_events(req, 1, 1);
    assert_int_equal(ph_mock_run_timers(450), 4);
    assert_events(req, 1, 5);
    assert_int_equal(ph_mock_stream_writes(req), 5);
    assert_false(ph_mock_stream_ended(req)); /* unlimited */
    assert_false(ph_mock_responded(req));
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void sse_clock_reads_the_interval_as_a_duration(void **state)
{
    (void)state;
    static const struct {
        const char *setting;
        uint64_t ms;
    } cases[] = {{"250ms", 250}, {"2", 2000}, {"0.5s", 500}, {"10ms", 10}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ph_settings *s;
        ph_mock_instance *inst = load(&s, cases[i].setting, NULL);
        ph_request *req = start(inst);
        ph_mock_timer_info t;
        ph_mock_timer_list(&t, 1);
        assert_int_equal(t.delay_ms, cases[i].ms);
        ph_mock_request_free(req);
        mock_unload(inst, s);
    }
}

static void sse_clock_pauses_on_back_pressure_and_resumes_on_drain(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, "100ms", NULL);
    ph_mock_stream_set_high_water(60); /* one 38-byte event fits, two do not */
    ph_request *req = start(inst);
    ph_mock_run_timers(100);
    assert_int_equal(ph_mock_stream_writes(req), 1);
    ph_mock_run_timers(100); /* the second write passes the mark: returns 1 */
    assert_int_equal(ph_mock_stream_writes(req), 2);

    ph_mock_run_timers(1000); /* ten ticks skipped while the reader is behind */
    assert_int_equal(ph_mock_stream_writes(req), 2);
    assert_int_equal(ph_mock_timers_pending(req), 1); /* still ticking */

    assert_int_equal(ph_mock_stream_drain(req), 1); /* the drain callback ran */
    assert_int_equal(ph_mock_stream_writes(req), 2); /* it waits for the next tick */
    ph_mock_run_timers(100);
    assert_int_equal(ph_mock_stream_writes(req), 3);
    assert_events(req, 1, 3); /* ids count events sent, not ticks */
    /* no write after a 1 and before the drain: the fixture fails on misuse */
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void sse_clock_ends_the_stream_after_count_events(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, "10ms", "3");
    ph_request *req = start(inst);
    assert_int_equal(ph_mock_run_timers(1000), 3);
    assert_true(ph_mock_stream_ended(req));
    assert_true(ph_mock_responded(req));
    assert_int_equal(ph_mock_complete_calls(req), 1);
    assert_int_equal(ph_mock_timers_pending(NULL), 0);
    assert_events(req, 1, 3);
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void sse_clock_counts_only_events_sent_when_paused(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, "10ms", "2");
    ph_mock_stream_set_high_water(1); /* every write passes the mark */
    ph_request *req = start(inst);
    ph_mock_run_timers(500);
    assert_int_equal(ph_mock_stream_writes(req), 1);
    assert_false(ph_mock_stream_ended(req));
    ph_mock_stream_drain(req);
    ph_mock_run_timers(10);
    assert_true(ph_mock_stream_ended(req));
    assert_events(req, 1, 2);
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void sse_clock_stops_cleanly_when_the_client_leaves(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, "100ms", NULL);
    ph_request *req = start(inst);
    ph_mock_run_timers(200);
    assert_int_equal(ph_mock_abort(req), 0);
    assert_int_equal(ph_mock_abort_calls(req), 1);
    assert_int_equal(ph_mock_timers_pending(NULL), 0);
    assert_int_equal(ph_mock_run_timers(10000), 0);
    assert_int_equal(ph_mock_stream_writes(req), 2);
    assert_false(ph_mock_stream_ended(req));
    assert_int_equal(ph_mock_complete_calls(req), 0);
    ph_mock_request_free(req); /* the context was freed: the leak check says so */
    mock_unload(inst, s);
}

static void sse_clock_answers_500_when_the_timer_cannot_start(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL, NULL);
    ph_request *req = ph_mock_request_new("GET", "/clock");
    ph_mock_fail_next(PH_MOCK_FAULT_TIMER_START, 1);
    assert_int_equal(ph_mock_handle(inst, req), PH_ERROR);
    assert_false(ph_mock_stream_begun(req));
    assert_int_equal(ph_mock_response_status(req), 500);
    assert_true(ph_mock_log_find(PH_LOG_ERROR, "cannot start") >= 1);
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void assert_init_refuses(const char *interval, const char *count, const char *needle)
{
    mock_assert_init_refuses(needle, "/clock", "interval", interval, "count", count, NULL);
}

static void sse_clock_init_refuses_bad_settings(void **state)
{
    (void)state;
    assert_init_refuses("9ms", NULL, "out of range");
    assert_init_refuses("0", NULL, "out of range");
    assert_init_refuses("abc", NULL, "interval");
    assert_init_refuses("1 s", NULL, "not a duration");
    assert_init_refuses(NULL, "-1", "count");
    assert_init_refuses(NULL, "1.5", "count");
    assert_init_refuses(NULL, "many", "count");
}

static void sse_clock_init_refuses_a_host_without_streaming(void **state)
{
    (void)state;
    mock_assert_refuses_a_1_0_host("/clock");
}

/* Its literal headers go through add_header_n (ABI 1.5). */
static void sse_clock_init_refuses_a_host_without_add_header_n(void **state)
{
    (void)state;
    mock_assert_refuses_a_1_4_host("/clock");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        MOCK_TEST(sse_clock_declares_itself_async),
        MOCK_TEST(sse_clock_sends_event_stream_headers_and_ticks_every_second),
        MOCK_TEST(sse_clock_emits_one_framed_event_per_tick),
        MOCK_TEST(sse_clock_reads_the_interval_as_a_duration),
        MOCK_TEST(sse_clock_pauses_on_back_pressure_and_resumes_on_drain),
        MOCK_TEST(sse_clock_ends_the_stream_after_count_events),
        MOCK_TEST(sse_clock_counts_only_events_sent_when_paused),
        MOCK_TEST(sse_clock_stops_cleanly_when_the_client_leaves),
        MOCK_TEST(sse_clock_answers_500_when_the_timer_cannot_start),
        MOCK_TEST(sse_clock_init_refuses_bad_settings),
        MOCK_TEST(sse_clock_init_refuses_a_host_without_streaming),
        MOCK_TEST(sse_clock_init_refuses_a_host_without_add_header_n),
    };
    return cmocka_run_group_tests_name("plugin sse_clock", tests, NULL, NULL);
}
