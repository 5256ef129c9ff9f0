/* test_request_life.c - server/request_life.c on requests made by hand:
 * finish is idempotent and counts once, release happens once, the abort
 * callback runs once and what it may not do is refused, every state
 * refuses the SDK calls it does not allow. (Requests through a real
 * connection and real plugins: test_dispatch.c.) */
#include "request_life.h"
#include "route_gate.h"

#include "access_log.h"

#include "generation.h"
#include "host_api.h"
#include "plugin_instance.h"
#include "request_timer.h"
#include "router.h"
#include "sdk_calls.h"
#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <pthread.h>
#include <string.h>

static struct event_base *base;
static int changes;

static void counted_change(void) { changes++; }

static int setup(void **state)
{
    (void)state;
    base = event_base_new();
    if (!base)
        return -1;
    ph_request_timer_setup(base);
    ph_life_setup(base);
    ph_life_watch(counted_change);
    ph_host_api_set_loop_thread();
    ph_sdk_calls_install();
    changes = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ph_host_api_set_hooks(NULL);
    ph_request_timer_setup(NULL);
    ph_request_free_cache();
    event_base_free(base);
    return 0;
}

/* An async route whose plugin is never called (only its name is used). */
static const ph_plugin desc = {PH_ABI_VERSION, sizeof(ph_plugin), "fake", "1", PH_MODE_ASYNC, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
static ph_plugin_lib lib = {.path = (char *)"/fake.so", .desc = &desc, .refs = 1};
static ph_instance inst = {.lib = &lib, .refs = 1};
static ph_route_gate gate = {.board = &ph_gate_unboarded}; /* no limits: counts only */
static ph_route route = {.path = (char *)"/fake", .path_len = 5, .instance = &inst, .gate = &gate};
/* never freed here: the test owns it */
static ph_generation some_gen = {.number = 1, .refs = 1000};

/* A pending async request of `route`, counted in flight, with no
 * connection (its client is gone, or never was). */
static ph_request *pending(ph_generation *gen)
{
    ph_request *req = ph_request_new();
    assert_non_null(req);
    ut_request_set_url(req, "/fake?id=1");
    ph_life_begin(req);
    ph_life_run(req, &route, gen, true);
    ph_life_returned_async(req, PH_PENDING);
    assert_int_equal(req->life, PH_LIFE_RUNNING);
    return req;
}

static void a_watcher_runs_from_ph_life_watch_until_setup_or_null(void **state)
{
    (void)state;
    ph_request *req = ph_request_new();
    assert_non_null(req);
    ph_life_begin(req);
    ph_life_finish(req);
    assert_int_equal(changes, 1);
    ph_life_watch(NULL); /* counted, not told */
    req = ph_request_new();
    ph_life_begin(req);
    ph_life_finish(req);
    assert_int_equal(changes, 1);
    assert_int_equal(ph_life_counts_now()->requests_done, 2);
    ph_life_watch(counted_change);
    ph_life_setup(base); /* a new start: zero counts, nobody watching */
    assert_int_equal(ph_life_counts_now()->requests_done, 0);
    req = ph_request_new();
    ph_life_begin(req);
    ph_life_finish(req);
    assert_int_equal(changes, 1);
    assert_int_equal(ph_life_counts_now()->requests_done, 1);
}

static void finish_twice_counts_once_and_releases_once(void **state)
{
    (void)state;
    ph_request *req = ph_request_new();
    assert_non_null(req);
    ph_life_begin(req);
    assert_int_equal(ph_life_counts_now()->in_flight, 1);
    ph_life_finish(req); /* no connection: released at once */
    assert_int_equal(req->life, PH_LIFE_RELEASED);
    ph_life_finish(req);  /* logged and ignored */
    ph_life_dropped(req); /* so is a drop of a released request */
    assert_int_equal(ph_life_counts_now()->in_flight, 0);
    assert_int_equal(ph_life_counts_now()->requests_done, 1);
    assert_int_equal(changes, 1);
    ph_request *a = ph_request_new(), *b = ph_request_new();
    assert_ptr_equal(a, req); /* on the free list once, not twice */
    assert_ptr_not_equal(b, req);
    ph_request_recycle(a);
    ph_request_recycle(b);
}

static int fired;

static void count_fire(ph_request *req, void *arg)
{
    (void)req;
    (void)arg;
    fired++;
}

static void finishing_cancels_timers_and_drops_the_generation(void **state)
{
    (void)state;
    ph_router *router = ph_router_create();
    ph_generation gen = {.number = 1, .router = router, .refs = 1};
    ph_request *req = pending(&gen);
    assert_int_equal(gen.refs, 2);
    assert_non_null(ph_request_timer_start(req, 0, false, count_fire, NULL));
    assert_non_null(ph_request_timer_start(req, 1, true, count_fire, NULL));
    fired = 0;
    assert_int_equal(ph_life_complete(req), 0);
    assert_int_equal(gen.refs, 1); /* released: no connection held it */
    struct timeval tv = {0, 20000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    assert_int_equal(fired, 0);
    ph_router_free(router);
}

typedef struct abort_probe {
    int runs;
    int complete_rc, status_rc, body_rc, timer_ok, on_abort_rc;
    const char *path;
} abort_probe;

static void probing_abort(ph_request *req, void *arg)
{
    abort_probe *p = arg;
    const ph_host_api *api = ph_host_api_table();
    p->runs++;
    assert_int_equal(req->life, PH_LIFE_ABORTING);
    p->complete_rc = api->complete(req);
    p->status_rc = api->set_status(req, 201);
    p->body_rc = api->set_body(req, "x", 1);
    p->timer_ok = api->timer_start(req, 1, count_fire, NULL) != NULL;
    p->on_abort_rc = api->on_abort(req, probing_abort, p);
    p->path = api->path(req); /* reads are fine */
    ph_life_abort(req);       /* an abort inside the abort: ignored */
}

static void abort_runs_the_callback_once_and_refuses_what_it_may_not_do(void **state)
{
    (void)state;
    ph_request *req = pending(&some_gen);
    abort_probe p = {0};
    const ph_host_api *api = ph_host_api_table();
    assert_int_equal(api->on_abort(req, probing_abort, &p), 0);
    req->status = 299;
    ph_life_abort(req);
    assert_int_equal(p.runs, 1);
    assert_int_equal(p.complete_rc, -1);
    assert_int_equal(p.status_rc, -1);
    assert_int_equal(p.body_rc, -1);
    assert_false(p.timer_ok);
    assert_int_equal(p.on_abort_rc, -1);
    assert_string_equal(p.path, "/fake");
    assert_int_equal(req->life, PH_LIFE_RELEASED);
    ph_life_abort(req); /* a released request: ignored */
    assert_int_equal(p.runs, 1);
    const ph_life_counts *n = ph_life_counts_now();
    assert_int_equal(n->in_flight, 0);
    assert_int_equal(n->requests_done, 1);
}

static void a_client_leaving_during_handle_aborts_when_it_returns(void **state)
{
    (void)state;
    ph_request *req = ph_request_new();
    ph_life_begin(req);
    ph_life_run(req, &route, &some_gen, true);
    ph_life_dropped(req); /* handle() is on the stack: no abort under it */
    assert_int_equal(req->life, PH_LIFE_RUNNING);
    assert_int_equal(ph_life_counts_now()->detached, 1);
    ph_life_returned_async(req, PH_PENDING);
    assert_int_equal(req->life, PH_LIFE_RELEASED);
    assert_int_equal(ph_life_counts_now()->detached, 0);
    assert_int_equal(ph_life_counts_now()->in_flight, 0);
}

/* An async handle() dispatch ran returns PH_OK or fails: the request
 * finishes and is counted down once (in flight, async, its route's place,
 * its generation); a sync one the same through ph_life_returned. Run
 * (ph_life_run_async for an async one just begun) takes a place on its
 * route and a reference to its generation. */
static void a_returned_handler_finishes_and_counts_down_once(void **state)
{
    (void)state;
    static const int results[] = {PH_OK, PH_ERROR, 42};
    for (size_t i = 0; i < 2 * sizeof results / sizeof results[0]; i++) {
        bool async = i < sizeof results / sizeof results[0];
        size_t k = i % (sizeof results / sizeof results[0]);
        ph_request *req = ph_request_new();
        assert_non_null(req);
        ph_life_begin(req);
        int refs = some_gen.refs;
        if (async)
            ph_life_run_async(req, &route, &some_gen);
        else
            ph_life_run(req, &route, &some_gen, false);
        assert_int_equal(req->life, PH_LIFE_RUNNING);
        assert_true(req->holds_gate);
        assert_int_equal(req->in_handler, async);
        assert_int_equal(some_gen.refs, refs + 1);
        assert_int_equal(gate.inflight, 1);
        assert_int_equal(ph_life_counts_now()->async_in_flight, async ? 1 : 0);
        refs = some_gen.refs;
        if (async)
            ph_life_returned_async(req, results[k]);
        else
            ph_life_returned(req, results[k]);
        assert_int_equal(req->life, PH_LIFE_RELEASED); /* no connection: released at once */
        assert_int_equal(some_gen.refs, refs - 1);
        assert_int_equal(gate.inflight, 0);
        assert_int_equal(ph_life_counts_now()->in_flight, 0);
        assert_int_equal(ph_life_counts_now()->async_in_flight, 0);
        assert_int_equal(ph_life_counts_now()->requests_done, i + 1);
        assert_int_equal(changes, (int)i + 1);
    }
}

static void each_state_refuses_the_calls_it_does_not_allow(void **state)
{
    (void)state;
    ph_request *req = ph_request_new();
    assert_int_equal(ph_life_complete(req), -1); /* parsed, never handled */
    assert_false(ph_life_allows(req, PH_CALL_BUILD, "set_status()"));
    req->life = PH_LIFE_RUNNING;
    assert_true(ph_life_allows(req, PH_CALL_BUILD, "set_status()"));
    assert_int_equal(ph_life_complete(req), -1); /* a sync request */
    assert_false(ph_life_allows(req, PH_CALL_ASYNC, "timer_start()"));
    req->async = true;
    req->in_handler = true;
    assert_int_equal(ph_life_complete(req), -1); /* inside handle() */
    assert_true(ph_life_allows(req, PH_CALL_ASYNC, "timer_start()"));
    req->in_handler = false;
    req->life = PH_LIFE_ABORTING;
    assert_int_equal(ph_life_complete(req), -1); /* inside the abort callback */
    assert_false(ph_life_allows(req, PH_CALL_BUILD, "set_status()"));
    assert_false(ph_life_allows(req, PH_CALL_ASYNC, "timer_start()"));
    req->life = PH_LIFE_DONE;
    assert_false(ph_life_allows(req, PH_CALL_COMPLETE, "complete()")); /* twice */
    assert_false(ph_life_allows(req, PH_CALL_BUILD, "set_body()"));
    req->life = PH_LIFE_RUNNING;
    req->streaming = true;
    assert_false(ph_life_allows(req, PH_CALL_BUILD, "set_status()")); /* the head is sent */
    assert_true(ph_life_allows(req, PH_CALL_ASYNC, "stream_write()"));
    assert_false(ph_life_allows(NULL, PH_CALL_ASYNC, "stream_write()"));
    ph_life_discard(req);
}

/* A request is timed with the precise clock only while something reads
 * its duration (here the access log), the coarse one otherwise; the
 * choice follows the access log opening and closing. */
static void begin_reads_the_precise_clock_only_while_durations_are_read(void **state)
{
    (void)state;
    ph_request *req = ph_request_new();
    assert_int_equal(ph_life_begin(req), CLOCK_MONOTONIC_COARSE);
    ph_life_discard(req);
    ph_alog_configure("/dev/null", false);
    ph_life_timing_changed();
    assert_true(ph_alog_enabled());
    req = ph_request_new();
    assert_int_equal(ph_life_begin(req), CLOCK_MONOTONIC);
    ph_life_discard(req); /* logged, with its duration */
    ph_alog_configure(NULL, false);
    ph_life_timing_changed();
    req = ph_request_new();
    assert_int_equal(ph_life_begin(req), CLOCK_MONOTONIC_COARSE);
    ph_life_discard(req);
    ph_alog_shutdown();
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(a_watcher_runs_from_ph_life_watch_until_setup_or_null),
        T(finish_twice_counts_once_and_releases_once),
        T(finishing_cancels_timers_and_drops_the_generation),
        T(abort_runs_the_callback_once_and_refuses_what_it_may_not_do),
        T(a_client_leaving_during_handle_aborts_when_it_returns),
        T(a_returned_handler_finishes_and_counts_down_once),
        T(each_state_refuses_the_calls_it_does_not_allow),
        T(begin_reads_the_precise_clock_only_while_durations_are_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
