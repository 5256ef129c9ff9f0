/*
 * test_bad_input.c - the command line and every refused configuration:
 * `plughost -t` and a plain start both exit 1 with one line naming the file
 * (and the INI line) and the reason, and never start listening. Covers a
 * malformed INI, an unknown [server] key, bad values, a missing plugin, a
 * file that is not a shared object, a shared object without the entry
 * symbol, another ABI major, a failing init, a missing config file; and
 * `-t` of a good config and `--version`.
 */
#include "harness.h"

#include <plughost.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The line of `out` containing `first`, as a malloc'd string, or NULL. */
static char *line_with(const char *out, const char *first)
{
    const char *p = out ? strstr(out, first) : NULL;
    if (p == NULL)
        return NULL;
    const char *b = p;
    while (b > out && b[-1] != '\n')
        b--;
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - b) : strlen(b);
    char *line = strndup(b, n);
    assert_non_null(line);
    return line;
}

/*
 * Run `plughost -t -c ini` and `plughost -c ini`: both must exit 1, with
 * one output line holding every fragment (frags[0] locates the line), and
 * the plain start must not have started listening.
 */
static void expect_refused(const char *ini, const char *const frags[], size_t nfrags)
{
    for (int mode = 0; mode < 2; mode++) {
        const char *args_t[] = {"-t", "-c", ini, NULL};
        const char *args_run[] = {"-c", ini, NULL};
        char *out = NULL;
        int rc = it_run(mode == 0 ? args_t : args_run, IT_WAIT_MS, &out);
        const char *what = mode == 0 ? "plughost -t -c" : "plughost -c";
        if (rc != 1) {
            print_error("%s %s: exit %d (-1: signal or still running after %d ms), "
                        "expected 1; output:\n%s\n",
                        what, ini, rc, IT_WAIT_MS, out ? out : "");
            fail();
        }
        char *line = line_with(out, frags[0]);
        if (line == NULL) {
            print_error("%s %s: no line with \"%s\"; output:\n%s\n", what, ini, frags[0],
                        out ? out : "");
            fail();
        }
        for (size_t i = 1; i < nfrags; i++) {
            if (strstr(line, frags[i]) == NULL) {
                print_error("%s %s: the error line lacks \"%s\":\n%s\n", what, ini, frags[i],
                            line);
                fail();
            }
        }
        if (out != NULL && strstr(out, "listening on") != NULL) {
            print_error("%s %s: refused config, yet it started listening:\n%s\n", what, ini,
                        out);
            fail();
        }
        free(line);
        free(out);
    }
}

/* An ini whose line 4 is `line4` (lines 1-3: [server], listen, plugin_dir). */
static it_server *ini_with_line4(const char *line4)
{
    it_server *s = it_server_new();
    it_server_write_ini(s,
                        "[server]\n"
                        "listen = 127.0.0.1:0\n"
                        "plugin_dir = %s\n"
                        "%s\n"
                        "watch = false\n"
                        "\n"
                        "[route /hello]\n"
                        "plugin = hello\n",
                        PLUGIN_DIR, line4);
    return s;
}

static void test_malformed_ini_section(void **state)
{
    (void)state;
    it_server *s = ini_with_line4("[route /broken");
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s:4: syntax error", s->ini_path);
    const char *frags[] = {want};
    expect_refused(s->ini_path, frags, 1);
}

static void test_malformed_ini_line(void **state)
{
    (void)state;
    it_server *s = ini_with_line4("this line has no equals sign");
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s:4: syntax error", s->ini_path);
    const char *frags[] = {want};
    expect_refused(s->ini_path, frags, 1);
}

static void test_unknown_server_key(void **state)
{
    (void)state;
    it_server *s = ini_with_line4("frobnicate = 1");
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s:4: unknown key 'frobnicate' in [server]", s->ini_path);
    const char *frags[] = {want};
    expect_refused(s->ini_path, frags, 1);
}

static void test_bad_values(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        const char *key;
    } cases[] = {
        {"sync_threads = lots", "sync_threads"},
        {"sync_queue = -5", "sync_queue"},
        {"max_body_size = 12q", "max_body_size"},
        {"header_timeout = soon", "header_timeout"},
        {"watch = perhaps", "watch"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        it_server *s = ini_with_line4(cases[i].line);
        char where[PATH_MAX + 16];
        snprintf(where, sizeof where, "%s:4:", s->ini_path);
        const char *frags[] = {where, cases[i].key};
        print_message("bad value case: %s\n", cases[i].line);
        expect_refused(s->ini_path, frags, 2);
    }
}

/* A server folder with hello.so and a route /x naming plugin `name`. */
static it_server *ini_with_plugin(const char *name)
{
    it_server *s = it_server_new();
    it_server_add_plugin(s, "hello");
    it_server_write_ini(s,
                        "[server]\n"
                        "listen = 127.0.0.1:0\n"
                        "plugin_dir = %s\n"
                        "watch = false\n"
                        "\n"
                        "[route /hello]\n"
                        "plugin = hello\n"
                        "\n"
                        "[route /x]\n"
                        "plugin = %s\n",
                        s->plugin_dir, name);
    return s;
}

static void test_missing_plugin(void **state)
{
    (void)state;
    it_server *s = ini_with_plugin("nosuch");
    char so[PATH_MAX + 32];
    snprintf(so, sizeof so, "%s/nosuch.so", s->plugin_dir);
    const char *frags[] = {so, "No such file or directory"};
    expect_refused(s->ini_path, frags, 2);
}

static void test_not_a_shared_object(void **state)
{
    (void)state;
    it_server *s = ini_with_plugin("notelf");
    char so[PATH_MAX + 32];
    snprintf(so, sizeof so, "%s/notelf.so", s->plugin_dir);
    it_write_file(so, "this is a text file, not a shared object\n");
    const char *frags[] = {so, "not a loadable shared object"};
    expect_refused(s->ini_path, frags, 2);
}

static void test_no_entry_symbol(void **state)
{
    (void)state;
    it_server *s = ini_with_plugin("it_no_entry");
    it_server_add_plugin(s, "it_no_entry");
    char so[PATH_MAX + 32];
    snprintf(so, sizeof so, "%s/it_no_entry.so", s->plugin_dir);
    const char *frags[] = {so, "does not export ph_plugin_entry"};
    expect_refused(s->ini_path, frags, 2);
}

static void test_wrong_abi_major(void **state)
{
    (void)state;
    it_server *s = ini_with_plugin("it_wrong_abi");
    it_server_add_plugin(s, "it_wrong_abi");
    char so[PATH_MAX + 32];
    snprintf(so, sizeof so, "%s/it_wrong_abi.so", s->plugin_dir);
    char host_abi[16];
    snprintf(host_abi, sizeof host_abi, "%d.%d", PH_ABI_MAJOR, PH_ABI_MINOR);
    const char *frags[] = {so, "ABI", "2.0", host_abi};
    expect_refused(s->ini_path, frags, 4);
}

/* A plugin of an older minor of the same major (it_abi_1_4: built as
 * against ABI 1.4, before add_header_n) loads and serves: the host checks
 * the major only, and its table grew at the end. */
static void test_older_abi_minor_loads_and_serves(void **state)
{
    (void)state;
    it_server *s = ini_with_plugin("it_abi_1_4");
    it_server_add_plugin(s, "it_abi_1_4");
    it_server_start(s);
    it_response r;
    assert_int_equal(it_request(s->port, "GET /x HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "abi 1.4");
    char host_abi[16];
    snprintf(host_abi, sizeof host_abi, "%d.%d", PH_ABI_MAJOR, PH_ABI_MINOR);
    assert_non_null(it_header_get(&r, "X-Host-Abi"));
    assert_string_equal(it_header_get(&r, "X-Host-Abi"), host_abi);
    it_response_free(&r);
    it_server_stop(s);
}

static void test_init_fails(void **state)
{
    (void)state;
    it_server *s = ini_with_plugin("it_init_fail");
    it_server_add_plugin(s, "it_init_fail");
    char so[PATH_MAX + 32];
    snprintf(so, sizeof so, "%s/it_init_fail.so", s->plugin_dir);
    const char *frags[] = {so, "init failed"};
    expect_refused(s->ini_path, frags, 2);
}

static void test_missing_config_file(void **state)
{
    (void)state;
    const char *dir = it_tempdir();
    char ini[PATH_MAX + 32];
    snprintf(ini, sizeof ini, "%s/does-not-exist.ini", dir);
    const char *frags[] = {ini};
    expect_refused(ini, frags, 1);
}

/* -t of a good config (with every bundled plugin and the test plugins that
 * load fine) exits 0, says "configuration ok", and does not serve. */
static void test_config_test_ok(void **state)
{
    (void)state;
    it_server *s = it_server_new();
    it_server_add_plugin(s, "it_fail_sync");
    it_server_add_plugin(s, "it_fail_async");
    it_server_add_plugin(s, "hello");
    it_server_add_plugin(s, "echo");
    it_server_add_plugin(s, "sleep_sync");
    it_server_add_plugin(s, "sleep_async");
    it_server_write_ini(s,
                        "[server]\n"
                        "listen = 127.0.0.1:0\n"
                        "workers = 1\n"
                        "sync_threads = 4\n"
                        "sync_queue = 16\n"
                        "plugin_dir = %s\n"
                        "watch = false\n"
                        "max_body_size = 1m\n"
                        "max_url_size = 8k\n"
                        "max_header_size = 16k\n"
                        "header_timeout = 10s\n"
                        "body_timeout = 60s\n"
                        "keepalive_timeout = 1500ms\n"
                        "send_timeout = 60\n"
                        "drain_timeout = 30s\n"
                        "log_level = info\n"
                        "\n%s"
                        "[route /fail]\nplugin = it_fail_sync\nmethods = GET, POST\n\n"
                        "[route /fail-async]\nplugin = it_fail_async\nmethods = GET POST\n",
                        s->plugin_dir, IT_ROUTES_STD);
    const char *args[] = {"-t", "-c", s->ini_path, NULL};
    char *out = NULL;
    int rc = it_run(args, IT_WAIT_MS, &out);
    if (rc != 0) {
        print_error("plughost -t on a good config: exit %d, output:\n%s\n", rc, out ? out : "");
        fail();
    }
    it_assert_contains(out, "configuration ok");
    if (strstr(out, "listening on") != NULL) {
        print_error("plughost -t started listening:\n%s\n", out);
        fail();
    }
    free(out);
}

/* --version prints "plughost <version>" and exits 0. */
static void test_version(void **state)
{
    (void)state;
    const char *args[] = {"--version", NULL};
    char *out = NULL;
    int rc = it_run(args, IT_WAIT_MS, &out);
    assert_int_equal(rc, 0);
    char *line = line_with(out, "plughost ");
    if (line == NULL || strncmp(line, "plughost " PLUGHOST_VERSION, 9 + strlen(PLUGHOST_VERSION))) {
        print_error("--version printed:\n%s\nexpected a line 'plughost %s'\n", out ? out : "",
                    PLUGHOST_VERSION);
        fail();
    }
    free(line);
    free(out);
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(test_malformed_ini_section),
        IT_TEST(test_malformed_ini_line),
        IT_TEST(test_unknown_server_key),
        IT_TEST(test_bad_values),
        IT_TEST(test_missing_plugin),
        IT_TEST(test_not_a_shared_object),
        IT_TEST(test_no_entry_symbol),
        IT_TEST(test_wrong_abi_major),
        IT_TEST(test_older_abi_minor_loads_and_serves),
        IT_TEST(test_init_fails),
        IT_TEST(test_missing_config_file),
        IT_TEST(test_config_test_ok),
        IT_TEST(test_version),
    };
    return cmocka_run_group_tests_name("integration.bad_input", tests, NULL, NULL);
}
