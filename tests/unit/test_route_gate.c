/* test_route_gate.c - server/route_gate.c: places under max_inflight, the
 * FIFO queue and its bound, promotion (at once without a loop, from a loop
 * event with one), taking a request out of the middle of the queue, and a
 * route's own pool shared with the next generation only when its settings
 * are unchanged. */
#include "route_gate.h"

#include "request.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <string.h>

/* What the promotion started, in order; each takes a place in `gate`
 * as dispatch's start does (through ph_life_run). */
static ph_request *started[16];
static int nstarted;
static ph_route_gate *gate;

static void start(ph_request *req)
{
    assert_true(nstarted < 16);
    started[nstarted++] = req;
    ph_gate_enter(gate);
}

static int setup(void **state)
{
    (void)state;
    nstarted = 0;
    memset(started, 0, sizeof started);
    return ph_gates_setup(NULL, start);
}

static int teardown(void **state)
{
    (void)state;
    ph_gates_shutdown();
    return 0;
}

static ph_route_gate *limited(int max_inflight, int queue)
{
    ph_route_gate *g = ph_gate_create();
    assert_non_null(g);
    g->limits.max_inflight = max_inflight;
    g->limits.queue = queue;
    gate = g;
    return g;
}

static void a_gate_without_limits_always_has_room(void **state)
{
    (void)state;
    ph_route_gate *g = ph_gate_create();
    assert_ptr_equal(g->board, &ph_gate_unboarded); /* (no board here) */
    assert_false(ph_gate_limited(g));
    for (int i = 0; i < 100; i++)
        ph_gate_enter(g);
    assert_true(ph_gate_has_room(g));
    assert_int_equal(g->inflight, 100);
    for (int i = 0; i < 100; i++)
        ph_gate_leave(g);
    assert_int_equal(g->inflight, 0);
    assert_null(ph_gate_pool(g));
    ph_gate_free(g);
}

/* Two places, a queue of two: the queued ones start in arrival order as
 * places come free; a third waiting request is refused and counted. */
static void waiting_requests_start_in_order_as_places_free(void **state)
{
    (void)state;
    ph_route_gate *g = limited(2, 2);
    ph_request a = {0}, b = {0}, c = {0};
    ph_gate_enter(g);
    ph_gate_enter(g);
    assert_false(ph_gate_has_room(g));
    assert_int_equal(ph_gate_queue(g, &a), 0);
    assert_int_equal(ph_gate_queue(g, &b), 0);
    assert_int_equal(ph_gate_queue(g, &c), -1); /* full */
    assert_int_equal(g->rejected, 1);
    assert_int_equal(g->queued, 2);
    assert_int_equal(nstarted, 0);
    ph_gate_leave(g); /* a place: the oldest starts */
    assert_int_equal(nstarted, 1);
    assert_ptr_equal(started[0], &a);
    assert_int_equal(g->queued, 1);
    assert_int_equal(g->inflight, 2); /* a took the place */
    ph_gate_leave(g);
    assert_int_equal(nstarted, 2);
    assert_ptr_equal(started[1], &b);
    assert_int_equal(g->queued, 0);
    assert_null(g->head);
    ph_gate_leave(g);
    ph_gate_leave(g);
    assert_int_equal(g->inflight, 0);
    assert_int_equal(nstarted, 2);
    ph_gate_free(g);
}

/* A request that times out or whose client leaves is taken out of the
 * middle of the queue; the order of the others stays. */
static void unqueue_takes_a_request_out_of_the_middle(void **state)
{
    (void)state;
    ph_route_gate *g = limited(1, 8);
    ph_request r[4];
    memset(r, 0, sizeof r);
    ph_gate_enter(g);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ph_gate_queue(g, &r[i]), 0);
    ph_gate_unqueue(g, &r[1]);
    ph_gate_unqueue(g, &r[3]); /* the tail */
    ph_gate_unqueue(g, &r[3]); /* not queued: nothing */
    assert_int_equal(g->queued, 2);
    ph_gate_leave(g);
    assert_int_equal(nstarted, 1);
    ph_gate_leave(g);
    assert_int_equal(nstarted, 2);
    assert_ptr_equal(started[0], &r[0]);
    assert_ptr_equal(started[1], &r[2]);
    ph_request late = {0};
    assert_int_equal(ph_gate_queue(g, &late), 0); /* the emptied queue takes new ones at its end */
    assert_ptr_equal(g->tail, &late);
    ph_gate_unqueue(g, &late);
    assert_null(g->head);
    ph_gate_free(g);
}

/* With a loop, promotion waits for the loop's event (never under the
 * caller, which may be plugin code finishing another request). */
static void with_a_loop_promotion_runs_from_its_event(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    assert_int_equal(ph_gates_setup(base, start), 0);
    ph_route_gate *g = limited(1, 4);
    ph_request a = {0};
    ph_gate_enter(g);
    assert_int_equal(ph_gate_queue(g, &a), 0);
    ph_gate_leave(g);
    assert_int_equal(nstarted, 0); /* not yet */
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(nstarted, 1);
    assert_ptr_equal(started[0], &a);
    ph_gate_free(g);
    ph_gates_shutdown();
    event_base_free(base);
}

/* A gate freed while it waits for the promotion leaves the list. */
static void a_freed_gate_is_not_promoted(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_int_equal(ph_gates_setup(base, start), 0);
    ph_route_gate *g = limited(1, 4);
    ph_request a = {0};
    ph_gate_enter(g);
    assert_int_equal(ph_gate_queue(g, &a), 0);
    ph_gate_leave(g);            /* on the ready list */
    ph_gate_unqueue(g, &a);      /* its client left */
    ph_gate_free(g);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(nstarted, 0);
    ph_gates_shutdown();
    event_base_free(base);
}

/* A route's own pool: the next generation's gate shares it when threads
 * and queue are the same, else gets a new one; the last gate stops it. */
static void an_own_pool_is_shared_only_when_unchanged(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    ph_route_gate *g1 = ph_gate_create(), *g2 = ph_gate_create(), *g3 = ph_gate_create();
    g1->limits = (ph_route_limits){.max_inflight = 2, .queue = 4, .sync_threads = 2, .pool_queue = 8};
    g2->limits = g1->limits;
    g3->limits = g1->limits;
    g3->limits.sync_threads = 3;
    assert_int_equal(ph_gate_start_pool(g1, NULL, base), 0);
    assert_non_null(ph_gate_pool(g1));
    assert_int_equal(ph_gate_pool_threads(g1), 2);
    assert_int_equal(ph_gate_start_pool(g2, g1, base), 0);
    assert_ptr_equal(ph_gate_pool(g2), ph_gate_pool(g1));
    assert_int_equal(ph_gate_start_pool(g3, g2, base), 0);
    assert_ptr_not_equal(ph_gate_pool(g3), ph_gate_pool(g2));
    assert_int_equal(ph_gate_pool_threads(g3), 3);
    assert_int_equal(ph_gate_pools_pending(), 0);
    ph_gate_free(g1); /* g2 keeps the shared pool */
    assert_non_null(ph_gate_pool(g2));
    ph_gate_free(g2);
    ph_gate_free(g3);
    event_base_free(base);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(a_gate_without_limits_always_has_room),
        T(waiting_requests_start_in_order_as_places_free),
        T(unqueue_takes_a_request_out_of_the_middle),
        T(with_a_loop_promotion_runs_from_its_event),
        T(a_freed_gate_is_not_promoted),
        T(an_own_pool_is_shared_only_when_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
