/* test_worker_channel.c - server/worker_channel.c: fixed-size control
 * messages between the supervisor and a worker, with a file descriptor
 * attached, and end-of-file when the peer is gone. */
#include "worker_channel.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static void both_ends_are_close_on_exec_and_non_blocking(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(ph_ctl_pair(sv), 0);
    for (int i = 0; i < 2; i++) {
        assert_true(fcntl(sv[i], F_GETFD) & FD_CLOEXEC);
        assert_true(fcntl(sv[i], F_GETFL) & O_NONBLOCK);
    }
    ph_ctl_msg msg;
    int fd;
    assert_int_equal(ph_ctl_recv(sv[1], &msg, &fd), -1); /* nothing yet */
    assert_int_equal(errno, EAGAIN);
    close(sv[0]);
    close(sv[1]);
}

static void a_message_arrives_whole_with_its_text(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(ph_ctl_pair(sv), 0);
    assert_int_equal(ph_ctl_sendf(sv[1], PH_CTL_PREPARED, 7, 0, "route %s: %s", "/x", "init failed"), 0);
    assert_int_equal(ph_ctl_sendf(sv[1], PH_CTL_COMMITTED, 8, 1, "%s", ""), 0);
    ph_ctl_msg msg;
    int fd;
    assert_int_equal(ph_ctl_recv(sv[0], &msg, &fd), 1);
    assert_int_equal(msg.type, PH_CTL_PREPARED);
    assert_int_equal(msg.generation, 7);
    assert_int_equal(msg.ok, 0);
    assert_string_equal(msg.text, "route /x: init failed");
    assert_int_equal(fd, -1);
    assert_int_equal(ph_ctl_recv(sv[0], &msg, &fd), 1); /* messages keep their boundaries */
    assert_int_equal(msg.type, PH_CTL_COMMITTED);
    assert_int_equal(msg.generation, 8);
    close(sv[0]);
    close(sv[1]);
}

static void an_attached_fd_arrives_as_a_new_close_on_exec_fd_of_the_same_file(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(ph_ctl_pair(sv), 0);
    int mem = memfd_create("cfg", 0);
    assert_true(mem >= 0);
    assert_int_equal(write(mem, "[server]\n", 9), 9);
    ph_ctl_msg out = {.type = PH_CTL_PREPARE, .generation = 3};
    assert_int_equal(ph_ctl_send(sv[0], &out, mem), 0);
    ph_ctl_msg in;
    int fd;
    assert_int_equal(ph_ctl_recv(sv[1], &in, &fd), 1);
    assert_int_equal(in.type, PH_CTL_PREPARE);
    assert_true(fd >= 0 && fd != mem);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    char buf[16] = "";
    assert_int_equal(pread(fd, buf, sizeof buf, 0), 9);
    assert_memory_equal(buf, "[server]\n", 9);
    close(fd);
    close(mem);
    close(sv[0]);
    close(sv[1]);
}

static void the_peer_closing_reads_as_end_of_file_and_sending_fails(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(ph_ctl_pair(sv), 0);
    close(sv[0]); /* the supervisor died */
    ph_ctl_msg msg;
    int fd;
    assert_int_equal(ph_ctl_recv(sv[1], &msg, &fd), 0);
    assert_int_equal(ph_ctl_sendf(sv[1], PH_CTL_READY, 1, 1, "%s", ""), -1); /* no SIGPIPE either */
    close(sv[1]);
}

static void a_message_of_the_wrong_size_is_refused(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(ph_ctl_pair(sv), 0);
    assert_int_equal(send(sv[0], "short", 5, 0), 5);
    ph_ctl_msg msg;
    int fd;
    assert_int_equal(ph_ctl_recv(sv[1], &msg, &fd), -1);
    assert_int_equal(errno, EPROTO);
    assert_int_equal(fd, -1);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(both_ends_are_close_on_exec_and_non_blocking),
        cmocka_unit_test(a_message_arrives_whole_with_its_text),
        cmocka_unit_test(an_attached_fd_arrives_as_a_new_close_on_exec_fd_of_the_same_file),
        cmocka_unit_test(the_peer_closing_reads_as_end_of_file_and_sending_fails),
        cmocka_unit_test(a_message_of_the_wrong_size_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
