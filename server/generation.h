/* generation.h - one complete, immutable serving configuration: the parsed
 * config, its loaded plugin instances and its route table, with each
 * route's gate (its limits, queue and own pool: route_gate.h), which the
 * generation makes and frees.
 *
 * The server holds one reference to the current generation; every request
 * holds one on the generation that accepted it, so a replaced generation
 * (and any plugin only it uses) lives until its last request is done.
 * Loop thread only. */
#ifndef PH_GENERATION_H
#define PH_GENERATION_H

#include <stdbool.h>

#include "config.h"
#include "router.h"

typedef struct ph_generation {
    unsigned long number;
    ph_config *config; /* owned */
    ph_router *router; /* owned */
    int refs;
    struct ph_generation *next_dead; /* waiting for the reaper */
} ph_generation;

struct event_base;

/* Free released generations from their own loop event, never from inside
 * a plugin callback: the last request of a replaced plugin may be released
 * while that plugin's code is still on the stack (complete() called from
 * its timer callback), and its dlclose must wait until it has returned.
 * Without a base (ph_generation_reaper_setup(NULL)) they are freed at once.
 * Returns 0 or -1. */
int ph_generation_reaper_setup(struct event_base *base);

/* Free everything waiting for the reaper now, and stop deferring. */
void ph_generation_reaper_shutdown(void);

/*
 * Build generation `number` from `config` (taken over, also on failure):
 * load each route's plugin and run init(). An instance of `previous`
 * (may be NULL) whose file and settings are unchanged is reused with its
 * state; an unchanged file is not loaded again. All or nothing: on any
 * failure everything new is released and NULL returned with a one-line
 * reason "<ini>:<line>: route <path>: <plugin file>: <reason>" in err.
 */
ph_generation *ph_generation_build(ph_config *config, const ph_generation *previous, unsigned long number,
                                   char *err, size_t errlen);

/* Start the pools of `gen`'s routes that have their own (`sync_threads`
 * in a route section) on `base`, sharing the pool of the same pattern in
 * `previous` (may be NULL) when its settings are unchanged. Worker only
 * (the check process and -t start none). Returns 0, or -1 with the reason
 * in err; `gen` is then still the caller's to release. */
int ph_generation_start_pools(ph_generation *gen, const ph_generation *previous, struct event_base *base, char *err,
                              size_t errlen);

void ph_generation_ref(ph_generation *gen);

/* Drop a reference to `gen` (NULL: none). Returns true when it was the
 * last: the caller then hands `gen` to ph_generation_bury, at once or
 * after what it still has to do (ph_generation_unref does both at once).
 * Inline: every request drops one. */
static inline bool ph_generation_drop(ph_generation *gen) { return gen && --gen->refs <= 0; }

/* `gen`, whose last reference went (ph_generation_drop), is freed by the
 * reaper: its router (releasing instances, which run fini and dlclose
 * when no other generation uses them) and its config. */
void ph_generation_bury(ph_generation *gen);

/* Drop a reference; after the last, bury the generation. */
void ph_generation_unref(ph_generation *gen);

#endif
