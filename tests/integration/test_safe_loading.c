/*
 * test_safe_loading.c - plugins are proven in a throwaway process before
 * any serving process maps them: a truncated .so (by cp and by mv), a
 * constructor that crashes, an init() that aborts are refused with the
 * reason while /hello keeps answering and no serving process dies; an
 * init() that fails only in a worker switches no worker; a plugin that
 * keeps crashing workers is rolled back (or answered 503 when it has no
 * earlier version); untrusted files are refused; `user` is honoured.
 *
 * Each server gets a TMPDIR of its own, so leftovers can be counted.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char server_tmp[PATH_MAX];
static char saved_tmpdir[PATH_MAX];

/* Point TMPDIR at a new folder for what starts next (the server keeps its
 * copy of the environment); undo with restore_tmpdir() right after. */
static void private_tmpdir(void)
{
    snprintf(server_tmp, sizeof server_tmp, "%s", it_tempdir());
    const char *old = getenv("TMPDIR");
    snprintf(saved_tmpdir, sizeof saved_tmpdir, "%s", old ? old : "");
    setenv("TMPDIR", server_tmp, 1);
}

static void restore_tmpdir(void)
{
    if (saved_tmpdir[0])
        setenv("TMPDIR", saved_tmpdir, 1);
    else
        unsetenv("TMPDIR");
}

/* Start `s` with a TMPDIR of its own. */
static void start_private(it_server *s)
{
    private_tmpdir();
    it_server_start(s);
    restore_tmpdir();
}

/* Entries left in the private TMPDIR. */
static int tmp_leftovers(void)
{
    DIR *d = opendir(server_tmp);
    int n = 0;
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            strncmp(e->d_name, "plughost-it-", 12) != 0) { /* the harness's own */
            print_error("left in TMPDIR: %s\n", e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Copy the first `len` bytes (0: all) of test plugin `name`.so to `to`. */
static void copy_plugin_bytes(const char *name, const char *to, size_t len)
{
    char from[PATH_MAX];
    snprintf(from, sizeof from, "%s/%s.so", TEST_PLUGIN_DIR, name);
    if (access(from, R_OK) != 0)
        snprintf(from, sizeof from, "%s/%s.so", PLUGIN_DIR, name);
    FILE *in = fopen(from, "rb");
    assert_non_null(in);
    FILE *out = fopen(to, "wb");
    assert_non_null(out);
    char buf[65536];
    size_t total = 0, n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (len && total + n > len)
            n = len - total;
        assert_int_equal(fwrite(buf, 1, n, out), n);
        total += n;
        if (len && total >= len)
            break;
    }
    fclose(in);
    assert_int_equal(fclose(out), 0);
    chmod(to, 0644);
}

/* The same, written beside and renamed into place (as deploy tools do). */
static void rename_plugin_bytes(it_server *s, const char *name, const char *to, size_t len)
{
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s/incoming.so", s->dir);
    copy_plugin_bytes(name, tmp, len);
    assert_int_equal(rename(tmp, to), 0);
}

static void assert_get(it_server *s, const char *target, int status)
{
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    it_response r;
    assert_int_equal(it_request(s->port, req, &r, false), IT_OK);
    it_assert_status(&r, status);
    it_response_free(&r);
}

static void wait_log(it_server *s, const char *needle)
{
    if (!it_server_log_wait(s, needle, IT_WAIT_MS)) {
        char *log = it_read_file(s->log_path);
        fprintf(stderr, "---- server log ----\n%s---- end ----\n", log ? log : "(none)");
        free(log);
        fail_msg("no \"%s\" in the log", needle);
    }
}

#define SERVER_HEAD "[server]\nlisten = 127.0.0.1:0\nworkers = 2\nplugin_dir = %s\nwatch = %s\nstatus_path = /_status\n"
#define HELLO_ROUTE "[route /hello]\nplugin = hello\n\n"

/* A 2-worker server with /hello (and `routes`) in a private TMPDIR. */
static it_server *start_two(bool watch, const char *extra_server, const char *routes)
{
    it_server *s = it_server_new();
    it_server_add_plugin(s, "hello");
    it_server_write_ini(s, SERVER_HEAD "%s\n" HELLO_ROUTE "%s", s->plugin_dir, watch ? "true" : "false",
                        extra_server, routes);
    start_private(s);
    return s;
}

static void stop_and_check_leftovers(it_server *s)
{
    assert_int_equal(it_server_log_count(s, ") killed by"), 0); /* no serving process died ("worker N (pid P) killed by") */
    it_server_stop(s);
    assert_int_equal(tmp_leftovers(), 0);
}

static void truncated_plugin_by_cp_and_by_mv_is_refused_then_the_whole_file_loads(void **state)
{
    (void)state;
    it_server *s = start_two(true, "", "");
    char y[PATH_MAX + 8];
    snprintf(y, sizeof y, "%s/y.so", s->plugin_dir);
    copy_plugin_bytes("hello", y, 1000); /* by cp: truncated in place */
    it_server_write_ini(s, SERVER_HEAD "\n" HELLO_ROUTE "[route /y]\nplugin = y\n", s->plugin_dir, "true");
    wait_log(s, "route /y: ");
    wait_log(s, "y.so: not a loadable shared object: loadable segment");
    assert_get(s, "/hello", 200);
    assert_get(s, "/y", 404);
    int before = it_server_log_count(s, "past the end of the");
    rename_plugin_bytes(s, "hello", y, 2000); /* by mv: another truncated file */
    for (int i = 0; i < 200 && it_server_log_count(s, "past the end of the") == before; i++) {
        assert_get(s, "/hello", 200);
        it_sleep_ms(20);
    }
    assert_true(it_server_log_count(s, "past the end of the") > before);
    rename_plugin_bytes(s, "hello", y, 0); /* the whole file arrives: loaded without a person */
    wait_log(s, "generation 2 serving 2 routes on 2 workers");
    assert_get(s, "/y", 200);
    assert_get(s, "/hello", 200);
    stop_and_check_leftovers(s);
}

static void constructor_crash_is_refused_in_a_throwaway_process(void **state)
{
    (void)state;
    it_server *s = start_two(true, "", "");
    char y[PATH_MAX + 8];
    snprintf(y, sizeof y, "%s/y.so", s->plugin_dir);
    copy_plugin_bytes("it_ctor_crash", y, 0);
    it_server_write_ini(s, SERVER_HEAD "\n" HELLO_ROUTE "[route /y]\nplugin = y\n", s->plugin_dir, "true");
    wait_log(s, "route /y: ");
    wait_log(s, "y.so: killed by SIGSEGV while loading (a crash in its constructor, init() or fini())");
    assert_get(s, "/hello", 200);
    stop_and_check_leftovers(s);
}

static void plughost_t_reports_broken_plugins_and_leaves_nothing_behind(void **state)
{
    (void)state;
    it_server *s = it_server_new();
    char y[PATH_MAX + 8];
    const struct {
        const char *plugin;
        size_t len;
        const char *want;
    } cases[] = {
        {"hello", 1000, "y.so: not a loadable shared object: loadable segment"},
        {"it_ctor_crash", 0, "y.so: killed by SIGSEGV while loading"},
        {"it_init_abort", 0, "y.so: killed by SIGABRT while loading"},
    };
    it_server_add_plugin(s, "hello");
    snprintf(y, sizeof y, "%s/y.so", s->plugin_dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        copy_plugin_bytes(cases[i].plugin, y, cases[i].len);
        it_server_write_ini(s, "[server]\nplugin_dir = %s\n\n[route /y]\nplugin = y\n", s->plugin_dir);
        const char *args[] = {"-t", "-c", s->ini_path, NULL};
        char *out = NULL;
        private_tmpdir();
        int rc = it_run(args, IT_WAIT_MS, &out);
        restore_tmpdir();
        assert_int_equal(rc, 1);
        it_assert_contains(out, "server.ini:4: route /y: ");
        it_assert_contains(out, cases[i].want);
        free(out);
    }
    assert_int_equal(tmp_leftovers(), 0);
}

static void init_abort_during_a_reload_is_refused_and_the_old_generation_serves(void **state)
{
    (void)state;
    it_server *s = start_two(false, "", "");
    it_server_add_plugin(s, "it_init_abort");
    it_server_write_ini(s, SERVER_HEAD "\n" HELLO_ROUTE "[route /a]\nplugin = it_init_abort\n", s->plugin_dir,
                        "false");
    assert_int_equal(kill(s->pid, SIGHUP), 0);
    wait_log(s, "reload (SIGHUP) rejected, still serving generation 1: ");
    wait_log(s, "it_init_abort.so: killed by SIGABRT while loading (abort() in its constructor, init() or fini())");
    assert_get(s, "/hello", 200);
    assert_get(s, "/a", 404);
    stop_and_check_leftovers(s);
}

static void an_init_that_hangs_is_stopped_after_load_timeout(void **state)
{
    (void)state;
    it_server *s = start_two(false, "load_timeout = 300ms\n", "");
    it_server_add_plugin(s, "it_crashy");
    it_server_write_ini(s, SERVER_HEAD "load_timeout = 300ms\n\n" HELLO_ROUTE
                           "[route /slow]\nplugin = it_crashy\ninit_sleep_ms = 20000\n",
                        s->plugin_dir, "false");
    double started = it_now();
    assert_int_equal(kill(s->pid, SIGHUP), 0);
    wait_log(s, "it_crashy.so: did not finish loading within 300 ms (load_timeout); stopped");
    assert_true(it_now() - started < 5.0); /* not the 20 s the init wanted */
    assert_get(s, "/hello", 200);
    assert_get(s, "/slow", 404);
    stop_and_check_leftovers(s);
}

static void init_failing_only_in_workers_switches_no_worker(void **state)
{
    (void)state;
    it_server *s = start_two(false, "", "");
    it_server_add_plugin(s, "it_worker_only_fail");
    it_server_write_ini(s, SERVER_HEAD "\n" HELLO_ROUTE "[route /w]\nplugin = it_worker_only_fail\n", s->plugin_dir,
                        "false");
    assert_int_equal(kill(s->pid, SIGHUP), 0);
    wait_log(s, "reload (SIGHUP) rejected, still serving generation 1: ");
    wait_log(s, "it_worker_only_fail.so: init failed");
    /* every worker still serves generation 1 */
    int seen[2] = {0, 0};
    for (int i = 0; i < 400 && (!seen[0] || !seen[1]); i++) {
        it_response r;
        assert_int_equal(it_request(s->port, "GET /_status HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
        it_assert_contains(r.body, "\"generation\":1,");
        const char *w = strstr(r.body, "\"worker\":");
        assert_non_null(w);
        int id = atoi(w + 9);
        assert_true(id == 1 || id == 2);
        seen[id - 1] = 1;
        it_response_free(&r);
    }
    assert_true(seen[0] && seen[1]);
    assert_get(s, "/w", 404);
    stop_and_check_leftovers(s);
}

/* Crash workers through /crashy, 16 requests at a time (so that more
 * crashes arrive while the rollback is under way), until the log says
 * rollback. Returns the requests that got no answer. */
static int crash_until_rollback(it_server *s)
{
    int lost = 0;
    for (int i = 0; i < 50 && it_server_log_count(s, "rollback: ") == 0; i++) {
        it_response resps[16];
        int rcs[16];
        it_concurrent(s->port, "GET /crashy HTTP/1.1\r\nHost: t\r\n\r\n", 16, resps, rcs, NULL, IT_WAIT_MS);
        for (int k = 0; k < 16; k++) {
            lost += rcs[k] != IT_OK;
            it_response_free(&resps[k]);
        }
        it_sleep_ms(30);
    }
    return lost;
}

static void rolled_back_plugin_answers(it_server *s)
{
    wait_log(s, "reload (rollback of ");
    char needle[PATH_MAX + 64];
    snprintf(needle, sizeof needle, "reload (rollback of %s/crashy.so): generation ", s->plugin_dir);
    wait_log(s, needle); /* the number depends on how many change events the copy made */
    for (int i = 0; i < 20; i++) {
        it_response r;
        assert_int_equal(it_request(s->port, "GET /crashy HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
        it_assert_status(&r, 200);
        it_assert_contains(r.body, "pid ");
        it_response_free(&r);
    }
}

static it_server *start_with_crashy(const char *extra)
{
    it_server *s = it_server_new();
    it_server_add_plugin(s, "hello");
    char crashy[PATH_MAX + 16];
    snprintf(crashy, sizeof crashy, "%s/crashy.so", s->plugin_dir);
    copy_plugin_bytes("it_crashy", crashy, 0);
    it_server_write_ini(s, SERVER_HEAD "crash_limit = 3\ncrash_window = 60s\n%s\n" HELLO_ROUTE
                           "[route /crashy]\nplugin = crashy\n",
                        s->plugin_dir, "true", extra);
    start_private(s);
    return s;
}

static void rollback_after_a_replacement_by_cp(void **state)
{
    (void)state;
    it_server *s = start_with_crashy("");
    char crashy[PATH_MAX + 16];
    snprintf(crashy, sizeof crashy, "%s/crashy.so", s->plugin_dir);
    assert_get(s, "/crashy", 200);
    copy_plugin_bytes("it_crashy_always", crashy, 0); /* cp over the file */
    wait_log(s, "generation 2 serving");
    int lost = crash_until_rollback(s);
    assert_true(lost >= 3);
    wait_log(s, "crashed workers 3 times within 60000 ms; serving its previous version again");
    rolled_back_plugin_answers(s);
    assert_get(s, "/hello", 200);
    it_server_stop(s);
}

static void rollback_after_a_replacement_by_rename(void **state)
{
    (void)state;
    it_server *s = start_with_crashy("");
    char crashy[PATH_MAX + 16];
    snprintf(crashy, sizeof crashy, "%s/crashy.so", s->plugin_dir);
    rename_plugin_bytes(s, "it_crashy_always", crashy, 0);
    wait_log(s, "generation 2 serving");
    crash_until_rollback(s);
    rolled_back_plugin_answers(s);
    /* a later change of the file tries again */
    rename_plugin_bytes(s, "it_crashy", crashy, 0);
    wait_log(s, "changed since it was rolled back: trying the new version");
    int status = 0;
    for (int i = 0; i < 200 && status != 200; i++) { /* until the new version serves */
        it_response r;
        if (it_request(s->port, "GET /crashy HTTP/1.1\r\nHost: t\r\n\r\n", &r, false) == IT_OK)
            status = r.status;
        it_response_free(&r);
        if (status != 200)
            it_sleep_ms(20);
    }
    assert_int_equal(status, 200);
    it_server_stop(s);
}

static void a_plugin_with_no_earlier_version_is_answered_503_after_its_crashes(void **state)
{
    (void)state;
    it_server *s = it_server_new();
    it_server_add_plugin(s, "hello");
    char crashy[PATH_MAX + 16];
    snprintf(crashy, sizeof crashy, "%s/crashy.so", s->plugin_dir);
    copy_plugin_bytes("it_crashy_always", crashy, 0);
    it_server_write_ini(s, SERVER_HEAD "crash_limit = 2\n\n" HELLO_ROUTE "[route /crashy]\nplugin = crashy\n",
                        s->plugin_dir, "false");
    start_private(s);
    crash_until_rollback(s);
    wait_log(s, "crashed workers 2 times within 60000 ms and it has no previous version; its routes answer 503");
    wait_log(s, "generation 2 serving");
    for (int i = 0; i < 10; i++) {
        it_response r;
        assert_int_equal(it_request(s->port, "GET /crashy HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
        it_assert_status(&r, 503);
        assert_non_null(it_header_get(&r, "Retry-After"));
        it_response_free(&r);
    }
    assert_get(s, "/hello", 200);
    it_server_stop(s);
}

static void untrusted_files_are_refused_and_a_symlink_to_a_trusted_file_loads(void **state)
{
    (void)state;
    it_server *s = start_two(false, "", "");
    char y[PATH_MAX + 8];
    snprintf(y, sizeof y, "%s/y.so", s->plugin_dir);
    copy_plugin_bytes("hello", y, 0);
    assert_int_equal(chmod(y, 0666), 0);
    it_server_write_ini(s, SERVER_HEAD "\n" HELLO_ROUTE "[route /y]\nplugin = y\n", s->plugin_dir, "false");
    assert_int_equal(kill(s->pid, SIGHUP), 0);
    wait_log(s, "y.so: refused: file ");
    wait_log(s, "is writable by others (mode 0666); chmod go-w it");
    assert_int_equal(chmod(y, 0644), 0);
    assert_int_equal(chmod(s->plugin_dir, 0777), 0);
    assert_int_equal(kill(s->pid, SIGHUP), 0);
    wait_log(s, "plugin_dir ");
    wait_log(s, "is writable by others (mode 0777)");
    assert_int_equal(chmod(s->plugin_dir, 0755), 0);
    /* a symlink (a deployment's "current" link) to a trusted file loads */
    char real[PATH_MAX + 16];
    snprintf(real, sizeof real, "%s/hello-v2.so", s->dir);
    copy_plugin_bytes("hello", real, 0);
    assert_int_equal(unlink(y), 0);
    assert_int_equal(symlink(real, y), 0);
    assert_int_equal(kill(s->pid, SIGHUP), 0);
    wait_log(s, "generation 2 serving 2 routes");
    assert_get(s, "/y", 200);
    stop_and_check_leftovers(s);
}

static void a_plugin_with_an_origin_run_path_finds_the_library_beside_it(void **state)
{
    (void)state;
    it_server *s = it_server_new();
    it_server_add_plugin(s, "hello");
    it_server_add_plugin(s, "it_origin");
    char dep[PATH_MAX + 32];
    snprintf(dep, sizeof dep, "%s/libit_origin_dep.so.1", s->plugin_dir);
    copy_plugin_bytes("libit_origin_dep", dep, 0);
    it_server_write_ini(s, SERVER_HEAD "\n" HELLO_ROUTE "[route /origin]\nplugin = it_origin\n", s->plugin_dir,
                        "false");
    start_private(s);
    it_response r;
    assert_int_equal(it_request(s->port, "GET /origin HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(r.body, "from the library beside it");
    it_response_free(&r);
    /* without the library beside it, the plugin is refused with the reason */
    assert_int_equal(unlink(dep), 0);
    const char *args[] = {"-t", "-c", s->ini_path, NULL};
    char *out = NULL;
    assert_int_equal(it_run(args, IT_WAIT_MS, &out), 1);
    it_assert_contains(out, "libit_origin_dep.so.1: cannot open shared object file");
    free(out);
    stop_and_check_leftovers(s);
}

static void workers_and_the_check_run_as_the_configured_user(void **state)
{
    (void)state;
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || !pw) {
        print_message("skipped: needs root and a 'nobody' user\n");
        skip();
    }
    const char *logdir = it_tempdir();
    assert_int_equal(chmod(logdir, 0777), 0);
    char logfile[PATH_MAX + 16];
    snprintf(logfile, sizeof logfile, "%s/whoami", logdir);
    it_server *s = it_server_new();
    it_server_add_plugin(s, "hello");
    it_server_add_plugin(s, "it_whoami");
    it_server_write_ini(s, SERVER_HEAD "user = nobody\n\n" HELLO_ROUTE "[route /who]\nplugin = it_whoami\nlog_file = %s\n",
                        s->plugin_dir, "false", logfile);
    private_tmpdir();
    assert_int_equal(chmod(server_tmp, 01777), 0); /* like /tmp: workers running as nobody make their folders */
    it_server_start(s);
    restore_tmpdir();
    char *who = it_read_file(logfile);
    assert_non_null(who);
    char want[64];
    snprintf(want, sizeof want, "plughost-check %u\n", (unsigned)pw->pw_uid);
    it_assert_contains(who, want);
    snprintf(want, sizeof want, "plughost-w %u\n", (unsigned)pw->pw_uid);
    it_assert_contains(who, want);
    free(who);
    /* and the worker processes themselves */
    char *log = it_read_file(s->log_path);
    const char *at = strstr(log, "worker 1 (pid ");
    assert_non_null(at);
    int pid = atoi(at + strlen("worker 1 (pid "));
    free(log);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    char *status = it_read_file(path);
    assert_non_null(status);
    char uid_line[64];
    snprintf(uid_line, sizeof uid_line, "Uid:\t%u\t%u\t%u\t%u", (unsigned)pw->pw_uid, (unsigned)pw->pw_uid,
             (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
    it_assert_contains(status, uid_line);
    free(status);
    assert_get(s, "/hello", 200);
    it_server_stop(s);
}

int main(void)
{
    it_init();
    it_servers_keep_their_fatal_signals();
    const struct CMUnitTest tests[] = {
        IT_TEST(truncated_plugin_by_cp_and_by_mv_is_refused_then_the_whole_file_loads),
        IT_TEST(constructor_crash_is_refused_in_a_throwaway_process),
        IT_TEST(plughost_t_reports_broken_plugins_and_leaves_nothing_behind),
        IT_TEST(init_abort_during_a_reload_is_refused_and_the_old_generation_serves),
        IT_TEST(an_init_that_hangs_is_stopped_after_load_timeout),
        IT_TEST(init_failing_only_in_workers_switches_no_worker),
        IT_TEST(rollback_after_a_replacement_by_cp),
        IT_TEST(rollback_after_a_replacement_by_rename),
        IT_TEST(a_plugin_with_no_earlier_version_is_answered_503_after_its_crashes),
        IT_TEST(untrusted_files_are_refused_and_a_symlink_to_a_trusted_file_loads),
        IT_TEST(a_plugin_with_an_origin_run_path_finds_the_library_beside_it),
        IT_TEST(workers_and_the_check_run_as_the_configured_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
