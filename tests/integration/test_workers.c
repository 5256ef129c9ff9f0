/*
 * test_workers.c - the supervisor and its workers: a worker killed or
 * crashed by a plugin is reported and respawned while the other keeps
 * serving; SIGTERM drains every worker; recycling (max_requests) and a
 * binary upgrade lose no request; reloads converge on every worker; a
 * killed supervisor does not leave workers serving.
 *
 * The crash tests need the server to see SIGSEGV itself: under ASan the
 * main() below turns ASan's own handlers off for the server.
 */
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define CRASHY_ROUTES                                                          \
    "[route /hello]\nplugin = hello\n\n"                                       \
    "[route /crashy]\nplugin = it_crashy\n\n"                                  \
    "[route /crashy_async]\nplugin = it_crashy_async\n\n"

/* A server with `workers` workers, the crashy plugins and `extra` [server]
 * keys, started. */
static it_server *start_workers(int workers, const char *extra)
{
    it_server *s = it_server_new();
    it_server_add_plugin(s, "it_crashy");
    it_server_add_plugin(s, "it_crashy_async");
    it_server_add_plugin(s, "hello");
    it_server_write_ini(s,
                        "[server]\nlisten = 127.0.0.1:0\nworkers = %d\nplugin_dir = %s\nwatch = false\n"
                        "status_path = /_status\n%s\n" CRASHY_ROUTES,
                        workers, s->plugin_dir, extra);
    it_server_start(s);
    return s;
}

/* Send GET `target` on `c` and read the answer; returns the it_recv code. */
static int get(it_conn *c, const char *target, it_response *r)
{
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    memset(r, 0, sizeof *r);
    if (it_send_str(c, req) < 0)
        return IT_CLOSED;
    return it_recv(c, r, false, IT_WAIT_MS);
}

/* The pid of the worker serving connection `c` (asks /crashy). */
static int owner_of(it_conn *c)
{
    it_response r;
    assert_int_equal(get(c, "/crashy", &r), IT_OK);
    it_assert_status(&r, 200);
    int pid = 0;
    assert_int_equal(sscanf(r.body, "pid %d", &pid), 1);
    it_response_free(&r);
    return pid;
}

/* Open connections until at least `per_worker` are served by each of two
 * workers; conns[i] and owners[i] get them. Returns how many were kept. */
static int connections_on_both(int port, int per_worker, it_conn **conns, int *owners, int max)
{
    int pids[2] = {0, 0}, counts[2] = {0, 0}, n = 0;
    for (int attempt = 0; attempt < 400 && (counts[0] < per_worker || counts[1] < per_worker); attempt++) {
        it_conn *c = it_connect(port);
        int pid = owner_of(c);
        int k = pid == pids[0] || !pids[0] ? 0 : 1;
        if (!pids[k])
            pids[k] = pid;
        assert_true(pid == pids[k]);
        if (counts[k] >= per_worker || n >= max) {
            it_conn_close(c);
            continue;
        }
        counts[k]++;
        owners[n] = pid;
        conns[n++] = c;
    }
    if (counts[0] < per_worker || counts[1] < per_worker)
        fail_msg("connections never reached both workers (%d / %d)", counts[0], counts[1]);
    return n;
}

static void wait_log(it_server *s, const char *needle, int timeout_ms)
{
    if (!it_server_log_wait(s, needle, timeout_ms)) {
        it_server_dump_log(s);
        fail_msg("no \"%s\" in the log", needle);
    }
}

/* The supervisor's log line about the death of worker pid `pid`. */
static char *death_line(it_server *s, int pid)
{
    char needle[64];
    snprintf(needle, sizeof needle, "(pid %d) killed by", pid);
    wait_log(s, needle, IT_WAIT_MS);
    char *log = it_read_file(s->log_path);
    char *at = strstr(log, needle);
    char *start = at;
    while (start > log && start[-1] != '\n')
        start--;
    char *end = strchr(at, '\n');
    char *line = strndup(start, end ? (size_t)(end - start) : strlen(start));
    free(log);
    return line;
}

/* Start slow sync requests on every connection, kill the worker `victim`
 * with `sig` (or crash it through `crash_target` on a fresh connection of
 * its own), and check that every connection of the other worker gets its
 * answer while those of the victim are closed. */
static void slow_requests_survive_the_death_of_the_other_worker(it_server *s, int sig, const char *crash_target)
{
    it_conn *conns[8];
    int owners[8];
    int n = connections_on_both(s->port, 4, conns, owners, 8);
    int victim = owners[0];
    for (int i = 0; i < n; i++)
        assert_int_equal(it_send_str(conns[i], "GET /crashy?sleep=400 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    it_sleep_ms(100); /* the slow handlers are running on both workers */
    if (crash_target) {
        it_conn *c;
        do { /* a connection the victim serves */
            c = it_connect(s->port);
            if (owner_of(c) == victim)
                break;
            it_conn_close(c);
        } while (1);
        it_response r;
        assert_true(get(c, crash_target, &r) != IT_OK); /* no answer: its worker died */
        it_response_free(&r);
    } else {
        assert_int_equal(kill(victim, sig), 0);
    }
    int answered = 0;
    for (int i = 0; i < n; i++) {
        it_response r = {0};
        int rc = it_recv(conns[i], &r, false, IT_WAIT_MS);
        if (owners[i] == victim) {
            assert_true(rc != IT_OK); /* its requests died with it */
        } else {
            assert_int_equal(rc, IT_OK);
            it_assert_status(&r, 200);
            answered++;
        }
        it_response_free(&r);
    }
    assert_int_equal(answered, 4);
    char needle[80];
    snprintf(needle, sizeof needle, "(pid %d) killed by SIGSEGV", victim);
    wait_log(s, needle, IT_WAIT_MS);
    /* respawned: a new worker starts, and both serve again */
    wait_log(s, "starting a new one", IT_WAIT_MS);
    it_conn *more[8];
    int more_owners[8];
    connections_on_both(s->port, 1, more, more_owners, 8);
    assert_true(more_owners[0] != victim && more_owners[1] != victim);
}

static void kill_segv_of_a_worker_spares_the_other_and_it_is_respawned(void **state)
{
    (void)state;
    it_server *s = start_workers(2, "");
    slow_requests_survive_the_death_of_the_other_worker(s, SIGSEGV, NULL);
    char *log = it_read_file(s->log_path);
    it_assert_contains(log, "killed by SIGSEGV (sent by another process) with 4 requests in flight");
    free(log);
    it_server_stop(s);
}

/* The frame inside the plugin, e.g. ".../it_crashy.so+0x1139", must name
 * the crashing function through addr2line. */
static void assert_frame_in_plugin(it_server *s, const char *plugin_file)
{
    char *log = it_read_file(s->log_path);
    char needle[512];
    snprintf(needle, sizeof needle, "%s+0x", plugin_file);
    const char *frame = strstr(log, needle);
    if (!frame) {
        it_server_dump_log(s);
        fail_msg("no backtrace frame in %s", plugin_file);
    }
    unsigned long offset = strtoul(frame + strlen(needle), NULL, 16);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "addr2line -f -e %s 0x%lx", plugin_file, offset);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[512] = "";
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = '\0';
    pclose(p);
    it_assert_contains(out, "crashy_write_through_null");
    free(log);
}

static void sync_plugin_crash_is_reported_with_route_plugin_and_a_frame_inside_it(void **state)
{
    (void)state;
    it_server *s = start_workers(2, "");
    slow_requests_survive_the_death_of_the_other_worker(s, 0, "/crashy?boom=1");
    char plugin[PATH_MAX + 32];
    snprintf(plugin, sizeof plugin, "%s/it_crashy.so", s->plugin_dir);
    wait_log(s, "backtrace", IT_WAIT_MS);
    char *log = it_read_file(s->log_path);
    char want[PATH_MAX + 200];
    snprintf(want, sizeof want, "in route /crashy: plugin %s version 1.0.0 (sync), handle() on the pool thread",
             plugin);
    it_assert_contains(log, want);
    free(log);
    assert_frame_in_plugin(s, plugin);
    it_server_stop(s);
}

static void async_plugin_crash_names_the_loop_thread(void **state)
{
    (void)state;
    it_server *s = start_workers(1, "");
    it_conn *c = it_connect(s->port);
    int victim = owner_of(c);
    it_response r;
    assert_true(get(c, "/crashy_async?boom=1", &r) != IT_OK);
    it_response_free(&r);
    char *line = death_line(s, victim);
    char plugin[PATH_MAX + 32];
    snprintf(plugin, sizeof plugin, "%s/it_crashy_async.so", s->plugin_dir);
    char want[PATH_MAX + 200];
    snprintf(want, sizeof want, "in route /crashy_async: plugin %s version 2.0.0 (async), handle() on the loop thread",
             plugin);
    it_assert_contains(line, "killed by SIGSEGV with 1 requests in flight");
    it_assert_contains(line, want);
    free(line);
    wait_log(s, "backtrace", IT_WAIT_MS);
    assert_frame_in_plugin(s, plugin);
    /* the respawned worker answers a moment later */
    it_response ok;
    double deadline = it_now() + IT_WAIT_MS / 1000.0;
    int rc;
    do {
        rc = it_request(s->port, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &ok, false);
        if (rc != IT_OK) {
            it_response_free(&ok);
            it_sleep_ms(20);
        }
    } while (rc != IT_OK && it_now() < deadline);
    assert_int_equal(rc, IT_OK);
    it_assert_status(&ok, 200);
    it_response_free(&ok);
    it_server_stop(s);
}

static void a_worker_that_keeps_dying_is_respawned_with_back_off(void **state)
{
    (void)state;
    it_server *s = start_workers(1, "");
    for (int i = 0; i < 3; i++) {
        it_response r;
        double deadline = it_now() + IT_WAIT_MS / 1000.0;
        do { /* wait for the respawned worker, then crash it again */
            it_request(s->port, "GET /crashy?boom=1 HTTP/1.1\r\nHost: t\r\n\r\n", &r, false);
            it_response_free(&r);
            if (it_server_log_count(s, "killed by SIGSEGV") > i)
                break;
            it_sleep_ms(20);
        } while (it_now() < deadline);
        assert_true(it_server_log_count(s, "killed by SIGSEGV") > i);
    }
    wait_log(s, "died 2 times in a row within 10 s of its start; next start in 100 ms", IT_WAIT_MS);
    wait_log(s, "died 3 times in a row within 10 s of its start; next start in 200 ms", IT_WAIT_MS);
    it_server_stop(s);
}

static void sigterm_answers_slow_requests_on_both_workers_then_exits(void **state)
{
    (void)state;
    it_server *s = start_workers(2, "");
    it_conn *conns[6];
    int owners[6];
    int n = connections_on_both(s->port, 3, conns, owners, 6);
    for (int i = 0; i < n; i++)
        assert_int_equal(it_send_str(conns[i], "GET /crashy?sleep=500 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    it_sleep_ms(100);
    assert_int_equal(kill(s->pid, SIGTERM), 0);
    for (int i = 0; i < n; i++) {
        it_response r = {0};
        assert_int_equal(it_recv(conns[i], &r, false, IT_WAIT_MS), IT_OK);
        it_assert_status(&r, 200);
        it_assert_contains(it_header_get(&r, "Connection"), "close");
        it_response_free(&r);
    }
    int status = it_server_signal_wait(s, 0, IT_WAIT_MS);
    assert_true(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(it_server_log_count(s, "drained and exited"), 2);
}

/* Keep `nconns` keep-alive clients busy for `seconds` (each sends its next
 * request when the last is answered); a connection the server closes after
 * a "Connection: close" answer is replaced. Returns the number of failed
 * requests (sent, never answered); counts answers into *answered. `between`
 * (may be NULL) runs every 50 ms. */
static int keep_busy(it_server *s, int nconns, double seconds, int *answered, void (*between)(it_server *, double))
{
    it_conn *c[16];
    bool waiting[16] = {false};
    it_response r[16];
    int failed = 0;
    *answered = 0;
    for (int i = 0; i < nconns; i++)
        c[i] = it_connect(s->port);
    double start = it_now(), next_tick = start;
    while (it_now() - start < seconds) {
        for (int i = 0; i < nconns; i++) {
            if (!waiting[i]) {
                memset(&r[i], 0, sizeof r[i]);
                if (it_send_str(c[i], "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n") < 0) {
                    failed++; /* closed without saying so */
                    it_conn_close(c[i]);
                    c[i] = it_connect(s->port);
                    continue;
                }
                waiting[i] = true;
            }
            int rc = it_recv_step(c[i], &r[i], false);
            if (rc == 0)
                continue;
            waiting[i] = false;
            if (rc == 1 && r[i].status == 200) {
                (*answered)++;
                const char *conn = it_header_get(&r[i], "Connection");
                if (conn && strstr(conn, "close")) {
                    it_conn_close(c[i]);
                    c[i] = it_connect(s->port);
                }
            } else {
                failed++;
                it_conn_close(c[i]);
                c[i] = it_connect(s->port);
            }
            it_response_free(&r[i]);
        }
        if (between && it_now() >= next_tick) {
            between(s, it_now() - start);
            next_tick = it_now() + 0.05;
        }
        it_sleep_ms(1);
    }
    for (int i = 0; i < nconns; i++) {
        if (waiting[i]) { /* the last request of each: wait for it */
            int rc = it_recv(c[i], &r[i], false, IT_WAIT_MS);
            if (rc == IT_OK && r[i].status == 200)
                (*answered)++;
            else
                failed++;
            it_response_free(&r[i]);
        }
        it_conn_close(c[i]);
    }
    return failed;
}

static void max_requests_recycles_workers_under_load_without_a_failed_request(void **state)
{
    (void)state;
    it_server *s = start_workers(2, "max_requests = 300\n");
    int answered = 0;
    int failed = keep_busy(s, 8, 4.0, &answered, NULL);
    if (failed)
        it_server_dump_log(s);
    assert_int_equal(failed, 0);
    assert_true(answered > 600);
    assert_true(it_server_log_count(s, "is recycled: served") >= 1);
    assert_true(it_server_log_count(s, "drained and exited") >= 1);
    it_server_stop(s);
}

static void stuck_sync_threads_get_their_worker_recycled(void **state)
{
    (void)state;
    it_server *s = it_server_new();
    it_server_add_plugin(s, "it_crashy");
    it_server_write_ini(s,
                        "[server]\nlisten = 127.0.0.1:0\nworkers = 1\nplugin_dir = %s\nwatch = false\n"
                        "max_stuck_sync = 2\ndrain_timeout = 3s\n\n"
                        "[route /crashy]\nplugin = it_crashy\ntimeout = 100ms\n",
                        s->plugin_dir);
    it_server_start(s);
    for (int i = 0; i < 2; i++) { /* two handlers sleep past their timeout: 504, stuck */
        it_response r;
        assert_int_equal(it_request(s->port, "GET /crashy?sleep=2500 HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
        it_assert_status(&r, 504);
        it_response_free(&r);
    }
    wait_log(s, "is recycled: 2 sync threads stuck past their route timeout (max_stuck_sync = 2)", IT_WAIT_MS);
    wait_log(s, "worker 1 (pid ", IT_WAIT_MS);
    /* the replacement serves while the old one drains */
    double deadline = it_now() + IT_WAIT_MS / 1000.0;
    while (it_server_log_count(s, "starting on generation 1") < 2 && it_now() < deadline)
        it_sleep_ms(20);
    assert_int_equal(it_server_log_count(s, "starting on generation 1"), 2);
    it_response r;
    assert_int_equal(it_request(s->port, "GET /crashy HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    it_server_stop(s);
}

static void a_worker_above_max_worker_rss_is_recycled(void **state)
{
    (void)state;
    it_server *s = start_workers(1, "max_worker_rss = 1k\n"); /* below any process */
    wait_log(s, "is recycled: RSS ", IT_WAIT_MS);
    wait_log(s, "above max_worker_rss (1 KiB)", IT_WAIT_MS);
    it_response r;
    assert_int_equal(it_request(s->port, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    it_server_stop(s);
}

static pid_t upgrade_new_pid;

static void send_upgrade_once(it_server *s, double elapsed)
{
    static bool sent;
    if (elapsed < 0.01)
        sent = false;
    if (!sent && elapsed > 1.0) {
        assert_int_equal(kill(s->pid, SIGUSR2), 0);
        sent = true;
    }
}

static void binary_upgrade_under_load_fails_no_request(void **state)
{
    (void)state;
    /* the new supervisor is the old one's child: once that exits it is
     * re-parented to us, and we reap it */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    it_server *s = start_workers(2, "");
    int answered = 0;
    int failed = keep_busy(s, 8, 4.0, &answered, send_upgrade_once);
    wait_log(s, "upgrade: the new binary (pid ", IT_WAIT_MS);
    char *log = it_read_file(s->log_path);
    const char *at = strstr(log, "upgrade: the new binary (pid ");
    upgrade_new_pid = (pid_t)atoi(at + strlen("upgrade: the new binary (pid "));
    free(log);
    if (failed)
        it_server_dump_log(s);
    assert_int_equal(failed, 0);
    assert_true(answered > 500);
    /* the old supervisor drained and exited 0; the new one serves */
    int status = it_server_signal_wait(s, 0, IT_WAIT_MS);
    assert_true(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(upgrade_new_pid > 0);
    it_response r;
    assert_int_equal(it_request(s->port, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    assert_int_equal(kill(upgrade_new_pid, SIGTERM), 0);
    double deadline = it_now() + IT_WAIT_MS / 1000.0;
    pid_t got = 0;
    while (got != upgrade_new_pid && it_now() < deadline) {
        got = waitpid(upgrade_new_pid, &status, WNOHANG);
        it_sleep_ms(10);
    }
    if (got != upgrade_new_pid)
        kill(upgrade_new_pid, SIGKILL);
    assert_int_equal(got, upgrade_new_pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    while (waitpid(-1, NULL, WNOHANG) > 0) /* orphaned workers re-parented to us */
        ;
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

static int reloads_sent;

static void reload_every_200ms(it_server *s, double elapsed)
{
    if (reloads_sent < 20 && elapsed > 0.2 * (reloads_sent + 1)) {
        char needle[64];
        snprintf(needle, sizeof needle, "generation %d serving", reloads_sent + 1);
        if (reloads_sent == 0 || it_server_log_wait(s, needle, 0)) {
            assert_int_equal(kill(s->pid, SIGHUP), 0);
            reloads_sent++;
        }
    }
}

static void every_worker_serves_the_same_generation_after_20_reloads_under_load(void **state)
{
    (void)state;
    it_server *s = start_workers(2, "");
    reloads_sent = 0;
    int answered = 0;
    int failed = keep_busy(s, 6, 6.0, &answered, reload_every_200ms);
    assert_int_equal(reloads_sent, 20);
    wait_log(s, "generation 21 serving 3 routes on 2 workers", IT_WAIT_MS);
    assert_int_equal(failed, 0);
    /* ask the status document until both workers have answered */
    int seen[2] = {0, 0};
    for (int i = 0; i < 400 && (!seen[0] || !seen[1]); i++) {
        it_response r;
        assert_int_equal(it_request(s->port, "GET /_status HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
        it_assert_contains(r.body, "\"generation\":21,");
        const char *w = strstr(r.body, "\"worker\":");
        assert_non_null(w);
        int id = atoi(w + strlen("\"worker\":"));
        assert_true(id == 1 || id == 2);
        seen[id - 1] = 1;
        it_response_free(&r);
    }
    assert_true(seen[0] && seen[1]);
    it_server_stop(s);
}

/* True once `pid` is gone or a zombie (not our child: we cannot reap it). */
static bool process_gone(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    char *stat = it_read_file(path);
    if (!stat)
        return true;
    const char *close_paren = strrchr(stat, ')');
    bool zombie = close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
    free(stat);
    return zombie;
}

static void workers_drain_and_exit_when_the_supervisor_is_killed(void **state)
{
    (void)state;
    it_server *s = start_workers(2, "");
    it_conn *conns[2];
    int owners[2];
    connections_on_both(s->port, 1, conns, owners, 2);
    assert_int_equal(it_server_signal_wait(s, SIGKILL, IT_WAIT_MS) >= 0, 1);
    double deadline = it_now() + IT_WAIT_MS / 1000.0;
    while ((!process_gone(owners[0]) || !process_gone(owners[1])) && it_now() < deadline)
        it_sleep_ms(20);
    assert_true(process_gone(owners[0]));
    assert_true(process_gone(owners[1]));
    wait_log(s, "the supervisor is gone: draining", IT_WAIT_MS);
}

static void workers_auto_starts_one_per_online_core(void **state)
{
    (void)state;
    it_server *s = it_server_new();
    it_server_add_plugin(s, "hello");
    it_server_write_ini(s, "[server]\nlisten = 127.0.0.1:0\nworkers = auto\nplugin_dir = %s\nwatch = false\n\n"
                           "[route /hello]\nplugin = hello\n",
                        s->plugin_dir);
    it_server_start(s);
    char want[64];
    snprintf(want, sizeof want, "serving 1 routes on %ld workers", sysconf(_SC_NPROCESSORS_ONLN));
    wait_log(s, want, IT_WAIT_MS);
    it_server_stop(s);
}

static void listen_on_the_command_line_replaces_the_config_listen(void **state)
{
    (void)state;
    it_server *s = it_server_new();
    it_server_add_plugin(s, "hello");
    /* the config's port is one nobody may bind twice: the override must win */
    it_server_write_ini(s, "[server]\nlisten = 192.0.2.1:1\nworkers = 1\nplugin_dir = %s\nwatch = false\n\n"
                           "[route /hello]\nplugin = hello\n",
                        s->plugin_dir);
    it_server_start_with(s, "127.0.0.1:0");
    it_response r;
    assert_int_equal(it_request(s->port, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    assert_int_equal(kill(s->pid, SIGHUP), 0); /* a reload keeps the override: no "listen changed" */
    wait_log(s, "generation 2 serving", IT_WAIT_MS);
    assert_int_equal(it_server_log_count(s, "listen changed"), 0);
    it_server_stop(s);
    const char *args[] = {"-t", "-c", s->ini_path, "-l", "nonsense", NULL};
    char *out = NULL;
    assert_int_equal(it_run(args, IT_WAIT_MS, &out), 1);
    it_assert_contains(out, "plughost: --listen: 'nonsense' is not host:port");
    free(out);
}

int main(void)
{
    it_init();
    it_servers_keep_their_fatal_signals();
    const struct CMUnitTest tests[] = {
        IT_TEST(kill_segv_of_a_worker_spares_the_other_and_it_is_respawned),
        IT_TEST(sync_plugin_crash_is_reported_with_route_plugin_and_a_frame_inside_it),
        IT_TEST(async_plugin_crash_names_the_loop_thread),
        IT_TEST(a_worker_that_keeps_dying_is_respawned_with_back_off),
        IT_TEST(sigterm_answers_slow_requests_on_both_workers_then_exits),
        IT_TEST(max_requests_recycles_workers_under_load_without_a_failed_request),
        IT_TEST(stuck_sync_threads_get_their_worker_recycled),
        IT_TEST(a_worker_above_max_worker_rss_is_recycled),
        IT_TEST(binary_upgrade_under_load_fails_no_request),
        IT_TEST(every_worker_serves_the_same_generation_after_20_reloads_under_load),
        IT_TEST(workers_drain_and_exit_when_the_supervisor_is_killed),
        IT_TEST(workers_auto_starts_one_per_online_core),
        IT_TEST(listen_on_the_command_line_replaces_the_config_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
