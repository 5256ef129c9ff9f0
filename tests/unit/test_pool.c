/* test_pool.c - server/pool.c: the bounded FIFO worker pool.
 *
 * Jobs are plain ph_job structs embedded in a test record. The loop is a
 * real libevent base driven by the test (the main thread is the loop
 * thread). Everything here must be clean under ThreadSanitizer: the test
 * shares data between run() and done() only through the pool's own
 * synchronisation, or through atomics and its own mutex. */
#include "pool.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>

#include <event2/event.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A gate a job can wait at, and announce that it started. */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int started;
    bool open;
} gate;

static void gate_init(gate *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->started = 0;
    g->open = false;
}

static void gate_destroy(gate *g)
{
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* Wait until `n` jobs passed gate_enter. Returns false after ~5 s. */
static bool gate_wait_started(gate *g, int n)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&g->lock);
    int rc = 0;
    while (g->started < n && rc == 0)
        rc = pthread_cond_timedwait(&g->cond, &g->lock, &deadline);
    bool ok = g->started >= n;
    pthread_mutex_unlock(&g->lock);
    return ok;
}

static void gate_enter(gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->started++;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

typedef struct test_job {
    ph_job job; /* first */
    int index;
    gate *gate;          /* wait here in run() when set */
    int runs;            /* written in run(), read on the loop after done() */
    pthread_t run_thread;
    int run_policy;      /* the scheduling policy run() ran under */
    int dones;           /* loop thread only */
    pthread_t done_thread;
    int done_seq;        /* order in which done() ran */
    int run_seq;         /* order in which run() ran */
    bool done_saw_run;   /* run() had finished when done() ran */
} test_job;

typedef struct counters {
    atomic_int run_seq;
    atomic_int running;
    atomic_int max_running;
    int done_seq; /* loop thread only */
} counters;

static counters ctr;

static void job_run(ph_job *j)
{
    test_job *t = (test_job *)j;
    int now = atomic_fetch_add(&ctr.running, 1) + 1;
    int max = atomic_load(&ctr.max_running);
    while (now > max && !atomic_compare_exchange_weak(&ctr.max_running, &max, now))
        ;
    t->run_seq = atomic_fetch_add(&ctr.run_seq, 1);
    t->run_thread = pthread_self();
    t->run_policy = sched_getscheduler(0); /* (Linux: 0 is the calling thread) */
    if (t->gate)
        gate_enter(t->gate);
    /* a little work so threads overlap */
    volatile unsigned x = 0;
    for (int i = 0; i < 200; i++)
        x += (unsigned)i * 2654435761u;
    (void)x;
    t->runs++;
    atomic_fetch_sub(&ctr.running, 1);
}

static void job_done(ph_job *j)
{
    test_job *t = (test_job *)j;
    t->done_saw_run = t->runs == 1;
    t->done_thread = pthread_self();
    t->done_seq = ctr.done_seq++;
    t->dones++;
}

static test_job *make_jobs(int n, gate *g)
{
    test_job *jobs = calloc((size_t)n, sizeof *jobs);
    assert_non_null(jobs);
    for (int i = 0; i < n; i++) {
        jobs[i].job.run = job_run;
        jobs[i].job.done = job_done;
        jobs[i].index = i;
        jobs[i].gate = g;
        jobs[i].done_seq = -1;
        jobs[i].run_seq = -1;
    }
    return jobs;
}

static bool deadline_hit;

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    deadline_hit = true;
}

/* Run the loop until ctr.done_seq reaches `n` or 10 s pass. */
static void loop_until_done(struct event_base *base, int n)
{
    deadline_hit = false;
    struct event *deadline = evtimer_new(base, on_deadline, NULL);
    struct timeval tv = {10, 0};
    evtimer_add(deadline, &tv);
    while (ctr.done_seq < n && !deadline_hit)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(deadline);
    if (ctr.done_seq < n)
        fail_msg("only %d of %d done() callbacks ran within 10 s", ctr.done_seq, n);
}

static int reset(void **state)
{
    atomic_store(&ctr.run_seq, 0);
    atomic_store(&ctr.running, 0);
    atomic_store(&ctr.max_running, 0);
    ctr.done_seq = 0;
    struct event_base *base = event_base_new();
    if (!base)
        return -1;
    *state = base;
    return 0;
}

static int free_base(void **state)
{
    event_base_free(*state);
    return 0;
}

static void pool_runs_jobs_in_arrival_order_with_one_thread(void **state)
{
    struct event_base *base = *state;
    enum { N = 64 };
    ph_pool *pool = ph_pool_create(base, 1, N);
    assert_non_null(pool);
    test_job *jobs = make_jobs(N, NULL);
    for (int i = 0; i < N; i++)
        assert_int_equal(ph_pool_submit(pool, &jobs[i].job), 0);
    loop_until_done(base, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(jobs[i].run_seq, i);
        assert_int_equal(jobs[i].done_seq, i);
    }
    ph_pool_destroy(pool);
    free(jobs);
}

static void pool_refuses_submit_when_threads_busy_and_queue_full(void **state)
{
    struct event_base *base = *state;
    gate g;
    gate_init(&g);
    ph_pool *pool = ph_pool_create(base, 1, 1);
    assert_non_null(pool);
    test_job *jobs = make_jobs(4, &g);
    assert_int_equal(ph_pool_submit(pool, &jobs[0].job), 0);
    assert_true(gate_wait_started(&g, 1)); /* job 0 is running */
    assert_int_equal(ph_pool_submit(pool, &jobs[1].job), 0); /* job 1 waits */
    assert_int_equal(ph_pool_submit(pool, &jobs[2].job), -1); /* no room */
    assert_int_equal(ph_pool_pending(pool), 2);
    gate_open(&g);
    loop_until_done(base, 2);
    assert_int_equal(ph_pool_pending(pool), 0);
    assert_int_equal(jobs[2].runs + jobs[2].dones, 0); /* the refused job never ran */
    /* room again once the jobs are done */
    assert_int_equal(ph_pool_submit(pool, &jobs[3].job), 0);
    loop_until_done(base, 3);
    assert_int_equal(jobs[3].dones, 1);
    ph_pool_destroy(pool);
    assert_int_equal(jobs[2].runs + jobs[2].dones, 0);
    free(jobs);
    gate_destroy(&g);
}

static void pool_with_zero_queue_takes_only_one_job_per_thread(void **state)
{
    struct event_base *base = *state;
    gate g;
    gate_init(&g);
    ph_pool *pool = ph_pool_create(base, 2, 0);
    assert_non_null(pool);
    test_job *jobs = make_jobs(3, &g);
    assert_int_equal(ph_pool_submit(pool, &jobs[0].job), 0);
    assert_int_equal(ph_pool_submit(pool, &jobs[1].job), 0);
    assert_int_equal(ph_pool_submit(pool, &jobs[2].job), -1);
    gate_open(&g);
    loop_until_done(base, 2);
    ph_pool_destroy(pool);
    assert_int_equal(jobs[2].dones, 0);
    free(jobs);
    gate_destroy(&g);
}

/* run() on pool threads, scheduled as SCHED_BATCH; done() on the loop. */
static void pool_runs_jobs_on_workers_and_done_on_the_loop_thread(void **state)
{
    struct event_base *base = *state;
    enum { N = 16 };
    ph_pool *pool = ph_pool_create(base, 3, N);
    assert_non_null(pool);
    test_job *jobs = make_jobs(N, NULL);
    for (int i = 0; i < N; i++)
        assert_int_equal(ph_pool_submit(pool, &jobs[i].job), 0);
    loop_until_done(base, N);
    pthread_t loop = pthread_self();
    for (int i = 0; i < N; i++) {
        assert_true(pthread_equal(jobs[i].done_thread, loop));
        assert_false(pthread_equal(jobs[i].run_thread, loop));
        assert_true(jobs[i].done_saw_run);
        /* pool threads run as SCHED_BATCH (waking one must not preempt
         * the loop); the loop thread keeps its own policy */
        assert_int_equal(jobs[i].run_policy, SCHED_BATCH);
    }
    assert_int_equal(sched_getscheduler(0), SCHED_OTHER);
    ph_pool_destroy(pool);
    free(jobs);
}

/* Blocking jobs queued in one burst each get a thread (the loop wakes one,
 * each woken thread passes the wake on), and a job queued later, while
 * every earlier one still blocks, starts too: no job waits behind a
 * blocked handler while a thread is idle. */
static void pool_blocking_jobs_each_get_an_idle_thread(void **state)
{
    struct event_base *base = *state;
    enum { THREADS = 8 };
    gate g;
    gate_init(&g);
    ph_pool *pool = ph_pool_create(base, THREADS, 4);
    assert_non_null(pool);
    test_job *jobs = make_jobs(THREADS, &g);
    for (int i = 0; i < THREADS - 1; i++)
        assert_int_equal(ph_pool_submit(pool, &jobs[i].job), 0);
    assert_true(gate_wait_started(&g, THREADS - 1)); /* all blocked at once */
    assert_int_equal(ph_pool_submit(pool, &jobs[THREADS - 1].job), 0);
    assert_true(gate_wait_started(&g, THREADS));
    assert_int_equal(atomic_load(&ctr.max_running), THREADS);
    gate_open(&g);
    loop_until_done(base, THREADS);
    ph_pool_destroy(pool);
    free(jobs);
    gate_destroy(&g);
}

static void pool_pending_counts_jobs_until_their_done_ran(void **state)
{
    struct event_base *base = *state;
    gate g;
    gate_init(&g);
    ph_pool *pool = ph_pool_create(base, 2, 8);
    assert_non_null(pool);
    assert_int_equal(ph_pool_pending(pool), 0);
    test_job *jobs = make_jobs(5, &g);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ph_pool_submit(pool, &jobs[i].job), 0);
    assert_int_equal(ph_pool_pending(pool), 5);
    gate_open(&g);
    loop_until_done(base, 5);
    assert_int_equal(ph_pool_pending(pool), 0);
    ph_pool_destroy(pool);
    free(jobs);
    gate_destroy(&g);
}

static void *open_gate_later(void *arg)
{
    usleep(50 * 1000);
    gate_open(arg);
    return NULL;
}

/* destroy() lets queued jobs run, joins the workers and runs every done()
 * itself, on the calling thread, without the loop ever running. */
static void pool_destroy_runs_queued_jobs_and_their_done(void **state)
{
    struct event_base *base = *state;
    enum { N = 6 };
    gate g;
    gate_init(&g);
    ph_pool *pool = ph_pool_create(base, 1, N);
    assert_non_null(pool);
    test_job *jobs = make_jobs(N, &g);
    for (int i = 0; i < N; i++)
        assert_int_equal(ph_pool_submit(pool, &jobs[i].job), 0);
    assert_true(gate_wait_started(&g, 1)); /* one runs, five wait */
    pthread_t opener;
    assert_int_equal(pthread_create(&opener, NULL, open_gate_later, &g), 0);
    ph_pool_destroy(pool); /* blocks until the gate opens and all finish */
    pthread_join(opener, NULL);
    for (int i = 0; i < N; i++) {
        assert_int_equal(jobs[i].runs, 1);
        assert_int_equal(jobs[i].dones, 1);
        assert_int_equal(jobs[i].run_seq, i);
        assert_int_equal(jobs[i].done_seq, i);
        assert_true(pthread_equal(jobs[i].done_thread, pthread_self()));
    }
    free(jobs);
    gate_destroy(&g);
}

static void pool_destroy_of_idle_and_null_pool_returns(void **state)
{
    struct event_base *base = *state;
    ph_pool *pool = ph_pool_create(base, 4, 0);
    assert_non_null(pool);
    ph_pool_destroy(pool);
    ph_pool_destroy(NULL);
}

/* The threads of this process (/proc/self/task). */
static int process_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* No thread until the first job (a worker serving only async routes stays
 * single-threaded), then all of them at once. */
static void pool_starts_its_threads_with_the_first_job(void **state)
{
    struct event_base *base = *state;
    int before = process_threads();
    ph_pool *pool = ph_pool_create(base, 4, 8);
    assert_non_null(pool);
    assert_int_equal(process_threads(), before);
    assert_int_equal(ph_pool_pending(pool), 0);
    test_job *jobs = make_jobs(2, NULL);
    assert_int_equal(ph_pool_submit(pool, &jobs[0].job), 0);
    assert_int_equal(process_threads(), before + 4);
    assert_int_equal(ph_pool_submit(pool, &jobs[1].job), 0);
    assert_int_equal(process_threads(), before + 4); /* started once */
    loop_until_done(base, 2);
    assert_int_equal(jobs[0].runs + jobs[1].runs, 2);
    ph_pool_destroy(pool);
    free(jobs);
}

/* 4 threads, 2000 jobs through a queue of 64: refused submits wait for the
 * loop to finish some. Every job runs once and its done() runs once, on
 * the loop, after its run(); never more than 4 run at a time. */
static void pool_stress_every_done_runs_exactly_once(void **state)
{
    struct event_base *base = *state;
    enum { N = 2000, THREADS = 4, QUEUE = 64 };
    ph_pool *pool = ph_pool_create(base, THREADS, QUEUE);
    assert_non_null(pool);
    test_job *jobs = make_jobs(N, NULL);
    int refused = 0;
    deadline_hit = false;
    struct event *deadline = evtimer_new(base, on_deadline, NULL);
    struct timeval tv = {20, 0};
    evtimer_add(deadline, &tv);
    for (int i = 0; i < N && !deadline_hit; i++) {
        while (ph_pool_submit(pool, &jobs[i].job) < 0 && !deadline_hit) {
            refused++;
            /* refused only when THREADS run and QUEUE wait (finished jobs
             * whose done() has not run yet count as pending too) */
            assert_true(ph_pool_pending(pool) >= THREADS + QUEUE);
            event_base_loop(base, EVLOOP_ONCE);
        }
    }
    event_free(deadline);
    if (deadline_hit)
        fail_msg("submitting %d jobs took more than 20 s", N);
    loop_until_done(base, N);
    assert_int_equal(ph_pool_pending(pool), 0);
    ph_pool_destroy(pool);
    pthread_t loop = pthread_self();
    for (int i = 0; i < N; i++) {
        if (jobs[i].runs != 1 || jobs[i].dones != 1)
            fail_msg("job %d ran %d times, done %d times", i, jobs[i].runs, jobs[i].dones);
        assert_true(jobs[i].done_saw_run);
        assert_true(pthread_equal(jobs[i].done_thread, loop));
    }
    assert_int_equal(ctr.done_seq, N);
    assert_int_equal(atomic_load(&ctr.run_seq), N);
    assert_in_range(atomic_load(&ctr.max_running), 1, THREADS);
    print_message("stress: %d submits refused while full, at most %d jobs ran at once\n", refused,
                  atomic_load(&ctr.max_running));
    free(jobs);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, reset, free_base)
    const struct CMUnitTest tests[] = {
        T(pool_runs_jobs_in_arrival_order_with_one_thread),
        T(pool_refuses_submit_when_threads_busy_and_queue_full),
        T(pool_with_zero_queue_takes_only_one_job_per_thread),
        T(pool_runs_jobs_on_workers_and_done_on_the_loop_thread),
        T(pool_blocking_jobs_each_get_an_idle_thread),
        T(pool_pending_counts_jobs_until_their_done_ran),
        T(pool_destroy_runs_queued_jobs_and_their_done),
        T(pool_destroy_of_idle_and_null_pool_returns),
        T(pool_starts_its_threads_with_the_first_job),
        T(pool_stress_every_done_runs_exactly_once),
    };
#undef T
    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
