/* upstream.h - outbound TCP connections, pooled per host:port, for the
 * fetch client (fetch.c speaks HTTP over them; this file only opens,
 * lends, keeps and closes them). Loop thread only.
 *
 * An upstream (host:port) has at most `upstream_connections` connections
 * open at once; a fetch asks for one with ph_upstream_wait and waits in
 * the upstream's FIFO (at most PH_UPSTREAM_MAX_WAITING) until one is
 * idle or may be opened. A new connection resolves its name with evdns
 * (evdns_getaddrinfo; numeric hosts and /etc/hosts answer at once), then
 * connects to the first address. The holder writes its request into the
 * connection's output and reads its input; when done it gives the
 * connection back, for reuse (the idle stack, most recently used first,
 * at most PH_UPSTREAM_MAX_IDLE, each closed after PH_UPSTREAM_IDLE_MS
 * unused or when the peer closes it or sends a byte) or to be closed.
 *
 * The holder's hooks run only from the loop (a libevent callback or the
 * connection's own kick event), never inside a call into this module: a
 * failure found while opening (no address, connect() refused at once) is
 * reported on the next loop turn. A closed connection's memory is freed
 * by a reaper event on the next loop turn, never inside its callbacks.
 *
 * Limits: the first address a name resolves to is used; a lookup still in
 * flight when its connection closes is left to finish (its result is
 * dropped), and one in flight at shutdown is abandoned to evdns. */
#ifndef PH_UPSTREAM_H
#define PH_UPSTREAM_H

#include "plughost.h"

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct evdns_base;
struct evbuffer;

#define PH_UPSTREAM_DEFAULT_MAX_CONNS 256u /* per upstream, unless configured */
#define PH_UPSTREAM_MAX_IDLE 64u           /* idle connections kept per upstream */
#define PH_UPSTREAM_MAX_WAITING 4096u      /* fetches queued per upstream */
#define PH_UPSTREAM_IDLE_MS 30000u
#define PH_UPSTREAM_READ_MAX (256u * 1024u) /* input buffered before reading stops */

typedef struct ph_upstream ph_upstream;
typedef struct ph_upconn ph_upconn;

/* What a connection tells its holder. */
typedef struct ph_upconn_hooks {
    /* The connection is the holder's now (`c`), or NULL when none could
     * be made (no memory). Runs inside ph_upstream_wait or when another
     * holder gives one back: the holder writes its request, nothing more. */
    void (*granted)(void *owner, ph_upconn *c);
    /* New bytes in the input, or ph_upconn_kick was called. */
    void (*readable)(void *owner);
    /* The connection ended. `kind` PH_FETCH_DNS or PH_FETCH_REFUSED: it
     * never opened, `why` says why. PH_FETCH_RESET: it was open and the
     * peer closed it (`err` 0) or it failed (`err` an errno value); bytes
     * read before are still in the input. The holder still gives it back
     * (ph_upconn_release). */
    void (*closed)(void *owner, ph_fetch_error kind, int err, const char *why);
} ph_upconn_hooks;

/* A holder waiting for a connection: embed it; the fields are this
 * module's except hooks and owner, which the holder sets. */
typedef struct ph_upwait {
    const ph_upconn_hooks *hooks;
    void *owner;
    struct ph_upwait *prev, *next;
    ph_upstream *up; /* while waiting */
} ph_upwait;

/* Use `base` and `dns` (both outlive the pool until ph_upstream_shutdown).
 * Returns 0 or -1 (no memory; logged). */
int ph_upstream_setup(struct event_base *base, struct evdns_base *dns);

/* Connections per upstream (0 = PH_UPSTREAM_DEFAULT_MAX_CONNS). */
void ph_upstream_set_max_connections(unsigned n);

/* Close every idle connection and free the upstreams. Every connection
 * must have been given back and every waiter withdrawn first. */
void ph_upstream_shutdown(void);

/* Queue `w` (hooks and owner set) for a connection to host:port (host
 * without brackets). `granted` may run before this returns. Returns 0, or
 * -1 when too many wait already or no memory (nothing queued). */
int ph_upstream_wait(ph_upwait *w, const char *host, unsigned port);

/* Withdraw a waiter that was not granted yet. */
void ph_upstream_unwait(ph_upwait *w);

/* Give `c` back: reuse it when `reuse` (its input and output are empty,
 * it is open and the pool keeps idle ones), else close it. No hook of the
 * holder runs after this. May grant it (or a new one) to the next waiter
 * at once. */
void ph_upconn_release(ph_upconn *c, bool reuse);

/* The bytes read and not yet drained by the holder; the bytes still to
 * be written (the holder appends its request there). */
struct evbuffer *ph_upconn_input(ph_upconn *c);
struct evbuffer *ph_upconn_output(ph_upconn *c);

/* Stop or restart reading the socket (back-pressure). Reading also stops
 * by itself while PH_UPSTREAM_READ_MAX bytes wait in the input. */
void ph_upconn_read(ph_upconn *c, bool on);

/* Run the holder's `readable` hook on the next loop turn. */
void ph_upconn_kick(ph_upconn *c);

#endif
