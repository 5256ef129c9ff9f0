/* test_read_buf.c - server/read_buf.c: one shared buffer borrowed by one
 * connection at a time, unparsed bytes kept in memory of their own. */
#include "read_buf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A non-blocking socketpair: fds[0] is read from, fds[1] written to. */
static int fds_a[2], fds_b[2];

static int setup(void **state)
{
    (void)state;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds_a) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, fds_b) < 0)
        return -1;
    fcntl(fds_a[0], F_SETFL, O_NONBLOCK);
    fcntl(fds_b[0], F_SETFL, O_NONBLOCK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(fds_a[0]);
    close(fds_a[1]);
    close(fds_b[0]);
    close(fds_b[1]);
    return 0;
}

static void put(int fd, const char *s) { assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s)); }

static void all_parsed_leaves_no_memory_and_gives_the_buffer_back(void **state)
{
    (void)state;
    ph_read_buf a = {0}, b = {0};
    put(fds_a[1], "hello");
    assert_int_equal(ph_read_buf_fill(&a, fds_a[0]), 5);
    assert_int_equal(ph_read_buf_unparsed(&a), 5);
    assert_memory_equal(ph_read_buf_next(&a), "hello", 5);
    a.pos = 5;
    assert_int_equal(ph_read_buf_settle(&a), 0);
    assert_null(a.data);
    assert_int_equal(a.len, 0);
    put(fds_b[1], "x");
    assert_int_equal(ph_read_buf_fill(&b, fds_b[0]), 1); /* given back: another may borrow it */
    assert_int_equal(ph_read_buf_settle(&b), 0);
    ph_read_buf_clear(&b);
}

/* Bytes left unparsed move to memory of their own: another connection's
 * read into the shared buffer cannot touch them, and the next read of
 * their owner puts them before its new bytes. */
static void unparsed_bytes_are_kept_apart_and_come_first_next_time(void **state)
{
    (void)state;
    ph_read_buf a = {0}, b = {0};
    put(fds_a[1], "GET /a1 GET /a2");
    assert_int_equal(ph_read_buf_fill(&a, fds_a[0]), 15);
    a.pos = 8; /* "GET /a1 " parsed */
    assert_int_equal(ph_read_buf_settle(&a), 0);
    assert_int_equal(ph_read_buf_unparsed(&a), 7);
    assert_memory_equal(ph_read_buf_next(&a), "GET /a2", 7);
    put(fds_b[1], "bbbbbbbbbbbbbbbbbbbb");
    assert_int_equal(ph_read_buf_fill(&b, fds_b[0]), 20);
    assert_memory_equal(ph_read_buf_next(&a), "GET /a2", 7); /* untouched */
    b.pos = b.len;
    assert_int_equal(ph_read_buf_settle(&b), 0);
    put(fds_a[1], " GET /a3");
    assert_int_equal(ph_read_buf_fill(&a, fds_a[0]), 8);
    assert_int_equal(ph_read_buf_unparsed(&a), 15);
    assert_memory_equal(ph_read_buf_next(&a), "GET /a2 GET /a3", 15);
    a.pos = a.len;
    assert_int_equal(ph_read_buf_settle(&a), 0);
    assert_null(a.data);
}

/* One borrower at a time: a second fill, or a discard, while the buffer
 * is borrowed is refused (EBUSY) and changes nothing. */
static void a_borrowed_buffer_is_refused_to_others(void **state)
{
    (void)state;
    ph_read_buf a = {0}, b = {0};
    put(fds_a[1], "mine");
    put(fds_b[1], "theirs");
    assert_int_equal(ph_read_buf_fill(&a, fds_a[0]), 4);
    errno = 0;
    assert_int_equal(ph_read_buf_fill(&b, fds_b[0]), -1);
    assert_int_equal(errno, EBUSY);
    assert_null(b.data);
    errno = 0;
    assert_int_equal(ph_read_buf_discard(fds_b[0]), -1);
    assert_int_equal(errno, EBUSY);
    assert_memory_equal(ph_read_buf_next(&a), "mine", 4);
    ph_read_buf_clear(&a); /* gives it back too */
    assert_int_equal(ph_read_buf_fill(&b, fds_b[0]), 6);
    assert_memory_equal(ph_read_buf_next(&b), "theirs", 6);
    ph_read_buf_clear(&b);
}

/* A read that brings nothing (would block, EOF) keeps the kept bytes. */
static void a_read_without_bytes_keeps_what_was_kept(void **state)
{
    (void)state;
    ph_read_buf a = {0};
    put(fds_a[1], "partial");
    assert_int_equal(ph_read_buf_fill(&a, fds_a[0]), 7);
    assert_int_equal(ph_read_buf_settle(&a), 0); /* nothing parsed */
    errno = 0;
    assert_int_equal(ph_read_buf_fill(&a, fds_a[0]), -1);
    assert_int_equal(errno, EAGAIN);
    assert_memory_equal(ph_read_buf_next(&a), "partial", 7);
    shutdown(fds_a[1], SHUT_WR);
    assert_int_equal(ph_read_buf_fill(&a, fds_a[0]), 0);
    assert_memory_equal(ph_read_buf_next(&a), "partial", 7);
    ph_read_buf_clear(&a);
    assert_null(a.data);
}

/* At most PH_READ_BUF_SIZE unparsed bytes: a full buffer reads no more
 * (ENOBUFS) until some are parsed. */
static void a_full_buffer_reads_no_more(void **state)
{
    (void)state;
    int big = 0;
    socklen_t sl = sizeof big;
    getsockopt(fds_a[1], SOL_SOCKET, SO_SNDBUF, &big, &sl);
    assert_true(big > (int)PH_READ_BUF_SIZE);
    char *bytes = malloc(PH_READ_BUF_SIZE + 100);
    assert_non_null(bytes);
    for (size_t i = 0; i < PH_READ_BUF_SIZE + 100; i++)
        bytes[i] = (char)('a' + i % 26);
    assert_int_equal(write(fds_a[1], bytes, PH_READ_BUF_SIZE + 100), (ssize_t)PH_READ_BUF_SIZE + 100);
    ph_read_buf a = {0};
    assert_int_equal(ph_read_buf_fill(&a, fds_a[0]), (ssize_t)PH_READ_BUF_SIZE);
    assert_int_equal(ph_read_buf_settle(&a), 0);
    errno = 0;
    assert_int_equal(ph_read_buf_fill(&a, fds_a[0]), -1);
    assert_int_equal(errno, ENOBUFS);
    a.pos = 100;
    assert_int_equal(ph_read_buf_fill(&a, fds_a[0]), 100);
    assert_int_equal(ph_read_buf_unparsed(&a), PH_READ_BUF_SIZE);
    assert_memory_equal(ph_read_buf_next(&a), bytes + 100, PH_READ_BUF_SIZE);
    ph_read_buf_clear(&a);
    free(bytes);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(all_parsed_leaves_no_memory_and_gives_the_buffer_back),
        T(unparsed_bytes_are_kept_apart_and_come_first_next_time),
        T(a_borrowed_buffer_is_refused_to_others),
        T(a_read_without_bytes_keeps_what_was_kept),
        T(a_full_buffer_reads_no_more),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
