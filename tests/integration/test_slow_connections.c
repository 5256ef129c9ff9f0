/*
 * test_slow_connections.c - what a slow connection costs (issue 14, the
 * seed at scale: 10,000 sleeping requests in 32 MB):
 *   - a connection whose request sleeps in an async handler costs the
 *     worker under 3 KiB (Pss), read buffer, request, timer and all;
 *   - a keep-alive connection between requests costs under 1.5 KiB: no
 *     read buffer, no request (a read buffer of its own would cost a 4 KiB
 *     page at least).
 * Measured in /proc/PID/smaps_rollup on N connections at once; skipped
 * under sanitizers, whose allocators keep memory their own way.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define N 1000

/* The Pss of process `pid` in KiB. */
static long pss_kib(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/smaps_rollup", pid);
    char *text = it_read_file(path);
    assert_non_null(text);
    const char *f = strstr(text, "\nPss:");
    assert_non_null(f);
    long kib = strtol(f + 5, NULL, 10);
    free(text);
    return kib;
}

/* Skip unless this is a plain build and N connections fit the fd limit
 * (raised to the hard limit when needed; the server inherits it). */
static void need_plain_build_and_fds(void)
{
    if (PLUGHOST_SANITIZE_MODE[0]) {
        print_message("skipped under %s: its allocator keeps memory its own way\n", PLUGHOST_SANITIZE_MODE);
        skip();
    }
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < N + 200) {
        if (rl.rlim_max < N + 200) {
            print_message("skipped: %d connections need %d fds, the hard limit is %lu\n", N, N + 200,
                          (unsigned long)rl.rlim_max);
            skip();
        }
        rl.rlim_cur = N + 200;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
}

/* A plain blocking connection to 127.0.0.1:port that has sent `request`
 * (the harness tracks fewer connections than this test opens). */
static int connect_and_send(int port, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    size_t len = strlen(request);
    assert_int_equal(write(fd, request, len), (ssize_t)len);
    return fd;
}

/* Read one whole response (head and its Content-Length body) off `fd`
 * and check that it is a 200. */
static void read_200(int fd)
{
    char buf[2048];
    size_t len = 0;
    const char *end = NULL;
    long body = -1;
    while (body < 0 || len < (size_t)(end - buf) + 4 + (size_t)body) {
        struct timeval tv = {IT_WAIT_MS / 1000, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        assert_true(n > 0);
        len += (size_t)n;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            const char *cl = strstr(buf, "Content-Length: ");
            assert_non_null(cl);
            body = strtol(cl + 16, NULL, 10);
        }
    }
    assert_memory_equal(buf, "HTTP/1.1 200 ", 13);
}

/* Close `fd` with a reset: the server drops its sleeping request at once
 * (a plain close would be a half-close whose request is still answered). */
static void reset_close(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static it_server *start_sleeper(long *worker)
{
    it_server *s = it_start("", "[route /wait]\nplugin = sleep_async\nseconds = 60\n"
                                "[route /now]\nplugin = sleep_async\nseconds = 0\n");
    *worker = it_worker_pid(s->pid);
    /* warm up: what the worker's first requests allocate it keeps anyway */
    for (int i = 0; i < 4; i++) {
        it_response r;
        assert_int_equal(it_request(s->port, "GET /now HTTP/1.1\r\nHost: t\r\n\r\n", &r, false), IT_OK);
        it_assert_status(&r, 200);
        it_response_free(&r);
    }
    return s;
}

static void a_sleeping_request_costs_under_3_kib(void **state)
{
    (void)state;
    need_plain_build_and_fds();
    long worker;
    it_server *s = start_sleeper(&worker);
    long before = pss_kib(worker);
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = connect_and_send(s->port, "GET /wait HTTP/1.1\r\nHost: t\r\nUser-Agent: it\r\n\r\n");
    it_sleep_ms(500); /* every request is read and sleeping */
    long after = pss_kib(worker);
    long per_conn = (after - before) * 1024 / N;
    print_message("%d sleeping requests: worker Pss %ld -> %ld KiB, %ld bytes each\n", N, before, after, per_conn);
    if (per_conn >= 3 * 1024)
        fail_msg("a sleeping request costs %ld bytes (want < 3 KiB)", per_conn);
    for (int i = 0; i < N; i++)
        reset_close(fds[i]);
    it_server_stop(s);
}

static void an_idle_keep_alive_connection_costs_under_1_5_kib(void **state)
{
    (void)state;
    need_plain_build_and_fds();
    long worker;
    it_server *s = start_sleeper(&worker);
    long before = pss_kib(worker);
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = connect_and_send(s->port, "GET /now HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 0; i < N; i++)
        read_200(fds[i]);
    it_sleep_ms(200);
    long after = pss_kib(worker);
    long per_conn = (after - before) * 1024 / N;
    print_message("%d idle keep-alive connections: worker Pss %ld -> %ld KiB, %ld bytes each\n", N, before, after,
                  per_conn);
    if (per_conn >= 1536)
        fail_msg("an idle keep-alive connection costs %ld bytes (want < 1.5 KiB)", per_conn);
    for (int i = 0; i < N; i++)
        reset_close(fds[i]);
    it_server_stop(s);
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(a_sleeping_request_costs_under_3_kib),
        IT_TEST(an_idle_keep_alive_connection_costs_under_1_5_kib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
