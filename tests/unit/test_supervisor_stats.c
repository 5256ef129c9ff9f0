/* test_supervisor_stats.c - server/supervisor_stats.c: totals that
 * outlive the board records they came from. */
#include "supervisor_stats.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void name_slot(ph_board_route *s, const char *pattern)
{
    snprintf(s->pattern, sizeof s->pattern, "%s", pattern);
    atomic_store(&s->seq, 2);
}

static ph_board_record *record(const char *pattern, unsigned long ok, unsigned long errors)
{
    ph_board_record *rec = calloc(1, sizeof *rec);
    assert_non_null(rec);
    name_slot(&rec->routes[1], pattern);
    atomic_store(&rec->routes[1].status[1], ok);
    atomic_store(&rec->routes[1].status[4], errors);
    atomic_store(&rec->routes[1].latency[0], ok + errors);
    atomic_store(&rec->sync_rejected, 3);
    return rec;
}

static const ph_stat_route *find(const ph_stat_counters *c, const char *pattern)
{
    for (size_t i = 0; i < c->nroutes; i++)
        if (strcmp(c->routes[i].pattern, pattern) == 0)
            return &c->routes[i];
    return NULL;
}

static void folded_records_add_up_by_pattern_whatever_their_slot(void **state)
{
    (void)state;
    ph_sup_stats st;
    ph_sup_stats_init(&st);
    ph_board_record *a = record("/hello", 10, 1), *b = record("/items/{id}", 5, 0), *c = record("/hello", 7, 2);
    /* the same pattern in another slot of another worker */
    ph_board_record *d = calloc(1, sizeof *d);
    name_slot(&d->routes[5], "/hello");
    atomic_store(&d->routes[5].status[1], 100);
    ph_sup_stats_fold(&st, a);
    ph_sup_stats_fold(&st, b);
    ph_sup_stats_fold(&st, c);
    ph_sup_stats_fold(&st, d);
    const ph_stat_route *h = find(&st.folded, "/hello");
    assert_non_null(h);
    assert_int_equal(h->status[1], 117);
    assert_int_equal(h->status[4], 3);
    assert_int_equal(h->latency[0], 20);
    assert_int_equal(find(&st.folded, "/items/{id}")->status[1], 5);
    assert_int_equal(st.folded.sync_rejected, 9);
    free(a), free(b), free(c), free(d);
    ph_sup_stats_free(&st);
}

static void live_totals_are_folded_plus_live_and_never_lower_after_a_death(void **state)
{
    (void)state;
    ph_sup_stats st;
    ph_sup_stats_init(&st);
    ph_board_record *w = record("/hello", 40, 0);
    ph_stat_counters live;
    assert_int_equal(ph_stat_counters_copy(&live, &st.folded), 0);
    assert_int_equal(ph_stat_add_record(&live, w), 0);
    unsigned long before = find(&live, "/hello")->status[1];
    ph_stat_counters_free(&live);
    /* the worker dies: its record is folded and no longer read live */
    ph_sup_stats_fold(&st, w);
    memset(w, 0, sizeof *w); /* the record is reused by its replacement */
    assert_int_equal(ph_stat_counters_copy(&live, &st.folded), 0);
    assert_int_equal(ph_stat_add_record(&live, w), 0);
    assert_true(find(&live, "/hello")->status[1] >= before);
    ph_stat_counters_free(&live);
    free(w);
    ph_sup_stats_free(&st);
}

/* A route's 503s for want of room are a counter (kept when its worker is
 * folded); its in-flight, queued and thread figures are the live workers'
 * (summed) and its limits the largest a worker has; a folded record
 * leaves none of them behind. */
static void route_rejections_are_kept_and_route_load_is_live_only(void **state)
{
    (void)state;
    ph_sup_stats st;
    ph_sup_stats_init(&st);
    ph_board_record *w1 = record("/slow", 1, 0), *w2 = record("/slow", 1, 0);
    for (int i = 0; i < 2; i++) {
        ph_board_route *s = i ? &w2->routes[1] : &w1->routes[1];
        atomic_store(&s->rejected, 4);
        atomic_store(&s->inflight, 2);
        atomic_store(&s->queued, 3 + i);
        atomic_store(&s->threads, 8);
        atomic_store(&s->max_inflight, 8);
        atomic_store(&s->queue, 100);
    }
    ph_stat_counters live;
    assert_int_equal(ph_stat_counters_copy(&live, &st.folded), 0);
    assert_int_equal(ph_stat_add_record(&live, w1), 0);
    assert_int_equal(ph_stat_add_record(&live, w2), 0);
    const ph_stat_route *r = find(&live, "/slow");
    assert_int_equal(r->rejected, 8);
    assert_int_equal(r->inflight, 4);
    assert_int_equal(r->queued, 7);
    assert_int_equal(r->threads, 16);
    assert_int_equal(r->max_inflight, 8);
    assert_int_equal(r->queue, 100);
    ph_stat_counters_free(&live);
    ph_sup_stats_fold(&st, w1); /* w1 is gone */
    assert_int_equal(ph_stat_counters_copy(&live, &st.folded), 0);
    assert_int_equal(ph_stat_add_record(&live, w2), 0);
    r = find(&live, "/slow");
    assert_int_equal(r->rejected, 8); /* never lower */
    assert_int_equal(r->inflight, 2); /* w2's only */
    assert_int_equal(r->queued, 4);
    assert_int_equal(r->threads, 8);
    ph_stat_counters_free(&live);
    free(w1), free(w2);
    ph_sup_stats_free(&st);
}

static void a_slot_being_rewritten_is_not_read(void **state)
{
    (void)state;
    ph_board_record *rec = record("/hello", 1, 0);
    atomic_store(&rec->routes[1].seq, 3); /* odd: the worker is writing its text */
    ph_board_route out;
    assert_false(ph_stat_read_slot(&rec->routes[1], &out));
    atomic_store(&rec->routes[1].seq, 4);
    assert_true(ph_stat_read_slot(&rec->routes[1], &out));
    assert_string_equal(out.pattern, "/hello");
    free(rec);
}

static void reloads_are_counted_and_kept_newest_last(void **state)
{
    (void)state;
    ph_sup_stats st;
    ph_sup_stats_init(&st);
    assert_true(st.last_reload_ok);
    for (int i = 0; i < PH_STAT_RELOADS + 3; i++)
        ph_sup_stats_reload(&st, "SIGHUP", (unsigned long)i + 2, 1.5, i % 2 ? "bad.ini:3: nope" : NULL);
    assert_int_equal(st.reloads, PH_STAT_RELOADS + 3);
    assert_int_equal(st.reload_failures, (PH_STAT_RELOADS + 3) / 2);
    assert_true(st.last_reload_ok); /* the last one (i = 18) succeeded */
    assert_int_equal(st.nseen, PH_STAT_RELOADS);
    const ph_stat_reload *newest = &st.reloads_seen[(st.next - 1 + PH_STAT_RELOADS) % PH_STAT_RELOADS];
    assert_int_equal(newest->generation, PH_STAT_RELOADS + 4);
    ph_sup_stats_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(folded_records_add_up_by_pattern_whatever_their_slot),
        cmocka_unit_test(live_totals_are_folded_plus_live_and_never_lower_after_a_death),
        cmocka_unit_test(route_rejections_are_kept_and_route_load_is_live_only),
        cmocka_unit_test(a_slot_being_rewritten_is_not_read),
        cmocka_unit_test(reloads_are_counted_and_kept_newest_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
