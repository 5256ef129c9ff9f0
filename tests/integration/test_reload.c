/*
 * test_reload.c - hot reload: edits to server.ini and replaced .so files go
 * live without a restart; a bad generation is refused whole and the old
 * one keeps serving; requests in flight finish on the generation that
 * accepted them; unchanged plugins keep their state; reloads under
 * keep-alive traffic fail no request.
 *
 * Test plugins: it_v1.so (async) and it_v2.so (sync) answer "v1 <greeting>"
 * / "v2 <greeting>"; it_counter.so counts its requests.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RELOAD_WAIT_MS 8000

/* Server keys shared by every test here; plugin_dir is the server's own. */
static void write_ini(it_server *s, bool watch, const char *routes)
{
    it_server_write_ini(s,
                        "[server]\nlisten = 127.0.0.1:0\nworkers = 1\nplugin_dir = %s\nwatch = %s\n"
                        "sync_threads = 4\n\n%s",
                        s->plugin_dir, watch ? "true" : "false", routes);
}

/* Install test plugin `from` as <plugin_dir>/<to>.so. In place: open the
 * existing file with O_TRUNC and write it, as cp does. Otherwise write a
 * temporary name and rename it over, as an atomic mv does. */
static void install_plugin(it_server *s, const char *from, const char *to, bool in_place)
{
    char src[PATH_MAX + 64], dst[PATH_MAX + 64], tmp[PATH_MAX + 80];
    snprintf(src, sizeof src, "%s/%s.so", TEST_PLUGIN_DIR, from);
    snprintf(dst, sizeof dst, "%s/%s.so", s->plugin_dir, to);
    snprintf(tmp, sizeof tmp, "%s/.%s.partial", s->plugin_dir, to);
    int in = open(src, O_RDONLY);
    assert_true(in >= 0);
    int out = open(in_place ? dst : tmp, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    assert_true(out >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    close(in);
    assert_int_equal(close(out), 0);
    if (!in_place)
        assert_int_equal(rename(tmp, dst), 0);
}

/* Body of GET `path` on a fresh connection (caller frees); fails the test
 * unless the answer is `status`. */
static char *get_body(it_server *s, const char *path, int status)
{
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    it_response r;
    assert_int_equal(it_request(s->port, req, &r, false), IT_OK);
    it_assert_status(&r, status);
    char *body = strdup(r.body);
    it_response_free(&r);
    return body;
}

static void assert_body(it_server *s, const char *path, const char *want)
{
    char *body = get_body(s, path, 200);
    assert_string_equal(body, want);
    free(body);
}

/* Wait until the log says generation `n` is serving. */
static void wait_generation(it_server *s, int n)
{
    char needle[64];
    snprintf(needle, sizeof needle, "generation %d serving", n);
    if (!it_server_log_wait(s, needle, RELOAD_WAIT_MS)) {
        print_error("no \"%s\" in the log\n", needle);
        it_server_dump_log(s);
        fail();
    }
}

static void wait_log(it_server *s, const char *needle)
{
    if (!it_server_log_wait(s, needle, RELOAD_WAIT_MS)) {
        print_error("no \"%s\" in the log\n", needle);
        it_server_dump_log(s);
        fail();
    }
}

static it_server *start_with(bool watch, const char *routes)
{
    it_server *s = it_server_new();
    it_server_add_plugin(s, "it_counter");
    install_plugin(s, "it_v1", "app", true);
    write_ini(s, watch, routes);
    it_server_start(s);
    return s;
}

#define APP_ROUTE(greeting) "[route /app]\nplugin = app\ngreeting = " greeting "\n\n"
#define COUNTER_ROUTE "[route /count]\nplugin = it_counter\n\n"

static void editing_a_route_setting_changes_the_response(void **state)
{
    (void)state;
    it_server *s = start_with(true, APP_ROUTE("one"));
    assert_body(s, "/app", "v1 one");
    write_ini(s, true, APP_ROUTE("two"));
    wait_generation(s, 2);
    assert_body(s, "/app", "v1 two");
    it_server_stop(s);
}

static void adding_and_removing_a_route_section(void **state)
{
    (void)state;
    it_server *s = start_with(true, APP_ROUTE("a"));
    free(get_body(s, "/count", 404));
    write_ini(s, true, APP_ROUTE("a") COUNTER_ROUTE);
    wait_generation(s, 2);
    wait_log(s, "route /count added");
    assert_body(s, "/count", "1");
    write_ini(s, true, APP_ROUTE("a"));
    wait_generation(s, 3);
    wait_log(s, "route /count removed");
    free(get_body(s, "/count", 404));
    assert_body(s, "/app", "v1 a");
    it_server_stop(s);
}

static void replacing_the_so_by_copy_and_by_rename_switches_code(void **state)
{
    (void)state;
    it_server *s = start_with(true, APP_ROUTE("x"));
    assert_body(s, "/app", "v1 x");
    install_plugin(s, "it_v2", "app", true); /* cp over the file */
    wait_generation(s, 2);
    assert_body(s, "/app", "v2 x");
    install_plugin(s, "it_v1", "app", false); /* mv over the file */
    wait_generation(s, 3);
    assert_body(s, "/app", "v1 x");
    it_server_stop(s);
}

/* A slow v1 request accepted before the swap answers with v1's code and
 * settings; the next request gets v2. Reload by SIGHUP (watch off). */
static void request_in_flight_across_the_swap_completes_on_v1(void **state)
{
    (void)state;
    it_server *s = start_with(false, "[route /app]\nplugin = app\ngreeting = old\ndelay_ms = 600\n\n");
    it_conn *c = it_connect(s->port);
    assert_int_equal(it_send_str(c, "GET /app HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    it_sleep_ms(100); /* accepted and waiting on v1's timer */
    install_plugin(s, "it_v2", "app", false);
    write_ini(s, false, "[route /app]\nplugin = app\ngreeting = new\n\n");
    kill(s->pid, SIGHUP);
    wait_generation(s, 2);
    it_response r;
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(r.body, "v1 old");
    it_response_free(&r);
    assert_body(s, "/app", "v2 new");
    it_server_stop(s);
}

static void broken_ini_is_refused_and_the_old_generation_serves(void **state)
{
    (void)state;
    it_server *s = start_with(true, APP_ROUTE("keep"));
    it_server_write_ini(s, "[server]\nlisten = 127.0.0.1:0\nplugin_dir = %s\nwatch = true\n[route /app\nplugin = app\n",
                        s->plugin_dir);
    wait_log(s, "rejected, still serving generation 1");
    wait_log(s, "server.ini:5: syntax error");
    assert_body(s, "/app", "v1 keep");
    it_server_write_ini(s, "[server]\nlisten = 127.0.0.1:0\nplugin_dir = %s\nwatch = true\nbogus = 1\n"
                           "[route /app]\nplugin = app\n", s->plugin_dir);
    wait_log(s, "server.ini:5: unknown key 'bogus' in [server]");
    assert_body(s, "/app", "v1 keep");
    write_ini(s, true, APP_ROUTE("fixed")); /* a later good edit is picked up */
    wait_generation(s, 2);
    assert_body(s, "/app", "v1 fixed");
    it_server_stop(s);
}

static void bad_plugins_are_refused_and_the_old_generation_serves(void **state)
{
    (void)state;
    it_server *s = start_with(true, APP_ROUTE("keep"));
    install_plugin(s, "it_wrong_abi", "app", true);
    wait_log(s, "built for plugin ABI 2.0, host speaks 1.");
    assert_body(s, "/app", "v1 keep");
    install_plugin(s, "it_init_fail", "app", false);
    wait_log(s, "init failed");
    assert_body(s, "/app", "v1 keep");
    install_plugin(s, "it_v1", "app", false); /* a good file again */
    wait_generation(s, 2);
    write_ini(s, true, APP_ROUTE("keep") "[route /gone]\nplugin = missing\n\n");
    wait_log(s, "missing.so: No such file or directory");
    assert_body(s, "/app", "v1 keep");
    free(get_body(s, "/gone", 404));
    it_server_stop(s);
}

static void unchanged_plugin_keeps_its_state_across_a_reload(void **state)
{
    (void)state;
    it_server *s = start_with(false, COUNTER_ROUTE APP_ROUTE("a"));
    assert_body(s, "/count", "1");
    assert_body(s, "/count", "2");
    write_ini(s, false, COUNTER_ROUTE APP_ROUTE("b"));
    kill(s->pid, SIGHUP);
    wait_generation(s, 2);
    assert_body(s, "/app", "v1 b");
    assert_body(s, "/count", "3");
    it_server_stop(s);
}

/* 20 reloads (alternating a setting edit and a .so swap) while 4
 * keep-alive connections keep requests in flight: every request answered
 * 200 by v1 or v2, none lost, no connection dropped. */
static void twenty_reloads_under_keepalive_traffic_fail_nothing(void **state)
{
    (void)state;
    enum { CONNS = 4, RELOADS = 20, ROUNDS_PER_RELOAD = 5 };
    it_server *s = start_with(false, APP_ROUTE("g0") COUNTER_ROUTE);
    it_conn *conns[CONNS];
    for (int i = 0; i < CONNS; i++)
        conns[i] = it_connect(s->port);
    int answered = 0;
    for (int reload = 1; reload <= RELOADS; reload++) {
        for (int round = 0; round < ROUNDS_PER_RELOAD; round++) {
            for (int i = 0; i < CONNS; i++)
                assert_int_equal(it_send_str(conns[i], i % 2 ? "GET /count HTTP/1.1\r\nHost: t\r\n\r\n"
                                                              : "GET /app HTTP/1.1\r\nHost: t\r\n\r\n"),
                                 0);
            if (round == 0) { /* reload while these requests are in flight */
                char routes[256];
                if (reload % 2)
                    snprintf(routes, sizeof routes, APP_ROUTE("g%d") COUNTER_ROUTE, reload);
                else
                    install_plugin(s, reload % 4 ? "it_v1" : "it_v2", "app", false);
                if (reload % 2)
                    write_ini(s, false, routes);
                kill(s->pid, SIGHUP);
            }
            for (int i = 0; i < CONNS; i++) {
                it_response r;
                int rc = it_recv(conns[i], &r, false, IT_WAIT_MS);
                if (rc != IT_OK) {
                    print_error("reload %d round %d conn %d: no response (%d)\n", reload, round, i, rc);
                    it_server_dump_log(s);
                    fail();
                }
                it_assert_status(&r, 200);
                assert_true(r.body[0] == 'v' || (r.body[0] >= '1' && r.body[0] <= '9'));
                it_response_free(&r);
                answered++;
            }
        }
        wait_generation(s, reload + 1);
    }
    assert_int_equal(answered, CONNS * RELOADS * ROUNDS_PER_RELOAD);
    it_server_stop(s);
}

/* plughost -t checks a config without touching the running server. */
static void config_test_does_not_touch_the_running_server(void **state)
{
    (void)state;
    it_server *s = start_with(false, APP_ROUTE("run"));
    write_ini(s, false, APP_ROUTE("other"));
    const char *args[] = {"-t", "-c", s->ini_path, NULL};
    char *out = NULL;
    assert_int_equal(it_run(args, IT_WAIT_MS, &out), 0);
    it_assert_contains(out, "configuration ok");
    free(out);
    assert_body(s, "/app", "v1 run");
    it_server_stop(s);
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(editing_a_route_setting_changes_the_response),
        IT_TEST(adding_and_removing_a_route_section),
        IT_TEST(replacing_the_so_by_copy_and_by_rename_switches_code),
        IT_TEST(request_in_flight_across_the_swap_completes_on_v1),
        IT_TEST(broken_ini_is_refused_and_the_old_generation_serves),
        IT_TEST(bad_plugins_are_refused_and_the_old_generation_serves),
        IT_TEST(unchanged_plugin_keeps_its_state_across_a_reload),
        IT_TEST(twenty_reloads_under_keepalive_traffic_fail_nothing),
        IT_TEST(config_test_does_not_touch_the_running_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
