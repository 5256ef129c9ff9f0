/* route_gate.c - per-route limits, queues, pools and their figures. */
#include "route_gate.h"

#include "board.h"
#include "pool.h"
#include "request.h"

#include <event2/event.h>
#include <stdlib.h>

/* A route's own pool, shared by the generations whose route keeps its
 * settings. */
struct ph_route_pool {
    ph_pool *pool;
    int threads, queue_max;
    int refs;
    struct ph_route_pool *prev, *next; /* every live one, for the pending count */
};

static struct {
    struct event *promote_ev;
    void (*start)(ph_request *req);
    ph_route_gate *ready;  /* gates with a free place and a waiting request */
    ph_route_pool *pools;
    bool promoting;        /* promote() is on the stack (no event: unit tests) */
} g;

static void promote(evutil_socket_t fd, short what, void *arg);

int ph_gates_setup(struct event_base *base, void (*start)(ph_request *req))
{
    g.start = start;
    g.ready = NULL;
    if (g.promote_ev)
        event_free(g.promote_ev);
    g.promote_ev = base ? event_new(base, -1, 0, promote, NULL) : NULL;
    return base && !g.promote_ev ? -1 : 0;
}

void ph_gates_shutdown(void)
{
    if (g.promote_ev)
        event_free(g.promote_ev);
    g.promote_ev = NULL;
    g.ready = NULL;
}

ph_board_route ph_gate_unboarded;

ph_route_gate *ph_gate_create(void)
{
    ph_route_gate *gate = calloc(1, sizeof(ph_route_gate));
    if (gate)
        gate->board = &ph_gate_unboarded;
    return gate;
}

static void pool_unref(ph_route_pool *p)
{
    if (!p || --p->refs > 0)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        g.pools = p->next;
    if (p->next)
        p->next->prev = p->prev;
    ph_pool_destroy(p->pool);
    free(p);
}

static void unready(ph_route_gate *gate)
{
    if (!gate->ready)
        return;
    for (ph_route_gate **p = &g.ready; *p; p = &(*p)->ready_next) {
        if (*p == gate) {
            *p = gate->ready_next;
            break;
        }
    }
    gate->ready = false;
    gate->ready_next = NULL;
}

void ph_gate_free(ph_route_gate *gate)
{
    if (!gate)
        return;
    unready(gate);
    pool_unref(gate->pool);
    free(gate);
}

/* ---- promotion ---- */

static ph_request *pop(ph_route_gate *gate)
{
    ph_request *req = gate->head;
    gate->head = req->gate_next;
    if (!gate->head)
        gate->tail = NULL;
    req->gate_next = NULL;
    gate->queued--;
    ph_board_show(&gate->board->queued, -1);
    return req;
}

/* Start waiting requests while their gates have room. */
static void promote(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    g.promoting = true;
    while (g.ready) {
        ph_route_gate *gate = g.ready;
        g.ready = gate->ready_next;
        gate->ready = false;
        gate->ready_next = NULL;
        /* start() may finish the request at once (and so leave the gate,
         * which may put it on the list again): one at a time */
        while (gate->head && ph_gate_has_room(gate) && !gate->ready) {
            ph_request *req = pop(gate);
            bool last = !gate->head; /* then the gate may go with the request's generation */
            g.start(req);
            if (last)
                break;
        }
    }
    g.promoting = false;
}

void ph_gate_wake(ph_route_gate *gate)
{
    if (gate->ready || !gate->head || !ph_gate_has_room(gate))
        return;
    gate->ready = true;
    gate->ready_next = g.ready;
    g.ready = gate;
    if (g.promote_ev)
        event_active(g.promote_ev, 0, 0);
    else if (!g.promoting && g.start)
        promote(-1, 0, NULL);
}

/* ---- places and the queue ---- */

int ph_gate_queue(ph_route_gate *gate, ph_request *req)
{
    if (gate->queued >= gate->limits.queue) {
        ph_gate_rejected(gate);
        return -1;
    }
    req->gate_next = NULL;
    if (gate->tail)
        gate->tail->gate_next = req;
    else
        gate->head = req;
    gate->tail = req;
    gate->queued++;
    ph_board_show(&gate->board->queued, 1);
    ph_gate_wake(gate); /* (a place may be free while older requests wait for the promotion) */
    return 0;
}

void ph_gate_unqueue(ph_route_gate *gate, ph_request *req)
{
    ph_request *prev = NULL;
    for (ph_request *r = gate->head; r; prev = r, r = r->gate_next) {
        if (r != req)
            continue;
        if (prev)
            prev->gate_next = r->gate_next;
        else
            gate->head = r->gate_next;
        if (gate->tail == r)
            gate->tail = prev;
        r->gate_next = NULL;
        gate->queued--;
        ph_board_show(&gate->board->queued, -1);
        if (!gate->head)
            unready(gate);
        return;
    }
}

void ph_gate_rejected(ph_route_gate *gate)
{
    gate->rejected++;
    ph_board_bump(&gate->board->rejected, 1);
}

/* ---- pools ---- */

ph_pool *ph_gate_pool(const ph_route_gate *gate) { return gate->pool ? gate->pool->pool : NULL; }

int ph_gate_pool_threads(const ph_route_gate *gate) { return gate->pool ? gate->pool->threads : 0; }

int ph_gate_start_pool(ph_route_gate *gate, const ph_route_gate *previous, struct event_base *base)
{
    const ph_route_limits *l = &gate->limits;
    if (gate->pool || l->sync_threads <= 0)
        return 0;
    ph_route_pool *shared = previous ? previous->pool : NULL;
    if (shared && shared->threads == l->sync_threads && shared->queue_max == l->pool_queue) {
        shared->refs++;
        gate->pool = shared;
        return 0;
    }
    ph_route_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->pool = ph_pool_create(base, l->sync_threads, l->pool_queue))) {
        free(p);
        return -1;
    }
    p->threads = l->sync_threads;
    p->queue_max = l->pool_queue;
    p->refs = 1;
    p->next = g.pools;
    if (g.pools)
        g.pools->prev = p;
    g.pools = p;
    gate->pool = p;
    return 0;
}

int ph_gate_pools_pending(void)
{
    int n = 0;
    for (const ph_route_pool *p = g.pools; p; p = p->next)
        n += ph_pool_pending(p->pool);
    return n;
}
