/* test_plugin_check.c - server/plugin_check.c: the "describe" lines of a
 * check's report (what a plugin declares for GET /openapi.json), parsed
 * and handed over only when the check passes, never pushing the verdict
 * out of the report. */
#include "plugin_check.h"
#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

static void a_describe_line_is_parsed(void **state)
{
    (void)state;
    size_t route = 99;
    ph_check_describe d;
    assert_int_equal(ph_check_parse_describe("describe 3 Say hello\t\ttext/plain", &route, &d), 0);
    assert_int_equal(route, 3);
    assert_string_equal(d.summary, "Say hello");
    assert_string_equal(d.request_type, "");
    assert_string_equal(d.response_type, "text/plain");
    assert_int_equal(ph_check_parse_describe("describe 0 \tapplication/json\t\n", &route, &d), 0);
    assert_int_equal(route, 0);
    assert_string_equal(d.summary, "");
    assert_string_equal(d.request_type, "application/json");
    assert_string_equal(d.response_type, "");
}

static void other_lines_are_not_describe_lines(void **state)
{
    (void)state;
    size_t route = 0;
    ph_check_describe d;
    assert_int_equal(ph_check_parse_describe("checking 3", &route, &d), -1);
    assert_int_equal(ph_check_parse_describe("describe x a\tb\tc", &route, &d), -1);
    assert_int_equal(ph_check_parse_describe("describe -1 a\tb\tc", &route, &d), -1);
    assert_int_equal(ph_check_parse_describe("describe 3", &route, &d), -1);
    assert_int_equal(ph_check_parse_describe("describe 3 a\tb", &route, &d), -1);       /* two fields */
    assert_int_equal(ph_check_parse_describe("describe 3 a\tb\tc\td", &route, &d), -1); /* four */
}

static void long_or_control_fields_count_as_undeclared(void **state)
{
    (void)state;
    char line[1024];
    char big[PH_CHECK_DESCRIBE_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(line, sizeof line, "describe 1 %s\ta\x01b\t%.*s", big, PH_CHECK_DESCRIBE_MAX, big);
    size_t route = 0;
    ph_check_describe d;
    assert_int_equal(ph_check_parse_describe(line, &route, &d), 0);
    assert_int_equal(route, 1);
    assert_string_equal(d.summary, "");                            /* 201 bytes */
    assert_string_equal(d.request_type, "");                       /* a control character */
    assert_int_equal(strlen(d.response_type), PH_CHECK_DESCRIBE_MAX); /* 200 bytes: kept */
}

typedef struct seen {
    size_t n;
    size_t last_route;
    char last_summary[PH_CHECK_DESCRIBE_MAX + 1];
} seen;

static void count_describe(size_t route, const ph_check_describe *d, void *arg)
{
    seen *s = arg;
    s->n++;
    s->last_route = route;
    snprintf(s->last_summary, sizeof s->last_summary, "%s", d->summary);
}

/* A check whose child wrote `text` and exited with `status`, read to the
 * end and finished; returns the verdict, what on_describe saw in *out. */
static int finish_with(const char *text, int status, size_t nroutes, seen *out)
{
    ph_check check;
    memset(&check, 0, sizeof check);
    char *dir = ut_mkdtemp("ph-check-test");
    snprintf(check.copy_dir, sizeof check.copy_dir, "%s", dir);
    free(dir);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    check.pid = -1;
    check.report_fd = fds[0];
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t put = write(fds[1], text + off, len - off);
        assert_true(put > 0);
        off += (size_t)put;
    }
    close(fds[1]);
    while (ph_check_read(&check) != 1)
        ;
    check.wait_status = status;
    ph_route_conf routes[64];
    memset(routes, 0, sizeof routes);
    ph_config config = {.path = (char *)"t.ini", .routes = routes, .nroutes = nroutes};
    char err[512] = "";
    int rc = ph_check_finish(&check, &config, 0, count_describe, out, err, sizeof err);
    assert_null(check.described);
    return rc;
}

static void many_describe_lines_never_push_the_verdict_out(void **state)
{
    (void)state;
    /* 60 routes of long declarations: far beyond the 4 KiB report */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    char summary[PH_CHECK_DESCRIBE_MAX + 1];
    memset(summary, 's', PH_CHECK_DESCRIBE_MAX);
    summary[PH_CHECK_DESCRIBE_MAX] = '\0';
    for (int i = 0; i < 60; i++)
        fprintf(f, "checking %d\ndescribe %d %s\t%s\tr%d\n", i, i, summary, summary, i);
    fprintf(f, "describe 63 last\t\ttext/plain\ndescribe 64 beyond the routes\t\t\nok\n");
    fclose(f);
    seen s = {0};
    assert_int_equal(finish_with(text, 0, 64, &s), 0);
    assert_int_equal(s.n, 61); /* route 64 does not exist */
    assert_int_equal(s.last_route, 63);
    assert_string_equal(s.last_summary, "last");
    free(text);
}

static void a_failing_check_hands_over_no_declarations(void **state)
{
    (void)state;
    seen s = {0};
    int rc = finish_with("checking 0\ndescribe 0 Say hello\t\ttext/plain\nchecking 1\nfail t.ini:3: route /x: no\n",
                         1 << 8, 2, &s);
    assert_int_equal(rc, -1);
    assert_int_equal(s.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_describe_line_is_parsed),
        cmocka_unit_test(other_lines_are_not_describe_lines),
        cmocka_unit_test(long_or_control_fields_count_as_undeclared),
        cmocka_unit_test(many_describe_lines_never_push_the_verdict_out),
        cmocka_unit_test(a_failing_check_hands_over_no_declarations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
