/*
 * test_conform_server.c - the conformance suite (tests/plugins/
 * conform_suite.c) on the real server: it_conform behind /c, and behind
 * /ct with a 30 ms route timeout, it_conform_sync behind /cs. The mock host runs the same cases in
 * tests/plugins/test_conform_mock.c.
 */
#include "harness.h"

#include "../plugins/conform_suite.h"

#include <stdio.h>
#include <string.h>

static it_server *server;

/* The plugin's record for `id`, waiting for it (an abort is noticed a
 * moment after the client leaves), bounded. */
static void report(const conform_case *c, unsigned long id, char *buf, size_t len)
{
    char req[128];
    snprintf(req, sizeof req, "GET %s?case=report&id=%lu HTTP/1.1\r\nHost: t\r\n\r\n", c->sync ? "/cs" : "/c", id);
    double until = it_now() + IT_WAIT_MS / 1000.0;
    buf[0] = '\0';
    while (!buf[0] && it_now() < until) {
        it_response r = {0};
        assert_int_equal(it_request(server->port, req, &r, false), IT_OK);
        it_assert_status(&r, 200);
        snprintf(buf, len, "%s", r.body);
        it_response_free(&r);
        if (!buf[0])
            it_sleep_ms(10);
    }
}

static void play(const conform_case *c, unsigned long id, conform_outcome *out)
{
    char req[160];
    snprintf(req, sizeof req, "GET %s?case=%s&id=%lu HTTP/1.1\r\nHost: t\r\n\r\n",
             c->sync ? "/cs" : c->end == CONFORM_ROUTE_TIMEOUT ? "/ct" : "/c", c->name, id);
    it_conn *conn = it_connect(server->port);
    assert_int_equal(it_send_str(conn, req), 0);
    if (c->end == CONFORM_CLIENT_LEAVES) {
        /* wait until the stream began, then leave abortively */
        double until = it_now() + IT_WAIT_MS / 1000.0;
        while (!(conn->len && memmem(conn->buf, conn->len, "started\n", 8)) && it_now() < until) {
            it_response r = {0};
            assert_int_equal(it_recv_step(conn, &r, false), 0);
            it_sleep_ms(5);
        }
        assert_true(conn->len && memmem(conn->buf, conn->len, "started\n", 8));
        it_conn_reset(conn);
        return; /* aborted: no answer of the plugin's */
    }
    it_response r = {0};
    assert_int_equal(it_recv(conn, &r, false, IT_WAIT_MS), IT_OK);
    if (c->end == CONFORM_ROUTE_TIMEOUT) {
        it_assert_status(&r, 504); /* the host's answer; the plugin's was none */
    } else {
        out->status = r.status;
        snprintf(out->body, sizeof out->body, "%s", r.body ? r.body : "");
    }
    it_response_free(&r);
    it_conn_close(conn);
}

static void the_real_server_conforms(void **state)
{
    (void)state;
    server = it_server_new();
    it_server_add_plugin(server, "it_conform");
    it_server_add_plugin(server, "it_conform_sync");
    it_server_write_ini(server,
                        "[server]\nlisten = 127.0.0.1:0\nworkers = 1\nplugin_dir = %s\nwatch = false\n\n"
                        "[route /c]\nplugin = it_conform\n\n"
                        "[route /ct]\nplugin = it_conform\ntimeout = 30ms\n\n"
                        "[route /cs]\nplugin = it_conform_sync\n\n",
                        server->plugin_dir);
    it_server_start(server);
    static const conform_host host = {"real", play, report};
    conform_run(&host);
    it_server_stop(server);
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {IT_TEST(the_real_server_conforms)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
