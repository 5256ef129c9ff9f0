/* pool.c - bounded FIFO worker pool with completions back on the loop. */
#include "pool.h"

#include "crash_handler.h"
#include "log.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct ph_pool {
    pthread_mutex_t lock;
    pthread_cond_t work_ready;
    ph_job *queue_head, *queue_tail; /* waiting jobs, FIFO */
    int queued;                      /* jobs in the queue */
    int running;                     /* jobs on a thread right now */
    int queue_max;
    ph_job *done_head;               /* finished jobs, newest first */
    bool stopping;
    int pending;                     /* loop thread: submitted, not done() */
    int nthreads;
    pthread_t *threads;
    int wake_fd;
    struct event *wake_ev;
};

static void *worker_main(void *arg)
{
    ph_pool *pool = arg;
    ph_crash_thread_init("pool"); /* without it a crash is still reported, a stack overflow not */
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->queue_head && !pool->stopping)
            pthread_cond_wait(&pool->work_ready, &pool->lock);
        ph_job *job = pool->queue_head;
        if (!job)
            break; /* stopping and nothing left */
        pool->queue_head = job->next;
        if (!pool->queue_head)
            pool->queue_tail = NULL;
        pool->queued--;
        pool->running++;
        pthread_mutex_unlock(&pool->lock);

        job->run(job);

        pthread_mutex_lock(&pool->lock);
        pool->running--;
        bool was_empty = pool->done_head == NULL;
        job->next = pool->done_head;
        pool->done_head = job;
        if (was_empty) {
            uint64_t one = 1;
            ssize_t n = write(pool->wake_fd, &one, sizeof one);
            (void)n; /* eventfd only fails when the counter would overflow */
        }
    }
    pthread_mutex_unlock(&pool->lock);
    ph_crash_thread_exit();
    return NULL;
}

/* Run done() for finished jobs, oldest first. Loop thread. */
static void drain_done(ph_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    ph_job *list = pool->done_head;
    pool->done_head = NULL;
    pthread_mutex_unlock(&pool->lock);
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
    ssize_t n = read(fd, &count, sizeof count);
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
    if (pthread_mutex_init(&pool->lock, NULL) != 0) {
        free(pool);
        return NULL;
    }
    pthread_cond_init(&pool->work_ready, NULL);
    pool->threads = calloc((size_t)threads, sizeof *pool->threads);
    pool->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!pool->threads || pool->wake_fd < 0)
        goto fail;
    pool->wake_ev = event_new(base, pool->wake_fd, EV_READ | EV_PERSIST, on_wake, pool);
    if (!pool->wake_ev || event_add(pool->wake_ev, NULL) < 0)
        goto fail;
    for (int i = 0; i < threads; i++) {
        int rc = pthread_create(&pool->threads[i], NULL, worker_main, pool);
        if (rc != 0) {
            ph_log_error("pool: cannot start worker thread %d of %d: %s", i + 1, threads, strerror(rc));
            goto fail;
        }
        pool->nthreads++;
    }
    return pool;
fail:
    ph_pool_destroy(pool);
    return NULL;
}

int ph_pool_submit(ph_pool *pool, ph_job *job)
{
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
    pthread_cond_signal(&pool->work_ready);
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
    pthread_cond_broadcast(&pool->work_ready);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    drain_done(pool);
    if (pool->wake_ev)
        event_free(pool->wake_ev);
    if (pool->wake_fd >= 0)
        close(pool->wake_fd);
    pthread_cond_destroy(&pool->work_ready);
    pthread_mutex_destroy(&pool->lock);
    free(pool->threads);
    free(pool);
}
