/*
 * test_concurrency.c - the execution model: async handlers do not block the
 * loop (50 concurrent sleeps overlap), the sync pool is bounded by
 * sync_threads (waves), its queue is bounded by sync_queue (503 with
 * Retry-After, no hang), it serves in arrival order, and a busy pool does
 * not stall the loop. Only lower bounds on time, and upper bounds as
 * generous ratios.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GET_SYNC "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n"
#define GET_ASYNC "GET /async HTTP/1.1\r\nHost: t\r\n\r\n"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 50 concurrent /async (0.3 s) all answer 200, and the batch takes far less
 * than 50 x 0.3 s: the timers overlap on one loop. */
static void test_async_50_concurrent_overlap(void **state)
{
    (void)state;
    enum { N = 50 };
    it_server *s = it_start("", IT_ROUTES_STD);
    it_response resps[N];
    int rcs[N];
    double done[N];
    double total = it_concurrent(s->port, GET_ASYNC, N, resps, rcs, done, 30000);
    for (int i = 0; i < N; i++) {
        if (rcs[i] != IT_OK) {
            print_error("request %d: no response (code %d)\n", i, rcs[i]);
            fail();
        }
        it_assert_status(&resps[i], 200);
        it_assert_contains(resps[i].body, "Async response after 0.3 seconds");
        assert_true(done[i] >= 0.29); /* each one did wait */
        it_response_free(&resps[i]);
    }
    if (total >= N * 0.3 / 4) {
        print_error("50 concurrent 0.3 s async requests took %.2f s (serial would be %.1f s)\n",
                    total, N * 0.3);
        fail();
    }
    it_server_stop(s);
}

/* With sync_threads = 2, 6 concurrent /sync (0.3 s) all succeed and need
 * at least three waves: the k-th completion cannot come before
 * ceil(k / 2) x 0.3 s. */
static void test_sync_pool_bounded_waves(void **state)
{
    (void)state;
    enum { N = 6 };
    it_server *s = it_start("sync_threads = 2\n", IT_ROUTES_STD);
    it_response resps[N];
    int rcs[N];
    double done[N];
    double total = it_concurrent(s->port, GET_SYNC, N, resps, rcs, done, 30000);
    for (int i = 0; i < N; i++) {
        if (rcs[i] != IT_OK) {
            print_error("request %d: no response (code %d)\n", i, rcs[i]);
            fail();
        }
        it_assert_status(&resps[i], 200);
        it_assert_contains(resps[i].body, "Sync response after 0.3 seconds");
        it_response_free(&resps[i]);
    }
    qsort(done, N, sizeof done[0], cmp_double);
    for (int k = 1; k <= N; k++) {
        double floor_s = ((k + 1) / 2) * 0.3 - 0.02;
        if (done[k - 1] < floor_s) {
            print_error("completion %d at %.3f s, but 2 threads cannot finish it before "
                        "%.2f s\n",
                        k, done[k - 1], floor_s + 0.02);
            fail();
        }
    }
    if (total < 0.85) {
        print_error("6 sync requests on 2 threads took %.3f s, expected >= 0.9 s\n", total);
        fail();
    }
    it_server_stop(s);
}

/* With sync_threads = 1 and sync_queue = 1, a burst of 8 /sync gets some
 * 200s and some immediate 503s with Retry-After, never a hang; afterwards
 * the server serves /sync normally again. */
static void test_sync_queue_full_503(void **state)
{
    (void)state;
    enum { N = 8 };
    it_server *s = it_start("sync_threads = 1\nsync_queue = 1\n",
                            "[route /sync]\nplugin = sleep_sync\nseconds = 0.5\n\n"
                            "[route /hello]\nplugin = hello\n");
    it_response resps[N];
    int rcs[N];
    double done[N];
    it_concurrent(s->port, GET_SYNC, N, resps, rcs, done, 30000);
    int ok = 0, busy = 0;
    double first_ok = 1e9, first_busy = 1e9;
    for (int i = 0; i < N; i++) {
        if (rcs[i] != IT_OK) {
            print_error("request %d: no response (code %d)\n", i, rcs[i]);
            fail();
        }
        if (resps[i].status == 200) {
            ok++;
            it_assert_contains(resps[i].body, "Sync response after 0.5 seconds");
            if (done[i] < first_ok)
                first_ok = done[i];
        } else if (resps[i].status == 503) {
            busy++;
            const char *ra = it_header_get(&resps[i], "Retry-After");
            if (ra == NULL) {
                print_error("503 without Retry-After:\n%s\n", resps[i].head);
                fail();
            }
            if (done[i] < first_busy)
                first_busy = done[i];
        } else {
            print_error("request %d: unexpected status %d\n", i, resps[i].status);
            fail();
        }
        it_response_free(&resps[i]);
    }
    if (ok < 1 || busy < 1) {
        print_error("expected some 200 and some 503, got %d x 200, %d x 503\n", ok, busy);
        fail();
    }
    /* 503 is answered at once, not after the running job */
    if (first_busy >= first_ok) {
        print_error("first 503 at %.3f s, after the first 200 at %.3f s\n", first_busy,
                    first_ok);
        fail();
    }
    /* the pool recovers */
    it_response r;
    assert_int_equal(it_request(s->port, GET_SYNC, &r, false), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    it_server_stop(s);
}

/* Sync jobs waiting for the single pool thread are served in arrival
 * order (no newest-first wake-up starving early requests). */
static void test_sync_fifo_order(void **state)
{
    (void)state;
    enum { N = 5 };
    it_server *s = it_start("sync_threads = 1\n",
                            "[route /sync]\nplugin = sleep_sync\nseconds = 0.6\n");
    it_conn *conns[N];
    /* all of them arrive while the first is still running (5 x 0.1 s < 0.6 s) */
    for (int i = 0; i < N; i++) {
        conns[i] = it_connect(s->port);
        assert_int_equal(it_send_str(conns[i], GET_SYNC), 0);
        if (i + 1 < N)
            it_sleep_ms(100);
    }
    int order[N], ndone = 0;
    bool done[N] = {false};
    it_response r;
    double deadline = it_now() + 30.0;
    while (ndone < N && it_now() < deadline) {
        for (int i = 0; i < N; i++) {
            if (done[i])
                continue;
            int rc = it_recv_step(conns[i], &r, false);
            if (rc == 0)
                continue;
            if (rc != 1) {
                print_error("request %d: no response (code %d)\n", i, rc);
                fail();
            }
            it_assert_status(&r, 200);
            it_response_free(&r);
            done[i] = true;
            order[ndone++] = i;
        }
        it_sleep_ms(5);
    }
    assert_int_equal(ndone, N);
    for (int i = 0; i < N; i++) {
        if (order[i] != i) {
            print_error("completion order:");
            for (int j = 0; j < N; j++)
                print_error(" %d", order[j]);
            print_error(" (expected arrival order 0..%d)\n", N - 1);
            fail();
        }
    }
    for (int i = 0; i < N; i++)
        it_conn_close(conns[i]);
    it_server_stop(s);
}

/* While every pool thread is busy (and more sync jobs wait), the loop still
 * answers /hello and /async: sync work never stalls the event loop. */
static void test_busy_pool_does_not_block_loop(void **state)
{
    (void)state;
    enum { NSYNC = 4 };
    it_server *s = it_start("sync_threads = 2\n",
                            "[route /slow]\nplugin = sleep_sync\nseconds = 2\n\n"
                            "[route /hello]\nplugin = hello\n\n"
                            "[route /async]\nplugin = sleep_async\nseconds = 0.2\n");
    double t0 = it_now();
    it_conn *slow[NSYNC];
    for (int i = 0; i < NSYNC; i++) {
        slow[i] = it_connect(s->port);
        assert_int_equal(it_send_str(slow[i], "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    }
    it_sleep_ms(100);
    it_response r;
    assert_int_equal(it_request(s->port, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r, false),
                     IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    assert_int_equal(it_request(s->port, GET_ASYNC, &r, false), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    double fast_done = it_now() - t0;
    /* none of the slow ones can have finished: they take >= 2 s */
    for (int i = 0; i < NSYNC; i++) {
        int rc = it_recv_step(slow[i], &r, false);
        if (rc != 0) {
            print_error("slow request %d finished (code %d) before /hello and /async "
                        "(%.2f s): the loop was blocked\n",
                        i, rc, fast_done);
            fail();
        }
    }
    /* and they all finish */
    for (int i = 0; i < NSYNC; i++) {
        assert_int_equal(it_recv(slow[i], &r, false, 20000), IT_OK);
        it_assert_status(&r, 200);
        it_response_free(&r);
        it_conn_close(slow[i]);
    }
    it_server_stop(s);
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(test_async_50_concurrent_overlap),
        IT_TEST(test_sync_pool_bounded_waves),
        IT_TEST(test_sync_queue_full_503),
        IT_TEST(test_sync_fifo_order),
        IT_TEST(test_busy_pool_does_not_block_loop),
    };
    return cmocka_run_group_tests_name("integration.concurrency", tests, NULL, NULL);
}
