/* test_watchdog.c - server/watchdog.c: slow plugin callbacks on the loop
 * and loop lag. stderr is captured into a temporary file. */
#include "watchdog.h"

#include "router.h"
#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <string.h>

static char *dir;
static int saved_stderr = -1;

static int group_setup(void **state)
{
    (void)state;
    dir = ut_mkdtemp("ph-unit-watchdog");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ut_rmtree(dir);
    free(dir);
    return 0;
}

static int restore_threshold(void **state)
{
    (void)state;
    ph_watchdog_set_threshold(100);
    return 0;
}

static void capture_begin(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/stderr", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    saved_stderr = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

static char *capture_end(void)
{
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    char path[4200];
    snprintf(path, sizeof path, "%s/stderr", dir);
    char *text = ut_read_file(path, NULL);
    assert_non_null(text);
    return text;
}

static const ph_plugin desc = {PH_ABI_VERSION, sizeof(ph_plugin), "blocker", "1", PH_MODE_ASYNC, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
static ph_plugin_lib lib = {.path = (char *)"/x/blocker.so", .desc = &desc, .refs = 1};
static ph_instance inst = {.lib = &lib, .refs = 1};
static ph_route route = {.path = (char *)"/block", .path_len = 6, .instance = &inst};

/* End a plugin call on `route` as if it had begun `ms` milliseconds ago. */
static void end_call_started_ago(uint64_t ms, const ph_route *r, const char *what)
{
    ph_plugin_call call = ph_watchdog_begin(r, what);
    call.started -= ms * 1000000u;
    ph_watchdog_end(&call);
}

/* The report names the route and plugin from the call's crash mark. */
static void callback_over_threshold_is_counted_and_logged_with_route_and_plugin(void **state)
{
    (void)state;
    ph_watchdog_set_threshold(5);
    uint64_t before = ph_watchdog_lag().slow_callbacks;
    capture_begin();
    end_call_started_ago(40, &route, "timer callback");
    char *text = capture_end();
    assert_null(ph_crash_current); /* the slow call's mark is left too (it was reported from its site) */
    assert_int_equal(ph_watchdog_lag().slow_callbacks, before + 1);
    const char *want = "[warn] route /block (plugin blocker): timer callback held the event loop for ";
    if (!strstr(text, want) || !strstr(text, " ms (loop_warn 5 ms)"))
        fail_msg("log: '%s'", text);
    free(text);
}

static void callback_without_route_is_logged_by_what_it_was(void **state)
{
    (void)state;
    ph_watchdog_set_threshold(5);
    capture_begin();
    end_call_started_ago(40, NULL, "offload done callback");
    char *text = capture_end();
    if (!strstr(text, "[warn] offload done callback held the event loop for "))
        fail_msg("log: '%s'", text);
    free(text);
}

static void callback_under_threshold_is_neither_counted_nor_logged(void **state)
{
    (void)state;
    ph_watchdog_set_threshold(1000);
    uint64_t before = ph_watchdog_lag().slow_callbacks;
    capture_begin();
    end_call_started_ago(40, &route, "handle()");
    char *text = capture_end();
    assert_int_equal(ph_watchdog_lag().slow_callbacks, before);
    assert_string_equal(text, "");
    free(text);
}

static void threshold_zero_never_warns(void **state)
{
    (void)state;
    ph_watchdog_set_threshold(0);
    uint64_t before = ph_watchdog_lag().slow_callbacks;
    capture_begin();
    end_call_started_ago(5000, &route, "handle()");
    char *text = capture_end();
    assert_int_equal(ph_watchdog_lag().slow_callbacks, before);
    assert_string_equal(text, "");
    free(text);
}

static void the_clock_is_as_fine_as_the_threshold_needs(void **state)
{
    (void)state;
    const uint64_t tick = 4000000; /* a coarse clock of 4 ms (HZ=250) */
    assert_int_equal(ph_watchdog_pick_clock(0, tick), PH_WATCHDOG_NO_CLOCK);
    assert_int_equal(ph_watchdog_pick_clock(100, tick), CLOCK_MONOTONIC_COARSE);
    assert_int_equal(ph_watchdog_pick_clock(40, tick), CLOCK_MONOTONIC_COARSE);
    assert_int_equal(ph_watchdog_pick_clock(39, tick), CLOCK_MONOTONIC);
    assert_int_equal(ph_watchdog_pick_clock(1, tick), CLOCK_MONOTONIC);
    assert_int_equal(ph_watchdog_pick_clock(1000, 0), CLOCK_MONOTONIC); /* no coarse clock */
}

static void a_slow_callback_timed_by_the_coarse_clock_is_counted(void **state)
{
    (void)state;
    ph_watchdog_set_threshold(1000); /* the coarse clock wherever its tick is under 100 ms */
    uint64_t before = ph_watchdog_lag().slow_callbacks;
    capture_begin();
    end_call_started_ago(1500, &route, "handle()");
    char *text = capture_end();
    assert_int_equal(ph_watchdog_lag().slow_callbacks, before + 1);
    if (!strstr(text, " ms (loop_warn 1000 ms)"))
        fail_msg("log: '%s'", text);
    free(text);
}

static void a_reading_of_the_watchdogs_clock_is_shared_and_no_other(void **state)
{
    (void)state;
    ph_watchdog_set_threshold(1); /* CLOCK_MONOTONIC */
    assert_int_equal(ph_watchdog_current.clock, CLOCK_MONOTONIC);
    assert_int_equal(ph_watchdog_clock_ns_from(CLOCK_MONOTONIC, 42), 42);
    uint64_t before = ph_watchdog_clock_ns();
    uint64_t own = ph_watchdog_clock_ns_from(CLOCK_MONOTONIC_COARSE, 42); /* another clock's: read anew */
    assert_true(own >= before);
    ph_watchdog_set_threshold(0); /* no clock: never a shared reading */
    assert_int_equal(ph_watchdog_clock_ns_from(CLOCK_MONOTONIC, 42), 0);
    assert_int_equal(ph_watchdog_clock_ns_from(CLOCK_MONOTONIC_COARSE, 42), 0);
}

static void block_loop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    usleep(350 * 1000);
}

static void lag_probe_measures_a_blocked_loop(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    assert_int_equal(ph_watchdog_setup(base), 0);
    struct event *blocker = evtimer_new(base, block_loop, NULL);
    struct timeval soon = {0, 20000};
    evtimer_add(blocker, &soon);
    struct timeval run = {0, 700000};
    event_base_loopexit(base, &run);
    event_base_dispatch(base);
    ph_loop_lag lag = ph_watchdog_lag();
    /* the 100 ms probe was due ~80 ms into a 350 ms block */
    if (lag.max_ms < 150)
        fail_msg("max lag %.1f ms after blocking the loop for 350 ms", lag.max_ms);
    assert_true(lag.last_ms <= lag.max_ms);
    event_free(blocker);
    ph_watchdog_shutdown();
    event_base_free(base);
}

static void a_plugin_call_marks_the_thread_for_the_crash_handler_until_it_ends(void **state)
{
    (void)state;
    assert_null(ph_crash_current);
    ph_plugin_call call = ph_watchdog_begin(&route, "timer callback");
    assert_ptr_equal(ph_crash_current->lib, &lib);
    assert_string_equal(ph_crash_current->route, "/block");
    assert_string_equal(ph_crash_current->what, "timer callback");
    ph_watchdog_end(&call);
    assert_null(ph_crash_current);
}

int main(void)
{
#define T(name) cmocka_unit_test_teardown(name, restore_threshold)
    const struct CMUnitTest tests[] = {
        T(a_plugin_call_marks_the_thread_for_the_crash_handler_until_it_ends),
        T(callback_over_threshold_is_counted_and_logged_with_route_and_plugin),
        T(callback_without_route_is_logged_by_what_it_was),
        T(callback_under_threshold_is_neither_counted_nor_logged),
        T(threshold_zero_never_warns),
        T(the_clock_is_as_fine_as_the_threshold_needs),
        T(a_slow_callback_timed_by_the_coarse_clock_is_counted),
        T(a_reading_of_the_watchdogs_clock_is_shared_and_no_other),
        T(lag_probe_measures_a_blocked_loop),
    };
#undef T
    return cmocka_run_group_tests_name("watchdog", tests, group_setup, group_teardown);
}
