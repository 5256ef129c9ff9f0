/* test_request_timer.c - server/request_timer.c: one-shot and repeating
 * loop timers bound to a request. Run under ASan: several tests cancel a
 * timer, or end its request, from inside its own callback. */
#include "request_timer.h"

#include "request.h"
#include "request_life.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <time.h>

typedef struct fired {
    int count;
    ph_request *req;
    void *arg;
    int order[8];
} fired;

static fired log_;

static void on_fire(ph_request *req, void *arg)
{
    if (log_.count < 8)
        log_.order[log_.count] = (int)(intptr_t)arg;
    log_.count++;
    log_.req = req;
    log_.arg = arg;
}

static int setup(void **state)
{
    struct event_base *base = event_base_new();
    if (!base)
        return -1;
    ph_request_timer_setup(base);
    log_ = (fired){0};
    *state = base;
    return 0;
}

static int teardown(void **state)
{
    ph_request_timer_setup(NULL);
    ph_request_free_cache();
    event_base_free(*state);
    return 0;
}

static void run_for_ms(struct event_base *base, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void timer_fires_once_with_request_and_arg_and_unlinks_itself(void **state)
{
    ph_request *req = ph_request_new();
    assert_non_null(ph_request_timer_start(req, 1, false, on_fire, (void *)(intptr_t)7));
    assert_non_null(req->timers);
    run_for_ms(*state, 30);
    assert_int_equal(log_.count, 1);
    assert_ptr_equal(log_.req, req);
    assert_ptr_equal(log_.arg, (void *)(intptr_t)7);
    assert_null(req->timers);
    run_for_ms(*state, 10);
    assert_int_equal(log_.count, 1);
    ph_life_discard(req);
}

static void timers_fire_in_deadline_order(void **state)
{
    ph_request *req = ph_request_new();
    assert_non_null(ph_request_timer_start(req, 40, false, on_fire, (void *)(intptr_t)3));
    assert_non_null(ph_request_timer_start(req, 1, false, on_fire, (void *)(intptr_t)1));
    assert_non_null(ph_request_timer_start(req, 20, false, on_fire, (void *)(intptr_t)2));
    run_for_ms(*state, 150);
    assert_int_equal(log_.count, 3);
    assert_int_equal(log_.order[0], 1);
    assert_int_equal(log_.order[1], 2);
    assert_int_equal(log_.order[2], 3);
    ph_life_discard(req);
}

static void cancelled_timer_never_fires_and_others_still_do(void **state)
{
    ph_request *req = ph_request_new();
    ph_timer *a = ph_request_timer_start(req, 1, false, on_fire, (void *)(intptr_t)1);
    ph_timer *b = ph_request_timer_start(req, 1, false, on_fire, (void *)(intptr_t)2);
    assert_non_null(a);
    assert_non_null(b);
    ph_request_timer_cancel(a);
    run_for_ms(*state, 30);
    assert_int_equal(log_.count, 1);
    assert_int_equal(log_.order[0], 2);
    assert_null(req->timers);
    ph_request_timer_cancel(NULL);
    ph_life_discard(req);
}

static void cancel_all_stops_every_pending_timer(void **state)
{
    ph_request *req = ph_request_new();
    for (int i = 0; i < 3; i++)
        assert_non_null(ph_request_timer_start(req, 1, false, on_fire, NULL));
    ph_request_timer_cancel_all(req);
    assert_null(req->timers);
    run_for_ms(*state, 30);
    assert_int_equal(log_.count, 0);
    ph_life_discard(req);
}

static void timer_start_refuses_missing_request_callback_or_base(void **state)
{
    (void)state;
    ph_request *req = ph_request_new();
    assert_null(ph_request_timer_start(NULL, 1, false, on_fire, NULL));
    assert_null(ph_request_timer_start(req, 1, false, NULL, NULL));
    ph_request_timer_setup(NULL);
    assert_null(ph_request_timer_start(req, 1, false, on_fire, NULL));
    assert_null(req->timers);
    ph_life_discard(req);
}

/* ---- repeating timers ---- */

static void timer_repeat_fires_every_period_until_cancelled(void **state)
{
    ph_request *req = ph_request_new();
    ph_timer *t = ph_request_timer_start(req, 5, true, on_fire, (void *)(intptr_t)9);
    assert_non_null(t);
    run_for_ms(*state, 150);
    int fired = log_.count;
    assert_true(fired >= 3);
    assert_ptr_equal(req->timers, t); /* still pending */
    ph_request_timer_cancel(t);
    assert_null(req->timers);
    run_for_ms(*state, 30);
    assert_int_equal(log_.count, fired);
    ph_life_discard(req);
}

static void timer_repeat_with_zero_period_is_refused(void **state)
{
    (void)state;
    ph_request *req = ph_request_new();
    assert_null(ph_request_timer_start(req, 0, true, on_fire, NULL));
    assert_null(req->timers);
    ph_life_discard(req);
}

static ph_timer *self_timer;
static int self_calls;

static void cancel_self(ph_request *req, void *arg)
{
    (void)req;
    (void)arg;
    self_calls++;
    ph_request_timer_cancel(self_timer);
    ph_request_timer_cancel(self_timer); /* twice is tolerated */
}

static void timer_repeat_cancelled_inside_its_callback_stops(void **state)
{
    ph_request *req = ph_request_new();
    self_calls = 0;
    self_timer = ph_request_timer_start(req, 2, true, cancel_self, NULL);
    assert_non_null(self_timer);
    run_for_ms(*state, 40);
    assert_int_equal(self_calls, 1);
    assert_null(req->timers);
    ph_life_discard(req);
}

static void timer_one_shot_cancelled_inside_its_callback_is_harmless(void **state)
{
    ph_request *req = ph_request_new();
    self_calls = 0;
    self_timer = ph_request_timer_start(req, 1, false, cancel_self, NULL);
    assert_non_null(self_timer);
    assert_non_null(ph_request_timer_start(req, 30, false, on_fire, NULL)); /* another one stays */
    run_for_ms(*state, 10);
    assert_int_equal(self_calls, 1);
    assert_non_null(req->timers);
    assert_ptr_not_equal(req->timers, self_timer);
    run_for_ms(*state, 50);
    assert_int_equal(log_.count, 1);
    ph_life_discard(req);
}

static void release_request(ph_request *req, void *arg)
{
    (void)arg;
    self_calls++;
    ph_life_discard(req); /* the request ends from its own timer */
}

static void request_ended_inside_a_repeating_timer_callback_stops_it(void **state)
{
    ph_request *req = ph_request_new();
    self_calls = 0;
    assert_non_null(ph_request_timer_start(req, 2, true, release_request, NULL));
    assert_non_null(ph_request_timer_start(req, 6, true, on_fire, NULL)); /* due later */
    run_for_ms(*state, 40);
    assert_int_equal(self_calls, 1);
    assert_int_equal(log_.count, 0); /* the sibling went with the request */
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(timer_fires_once_with_request_and_arg_and_unlinks_itself),
        T(timers_fire_in_deadline_order),
        T(cancelled_timer_never_fires_and_others_still_do),
        T(cancel_all_stops_every_pending_timer),
        T(timer_start_refuses_missing_request_callback_or_base),
        T(timer_repeat_fires_every_period_until_cancelled),
        T(timer_repeat_with_zero_period_is_refused),
        T(timer_repeat_cancelled_inside_its_callback_stops),
        T(timer_one_shot_cancelled_inside_its_callback_is_harmless),
        T(request_ended_inside_a_repeating_timer_callback_stops_it),
    };
#undef T
    return cmocka_run_group_tests_name("request_timer", tests, NULL, NULL);
}
