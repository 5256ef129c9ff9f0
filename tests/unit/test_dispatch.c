/* test_dispatch.c - server/dispatch.c with request_life.c behind it:
 * routing (404, 405, the status document), async handlers on the loop,
 * sync ones on the pool, route timeouts, aborts, and the counts that must
 * come back to zero. Requests arrive through the real connection layer
 * over socketpairs; the plugins are the hostile it_abort_complete,
 * it_fail_async and sleep_sync. */
#include "dispatch.h"

#include "generation.h"
#include "host_api.h"
#include "http_conn.h"
#include "offload.h"
#include "plugin_loader.h"
#include "pool.h"
#include "request_life.h"
#include "request_timer.h"
#include "route_gate.h"
#include "sdk_calls.h"
#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static struct event_base *base;
static ph_pool *pool;
static ph_generation *gen;
static char *dir;
static int changes;

static const char *routes = "[route /work]\nplugin = it_abort_complete\nmode = work\n\n"
                            "[route /hang]\nplugin = it_abort_complete\nmode = hang\ntimeout = 30ms\n\n"
                            "[route /stream]\nplugin = it_abort_complete\nmode = stream\n\n"
                            "[route /stats]\nplugin = it_abort_complete\nmode = stats\n\n"
                            "[route /fail]\nplugin = it_fail_async\n\n"
                            "[route /sync]\nplugin = sleep_sync\nseconds = 0.15\ntimeout = 30ms\n\n"
                            "[route /post]\nplugin = it_fail_async\nmethods = POST\n\n";

static void counted_change(void) { changes++; }

static void conn_closed(void) {}

static void link_plugin(const char *plugins, const char *target, const char *name)
{
    char path[8400];
    snprintf(path, sizeof path, "%s/%s.so", plugins, name);
    assert_int_equal(symlink(target, path), 0);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    dir = ut_mkdtemp("ph-unit-dispatch");
    char plugins[4200], ini[4200], text[8192], err[2048];
    snprintf(plugins, sizeof plugins, "%s/plugins", dir);
    assert_int_equal(mkdir(plugins, 0700), 0);
    link_plugin(plugins, PLUGHOST_TEST_PLUGIN_DIR "/it_abort_complete.so", "it_abort_complete");
    link_plugin(plugins, PLUGHOST_TEST_PLUGIN_DIR "/it_fail_async.so", "it_fail_async");
    link_plugin(plugins, PLUGHOST_PLUGIN_DIR "/sleep_sync.so", "sleep_sync");
    snprintf(ini, sizeof ini, "%s/server.ini", dir);
    snprintf(text, sizeof text, "[server]\nplugin_dir = %s\nwatch = false\nstatus_path = /status\n\n%s", plugins,
             routes);
    assert_int_equal(ut_write_file(ini, text, strlen(text)), 0);
    ph_config *config = ph_config_load(ini, err, sizeof err);
    assert_non_null(config);

    base = event_base_new();
    assert_non_null(base);
    ph_host_api_set_loop_thread();
    ph_sdk_calls_install();
    ph_request_timer_setup(base);
    assert_int_equal(ph_generation_reaper_setup(NULL), 0);
    gen = ph_generation_build(config, NULL, 1, err, sizeof err);
    if (!gen)
        fail_msg("%s", err);
    pool = ph_pool_create(base, 2, 4);
    assert_non_null(pool);
    ph_offload_setup(pool);
    changes = 0;
    ph_life_setup(base);
    ph_life_watch(counted_change);
    ph_dispatch_setup(pool, 1);
    assert_int_equal(ph_dispatch_setup_gates(base), 0);
    ph_dispatch_set_generation(gen);
    static const ph_conn_hooks hooks = {ph_dispatch_request, ph_life_dropped, ph_life_drained, conn_closed};
    ph_conn_setup(base, &hooks);
    ph_conn_set_limits(&gen->config->server);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ph_conn_close_all();
    ph_pool_destroy(pool);
    ph_offload_setup(NULL);
    ph_host_api_set_hooks(NULL);
    ph_generation_unref(gen);
    ph_gates_shutdown();
    ph_request_free_cache();
    ph_request_timer_setup(NULL);
    event_base_free(base);
    ph_loader_cleanup();
    ut_rmtree(dir);
    free(dir);
    return 0;
}

/* A client: the test's end of a socketpair whose other end is served. */
static int client(void)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    assert_int_equal(ph_conn_accept(sv[0], NULL), 0);
    return sv[1];
}

static void run_for(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* Send `request` on a new client and read until `needle` arrives (the
 * loop runs meanwhile), at most `ms`. Returns the client; *out what came. */
static int ask(const char *request, const char *needle, int ms, char **out)
{
    static char buf[16384];
    int fd = client();
    assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    size_t len = 0;
    buf[0] = '\0';
    for (int waited = 0; waited <= ms && !strstr(buf, needle); waited += 5) {
        run_for(5);
        struct pollfd p = {fd, POLLIN, 0};
        while (poll(&p, 1, 0) == 1 && len < sizeof buf - 1) {
            ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
            if (n <= 0)
                break;
            len += (size_t)n;
        }
        buf[len] = '\0';
    }
    *out = buf;
    return fd;
}

#define GET(path) "GET " path " HTTP/1.1\r\nHost: t\r\n\r\n"

/* The plugin's counter `name` (GET /stats). */
static unsigned long stat_of(const char *name)
{
    char *out;
    close(ask(GET("/stats"), "second_accepted=", 1000, &out));
    char key[64];
    snprintf(key, sizeof key, "\n%s=", name);
    const char *p = strstr(out, key);
    assert_non_null(p);
    return strtoul(p + strlen(key), NULL, 10);
}

static void assert_settled(void)
{
    const ph_life_counts *n = ph_life_counts_now();
    assert_int_equal(n->in_flight, 0);
    assert_int_equal(n->detached, 0);
    assert_int_equal(n->stuck_sync, 0);
}

static void host_answers_404_405_and_the_status_document(void **state)
{
    (void)state;
    char *out;
    close(ask(GET("/nope"), "}", 1000, &out));
    assert_non_null(strstr(out, "HTTP/1.1 404 Not Found"));
    close(ask(GET("/post"), "}", 1000, &out));
    assert_non_null(strstr(out, "HTTP/1.1 405 Method Not Allowed"));
    assert_non_null(strstr(out, "Allow: POST"));
    close(ask(GET("/status"), "}", 1000, &out));
    assert_non_null(strstr(out, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(out, "\"requests_done\":2"));
    assert_int_equal(ph_life_counts_now()->requests_done, 3);
    assert_settled();
}

static void an_async_answer_is_sent_and_a_second_complete_refused(void **state)
{
    (void)state;
    char *out;
    close(ask(GET("/work?id=17"), "id=17", 1000, &out));
    assert_non_null(strstr(out, "HTTP/1.1 200 OK"));
    assert_int_equal(stat_of("answered"), 1);
    assert_int_equal(stat_of("second_refused"), 1);
    assert_int_equal(stat_of("second_accepted"), 0);
    assert_settled();
}

static void handle_returning_an_error_answers_500(void **state)
{
    (void)state;
    char *out;
    close(ask(GET("/fail"), "}", 1000, &out));
    assert_non_null(strstr(out, "HTTP/1.1 500 Internal Server Error"));
    assert_settled();
}

static void a_route_timeout_answers_504_and_aborts_once_refusing_complete(void **state)
{
    (void)state;
    char *out;
    int fd = ask(GET("/hang?id=3"), "}", 2000, &out);
    assert_non_null(strstr(out, "HTTP/1.1 504 Gateway Timeout"));
    close(fd);
    assert_int_equal(stat_of("aborts"), 1);
    assert_int_equal(stat_of("refused_complete"), 1);
    assert_int_equal(stat_of("accepted"), 0);
    assert_int_equal(stat_of("wrong_request"), 0);
    assert_settled();
}

static void a_client_leaving_a_stream_aborts_it_once(void **state)
{
    (void)state;
    char *out;
    int fd = ask(GET("/stream?id=9"), "id=9\n", 1000, &out);
    assert_non_null(strstr(out, "Transfer-Encoding: chunked"));
    assert_int_equal(ph_life_counts_now()->in_flight, 1);
    close(fd); /* the next tick's write fails */
    for (int i = 0; i < 100 && ph_life_counts_now()->in_flight; i++)
        run_for(5);
    assert_int_equal(stat_of("aborts"), 1);
    assert_int_equal(stat_of("refused_complete"), 1);
    assert_int_equal(stat_of("accepted"), 0);
    assert_settled();
}

static void a_sync_timeout_answers_504_counts_the_stuck_thread_and_discards_the_late_result(void **state)
{
    (void)state;
    char *out;
    int fd = ask(GET("/sync"), "}", 1000, &out);
    assert_non_null(strstr(out, "HTTP/1.1 504 Gateway Timeout"));
    const ph_life_counts *n = ph_life_counts_now();
    assert_int_equal(n->stuck_sync, 1);
    assert_int_equal(n->detached, 1);
    assert_int_equal(n->in_flight, 1);
    for (int i = 0; i < 200 && n->in_flight; i++)
        run_for(5);
    assert_settled();
    char more[64];
    assert_int_equal(recv(fd, more, sizeof more, MSG_DONTWAIT), -1); /* nothing after the 504 */
    close(fd);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(host_answers_404_405_and_the_status_document),
        T(an_async_answer_is_sent_and_a_second_complete_refused),
        T(handle_returning_an_error_answers_500),
        T(a_route_timeout_answers_504_and_aborts_once_refusing_complete),
        T(a_client_leaving_a_stream_aborts_it_once),
        T(a_sync_timeout_answers_504_counts_the_stuck_thread_and_discards_the_late_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
