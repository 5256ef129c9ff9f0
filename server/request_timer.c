/* request_timer.c - one-shot loop timers bound to a request. */
#include "request_timer.h"

#include "request.h"

#include <event2/event.h>
#include <stdlib.h>

struct ph_timer {
    struct event *ev;
    ph_request *req;
    ph_timer_cb cb;
    void *arg;
    struct ph_timer *next; /* the request's pending timers */
};

static struct event_base *timer_base;

void ph_request_timer_setup(struct event_base *base) { timer_base = base; }

static void unlink_timer(ph_timer *t)
{
    for (ph_timer **p = &t->req->timers; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            return;
        }
    }
}

static void destroy_timer(ph_timer *t)
{
    event_free(t->ev);
    free(t);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_timer *t = arg;
    ph_request *req = t->req;
    ph_timer_cb cb = t->cb;
    void *cb_arg = t->arg;
    unlink_timer(t);
    destroy_timer(t);
    cb(req, cb_arg);
}

ph_timer *ph_request_timer_start(ph_request *req, uint64_t ms, ph_timer_cb cb, void *arg)
{
    if (!req || !cb || !timer_base)
        return NULL;
    ph_timer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ev = evtimer_new(timer_base, on_timer, t);
    if (!t->ev) {
        free(t);
        return NULL;
    }
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    if (evtimer_add(t->ev, &tv) < 0) {
        destroy_timer(t);
        return NULL;
    }
    t->req = req;
    t->cb = cb;
    t->arg = arg;
    t->next = req->timers;
    req->timers = t;
    return t;
}

void ph_request_timer_cancel(ph_timer *t)
{
    if (!t)
        return;
    unlink_timer(t);
    destroy_timer(t);
}

void ph_request_timer_cancel_all(ph_request *req)
{
    ph_timer *t = req->timers;
    while (t) {
        ph_timer *next = t->next;
        destroy_timer(t);
        t = next;
    }
    req->timers = NULL;
}
