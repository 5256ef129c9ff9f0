/* accept_balance.c - a worker's fair share of new connections. */
#include "accept_balance.h"

#include "board.h"

void ph_accept_note_connections(int mine)
{
    ph_board_record *self = ph_board_self();
    if (self)
        atomic_store_explicit(&self->connections, mine, memory_order_relaxed);
}

/* The accepting workers (n) and their connections (total) from the
 * board; false without a board or with fewer than two. */
static bool share(long *total, int *n, long *slack)
{
    const ph_board *board = ph_board_shared();
    if (!board)
        return false;
    *n = atomic_load_explicit(&board->accepting.count, memory_order_acquire);
    if (*n <= 1 || *n > PH_BOARD_INDEX_MAX)
        return false;
    *total = 0;
    for (int i = 0; i < *n; i++) {
        int rec = atomic_load_explicit(&board->accepting.records[i], memory_order_relaxed);
        if (rec >= 0 && rec < PH_BOARD_RECORDS)
            *total += atomic_load_explicit(&board->records[rec].connections, memory_order_relaxed);
    }
    /* a small slack (1/16 of the average, at least 2) */
    *slack = *total / (16L * *n);
    if (*slack < 2)
        *slack = 2;
    return true;
}

bool ph_accept_fair(int mine)
{
    long total, slack;
    int n;
    if (!share(&total, &n, &slack))
        return true;
    return (long)mine * n <= total + slack * n;
}

int ph_accept_excess(int mine)
{
    long total, slack;
    int n;
    if (!share(&total, &n, &slack))
        return 0;
    long excess = (long)mine - (total + n - 1) / n - slack;
    return excess > 0 ? (int)excess : 0;
}
