/*
 * test_lifecycle.c - signals: SIGTERM and SIGINT exit 0; a graceful stop
 * stops accepting, lets in-flight sync and async requests finish, and does
 * not wait for idle keep-alive connections.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#define GET_HELLO "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"

/* Wait (bounded) for the exit that an earlier signal started; assert 0. */
static void assert_exits_0(it_server *s, int timeout_ms)
{
    int status = it_server_signal_wait(s, 0, timeout_ms);
    if (status == -1) {
        print_error("plughost did not exit within %d ms after the signal (killed)\n", timeout_ms);
        it_server_dump_log(s);
        fail();
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        print_error("plughost ended with wait status 0x%x, expected exit 0\n", status);
        it_server_dump_log(s);
        fail();
    }
}

static void test_sigterm_exits_0(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    it_response r;
    assert_int_equal(it_request(s->port, GET_HELLO, &r, false), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    it_server_stop(s);
}

/* SIGUSR1 (logrotate's "reopen logs") must not end the server. */
static void test_sigusr1_keeps_serving(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    kill(s->pid, SIGUSR1);
    assert_true(it_server_log_wait(s, "SIGUSR1", IT_WAIT_MS));
    it_response r;
    assert_int_equal(it_request(s->port, GET_HELLO, &r, false), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    it_server_stop(s);
}

static void test_sigint_exits_0(void **state)
{
    (void)state;
    it_server *s = it_start("", IT_ROUTES_STD);
    it_response r;
    assert_int_equal(it_request(s->port, GET_HELLO, &r, false), IT_OK);
    it_response_free(&r);
    kill(s->pid, SIGINT);
    assert_exits_0(s, IT_WAIT_MS);
}

/* After SIGTERM a new connection is refused or never answered 2xx. */
static void assert_not_accepting(it_server *s)
{
    it_conn *c = it_try_connect(s->port);
    if (c == NULL)
        return; /* refused: the listener is closed */
    it_send_str(c, GET_HELLO);
    it_response r;
    int rc = it_recv(c, &r, false, 5000);
    if (rc == IT_OK && r.status / 100 == 2) {
        print_error("a connection made after SIGTERM was served (%d)\n", r.status);
        fail();
    }
    if (rc == IT_OK)
        it_response_free(&r);
    it_conn_close(c);
}

/* An in-flight /sync request (2 s) finishes with 200 after SIGTERM, the
 * server stops accepting meanwhile, and then exits 0. */
static void test_sigterm_drains_inflight_sync(void **state)
{
    (void)state;
    it_server *s = it_start("drain_timeout = 30s\n",
                            "[route /slow]\nplugin = sleep_sync\nseconds = 2\n\n"
                            "[route /hello]\nplugin = hello\n");
    it_conn *c = it_connect(s->port);
    double t0 = it_now();
    assert_int_equal(it_send_str(c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    it_sleep_ms(300); /* let it reach the pool */
    kill(s->pid, SIGTERM);
    it_sleep_ms(300);
    assert_not_accepting(s);
    it_response r;
    int rc = it_recv(c, &r, false, IT_WAIT_MS);
    if (rc != IT_OK) {
        print_error("in-flight /slow got no response after SIGTERM (code %d)\n", rc);
        it_server_dump_log(s);
        fail();
    }
    it_assert_status(&r, 200);
    it_assert_contains(r.body, "Sync response after 2 seconds");
    assert_true(it_now() - t0 >= 1.95);
    it_response_free(&r);
    it_conn_close(c);
    assert_exits_0(s, IT_WAIT_MS);
}

/* The same for an in-flight async request waiting on a loop timer. */
static void test_sigterm_drains_inflight_async(void **state)
{
    (void)state;
    it_server *s = it_start("drain_timeout = 30s\n",
                            "[route /slow]\nplugin = sleep_async\nseconds = 1.5\n");
    it_conn *c = it_connect(s->port);
    assert_int_equal(it_send_str(c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    it_sleep_ms(300);
    kill(s->pid, SIGTERM);
    it_response r;
    int rc = it_recv(c, &r, false, IT_WAIT_MS);
    if (rc != IT_OK) {
        print_error("in-flight async /slow got no response after SIGTERM (code %d)\n", rc);
        it_server_dump_log(s);
        fail();
    }
    it_assert_status(&r, 200);
    it_assert_contains(r.body, "Async response after 1.5 seconds");
    it_response_free(&r);
    it_conn_close(c);
    assert_exits_0(s, IT_WAIT_MS);
}

/* Idle keep-alive connections are not in-flight requests: with a 60 s
 * keepalive_timeout and 30 s drain_timeout, SIGTERM still exits 0 promptly
 * (within the harness' 10 s bound), closing them. */
static void test_sigterm_with_idle_keepalive(void **state)
{
    (void)state;
    it_server *s = it_start("keepalive_timeout = 60s\ndrain_timeout = 30s\n", IT_ROUTES_STD);
    it_conn *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = it_connect(s->port);
        it_response r;
        assert_int_equal(it_send_str(c[i], GET_HELLO), 0);
        assert_int_equal(it_recv(c[i], &r, false, IT_WAIT_MS), IT_OK);
        it_assert_status(&r, 200);
        it_response_free(&r);
    }
    it_server_stop(s);
    for (int i = 0; i < 3; i++) {
        assert_true(it_wait_closed(c[i], IT_WAIT_MS, NULL));
        it_conn_close(c[i]);
    }
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(test_sigterm_exits_0),
        IT_TEST(test_sigint_exits_0),
        IT_TEST(test_sigusr1_keeps_serving),
        IT_TEST(test_sigterm_drains_inflight_sync),
        IT_TEST(test_sigterm_drains_inflight_async),
        IT_TEST(test_sigterm_with_idle_keepalive),
    };
    return cmocka_run_group_tests_name("integration.lifecycle", tests, NULL, NULL);
}
