/* test_config_value.c - server/config_value.c: typed server.ini values. */
#include "config_value.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

/* ---- sizes ---- */

static void value_size_reads_plain_bytes_and_binary_suffixes(void **state)
{
    (void)state;
    size_t v = 0;
    assert_int_equal(ph_value_size("1048576", &v), 0);
    assert_int_equal(v, 1048576);
    assert_int_equal(ph_value_size("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(ph_value_size("64k", &v), 0);
    assert_int_equal(v, 64 * 1024);
    assert_int_equal(ph_value_size("64K", &v), 0);
    assert_int_equal(v, 64 * 1024);
    assert_int_equal(ph_value_size("1m", &v), 0);
    assert_int_equal(v, 1 << 20);
    assert_int_equal(ph_value_size("2MB", &v), 0);
    assert_int_equal(v, 2 << 20);
    assert_int_equal(ph_value_size("1g", &v), 0);
    assert_int_equal(v, (size_t)1 << 30);
    assert_int_equal(ph_value_size("3kb", &v), 0);
    assert_int_equal(v, 3 * 1024);
}

static void value_size_rejects_malformed_text_and_keeps_output(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "k", "-1", " 1", "1x", "1kk", "1k ", "1 k", "1.5m", "1kbb", "0x10",
                                      "99999999999999999999999", "18446744073709551615k"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t v = 777;
        if (ph_value_size(bad[i], &v) != -1)
            fail_msg("ph_value_size accepted '%s'", bad[i]);
        assert_int_equal(v, 777);
    }
}

/* ---- durations ---- */

static void value_duration_reads_ms_seconds_fractions_and_bare_seconds(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(ph_value_duration_ms("500ms", &v), 0);
    assert_int_equal(v, 500);
    assert_int_equal(ph_value_duration_ms("10s", &v), 0);
    assert_int_equal(v, 10000);
    assert_int_equal(ph_value_duration_ms("1.5s", &v), 0);
    assert_int_equal(v, 1500);
    assert_int_equal(ph_value_duration_ms("2", &v), 0);
    assert_int_equal(v, 2000);
    assert_int_equal(ph_value_duration_ms(".25", &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(ph_value_duration_ms("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(ph_value_duration_ms("2592000", &v), 0); /* 30 days exactly */
    assert_int_equal(v, 2592000000ull);
}

static void value_duration_rejects_negative_malformed_and_above_30_days(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "-1", "-0.5s", "abc", "5h", "1 s", "10sec", "ms", "s",
                                      "nan", "inf", "2592000.5", "2592001", "2592000001ms"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 777;
        if (ph_value_duration_ms(bad[i], &v) != -1)
            fail_msg("ph_value_duration_ms accepted '%s'", bad[i]);
        assert_int_equal(v, 777);
    }
}

/* ---- booleans ---- */

static void value_bool_accepts_all_spellings_case_insensitively(void **state)
{
    (void)state;
    static const char *const yes[] = {"true", "TRUE", "yes", "Yes", "on", "ON", "1"};
    static const char *const no[] = {"false", "False", "no", "NO", "off", "Off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        bool v = false;
        assert_int_equal(ph_value_bool(yes[i], &v), 0);
        assert_true(v);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        bool v = true;
        assert_int_equal(ph_value_bool(no[i], &v), 0);
        assert_false(v);
    }
}

static void value_bool_rejects_other_words(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "2", "tru", "yess", "enabled", " true", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool v = true;
        if (ph_value_bool(bad[i], &v) != -1)
            fail_msg("ph_value_bool accepted '%s'", bad[i]);
        assert_true(v);
    }
}

/* ---- integers ---- */

static void value_int_accepts_bounds_inclusive(void **state)
{
    (void)state;
    long v = 0;
    assert_int_equal(ph_value_int("1", 1, 4096, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(ph_value_int("4096", 1, 4096, &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(ph_value_int("-5", -10, 10, &v), 0);
    assert_int_equal(v, -5);
}

static void value_int_rejects_out_of_range_and_trailing_text(void **state)
{
    (void)state;
    static const char *const bad[] = {"0", "4097", "", "-", "+5", "12abc", "1.0", " 5", "5 ",
                                      "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long v = 777;
        if (ph_value_int(bad[i], 1, 4096, &v) != -1)
            fail_msg("ph_value_int accepted '%s' for 1..4096", bad[i]);
        assert_int_equal(v, 777);
    }
}

/* ---- listen addresses ---- */

static void value_listen_splits_ipv4_name_and_bracketed_ipv6(void **state)
{
    (void)state;
    char *host = NULL;
    uint16_t port = 1;
    assert_int_equal(ph_value_listen("127.0.0.1:8080", &host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    free(host);
    assert_int_equal(ph_value_listen("localhost:0", &host, &port), 0);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 0);
    free(host);
    assert_int_equal(ph_value_listen("[::1]:65535", &host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 65535);
    free(host);
}

static void value_listen_rejects_missing_parts_and_bad_ports(void **state)
{
    (void)state;
    static const char *const bad[] = {"8080", ":80", "host:", "host:65536", "host:-1", "host:80x",
                                      "::1:80", "[::1]80", "[::1]", "[]:80", "[::1:80", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *host = (char *)"untouched";
        uint16_t port = 7;
        if (ph_value_listen(bad[i], &host, &port) != -1)
            fail_msg("ph_value_listen accepted '%s'", bad[i]);
        assert_string_equal(host, "untouched");
        assert_int_equal(port, 7);
    }
}

/* ---- methods ---- */

static void method_bit_matches_exact_upper_case_names_of_given_length(void **state)
{
    (void)state;
    assert_int_equal(ph_method_bit("GET", 3), PH_METHOD_GET);
    assert_int_equal(ph_method_bit("OPTIONS", 7), PH_METHOD_OPTIONS);
    assert_int_equal(ph_method_bit("GETX", 3), PH_METHOD_GET);
    assert_int_equal(ph_method_bit("GET", 2), 0);
    assert_int_equal(ph_method_bit("get", 3), 0);
    assert_int_equal(ph_method_bit("TRACE", 5), 0);
    assert_int_equal(ph_method_bit("", 0), 0);
}

static void method_name_round_trips_every_single_bit(void **state)
{
    (void)state;
    static const char *const names[PH_METHOD_COUNT] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (unsigned i = 0; i < PH_METHOD_COUNT; i++) {
        assert_string_equal(ph_method_name(1u << i), names[i]);
        assert_int_equal(ph_method_bit(names[i], strlen(names[i])), 1u << i);
    }
    assert_null(ph_method_name(0));
    assert_null(ph_method_name(PH_METHOD_GET | PH_METHOD_POST));
    assert_null(ph_method_name(1u << PH_METHOD_COUNT));
}

static void value_methods_accepts_commas_spaces_and_repeats(void **state)
{
    (void)state;
    char bad[32];
    unsigned m = 0;
    assert_int_equal(ph_value_methods("GET, POST", &m, bad, sizeof bad), 0);
    assert_int_equal(m, PH_METHOD_GET | PH_METHOD_POST);
    assert_int_equal(ph_value_methods("PUT DELETE", &m, bad, sizeof bad), 0);
    assert_int_equal(m, PH_METHOD_PUT | PH_METHOD_DELETE);
    assert_int_equal(ph_value_methods("  PATCH,,OPTIONS ,\tHEAD  ", &m, bad, sizeof bad), 0);
    assert_int_equal(m, PH_METHOD_PATCH | PH_METHOD_OPTIONS | PH_METHOD_HEAD);
    assert_int_equal(ph_value_methods("GET,GET", &m, bad, sizeof bad), 0);
    assert_int_equal(m, PH_METHOD_GET);
}

static void value_methods_names_first_unknown_method(void **state)
{
    (void)state;
    char bad[32] = "";
    unsigned m = 123;
    assert_int_equal(ph_value_methods("GET, FETCH, BREW", &m, bad, sizeof bad), -1);
    assert_string_equal(bad, "FETCH");
    assert_int_equal(m, 123);
    assert_int_equal(ph_value_methods("get", &m, bad, sizeof bad), -1);
    assert_string_equal(bad, "get");
    char small[4];
    assert_int_equal(ph_value_methods("CONNECT", &m, small, sizeof small), -1);
    assert_string_equal(small, "CON");
}

static void value_methods_rejects_empty_list(void **state)
{
    (void)state;
    char bad[32] = "";
    unsigned m = 123;
    assert_int_equal(ph_value_methods("", &m, bad, sizeof bad), -1);
    assert_string_equal(bad, "(empty)");
    assert_int_equal(ph_value_methods(" , ,", &m, bad, sizeof bad), -1);
    assert_string_equal(bad, "(empty)");
    assert_int_equal(m, 123);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(value_size_reads_plain_bytes_and_binary_suffixes),
        cmocka_unit_test(value_size_rejects_malformed_text_and_keeps_output),
        cmocka_unit_test(value_duration_reads_ms_seconds_fractions_and_bare_seconds),
        cmocka_unit_test(value_duration_rejects_negative_malformed_and_above_30_days),
        cmocka_unit_test(value_bool_accepts_all_spellings_case_insensitively),
        cmocka_unit_test(value_bool_rejects_other_words),
        cmocka_unit_test(value_int_accepts_bounds_inclusive),
        cmocka_unit_test(value_int_rejects_out_of_range_and_trailing_text),
        cmocka_unit_test(value_listen_splits_ipv4_name_and_bracketed_ipv6),
        cmocka_unit_test(value_listen_rejects_missing_parts_and_bad_ports),
        cmocka_unit_test(method_bit_matches_exact_upper_case_names_of_given_length),
        cmocka_unit_test(method_name_round_trips_every_single_bit),
        cmocka_unit_test(value_methods_accepts_commas_spaces_and_repeats),
        cmocka_unit_test(value_methods_names_first_unknown_method),
        cmocka_unit_test(value_methods_rejects_empty_list),
    };
    return cmocka_run_group_tests_name("config_value", tests, NULL, NULL);
}
