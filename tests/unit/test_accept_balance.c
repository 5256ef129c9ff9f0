/* test_accept_balance.c - server/accept_balance.c: a worker above its
 * fair share of the accepting workers' connections leaves new ones to the
 * others. */
#include "accept_balance.h"

#include "board.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <unistd.h>

static ph_board *board;

/* Workers in records 0..n-1 accept, with these connection counts; this
 * process is record 0. */
static void workers(int n, const int *conns)
{
    for (int i = 0; i < n; i++) {
        atomic_store(&board->accepting.records[i], i);
        atomic_store(&board->records[i].connections, conns[i]);
    }
    atomic_store(&board->accepting.count, n);
}

static void without_a_board_every_worker_accepts(void **state)
{
    (void)state;
    assert_true(ph_accept_fair(1000000)); /* before attaching: no supervisor */
}

static void a_worker_alone_always_accepts(void **state)
{
    (void)state;
    workers(1, (int[]){500});
    assert_true(ph_accept_fair(500));
}

static void even_shares_accept_and_one_far_ahead_waits(void **state)
{
    (void)state;
    workers(2, (int[]){32, 32});
    assert_true(ph_accept_fair(32));
    workers(2, (int[]){34, 30}); /* within the slack of 2 */
    assert_true(ph_accept_fair(34));
    workers(2, (int[]){40, 24});
    assert_false(ph_accept_fair(40));
    workers(2, (int[]){64, 0}); /* the survivor of a crash, the replacement just up */
    assert_false(ph_accept_fair(64));
    workers(2, (int[]){0, 64}); /* the replacement takes them */
    assert_true(ph_accept_fair(0));
}

static void connections_noted_by_this_worker_count(void **state)
{
    (void)state;
    workers(2, (int[]){0, 10});
    ph_accept_note_connections(25);
    assert_int_equal(atomic_load(&board->records[0].connections), 25);
    assert_false(ph_accept_fair(25)); /* 25 of 35 */
    ph_accept_note_connections(12);
    assert_true(ph_accept_fair(12));
}

int main(void)
{
    const struct CMUnitTest first[] = {cmocka_unit_test(without_a_board_every_worker_accepts)};
    int failed = cmocka_run_group_tests_name("accept_balance without a board", first, NULL, NULL);
    int fd = ph_board_create(&board);
    if (fd < 0 || ph_board_attach(fd, 0) < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_worker_alone_always_accepts),
        cmocka_unit_test(even_shares_accept_and_one_far_ahead_waits),
        cmocka_unit_test(connections_noted_by_this_worker_count),
    };
    failed += cmocka_run_group_tests_name("accept_balance", tests, NULL, NULL);
    close(fd);
    return failed;
}
