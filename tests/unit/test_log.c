/* test_log.c - server/log.c: one-line records on stderr. stderr is
 * redirected into a temporary file around each record. */
#include "log.h"

#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <string.h>

static char *dir;

static int group_setup(void **state)
{
    (void)state;
    dir = ut_mkdtemp("ph-unit-log");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ut_rmtree(dir);
    free(dir);
    return 0;
}

static int restore_level(void **state)
{
    (void)state;
    ph_log_set_level(PH_LOG_INFO);
    return 0;
}

/* Everything written to stderr by `fn`, as a string to free. */
static char *capture(void (*fn)(void))
{
    char path[4200];
    snprintf(path, sizeof path, "%s/stderr", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    char *text = ut_read_file(path, NULL);
    assert_non_null(text);
    return text;
}

static void parse_level_accepts_the_four_names_only(void **state)
{
    (void)state;
    ph_log_level l = PH_LOG_ERROR;
    assert_int_equal(ph_log_parse_level("debug", &l), 0);
    assert_int_equal(l, PH_LOG_DEBUG);
    assert_int_equal(ph_log_parse_level("info", &l), 0);
    assert_int_equal(l, PH_LOG_INFO);
    assert_int_equal(ph_log_parse_level("warn", &l), 0);
    assert_int_equal(l, PH_LOG_WARN);
    assert_int_equal(ph_log_parse_level("error", &l), 0);
    assert_int_equal(l, PH_LOG_ERROR);
    assert_int_equal(ph_log_parse_level("warning", &l), -1);
    assert_int_equal(ph_log_parse_level("INFO", &l), -1);
    assert_int_equal(ph_log_parse_level("", &l), -1);
    assert_int_equal(l, PH_LOG_ERROR);
}

static void write_one_warning(void) { ph_log_warn("disk %s at %d%%", "full", 99); }

static void record_is_utc_time_level_and_message_on_one_line(void **state)
{
    (void)state;
    char *text = capture(write_one_warning);
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                             "\\[warn\\] disk full at 99%\n$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    int rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    if (rc != 0)
        fail_msg("record: '%s'", text);
    free(text);
}

static void write_each_level(void)
{
    ph_log_debug("d");
    ph_log_info("i");
    ph_log_warn("w");
    ph_log_error("e");
}

static void records_below_the_level_are_dropped(void **state)
{
    (void)state;
    ph_log_set_level(PH_LOG_WARN);
    char *text = capture(write_each_level);
    assert_null(strstr(text, "[debug]"));
    assert_null(strstr(text, "[info]"));
    assert_non_null(strstr(text, "[warn] w\n"));
    assert_non_null(strstr(text, "[error] e\n"));
    free(text);
    ph_log_set_level(PH_LOG_DEBUG);
    text = capture(write_each_level);
    assert_non_null(strstr(text, "[debug] d\n"));
    assert_non_null(strstr(text, "[info] i\n"));
    free(text);
}

static void write_long(void)
{
    static char msg[5000];
    memset(msg, 'm', sizeof msg - 1);
    ph_log_error("%s", msg);
}

static void over_long_message_is_cut_but_still_one_line(void **state)
{
    (void)state;
    char *text = capture(write_long);
    size_t n = strlen(text);
    assert_true(n > 1000 && n <= 2048);
    assert_int_equal(text[n - 1], '\n');
    assert_ptr_equal(strchr(text, '\n'), text + n - 1);
    free(text);
}

int main(void)
{
#define T(name) cmocka_unit_test_teardown(name, restore_level)
    const struct CMUnitTest tests[] = {
        T(parse_level_accepts_the_four_names_only),
        T(record_is_utc_time_level_and_message_on_one_line),
        T(records_below_the_level_are_dropped),
        T(over_long_message_is_cut_but_still_one_line),
    };
#undef T
    return cmocka_run_group_tests_name("log", tests, group_setup, group_teardown);
}
