/* accept_balance.c - a worker's fair share of new connections. */
#include "accept_balance.h"

#include "board.h"

void ph_accept_note_connections(int mine)
{
    ph_board_record *self = ph_board_self();
    if (self)
        atomic_store_explicit(&self->connections, mine, memory_order_relaxed);
}

bool ph_accept_fair(int mine)
{
    const ph_board *board = ph_board_shared();
    if (!board)
        return true;
    int n = atomic_load_explicit(&board->accepting.count, memory_order_acquire);
    if (n <= 1 || n > PH_BOARD_INDEX_MAX)
        return true;
    long total = 0;
    for (int i = 0; i < n; i++) {
        int rec = atomic_load_explicit(&board->accepting.records[i], memory_order_relaxed);
        if (rec >= 0 && rec < PH_BOARD_RECORDS)
            total += atomic_load_explicit(&board->records[rec].connections, memory_order_relaxed);
    }
    /* above average by more than a small slack (1/16 of the average, at
     * least 2): someone else's turn */
    long slack = total / (16L * n);
    if (slack < 2)
        slack = 2;
    return (long)mine * n <= total + slack * n;
}
