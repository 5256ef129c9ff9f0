/* generation.h - one complete, immutable serving configuration: the parsed
 * config, its loaded plugin instances and its route table.
 *
 * The server holds one reference to the current generation; every request
 * holds one on the generation that accepted it, so a replaced generation
 * (and any plugin only it uses) lives until its last request is done.
 * Loop thread only. */
#ifndef PH_GENERATION_H
#define PH_GENERATION_H

#include "config.h"
#include "router.h"

typedef struct ph_generation {
    unsigned long number;
    ph_config *config; /* owned */
    ph_router *router; /* owned */
    int refs;
} ph_generation;

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

void ph_generation_ref(ph_generation *gen);

/* Drop a reference; the last frees the router (releasing instances, which
 * run fini and dlclose when no other generation uses them) and config. */
void ph_generation_unref(ph_generation *gen);

#endif
