/* reload.h - a worker's part of a reload, in two steps so that every
 * worker switches or none does (the supervisor coordinates): prepare
 * builds the next generation beside the current one, commit makes it
 * current. Loop thread only. */
#ifndef PH_RELOAD_H
#define PH_RELOAD_H

#include "config.h"
#include "generation.h"

#include <stddef.h>

struct ph_server;

/* Build generation `number` from `config` (taken over): new or changed
 * plugins are loaded and initialised, unchanged ones are shared with the
 * current generation, and so are routes' own pools whose settings are
 * unchanged (new ones are started). Returns it (not yet serving), or NULL with the
 * one-line reason in err. */
ph_generation *ph_reload_prepare(const struct ph_server *srv, ph_config *config, unsigned long number, char *err,
                                 size_t errlen);

/* Make the prepared `gen` (taken over) current and log what changed;
 * requests in flight finish on the generation that accepted them. */
void ph_reload_commit(struct ph_server *srv, ph_generation *gen);

#endif
