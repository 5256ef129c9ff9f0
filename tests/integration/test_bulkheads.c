/*
 * test_bulkheads.c - fair sharing and per-route bulkheads (issue 11) on the
 * real server:
 *   - with the default pool (sync_threads 40, sync_queue 1024), an honest
 *     client is served within a few handler durations while 40 connections
 *     each pipeline 40 requests to a slow sync route (a connection's
 *     pipelined requests wait in the connection, not in the pool);
 *   - a connection's pipelined async requests take one place of a limited
 *     route, not all of them;
 *   - a route at its own max_inflight does not delay another route;
 *   - past a route's queue the answer is 503 with Retry-After (sync and
 *     async routes);
 *   - a route with its own pool (sync_threads in its section) is isolated
 *     from the worker's pool, and its offloads run there too;
 *   - after a reload new requests meet the new limits while a queued one
 *     keeps the old;
 *   - the status document shows each route's figures.
 * Times are asserted as orderings and ratios of the handler's duration
 * ("before the flood could have drained"), never as absolute budgets.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_KEY "status_path = /_status\n"

/* `n` connections, each with `per` pipelined copies of `request` sent. */
static it_conn **flood(int port, int n, int per, const char *request)
{
    it_conn **conns = calloc((size_t)n, sizeof *conns);
    assert_non_null(conns);
    size_t len = strlen(request);
    char *batch = malloc(len * (size_t)per + 1);
    assert_non_null(batch);
    for (int k = 0; k < per; k++)
        memcpy(batch + len * (size_t)k, request, len);
    for (int i = 0; i < n; i++) {
        conns[i] = it_connect(port);
        assert_int_equal(it_send(conns[i], batch, len * (size_t)per), 0);
    }
    free(batch);
    return conns;
}

/* Read what the flood connections have been answered so far (without
 * waiting): counts of 200 and of anything else. */
static void flood_answers(it_conn **conns, int n, int *ok, int *other)
{
    for (int i = 0; i < n; i++) {
        for (;;) {
            it_response r;
            memset(&r, 0, sizeof r);
            int rc = it_recv_step(conns[i], &r, false);
            if (rc != 1) {
                it_response_free(&r);
                break;
            }
            if (r.status == 200)
                (*ok)++;
            else
                (*other)++;
            it_response_free(&r);
        }
    }
}

/* Wait (bounded) for one 200 on each of `n` connections at once; at[i]
 * gets the seconds from `t0` to conns[i]'s answer. */
static void answers_at(it_conn **conns, int n, double t0, double *at)
{
    it_response r[8];
    bool done[8] = {false};
    assert_true(n <= 8);
    memset(r, 0, sizeof r);
    double deadline = it_now() + 3 * IT_WAIT_MS / 1000.0;
    for (int left = n; left > 0;) {
        assert_true(it_now() < deadline);
        for (int i = 0; i < n; i++) {
            if (done[i])
                continue;
            int rc = it_recv_step(conns[i], &r[i], false);
            assert_true(rc >= 0);
            if (rc == 1) {
                at[i] = it_now() - t0;
                it_assert_status(&r[i], 200);
                it_response_free(&r[i]);
                done[i] = true;
                left--;
            }
        }
        it_sleep_ms(5);
    }
}

/* One GET on a fresh connection: its status, and the seconds it took. */
static int timed_get(int port, const char *path, double *took)
{
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    it_response r;
    double t0 = it_now();
    int rc = it_request(port, req, &r, false);
    *took = it_now() - t0;
    int status = rc == IT_OK ? r.status : rc;
    it_response_free(&r);
    return status;
}

/* The status document of the (single) worker. */
static char *status_doc(int port)
{
    it_response r;
    assert_int_equal(it_request(port, "GET /_status HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 200);
    char *body = strdup(r.body);
    it_response_free(&r);
    return body;
}

/* Figure `key` of route `route` in the status document `doc` (its
 * "routes" array), failing the test when it is not there. */
static long route_figure(const char *doc, const char *route, const char *key)
{
    char needle[160];
    snprintf(needle, sizeof needle, "{\"route\":\"%s\"", route);
    const char *o = strstr(doc, needle);
    if (!o) {
        print_error("no route %s in the status document:\n%s\n", route, doc);
        fail();
    }
    const char *end = strchr(o, '}');
    snprintf(needle, sizeof needle, "\"%s\":", key);
    const char *k = strstr(o, needle);
    if (!k || k > end) {
        print_error("no %s for route %s in:\n%s\n", key, route, doc);
        fail();
    }
    return strtol(k + strlen(needle), NULL, 10);
}

/* Wait (bounded) until route `route` shows `key` = `want` in the status
 * document; fail with the document otherwise. */
static void wait_figure(int port, const char *route, const char *key, long want)
{
    char *doc = NULL;
    for (int i = 0; i < 100; i++) {
        free(doc);
        doc = status_doc(port);
        if (route_figure(doc, route, key) == want) {
            free(doc);
            return;
        }
        it_sleep_ms(50);
    }
    print_error("route %s: %s never became %ld:\n%s\n", route, key, want, doc);
    free(doc);
    fail();
}

/* 40 connections pipeline 40 x /sync (0.3 s) each, with the default pool
 * of 40 threads and a queue of 1,024. Each connection has one request in
 * the pool at a time, so an honest client's request waits behind at most
 * one round of them: it is answered within a few handler durations, long
 * before the flood (40 x 0.3 s per connection) could have drained, and
 * nobody gets a 503. */
static void an_honest_client_is_served_during_a_pipelining_flood(void **state)
{
    (void)state;
    enum { CONNS = 40, PER = 40 };
    const double handler = 0.3;
    it_server *s = it_start(STATUS_KEY, "[route /sync]\nplugin = sleep_sync\nseconds = 0.3\n");
    it_conn **conns = flood(s->port, CONNS, PER, "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n");
    it_sleep_ms(200); /* the flood is read and parsed */
    double started = it_now();
    for (int i = 0; i < 3; i++) {
        double took;
        int status = timed_get(s->port, "/sync", &took);
        if (status != 200 || took > 5 * handler) {
            print_error("honest request %d during the flood: status %d after %.2f s (handler %.1f s)\n", i,
                        status, took, handler);
            fail();
        }
    }
    double honest = it_now() - started;
    int ok = 0, other = 0;
    flood_answers(conns, CONNS, &ok, &other);
    if (other || ok >= CONNS * PER) {
        print_error("flood so far: %d x 200, %d others (of %d) after %.2f s\n", ok, other, CONNS * PER, honest);
        fail();
    }
    /* the pool holds one request per connection: 40 running, none queued */
    char *doc = status_doc(s->port);
    long inflight = route_figure(doc, "/sync", "inflight");
    if (inflight > CONNS + 1) {
        print_error("%ld /sync requests in the pool with %d flooding connections:\n%s\n", inflight, CONNS, doc);
        fail();
    }
    free(doc);
    for (int i = 0; i < CONNS; i++)
        it_conn_reset(conns[i]);
    free(conns);
    it_server_stop(s);
}

/* One connection pipelines 6 requests to an async route limited to 2 in
 * flight; another connection's request takes the second place at once:
 * it is answered before the first connection's second answer. */
static void pipelined_async_requests_take_one_place_of_a_limited_route(void **state)
{
    (void)state;
    it_server *s = it_start(STATUS_KEY, "[route /a]\nplugin = sleep_async\nseconds = 0.3\nmax_inflight = 2\n");
    it_conn **greedy = flood(s->port, 1, 6, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    it_sleep_ms(50);
    double t0 = it_now();
    double took;
    assert_int_equal(timed_get(s->port, "/a", &took), 200);
    double other_done = it_now() - t0;
    it_response r;
    assert_int_equal(it_recv(greedy[0], &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    assert_int_equal(it_recv(greedy[0], &r, false, IT_WAIT_MS), IT_OK);
    double second = it_now() - t0;
    it_response_free(&r);
    if (other_done >= second) {
        print_error("the other client was answered at %.2f s, the pipelining one's second answer at %.2f s\n",
                    other_done, second);
        fail();
    }
    it_conn_reset(greedy[0]);
    free(greedy);
    it_server_stop(s);
}

/* /slow (0.5 s) may have 2 in flight; 60 clients wait in its queue. /fast
 * (0.05 s) on the same pool of 40 threads is answered at once: without
 * /slow's limit its 60 requests would take all 40 threads and queue 20
 * more ahead of /fast. */
static void a_saturated_route_does_not_delay_another_route(void **state)
{
    (void)state;
    enum { SLOW = 60, FAST = 5 };
    it_server *s = it_start(STATUS_KEY, "[route /slow]\nplugin = sleep_sync\nseconds = 0.5\nmax_inflight = 2\n\n"
                                        "[route /fast]\nplugin = sleep_sync\nseconds = 0.05\n");
    it_conn **conns = flood(s->port, SLOW, 1, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_figure(s->port, "/slow", "queued", SLOW - 2);
    char *doc = status_doc(s->port);
    assert_int_equal(route_figure(doc, "/slow", "inflight"), 2);
    assert_int_equal(route_figure(doc, "/slow", "max_inflight"), 2);
    assert_int_equal(route_figure(doc, "/slow", "queue"), 1024); /* the default */
    free(doc);
    it_response resps[FAST];
    int rcs[FAST];
    double done[FAST];
    it_concurrent(s->port, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n", FAST, resps, rcs, done, IT_WAIT_MS);
    for (int i = 0; i < FAST; i++) {
        assert_int_equal(rcs[i], IT_OK);
        it_assert_status(&resps[i], 200);
        if (done[i] >= 0.5) {
            print_error("/fast answered after %.2f s, behind /slow's queue (its handler takes 0.5 s)\n", done[i]);
            fail();
        }
        it_response_free(&resps[i]);
    }
    for (int i = 0; i < SLOW; i++)
        it_conn_reset(conns[i]);
    free(conns);
    wait_figure(s->port, "/slow", "queued", 0); /* the queue lets go of clients that left */
    it_server_stop(s);
}

/* max_inflight = 1 and queue = 2: of 6 simultaneous clients, 3 get 200
 * (one after the other) and 3 get 503 with Retry-After at once; then the
 * route serves again. Sync and async routes alike. */
static void past_a_routes_queue_the_answer_is_503_with_retry_after(void **state)
{
    (void)state;
    enum { N = 6 };
    const char *plugins[2] = {"sleep_sync", "sleep_async"};
    for (int p = 0; p < 2; p++) {
        char routes[256];
        snprintf(routes, sizeof routes, "[route /r]\nplugin = %s\nseconds = 0.4\nmax_inflight = 1\nqueue = 2\n",
                 plugins[p]);
        it_server *s = it_start(STATUS_KEY, routes);
        it_response resps[N];
        int rcs[N];
        double done[N];
        it_concurrent(s->port, "GET /r HTTP/1.1\r\nHost: t\r\n\r\n", N, resps, rcs, done, 3 * IT_WAIT_MS);
        int ok = 0, busy = 0;
        double first_ok = 1e9, last_busy = 0, last_ok = 0;
        for (int i = 0; i < N; i++) {
            assert_int_equal(rcs[i], IT_OK);
            if (resps[i].status == 200) {
                ok++;
                first_ok = done[i] < first_ok ? done[i] : first_ok;
                last_ok = done[i] > last_ok ? done[i] : last_ok;
            } else {
                it_assert_status(&resps[i], 503);
                if (!it_header_get(&resps[i], "Retry-After")) {
                    print_error("503 without Retry-After:\n%s\n", resps[i].head);
                    fail();
                }
                busy++;
                last_busy = done[i] > last_busy ? done[i] : last_busy;
            }
            it_response_free(&resps[i]);
        }
        if (ok != 3 || busy != 3 || last_busy >= first_ok || last_ok < 3 * 0.4 - 0.05) {
            print_error("%s: %d x 200 (first at %.2f s, last at %.2f s), %d x 503 (last at %.2f s)\n", plugins[p],
                        ok, first_ok, last_ok, busy, last_busy);
            fail();
        }
        char *doc = status_doc(s->port);
        assert_int_equal(route_figure(doc, "/r", "rejected"), 3);
        assert_int_equal(route_figure(doc, "/r", "inflight"), 0);
        free(doc);
        double took;
        assert_int_equal(timed_get(s->port, "/r", &took), 200);
        it_server_stop(s);
    }
}

/* A request waiting in a route's queue counts against the route's
 * timeout: with max_inflight = 1 and a handler of 1 s, the second client's
 * 504 comes at its own timeout, before the first handler could return. */
static void a_queued_request_past_its_route_timeout_gets_504(void **state)
{
    (void)state;
    it_server *s = it_start(STATUS_KEY, "[route /r]\nplugin = sleep_sync\nseconds = 1\nmax_inflight = 1\n"
                                        "timeout = 300ms\n");
    double t0 = it_now();
    it_conn *a = it_connect(s->port);
    assert_int_equal(it_send_str(a, "GET /r HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    it_sleep_ms(50);
    it_conn *b = it_connect(s->port);
    assert_int_equal(it_send_str(b, "GET /r HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    it_response r;
    assert_int_equal(it_recv(b, &r, false, IT_WAIT_MS), IT_OK);
    double b_done = it_now() - t0;
    it_assert_status(&r, 504);
    it_response_free(&r);
    if (b_done >= 0.9) {
        print_error("the queued request's 504 came at %.2f s, not at its 300 ms timeout\n", b_done);
        fail();
    }
    assert_int_equal(it_recv(a, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 504);
    it_response_free(&r);
    wait_figure(s->port, "/r", "inflight", 0); /* the stuck handler returned */
    wait_figure(s->port, "/r", "queued", 0);
    it_server_stop(s);
}

/* The worker's pool has 2 threads; /slow has a pool of its own (3
 * threads, so at most 3 in flight, the rest in its queue). 20 clients on
 * /slow leave /fast, on the worker's pool, untouched. */
static void a_route_with_its_own_pool_is_isolated(void **state)
{
    (void)state;
    enum { SLOW = 20, FAST = 4 };
    it_server *s = it_start(STATUS_KEY "sync_threads = 2\n",
                            "[route /slow]\nplugin = sleep_sync\nseconds = 0.5\nsync_threads = 3\n\n"
                            "[route /fast]\nplugin = sleep_sync\nseconds = 0.05\n");
    it_conn **conns = flood(s->port, SLOW, 1, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_figure(s->port, "/slow", "queued", SLOW - 3);
    char *doc = status_doc(s->port);
    assert_int_equal(route_figure(doc, "/slow", "threads"), 3);
    assert_int_equal(route_figure(doc, "/slow", "inflight"), 3);
    assert_int_equal(route_figure(doc, "/fast", "threads"), 0);
    free(doc);
    it_response resps[FAST];
    int rcs[FAST];
    double done[FAST];
    it_concurrent(s->port, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n", FAST, resps, rcs, done, IT_WAIT_MS);
    for (int i = 0; i < FAST; i++) {
        assert_int_equal(rcs[i], IT_OK);
        it_assert_status(&resps[i], 200);
        if (done[i] >= 0.5) {
            print_error("/fast answered after %.2f s while /slow (0.5 s) had its own pool\n", done[i]);
            fail();
        }
        it_response_free(&resps[i]);
    }
    for (int i = 0; i < SLOW; i++)
        it_conn_reset(conns[i]);
    free(conns);
    it_server_stop(s);
}

/* The worker's pool (1 thread, no queue) is taken by /block; the async
 * hash plugin offloads its hashing: on the worker's pool it is refused
 * (503), on a route with its own pool it is answered. */
static void offloads_of_a_route_run_on_its_own_pool(void **state)
{
    (void)state;
    it_server *s = it_start("sync_threads = 1\nsync_queue = 0\n",
                            "[route /block]\nplugin = sleep_sync\nseconds = 1\n\n"
                            "[route /hash-shared]\nplugin = hash\nmethods = POST\n\n"
                            "[route /hash-own]\nplugin = hash\nmethods = POST\nsync_threads = 1\n");
    it_conn *blocker = it_connect(s->port);
    assert_int_equal(it_send_str(blocker, "GET /block HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    it_sleep_ms(150);
    const char *post = "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
    char req[256];
    it_response r;
    snprintf(req, sizeof req, post, "/hash-shared");
    assert_int_equal(it_request(s->port, req, &r, false), IT_OK);
    it_assert_status(&r, 503);
    it_response_free(&r);
    snprintf(req, sizeof req, post, "/hash-own");
    assert_int_equal(it_request(s->port, req, &r, false), IT_OK);
    it_assert_status(&r, 200);
    it_assert_contains(r.body, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    it_response_free(&r);
    assert_int_equal(it_recv(blocker, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    it_server_stop(s);
}

/* /slow (1 s) has a pool of one thread: A runs, B waits in generation 1's
 * queue. A reload gives /slow two threads: C and D, sent after it, run at
 * once on generation 2's pool and are answered before B, which keeps
 * generation 1's limit (it starts only when A is done). */
static void after_a_reload_new_requests_meet_the_new_limits(void **state)
{
    (void)state;
    const char *route1 = "[route /slow]\nplugin = sleep_sync\nseconds = 1\nsync_threads = 1\n";
    const char *route2 = "[route /slow]\nplugin = sleep_sync\nseconds = 1\nsync_threads = 2\n";
    it_server *s = it_start(STATUS_KEY, route1);
    const char *get = "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n";
    double t0 = it_now();
    it_conn *a = it_connect(s->port), *b = it_connect(s->port);
    assert_int_equal(it_send_str(a, get), 0);
    it_sleep_ms(30);
    assert_int_equal(it_send_str(b, get), 0);
    wait_figure(s->port, "/slow", "queued", 1);
    it_server_write_ini(s, "[server]\nlisten = 127.0.0.1:0\nworkers = 1\nplugin_dir = %s\nwatch = false\n%s\n%s",
                        PLUGIN_DIR, STATUS_KEY, route2);
    kill(s->pid, SIGHUP);
    if (!it_server_log_wait(s, "generation 2 serving", IT_WAIT_MS)) {
        it_server_dump_log(s);
        fail();
    }
    it_conn *c = it_connect(s->port), *d = it_connect(s->port);
    assert_int_equal(it_send_str(c, get), 0);
    assert_int_equal(it_send_str(d, get), 0);
    char *doc = status_doc(s->port);
    assert_int_equal(route_figure(doc, "/slow", "threads"), 2);
    assert_int_equal(route_figure(doc, "/slow", "max_inflight"), 2);
    free(doc);
    it_conn *order[4] = {a, b, c, d};
    double at[4];
    answers_at(order, 4, t0, at);
    if (at[1] < 2 * 1.0 - 0.05 || at[2] >= at[1] || at[3] >= at[1]) {
        print_error("A at %.2f s, B (queued under generation 1) at %.2f s, C and D (generation 2) at %.2f and "
                    "%.2f s\n",
                    at[0], at[1], at[2], at[3]);
        fail();
    }
    it_server_stop(s);
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(an_honest_client_is_served_during_a_pipelining_flood),
        IT_TEST(pipelined_async_requests_take_one_place_of_a_limited_route),
        IT_TEST(a_saturated_route_does_not_delay_another_route),
        IT_TEST(past_a_routes_queue_the_answer_is_503_with_retry_after),
        IT_TEST(a_queued_request_past_its_route_timeout_gets_504),
        IT_TEST(a_route_with_its_own_pool_is_isolated),
        IT_TEST(offloads_of_a_route_run_on_its_own_pool),
        IT_TEST(after_a_reload_new_requests_meet_the_new_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
