/* pool.c - bounded FIFO worker pool with completions back on the loop.
 *
 * Costs per job, the reason for the shapes below (a sync /hello used to
 * cost three times an async one, mostly futex calls):
 *  - Waking. Idle threads sleep on a LIFO stack, each on its own condition
 *    variable, so a submit wakes exactly one chosen thread (the most
 *    recently idle: its stack is warm) and only when the jobs queued
 *    outnumber the threads already woken for them. A thread that finishes
 *    a job takes the next one without sleeping.
 *  - Completions. A finished job is pushed on a lock-free stack; only the
 *    push that finds it empty writes the eventfd, so one wake of the loop
 *    carries every job finished until the loop drains (all of them, oldest
 *    first, in one turn). The loop reads the eventfd before it takes the
 *    stack, so a push racing with the drain always leaves a wake behind.
 *  - Preemption. Pool threads run as SCHED_BATCH (see run_as_batch), so
 *    waking one does not switch the loop off its CPU.
 *  - Threads at all. They start with the first job (start_threads): a
 *    worker that only serves async routes stays single-threaded.
 */
#include "pool.h"

#include "crash_handler.h"
#include "log.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* One pool thread. `wake` and `woken` are guarded by the pool's lock. */
typedef struct pool_thread {
    ph_pool *pool;
    pthread_t tid;
    pthread_cond_t wake;
    bool woken;                    /* a submit picked this thread */
    struct pool_thread *next_idle; /* on the idle stack */
} pool_thread;

struct ph_pool {
    pthread_mutex_t lock;
    ph_job *queue_head, *queue_tail; /* waiting jobs, FIFO (lock) */
    int queued;                      /* jobs in the queue (lock) */
    int running;                     /* jobs on a thread right now (lock) */
    int waking;                      /* threads woken, not yet back at the queue (lock) */
    pool_thread *idle;               /* sleeping threads, most recent first (lock) */
    int queue_max;
    bool stopping;                   /* (lock) */
    _Atomic(ph_job *) done_head;     /* finished jobs, newest first (lock-free) */
    int pending;                     /* loop thread: submitted, not done() */
    int nthreads;                    /* loop thread: threads started */
    int want_threads;                /* loop thread: threads the first submit starts */
    pool_thread *threads;
    int wake_fd;
    struct event *wake_ev;
};

/* Lock held, an idle thread exists: take the most recently idle one off
 * the stack and wake it. */
static void wake_idle(ph_pool *pool)
{
    pool_thread *t = pool->idle;
    pool->idle = t->next_idle;
    t->woken = true;
    pool->waking++;
    pthread_cond_signal(&t->wake);
}

/* Lock held: wake the most recently idle thread when jobs wait and no
 * thread is already on its way to the queue. The woken thread passes the
 * wake on when it leaves jobs behind (chain), so the loop pays for one
 * wake however many jobs it queues in a turn, and a job never waits
 * behind a blocked handler while a thread is idle. */
static void wake_one_if_needed(ph_pool *pool)
{
    if (pool->idle && pool->waking == 0 && pool->queued > 0)
        wake_idle(pool);
}

/* Any thread: hand a finished job to the loop. */
static void push_done(ph_pool *pool, ph_job *job)
{
    ph_job *head = atomic_load_explicit(&pool->done_head, memory_order_relaxed);
    do
        job->next = head;
    while (!atomic_compare_exchange_weak_explicit(&pool->done_head, &head, job, memory_order_release,
                                                  memory_order_relaxed));
    if (!head) {
        uint64_t one = 1;
        ssize_t n = write(pool->wake_fd, &one, sizeof one);
        (void)n; /* eventfd only fails when the counter would overflow */
    }
}

/* Pool thread, once at start: schedule this thread as SCHED_BATCH (same
 * priority and share of CPU as any other thread, but its wake-up does not
 * preempt the thread running on the CPU). Without it, on a busy machine the
 * loop's wake of a pool thread preempted the loop, the pool thread ran one
 * job and its completion woke (preempted back to) the loop: two context
 * switches per request (1.07 per request measured for a sync /hello on 64
 * connections, 0.19 with it, and 0.65x -> 0.95x the async req/s). The loop
 * keeps the normal policy, so its own wake-ups stay prompt. Failing to set
 * it (a sandbox refusing sched_setscheduler) changes speed, not behaviour,
 * so the failure is only logged once. */
static void run_as_batch(void)
{
    static atomic_bool warned;
    struct sched_param no_priority = {0};
    int rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &no_priority);
    if (rc != 0 && !atomic_exchange(&warned, true))
        ph_log_warn("pool: cannot schedule worker threads as SCHED_BATCH (%s); sync requests cost more CPU",
                    strerror(rc));
}

static void *worker_main(void *arg)
{
    pool_thread *self = arg;
    ph_pool *pool = self->pool;
    ph_crash_thread_init("pool"); /* without it a crash is still reported, a stack overflow not */
    run_as_batch();
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->queue_head && !pool->stopping) {
            self->next_idle = pool->idle;
            pool->idle = self;
            while (!self->woken)
                pthread_cond_wait(&self->wake, &pool->lock);
            self->woken = false;
            pool->waking--;
        }
        ph_job *job = pool->queue_head;
        if (!job)
            break; /* stopping and nothing left */
        pool->queue_head = job->next;
        if (!pool->queue_head)
            pool->queue_tail = NULL;
        pool->queued--;
        pool->running++;
        wake_one_if_needed(pool); /* the chain: help for the jobs left behind */
        pthread_mutex_unlock(&pool->lock);

        job->run(job);

        pthread_mutex_lock(&pool->lock);
        pool->running--; /* before done() can run: a drained job never counts as running */
        push_done(pool, job);
    }
    pthread_mutex_unlock(&pool->lock);
    ph_crash_thread_exit();
    return NULL;
}

/* Run done() for finished jobs, oldest first. Loop thread. */
static void drain_done(ph_pool *pool)
{
    ph_job *list = atomic_exchange_explicit(&pool->done_head, NULL, memory_order_acquire);
    ph_job *fifo = NULL;
    while (list) {
        ph_job *next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    while (fifo) {
        ph_job *next = fifo->next;
        pool->pending--;
        fifo->done(fifo);
        fifo = next;
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    uint64_t count;
    ssize_t n = read(fd, &count, sizeof count); /* first: see push_done's race */
    (void)n;
    drain_done(arg);
}

ph_pool *ph_pool_create(struct event_base *base, int threads, int queue_max)
{
    ph_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->queue_max = queue_max;
    pool->wake_fd = -1;
    atomic_init(&pool->done_head, NULL);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP); /* held briefly: spin before sleeping */
    int rc = pthread_mutex_init(&pool->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) {
        free(pool);
        return NULL;
    }
    pool->threads = calloc((size_t)threads, sizeof *pool->threads);
    pool->want_threads = threads;
    pool->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!pool->threads || pool->wake_fd < 0)
        goto fail;
    pool->wake_ev = event_new(base, pool->wake_fd, EV_READ | EV_PERSIST, on_wake, pool);
    if (!pool->wake_ev || event_add(pool->wake_ev, NULL) < 0)
        goto fail;
    return pool;
fail:
    ph_pool_destroy(pool);
    return NULL;
}

/* Loop thread, the first submit: start the workers. Until then the pool
 * has none, so a worker serving only async routes stays single-threaded:
 * the kernel then looks its file descriptors up without reference counts
 * and glibc skips the cancellation bracket around every read and write
 * (about 0.1 us of CPU per request, measured on async /hello). Returns 0
 * with at least one thread running (a partial start is logged and the
 * pool runs with what started), or -1 (logged) with none; no second
 * attempt either way. */
static int start_threads(ph_pool *pool)
{
    for (int i = pool->nthreads; i < pool->want_threads; i++) {
        pool_thread *t = &pool->threads[i];
        t->pool = pool;
        pthread_cond_init(&t->wake, NULL);
        int rc = pthread_create(&t->tid, NULL, worker_main, t);
        if (rc != 0) {
            pthread_cond_destroy(&t->wake);
            ph_log_error("pool: cannot start worker thread %d of %d: %s; running with %d", i + 1,
                         pool->want_threads, strerror(rc), pool->nthreads);
            break;
        }
        pool->nthreads++;
    }
    pool->want_threads = pool->nthreads; /* (no second attempt after a failure) */
    return pool->nthreads > 0 ? 0 : -1;
}

int ph_pool_submit(ph_pool *pool, ph_job *job)
{
    if (pool->nthreads < pool->want_threads)
        start_threads(pool);
    if (pool->nthreads == 0)
        return -1; /* no thread could start (logged) */
    pthread_mutex_lock(&pool->lock);
    /* Room for one job per thread plus queue_max waiting ones. */
    if (pool->stopping || pool->running + pool->queued >= pool->nthreads + pool->queue_max) {
        pthread_mutex_unlock(&pool->lock);
        return -1;
    }
    job->next = NULL;
    if (pool->queue_tail)
        pool->queue_tail->next = job;
    else
        pool->queue_head = job;
    pool->queue_tail = job;
    pool->queued++;
    pool->pending++;
    wake_one_if_needed(pool);
    pthread_mutex_unlock(&pool->lock);
    return 0;
}

int ph_pool_pending(const ph_pool *pool) { return pool->pending; }

void ph_pool_destroy(ph_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    while (pool->idle)
        wake_idle(pool);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->nthreads; i++) {
        pthread_join(pool->threads[i].tid, NULL);
        pthread_cond_destroy(&pool->threads[i].wake);
    }
    drain_done(pool);
    if (pool->wake_ev)
        event_free(pool->wake_ev);
    if (pool->wake_fd >= 0)
        close(pool->wake_fd);
    pthread_mutex_destroy(&pool->lock);
    free(pool->threads);
    free(pool);
}
