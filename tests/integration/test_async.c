/*
 * test_async.c - the host side of the async SDK (ABI 1.1) through a test
 * plugin (it_async_kit): route timeouts answer 504 (sync: late result
 * discarded; async: aborted once), a client leaving mid-stream or
 * mid-offload runs the abort callback exactly once and the server stays
 * healthy, streaming is chunked and keeps the connection, the loop-lag
 * watchdog names a blocking async handler and not the others, and path
 * parameters route and decode.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GET(path) "GET " path " HTTP/1.1\r\nHost: t\r\n\r\n"

static it_server *start_kit(const char *server_keys, const char *routes)
{
    it_server *s = it_server_new();
    it_server_add_plugin(s, "it_async_kit");
    it_server_add_plugin(s, "hello");
    it_server_add_plugin(s, "sleep_sync");
    it_server_write_ini(s,
                        "[server]\nlisten = 127.0.0.1:0\nplugin_dir = %s\nwatch = false\nsync_threads = 2\n%s\n"
                        "[route /hello]\nplugin = hello\n\n%s",
                        s->plugin_dir, server_keys, routes);
    it_server_start(s);
    return s;
}

/* How often `needle` occurs in the server log now. */
static int log_count(it_server *s, const char *needle)
{
    char *log = it_read_file(s->log_path);
    assert_non_null(log);
    int n = 0;
    for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(log);
    return n;
}

static void wait_log(it_server *s, const char *needle)
{
    if (!it_server_log_wait(s, needle, IT_WAIT_MS)) {
        print_error("no \"%s\" in the log\n", needle);
        it_server_dump_log(s);
        fail();
    }
}

static void assert_hello_ok(it_server *s)
{
    it_response r;
    assert_int_equal(it_request(s->port, GET("/hello"), &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(r.body, "Hello, World!");
    it_response_free(&r);
}

static void sync_timeout_answers_504_and_discards_the_late_result(void **state)
{
    (void)state;
    it_server *s = start_kit("", "[route /slow]\nplugin = sleep_sync\nseconds = 2\ntimeout = 200ms\n\n");
    double t0 = it_now();
    it_response r;
    assert_int_equal(it_request(s->port, GET("/slow"), &r, false), IT_OK);
    double took = it_now() - t0;
    it_assert_status(&r, 504);
    it_response_free(&r);
    assert_true(took >= 0.15);
    assert_true(took < 1.8); /* well before the handler's 2 s */
    assert_hello_ok(s); /* the loop is fine while the thread is stuck */
    wait_log(s, "answered 504; the sync handler keeps its thread");
    wait_log(s, "late result discarded");
    assert_hello_ok(s);
    it_server_stop(s);
}

static void async_timeout_answers_504_and_aborts_once(void **state)
{
    (void)state;
    it_server *s = start_kit("", "[route /hang]\nplugin = it_async_kit\nmode = hang\ntimeout = 200ms\n\n");
    it_response r;
    assert_int_equal(it_request(s->port, GET("/hang"), &r, false), IT_OK);
    it_assert_status(&r, 504);
    it_response_free(&r);
    wait_log(s, "abort ran for /hang");
    it_sleep_ms(200);
    assert_int_equal(log_count(s, "abort ran for /hang"), 1);
    assert_hello_ok(s);
    it_server_stop(s);
}

/* A [server] timeout applies to routes without their own. */
static void server_timeout_is_the_default_route_timeout(void **state)
{
    (void)state;
    it_server *s = start_kit("timeout = 150ms", "[route /hang]\nplugin = it_async_kit\nmode = hang\n\n");
    it_response r;
    assert_int_equal(it_request(s->port, GET("/hang"), &r, false), IT_OK);
    it_assert_status(&r, 504);
    it_response_free(&r);
    it_server_stop(s);
}

static void streaming_response_is_chunked_and_keeps_the_connection(void **state)
{
    (void)state;
    it_server *s = start_kit("", "[route /stream]\nplugin = it_async_kit\nmode = stream\ninterval_ms = 10\ncount = 5\n\n");
    it_conn *c = it_connect(s->port);
    it_response r;
    assert_int_equal(it_send_str(c, GET("/stream")), 0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    assert_non_null(it_header_get(&r, "Transfer-Encoding"));
    assert_string_equal(it_header_get(&r, "Transfer-Encoding"), "chunked");
    assert_null(it_header_get(&r, "Content-Length"));
    assert_string_equal(r.body, "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n");
    it_response_free(&r);
    assert_int_equal(it_send_str(c, GET("/hello")), 0); /* same connection */
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    assert_string_equal(r.body, "Hello, World!");
    it_response_free(&r);
    it_server_stop(s);
}

static void http10_stream_is_close_delimited(void **state)
{
    (void)state;
    it_server *s = start_kit("", "[route /stream]\nplugin = it_async_kit\nmode = stream\ninterval_ms = 10\ncount = 3\n\n");
    it_conn *c = it_connect(s->port);
    it_response r;
    assert_int_equal(it_send_str(c, "GET /stream HTTP/1.0\r\n\r\n"), 0);
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    it_assert_status(&r, 200);
    assert_null(it_header_get(&r, "Transfer-Encoding"));
    assert_string_equal(r.body, "tick 1\ntick 2\ntick 3\n");
    it_response_free(&r);
    it_server_stop(s);
}

/* A client that reads slowly: the plugin is told to pause (stream_write
 * returns 1) instead of the host buffering without bound, resumes on the
 * drain callback, and every byte arrives in order. */
static void slow_reader_pauses_the_stream_and_gets_every_byte(void **state)
{
    (void)state;
    enum { CHUNKS = 256, CHUNK = 16384 }; /* 4 MiB */
    it_server *s = start_kit("", "[route /flood]\nplugin = it_async_kit\nmode = flood\ncount = 256\n\n");
    it_conn *c = it_connect(s->port);
    assert_int_equal(it_send_str(c, GET("/flood")), 0);
    it_sleep_ms(300); /* not reading: socket buffers fill, the host must push back */
    wait_log(s, "paused at chunk");
    it_response r;
    assert_int_equal(it_recv(c, &r, false, 30000), IT_OK);
    it_assert_status(&r, 200);
    assert_int_equal(r.body_len, (size_t)CHUNKS * CHUNK);
    for (size_t i = 0; i < CHUNKS; i++)
        assert_int_equal(r.body[i * CHUNK], 'a' + (int)(i % 26));
    it_response_free(&r);
    it_server_stop(s);
}

static void client_leaving_mid_stream_aborts_once(void **state)
{
    (void)state;
    it_server *s = start_kit("", "[route /stream]\nplugin = it_async_kit\nmode = stream\ninterval_ms = 10\ncount = 100000\n\n");
    it_conn *c = it_connect(s->port);
    assert_int_equal(it_send_str(c, GET("/stream")), 0);
    it_sleep_ms(150); /* a few ticks went out */
    it_conn_close(c);
    wait_log(s, "abort ran for /stream");
    it_sleep_ms(150);
    assert_int_equal(log_count(s, "abort ran for /stream"), 1);
    assert_hello_ok(s);
    it_server_stop(s);
}

static void offload_answers_from_the_pool(void **state)
{
    (void)state;
    it_server *s = start_kit("", "[route /off]\nplugin = it_async_kit\nmode = offload\nms = 50\n\n");
    it_response r;
    assert_int_equal(it_request(s->port, GET("/off"), &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(r.body, "offloaded");
    it_response_free(&r);
    it_server_stop(s);
}

static void client_leaving_mid_offload_aborts_once_and_done_only_frees(void **state)
{
    (void)state;
    it_server *s = start_kit("", "[route /off]\nplugin = it_async_kit\nmode = offload\nms = 400\n\n");
    it_conn *c = it_connect(s->port);
    assert_int_equal(it_send_str(c, GET("/off")), 0);
    it_sleep_ms(100); /* the work is running on the pool */
    it_conn_reset(c); /* gone: a FIN alone would be a half-close, still answered */
    wait_log(s, "abort ran for /off");
    wait_log(s, "offload done after abort");
    assert_int_equal(log_count(s, "abort ran for /off"), 1);
    assert_int_equal(log_count(s, "it_async_kit): offload done"), 0);
    assert_hello_ok(s);
    it_server_stop(s); /* ASan: nothing leaked, nothing used after free */
}

static void watchdog_names_a_blocking_async_handler_only(void **state)
{
    (void)state;
    it_server *s = start_kit("loop_warn = 100ms", "[route /block]\nplugin = it_async_kit\nmode = block\nms = 300\n\n");
    for (int i = 0; i < 20; i++)
        assert_hello_ok(s);
    assert_int_equal(log_count(s, "held the event loop"), 0);
    it_response r;
    assert_int_equal(it_request(s->port, GET("/block"), &r, false), IT_OK);
    it_assert_status(&r, 200);
    it_response_free(&r);
    wait_log(s, "route /block (plugin it_async_kit): handle() held the event loop");
    assert_int_equal(log_count(s, "route /hello (plugin hello): handle() held"), 0);
    it_server_stop(s);
}

/* The built-in status document exports the loop lag for graphing. */
static void status_path_reports_the_loop_lag(void **state)
{
    (void)state;
    it_server *s = start_kit("loop_warn = 100ms\nstatus_path = /_status",
                             "[route /block]\nplugin = it_async_kit\nmode = block\nms = 300\n\n");
    it_response r;
    assert_int_equal(it_request(s->port, GET("/block"), &r, false), IT_OK);
    it_response_free(&r);
    assert_int_equal(it_request(s->port, GET("/_status"), &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(it_header_get(&r, "Content-Type"), "application/json");
    const char *max = strstr(r.body, "\"lag_max_ms\":");
    assert_non_null(max);
    assert_true(atof(max + strlen("\"lag_max_ms\":")) >= 100.0); /* the probe fired that late */
    it_assert_contains(r.body, "\"slow_callbacks\":1");
    it_assert_contains(r.body, "\"generation\":1");
    it_response_free(&r);
    it_server_stop(s);
}

static void path_parameters_route_and_decode(void **state)
{
    (void)state;
    it_server *s = start_kit("", "[route /p/{id}]\nplugin = it_async_kit\nmode = param\nparam = id\n\n"
                                 "[route /p/special]\nplugin = hello\n\n"
                                 "[route /p/{id}/tail/{rest}]\nplugin = it_async_kit\nmode = param\nparam = rest\n\n");
    it_response r;
    assert_int_equal(it_request(s->port, GET("/p/42"), &r, false), IT_OK);
    it_assert_status(&r, 200);
    assert_string_equal(r.body, "42");
    it_response_free(&r);
    assert_int_equal(it_request(s->port, GET("/p/a%20b%2Fc?x=1"), &r, false), IT_OK);
    assert_string_equal(r.body, "a b/c");
    it_response_free(&r);
    assert_int_equal(it_request(s->port, GET("/p/special"), &r, false), IT_OK);
    assert_string_equal(r.body, "Hello, World!"); /* the literal route wins */
    it_response_free(&r);
    assert_int_equal(it_request(s->port, GET("/p/7/tail/end"), &r, false), IT_OK);
    assert_string_equal(r.body, "end");
    it_response_free(&r);
    assert_int_equal(it_request(s->port, GET("/p/"), &r, false), IT_OK);
    it_assert_status(&r, 404); /* a parameter is never empty */
    it_response_free(&r);
    assert_int_equal(it_request(s->port, "DELETE /p/1 HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
    it_assert_status(&r, 405);
    assert_string_equal(it_header_get(&r, "Allow"), "GET, HEAD");
    it_response_free(&r);
    it_server_stop(s);
}

static void ambiguous_routes_are_refused_at_config_time(void **state)
{
    (void)state;
    it_server *s = it_server_new();
    it_server_add_plugin(s, "it_async_kit");
    it_server_write_ini(s,
                        "[server]\nlisten = 127.0.0.1:0\nplugin_dir = %s\n\n"
                        "[route /q/{a}]\nplugin = it_async_kit\nmode = param\nparam = a\n\n"
                        "[route /q/{b}]\nplugin = it_async_kit\nmode = param\nparam = b\n",
                        s->plugin_dir);
    const char *args[] = {"-t", "-c", s->ini_path, NULL};
    char *out = NULL;
    assert_int_equal(it_run(args, IT_WAIT_MS, &out), 1);
    it_assert_contains(out, "server.ini:10: route /q/{b} is ambiguous with route /q/{a}");
    free(out);
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(sync_timeout_answers_504_and_discards_the_late_result),
        IT_TEST(async_timeout_answers_504_and_aborts_once),
        IT_TEST(server_timeout_is_the_default_route_timeout),
        IT_TEST(streaming_response_is_chunked_and_keeps_the_connection),
        IT_TEST(http10_stream_is_close_delimited),
        IT_TEST(slow_reader_pauses_the_stream_and_gets_every_byte),
        IT_TEST(client_leaving_mid_stream_aborts_once),
        IT_TEST(offload_answers_from_the_pool),
        IT_TEST(client_leaving_mid_offload_aborts_once_and_done_only_frees),
        IT_TEST(watchdog_names_a_blocking_async_handler_only),
        IT_TEST(status_path_reports_the_loop_lag),
        IT_TEST(path_parameters_route_and_decode),
        IT_TEST(ambiguous_routes_are_refused_at_config_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
