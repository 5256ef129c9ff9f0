/* test_settings_typed.c - server/settings_typed.c: typed route settings
 * read through a host table, refused with one log line naming route, key,
 * value and the syntax expected. Driven through a tiny fake table so the
 * log line can be inspected. */
#include "settings_typed.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

/* The fake table's settings: pairs, NULL-terminated, and a route path. */
struct ph_settings {
    const char *route;
    const char *const *pairs;
};

static char last_log[512];
static int log_calls;

static const char *fake_setting(const ph_settings *s, const char *key)
{
    for (const char *const *p = s->pairs; p[0]; p += 2) {
        if (strcmp(p[0], key) == 0)
            return p[1];
    }
    return NULL;
}

static const char *fake_route_path(const ph_settings *s) { return s->route; }

static void fake_log(const ph_request *req, ph_log_level level, const char *fmt, ...)
{
    (void)req;
    assert_int_equal(level, PH_LOG_ERROR);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_log, sizeof last_log, fmt, ap);
    va_end(ap);
    log_calls++;
}

static const ph_host_api fake = {
    .struct_size = sizeof(ph_host_api),
    .abi_version = PH_ABI_VERSION,
    .setting = fake_setting,
    .route_path = fake_route_path,
    .log = fake_log,
};

static const char *const pairs[] = {
    "half", "500ms", "ten", "10s", "frac", "1.5s", "bare", "2", "spaced", "10 s", "minutes", "5m",
    "kilo", "64k", "mega", "1m", "bytes", "65536", "kb", "64kb", "neg", "-1", "count", "42",
    "big", "1001", "word", "many", "yes", "yes", "off", "OFF", "one", "1", "maybe", "maybe",
    "empty", "", NULL,
};
static const ph_settings settings = {"/items", pairs};

static int reset_log(void **state)
{
    (void)state;
    last_log[0] = '\0';
    log_calls = 0;
    return 0;
}

static void durations_read_as_server_ini_spells_them(void **state)
{
    (void)state;
    uint64_t ms = 0;
    assert_int_equal(ph_settings_typed_duration_ms(&fake, &settings, "half", 9, &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(ph_settings_typed_duration_ms(&fake, &settings, "ten", 9, &ms), 0);
    assert_int_equal(ms, 10000);
    assert_int_equal(ph_settings_typed_duration_ms(&fake, &settings, "frac", 9, &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(ph_settings_typed_duration_ms(&fake, &settings, "bare", 9, &ms), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(ph_settings_typed_duration_ms(&fake, &settings, "absent", 9, &ms), 0);
    assert_int_equal(ms, 9);
    assert_int_equal(log_calls, 0);
}

static void a_bad_duration_is_refused_with_route_key_value_and_syntax(void **state)
{
    (void)state;
    uint64_t ms = 77;
    assert_int_equal(ph_settings_typed_duration_ms(&fake, &settings, "spaced", 9, &ms), -1);
    assert_int_equal(ms, 77);
    assert_int_equal(log_calls, 1);
    assert_non_null(strstr(last_log, "route /items: spaced = \"10 s\" is not a duration (500ms, 10s"));
    assert_int_equal(ph_settings_typed_duration_ms(&fake, &settings, "minutes", 9, &ms), -1);
    assert_int_equal(ph_settings_typed_duration_ms(&fake, &settings, "neg", 9, &ms), -1);
    assert_int_equal(ph_settings_typed_duration_ms(&fake, &settings, "empty", 9, &ms), -1);
    assert_int_equal(log_calls, 4);
}

static void sizes_take_binary_suffixes_and_refuse_the_rest(void **state)
{
    (void)state;
    size_t n = 0;
    assert_int_equal(ph_settings_typed_size(&fake, &settings, "kilo", 1, &n), 0);
    assert_int_equal(n, 65536);
    assert_int_equal(ph_settings_typed_size(&fake, &settings, "mega", 1, &n), 0);
    assert_int_equal(n, 1048576);
    assert_int_equal(ph_settings_typed_size(&fake, &settings, "bytes", 1, &n), 0);
    assert_int_equal(n, 65536);
    assert_int_equal(ph_settings_typed_size(&fake, &settings, "kb", 1, &n), 0);
    assert_int_equal(n, 65536);
    assert_int_equal(ph_settings_typed_size(&fake, &settings, "absent", 123, &n), 0);
    assert_int_equal(n, 123);
    assert_int_equal(log_calls, 0);
    assert_int_equal(ph_settings_typed_size(&fake, &settings, "word", 1, &n), -1);
    assert_non_null(strstr(last_log, "route /items: word = \"many\" is not a size"));
    assert_int_equal(ph_settings_typed_size(&fake, &settings, "neg", 1, &n), -1);
    assert_int_equal(n, 123);
}

static void integers_are_checked_against_their_range(void **state)
{
    (void)state;
    long v = 0;
    assert_int_equal(ph_settings_typed_int(&fake, &settings, "count", 5, 0, 1000, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(ph_settings_typed_int(&fake, &settings, "neg", 5, -10, 10, &v), 0);
    assert_int_equal(v, -1);
    assert_int_equal(ph_settings_typed_int(&fake, &settings, "absent", 5, 0, 1, &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(ph_settings_typed_int(&fake, &settings, "big", 5, 0, 1000, &v), -1);
    assert_string_equal(last_log, "route /items: big = \"1001\" is not an integer from 0 to 1000");
    assert_int_equal(ph_settings_typed_int(&fake, &settings, "ten", 5, 0, 1000, &v), -1);
    assert_int_equal(ph_settings_typed_int(&fake, &settings, "empty", 5, 0, 1000, &v), -1);
    assert_int_equal(v, 5);
}

static void booleans_take_the_server_ini_words(void **state)
{
    (void)state;
    int b = -5;
    assert_int_equal(ph_settings_typed_bool(&fake, &settings, "yes", 0, &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(ph_settings_typed_bool(&fake, &settings, "off", 1, &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(ph_settings_typed_bool(&fake, &settings, "one", 0, &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(ph_settings_typed_bool(&fake, &settings, "absent", 7, &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(ph_settings_typed_bool(&fake, &settings, "maybe", 0, &b), -1);
    assert_non_null(strstr(last_log, "maybe = \"maybe\" is not a boolean (true/false, yes/no, on/off, 1/0)"));
}

static void null_key_or_out_is_refused_without_touching_anything(void **state)
{
    (void)state;
    uint64_t ms = 3;
    long v = 3;
    assert_int_equal(ph_settings_typed_duration_ms(&fake, &settings, NULL, 9, &ms), -1);
    assert_int_equal(ms, 3);
    assert_int_equal(ph_settings_typed_duration_ms(&fake, &settings, "half", 9, NULL), -1);
    assert_int_equal(ph_settings_typed_size(&fake, &settings, "kilo", 9, NULL), -1);
    assert_int_equal(ph_settings_typed_int(&fake, &settings, NULL, 9, 0, 10, &v), -1);
    assert_int_equal(ph_settings_typed_bool(&fake, &settings, "yes", 0, NULL), -1);
    assert_int_equal(v, 3);
    assert_int_equal(log_calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(durations_read_as_server_ini_spells_them, reset_log),
        cmocka_unit_test_setup(a_bad_duration_is_refused_with_route_key_value_and_syntax, reset_log),
        cmocka_unit_test_setup(sizes_take_binary_suffixes_and_refuse_the_rest, reset_log),
        cmocka_unit_test_setup(integers_are_checked_against_their_range, reset_log),
        cmocka_unit_test_setup(booleans_take_the_server_ini_words, reset_log),
        cmocka_unit_test_setup(null_key_or_out_is_refused_without_touching_anything, reset_log),
    };
    return cmocka_run_group_tests_name("settings_typed", tests, NULL, NULL);
}
