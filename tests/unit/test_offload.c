/* test_offload.c - server/offload.c: an async plugin's blocking work on
 * the sync pool, its done() back on the loop. A real pool and loop; the
 * request holds a generation reference like a served one. Must be clean
 * under ThreadSanitizer. */
#include "offload.h"

#include "generation.h"
#include "pool.h"
#include "request.h"
#include "request_life.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct world {
    struct event_base *base;
    ph_pool *pool;
    ph_router *router;
    ph_generation gen;
} world;

/* What one offload saw. work fields are written on the pool thread and
 * read on the loop only after done(), which the pool orders after work. */
typedef struct record {
    pthread_t work_thread;
    int works;
    pthread_mutex_t *gate_lock; /* when set, work waits for *gate_open */
    pthread_cond_t *gate_cond;
    bool *gate_open;
    int dones;                  /* loop thread */
    pthread_t done_thread;
    ph_request *done_req;
    int gen_refs_in_done;
} record;

static world *current;

static void work(void *arg)
{
    record *r = arg;
    r->work_thread = pthread_self();
    if (r->gate_lock) {
        pthread_mutex_lock(r->gate_lock);
        while (!*r->gate_open)
            pthread_cond_wait(r->gate_cond, r->gate_lock);
        pthread_mutex_unlock(r->gate_lock);
    }
    r->works++;
}

static void done(ph_request *req, void *arg)
{
    record *r = arg;
    r->dones++;
    r->done_thread = pthread_self();
    r->done_req = req;
    r->gen_refs_in_done = current->gen.refs;
}

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    if (!w || !(w->base = event_base_new()) || !(w->router = ph_router_create()))
        return -1;
    w->pool = ph_pool_create(w->base, 1, 1);
    if (!w->pool)
        return -1;
    ph_offload_setup(w->pool);
    /* never reaches zero here: the test owns the struct */
    w->gen = (ph_generation){.number = 1, .router = w->router, .refs = 100};
    current = w;
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    ph_pool_destroy(w->pool);
    ph_offload_setup(NULL);
    ph_request_free_cache();
    ph_router_free(w->router);
    event_base_free(w->base);
    free(w);
    return 0;
}

static ph_request *request_of(world *w)
{
    ph_request *req = ph_request_new();
    assert_non_null(req);
    req->gen = &w->gen;
    w->gen.refs++;
    return req;
}

/* Run the loop until `*count` reaches `n` (bounded by ctest's timeout). */
static void loop_until(world *w, const int *count, int n)
{
    for (int spins = 0; *count < n && spins < 100000; spins++)
        event_base_loop(w->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    if (*count < n) {
        struct timeval tv = {2, 0};
        event_base_loopexit(w->base, &tv);
        while (*count < n && !event_base_got_exit(w->base))
            event_base_loop(w->base, EVLOOP_ONCE);
    }
    assert_int_equal(*count, n);
}

static void offload_runs_work_on_the_pool_and_done_on_the_loop(void **state)
{
    world *w = *state;
    ph_request *req = request_of(w);
    int refs = w->gen.refs;
    record r = {0};
    assert_int_equal(ph_offload_start(req, work, done, &r), 0);
    assert_non_null(req->offloads);
    assert_int_equal(w->gen.refs, refs + 1); /* the plugin's code stays loaded */
    loop_until(w, &r.dones, 1);
    assert_int_equal(r.works, 1);
    assert_false(pthread_equal(r.work_thread, pthread_self()));
    assert_true(pthread_equal(r.done_thread, pthread_self()));
    assert_ptr_equal(r.done_req, req);
    assert_int_equal(r.gen_refs_in_done, refs + 1); /* held while done runs */
    assert_int_equal(w->gen.refs, refs);
    assert_null(req->offloads);
    ph_life_discard(req);
}

static void offload_done_gets_null_request_when_the_request_ended_first(void **state)
{
    world *w = *state;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    bool open = false;
    record r = {.gate_lock = &lock, .gate_cond = &cond, .gate_open = &open};
    ph_request *req = request_of(w);
    int refs = w->gen.refs;
    assert_int_equal(ph_offload_start(req, work, done, &r), 0);
    ph_life_discard(req); /* client gone: the request ends, work still runs */
    assert_int_equal(w->gen.refs, refs); /* the request's ref went, the offload's stays */
    pthread_mutex_lock(&lock);
    open = true;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    loop_until(w, &r.dones, 1);
    assert_int_equal(r.works, 1);
    assert_null(r.done_req);
    assert_int_equal(w->gen.refs, refs - 1);
}

static void offload_is_refused_when_the_pool_is_full(void **state)
{
    world *w = *state;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    bool open = false;
    record running = {.gate_lock = &lock, .gate_cond = &cond, .gate_open = &open};
    record queued = {0}, refused = {0};
    ph_request *req = request_of(w);
    assert_int_equal(ph_offload_start(req, work, done, &running), 0); /* 1 thread */
    assert_int_equal(ph_offload_start(req, work, done, &queued), 0);  /* queue of 1 */
    int refs = w->gen.refs;
    assert_int_equal(ph_offload_start(req, work, done, &refused), -1);
    assert_int_equal(w->gen.refs, refs);
    pthread_mutex_lock(&lock);
    open = true;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    loop_until(w, &queued.dones, 1);
    loop_until(w, &running.dones, 1);
    assert_int_equal(refused.works + refused.dones, 0);
    assert_null(req->offloads);
    ph_life_discard(req);
}

static void offloads_of_one_request_each_finish_once(void **state)
{
    world *w = *state;
    ph_pool_destroy(w->pool);
    w->pool = ph_pool_create(w->base, 3, 16);
    assert_non_null(w->pool);
    ph_offload_setup(w->pool);
    enum { N = 12 };
    record r[N];
    memset(r, 0, sizeof r);
    ph_request *req = request_of(w);
    for (int i = 0; i < N; i++)
        assert_int_equal(ph_offload_start(req, work, done, &r[i]), 0);
    int total = 0;
    for (int spins = 0; total < N && spins < 1000000; spins++) {
        event_base_loop(w->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        total = 0;
        for (int i = 0; i < N; i++)
            total += r[i].dones;
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].works, 1);
        assert_int_equal(r[i].dones, 1);
        assert_ptr_equal(r[i].done_req, req);
    }
    assert_null(req->offloads);
    ph_life_discard(req);
}

static void offload_without_pool_request_or_callbacks_is_refused(void **state)
{
    world *w = *state;
    ph_request *req = request_of(w);
    record r = {0};
    int refs = w->gen.refs;
    assert_int_equal(ph_offload_start(NULL, work, done, &r), -1);
    assert_int_equal(ph_offload_start(req, NULL, done, &r), -1);
    assert_int_equal(ph_offload_start(req, work, NULL, &r), -1);
    ph_offload_setup(NULL);
    assert_int_equal(ph_offload_start(req, work, done, &r), -1);
    ph_offload_setup(w->pool);
    assert_int_equal(w->gen.refs, refs);
    assert_null(req->offloads);
    ph_life_discard(req);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(offload_runs_work_on_the_pool_and_done_on_the_loop),
        T(offload_done_gets_null_request_when_the_request_ended_first),
        T(offload_is_refused_when_the_pool_is_full),
        T(offloads_of_one_request_each_finish_once),
        T(offload_without_pool_request_or_callbacks_is_refused),
    };
#undef T
    return cmocka_run_group_tests_name("offload", tests, NULL, NULL);
}
