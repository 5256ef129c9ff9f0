/* accept_balance.h - every worker accepts from the one shared listening
 * socket; left alone, the busiest worker (awake anyway) tends to take most
 * new connections, and after a worker dies the survivor takes all its
 * clients' reconnections. A worker holding more than its fair share of
 * the accepting workers' connections (the board says how many each has)
 * leaves new ones to the others for a moment; if nobody takes them it
 * accepts anyway, so a connection never waits for a worker that is down
 * or stuck. Loop thread. */
#ifndef PH_ACCEPT_BALANCE_H
#define PH_ACCEPT_BALANCE_H

#include <stdbool.h>

/* How long a worker above its share leaves pending connections to the
 * others before it takes them itself. */
#define PH_ACCEPT_DEFER_MS 2

/* Publish this worker's open connections on the board. */
void ph_accept_note_connections(int mine);

/* True when this worker, holding `mine` connections, is within its fair
 * share and should accept now. Without a board (no supervisor), always. */
bool ph_accept_fair(int mine);

/* How many of its `mine` connections this worker holds beyond its fair
 * share and the slack (0 when fair): after a worker died, its clients
 * reconnected to the survivors; these are the ones to move back to the
 * replacement. */
int ph_accept_excess(int mine);

#endif
