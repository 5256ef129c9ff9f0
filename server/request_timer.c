/* request_timer.c - one-shot and repeating loop timers bound to a request. */
#include "request_timer.h"

#include "request.h"
#include "watchdog.h"

#include <event2/event.h>
#include <stdlib.h>

struct ph_timer {
    struct event *ev;            /* in the timer's own allocation, after it */
    ph_request *req;
    ph_timer_cb cb;
    void *arg;
    struct ph_timer *next; /* the request's pending timers */
};

static struct event_base *timer_base;

/* The timer whose callback is running, and whether it was cancelled (or
 * its request ended) meanwhile: it is then freed once the callback is
 * back, not under it. */
static ph_timer *firing;
static bool firing_cancelled;

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

/* Free `t` and its event (one allocation). */
static void free_timer(ph_timer *t)
{
    event_del(t->ev);
    free(t);
}

static void destroy_timer(ph_timer *t)
{
    if (t == firing) {
        firing_cancelled = true;
        event_del(t->ev);
        return;
    }
    free_timer(t);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_timer *t = arg;
    ph_request *req = t->req;
    bool repeat = event_get_events(t->ev) & EV_PERSIST;
    if (!repeat)
        unlink_timer(t); /* a one-shot is spent: the callback may not cancel it */
    firing = t;
    firing_cancelled = !repeat;
    const struct ph_route *route = req->route;
    ph_plugin_call call = ph_watchdog_begin(route, "timer callback");
    t->cb(req, t->arg);
    ph_watchdog_end(&call);
    firing = NULL;
    if (firing_cancelled)
        free_timer(t);
}

ph_timer *ph_request_timer_start(ph_request *req, uint64_t ms, bool repeat, ph_timer_cb cb, void *arg)
{
    if (!req || !cb || !timer_base || (repeat && ms == 0))
        return NULL;
    size_t at = (sizeof(ph_timer) + 15) & ~(size_t)15;
    ph_timer *t = calloc(1, at + event_get_struct_event_size());
    if (!t)
        return NULL;
    t->ev = (struct event *)(void *)((char *)t + at);
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    if (event_assign(t->ev, timer_base, -1, repeat ? EV_PERSIST : 0, on_timer, t) < 0 ||
        event_add(t->ev, &tv) < 0) {
        free(t);
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
    if (t == firing && firing_cancelled)
        return; /* a spent one-shot, or cancelled twice inside its callback */
    unlink_timer(t);
    destroy_timer(t);
}

void ph_request_timer_cancel_all(ph_request *req)
{
    ph_timer *t = req->timers;
    req->timers = NULL;
    while (t) {
        ph_timer *next = t->next;
        destroy_timer(t);
        t = next;
    }
}
