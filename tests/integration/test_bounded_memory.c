/*
 * test_bounded_memory.c - request-side memory is bounded (issue 11):
 *   - a declared 1 GiB Content-Length with no body behind it reserves no
 *     memory: 16 such requests leave the worker's address space and RSS
 *     where they were (measured in /proc; skipped under sanitizers, whose
 *     allocators reserve and keep memory their own way);
 *   - size and count settings past what the types they feed can hold are
 *     refused by `plughost -t` with one clear line, and so are route limits
 *     out of range.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Field `name` ("VmRSS:", "VmSize:") of /proc/<pid>/status in KiB. */
static long status_kib(long pid, const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    char *text = it_read_file(path);
    assert_non_null(text);
    const char *f = strstr(text, name);
    assert_non_null(f);
    long kib = strtol(f + strlen(name), NULL, 10);
    free(text);
    return kib;
}

static void a_declared_gigabyte_reserves_no_memory(void **state)
{
    (void)state;
    if (PLUGHOST_SANITIZE_MODE[0]) {
        print_message("skipped under %s: its allocator reserves memory its own way\n", PLUGHOST_SANITIZE_MODE);
        skip();
    }
    enum { N = 16 };
    it_server *s = it_start("max_body_size = 1g\n", "[route /echo]\nplugin = echo\nmethods = POST\n");
    long worker = it_worker_pid(s->pid);
    /* warm up: the worker's first requests allocate what it keeps anyway */
    it_response r;
    assert_int_equal(it_request(s->port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}", &r, false),
                     IT_OK);
    it_response_free(&r);
    long size0 = status_kib(worker, "VmSize:"), rss0 = status_kib(worker, "VmRSS:");
    it_conn *conns[N];
    char body[1000];
    memset(body, ' ', sizeof body);
    for (int i = 0; i < N; i++) {
        conns[i] = it_connect(s->port);
        assert_int_equal(it_send_str(conns[i], "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1073741824\r\n\r\n"),
                         0);
        assert_int_equal(it_send(conns[i], body, sizeof body), 0);
    }
    it_sleep_ms(300); /* every connection is read: headers, then the first body bytes */
    long size1 = status_kib(worker, "VmSize:"), rss1 = status_kib(worker, "VmRSS:");
    if (size1 - size0 > (64L << 10) || rss1 - rss0 > (16L << 10)) {
        print_error("%d requests declaring 1 GiB each (1000 bytes sent): address space %ld -> %ld KiB, RSS %ld -> "
                    "%ld KiB\n",
                    N, size0, size1, rss0, rss1);
        fail();
    }
    for (int i = 0; i < N; i++)
        it_conn_reset(conns[i]);
    it_server_stop(s);
}

/* `plughost -t` refuses `keys` ([server] lines) + `route_keys` (lines of
 * a /x route) with exactly one line holding `why`. */
static void refused(const char *keys, const char *route_keys, const char *why)
{
    it_server *s = it_server_new();
    it_server_write_ini(s, "[server]\nplugin_dir = %s\n%s\n[route /x]\nplugin = sleep_sync\n%s", PLUGIN_DIR, keys,
                        route_keys);
    const char *args[] = {"-t", "-c", s->ini_path, NULL};
    char *out = NULL;
    int rc = it_run(args, IT_WAIT_MS, &out);
    int lines = 0;
    for (const char *p = out ? out : ""; *p; p++)
        lines += *p == '\n';
    if (rc == 0 || !out || !strstr(out, why) || lines != 1) {
        print_error("plughost -t with '%s%s': exit %d, output:\n%s\nwanted one line with: %s\n", keys, route_keys, rc,
                    out ? out : "", why);
        fail();
    }
    free(out);
}

static void size_settings_past_their_types_are_refused(void **state)
{
    (void)state;
    refused("max_url_size = 2g", "", "max_url_size: '2g' is above 1g, the most it can be (a request's offsets are 32-bit)");
    refused("max_header_size = 1025m", "", "max_header_size: '1025m' is above 1g");
    refused("max_body_size = 1025g", "", "max_body_size: '1025g' is above 1024g");
    refused("max_body_size = 99999999999999999999", "", "max_body_size: '99999999999999999999' is not a size");
    refused("load_timeout = 2500000", "", "load_timeout: '2500000' is above 2147483 s");
    refused("max_inflight_per_connection = 33", "", "max_inflight_per_connection: '33' is not an integer in 1..32");
    refused("max_inflight_per_connection = 0", "", "max_inflight_per_connection: '0' is not an integer in 1..32");
    refused("sync_threads = 5000", "", "sync_threads: '5000' is not an integer in 1..4096");
    refused("", "max_inflight = 0\n", "max_inflight: '0' is not an integer in 1..1000000");
    refused("", "max_inflight = 2000000\n", "max_inflight: '2000000' is not an integer in 1..1000000");
    refused("", "sync_threads = 5000\n", "sync_threads: '5000' is not an integer in 1..4096");
    refused("", "max_inflight = 4\nqueue = -1\n", "queue: '-1' is not an integer in 0..1000000");
    refused("", "queue = 10\n", "route /x: queue needs max_inflight or sync_threads");
    refused("", "max_inflight = 4\nmax_inflight = 5\n", "duplicate key 'max_inflight' in [route /x]");
}

/* The limits in range pass -t. */
static void route_limits_in_range_pass_the_check(void **state)
{
    (void)state;
    it_server *s = it_server_new();
    it_server_write_ini(s,
                        "[server]\nplugin_dir = %s\nmax_inflight_per_connection = 4\nmax_url_size = 1g\n"
                        "[route /x]\nplugin = sleep_sync\nmax_inflight = 8\nqueue = 0\nsync_threads = 2\n",
                        PLUGIN_DIR);
    const char *args[] = {"-t", "-c", s->ini_path, NULL};
    char *out = NULL;
    int rc = it_run(args, IT_WAIT_MS, &out);
    if (rc != 0) {
        print_error("plughost -t: exit %d:\n%s\n", rc, out ? out : "");
        fail();
    }
    free(out);
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(a_declared_gigabyte_reserves_no_memory),
        IT_TEST(size_settings_past_their_types_are_refused),
        IT_TEST(route_limits_in_range_pass_the_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
