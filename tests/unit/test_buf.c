/* test_buf.c - server/buf.c: the growable byte buffer. */
#include "buf.h"
#include "bytes.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

static void buf_append_keeps_bytes_in_order_across_growth(void **state)
{
    (void)state;
    ph_buf b = {0};
    char chunk[100];
    for (int i = 0; i < 50; i++) {
        memset(chunk, 'a' + i % 26, sizeof chunk);
        assert_int_equal(ph_buf_append(&b, chunk, sizeof chunk), 0);
    }
    assert_int_equal(b.len, 5000);
    assert_true(b.cap >= b.len);
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(b.data[i], 'a' + (int)(i / 100) % 26);
    ph_buf_free(&b);
}

static void buf_reserve_nothing_on_empty_buffer_allocates_nothing(void **state)
{
    (void)state;
    ph_buf b = {0};
    assert_int_equal(ph_buf_reserve(&b, 0), 0);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
}

static void buf_first_reserve_allocates_the_minimum_then_doubles(void **state)
{
    (void)state;
    ph_buf b = {0};
    assert_int_equal(ph_buf_reserve(&b, 1), 0);
    assert_non_null(b.data);
    assert_int_equal(b.cap, PH_BUF_MIN_CAP);
    b.len = PH_BUF_MIN_CAP;
    assert_int_equal(ph_buf_reserve(&b, 1), 0);
    assert_int_equal(b.cap, 2 * PH_BUF_MIN_CAP);
    assert_int_equal(ph_buf_reserve(&b, PH_BUF_MIN_CAP), 0); /* exactly fits */
    assert_int_equal(b.cap, 2 * PH_BUF_MIN_CAP);
    assert_int_equal(ph_buf_reserve(&b, 2000), 0);
    assert_int_equal(b.cap, 4096); /* 64 doubled past 2064 */
    ph_buf_free(&b);
}

static void buf_reserve_refuses_overflow_and_leaves_buffer_unchanged(void **state)
{
    (void)state;
    ph_buf b = {0};
    assert_int_equal(ph_buf_append_str(&b, "keep"), 0);
    char *data = b.data;
    size_t cap = b.cap;
    assert_int_equal(ph_buf_reserve(&b, SIZE_MAX), -1);
    assert_int_equal(ph_buf_reserve(&b, SIZE_MAX / 2), -1);
    assert_int_equal(ph_buf_append(&b, "x", SIZE_MAX - 1), -1);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "keep", 4);
    ph_buf_free(&b);
}

static void buf_append_str_appends_without_nul(void **state)
{
    (void)state;
    ph_buf b = {0};
    assert_int_equal(ph_buf_append_str(&b, "ab"), 0);
    assert_int_equal(ph_buf_append_str(&b, ""), 0);
    assert_int_equal(ph_buf_append_str(&b, "cd"), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "abcd", 4);
    ph_buf_free(&b);
}

static void buf_append_zero_bytes_from_null_succeeds(void **state)
{
    (void)state;
    ph_buf b = {0};
    assert_int_equal(ph_buf_append(&b, NULL, 0), 0);
    assert_int_equal(b.len, 0);
    ph_buf_free(&b);
}

static void buf_reset_forgets_contents_but_keeps_memory(void **state)
{
    (void)state;
    ph_buf b = {0};
    assert_int_equal(ph_buf_append_str(&b, "hello"), 0);
    char *data = b.data;
    size_t cap = b.cap;
    ph_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    assert_int_equal(ph_buf_append_str(&b, "xy"), 0);
    assert_ptr_equal(b.data, data);
    assert_memory_equal(b.data, "xy", 2);
    ph_buf_free(&b);
}

static void buf_trim_frees_only_capacity_above_keep(void **state)
{
    (void)state;
    ph_buf b = {0};
    assert_int_equal(ph_buf_reserve(&b, 1000), 0); /* cap 1024 */
    b.len = 10;
    ph_buf_trim(&b, 1024);
    assert_non_null(b.data);
    assert_int_equal(b.cap, 1024);
    assert_int_equal(b.len, 10);
    ph_buf_trim(&b, 1023);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.len, 0);
}

static void buf_free_returns_to_empty_and_is_reusable(void **state)
{
    (void)state;
    ph_buf b = {0};
    assert_int_equal(ph_buf_append_str(&b, "abc"), 0);
    ph_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    ph_buf_free(&b); /* twice is harmless */
    assert_int_equal(ph_buf_append_str(&b, "z"), 0);
    assert_memory_equal(b.data, "z", 1);
    ph_buf_free(&b);
}

/* Every length through each of ph_copy_bytes's cases (0, 1-3, 4-7, 8-16,
 * 17-32, memcpy beyond): exactly the n bytes land, nothing either side. */
static void copy_bytes_copies_exactly_n_bytes_at_every_length(void **state)
{
    (void)state;
    char src[80], dst[96];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (char)('A' + i % 50);
    for (size_t n = 0; n <= sizeof src; n++) {
        memset(dst, '#', sizeof dst);
        ph_copy_bytes(dst + 8, src, n);
        assert_memory_equal(dst + 8, src, n);
        for (size_t i = 0; i < 8; i++)
            assert_int_equal(dst[i], '#');
        for (size_t i = 8 + n; i < sizeof dst; i++)
            assert_int_equal(dst[i], '#');
    }
    ph_copy_bytes(NULL, NULL, 0); /* 0 bytes touch nothing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_append_keeps_bytes_in_order_across_growth),
        cmocka_unit_test(buf_reserve_nothing_on_empty_buffer_allocates_nothing),
        cmocka_unit_test(buf_first_reserve_allocates_the_minimum_then_doubles),
        cmocka_unit_test(buf_reserve_refuses_overflow_and_leaves_buffer_unchanged),
        cmocka_unit_test(buf_append_str_appends_without_nul),
        cmocka_unit_test(buf_append_zero_bytes_from_null_succeeds),
        cmocka_unit_test(buf_reset_forgets_contents_but_keeps_memory),
        cmocka_unit_test(buf_trim_frees_only_capacity_above_keep),
        cmocka_unit_test(buf_free_returns_to_empty_and_is_reusable),
        cmocka_unit_test(copy_bytes_copies_exactly_n_bytes_at_every_length),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
