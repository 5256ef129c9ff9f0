/* test_listen_socket.c - server/listen_socket.c: the shared listening
 * socket the supervisor binds once and its workers inherit. */
#include "listen_socket.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void binds_an_ephemeral_port_and_describes_it(void **state)
{
    (void)state;
    char err[256];
    int fd = ph_listen_bind("127.0.0.1", 0, err, sizeof err);
    assert_true(fd >= 0);
    assert_true(ph_listen_is_listening(fd));
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_false(fcntl(fd, F_GETFD) & FD_CLOEXEC); /* workers inherit it */
    char where[64];
    ph_listen_describe(fd, where, sizeof where);
    unsigned port = 0;
    assert_int_equal(sscanf(where, "127.0.0.1:%u", &port), 1);
    assert_true(port > 0);
    /* a client connects and is queued until someone accepts */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
    close(c);
    close(fd);
}

static void a_port_in_use_is_refused_with_the_address_and_reason(void **state)
{
    (void)state;
    char err[256];
    int fd = ph_listen_bind("127.0.0.1", 0, err, sizeof err);
    assert_true(fd >= 0);
    char where[64];
    unsigned port = 0;
    sscanf(ph_listen_describe(fd, where, sizeof where), "127.0.0.1:%u", &port);
    assert_int_equal(ph_listen_bind("127.0.0.1", (uint16_t)port, err, sizeof err), -1);
    char want[64];
    snprintf(want, sizeof want, "listen 127.0.0.1:%u: Address already in use", port);
    assert_string_equal(err, want);
    close(fd);
}

static void an_unknown_host_is_refused(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(ph_listen_bind("no-such-host.invalid", 80, err, sizeof err), -1);
    assert_non_null(strstr(err, "listen no-such-host.invalid:80: "));
}

static void a_connected_or_plain_fd_is_not_a_listening_socket(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_false(ph_listen_is_listening(sv[0]));
    int devnull = open("/dev/null", O_RDONLY);
    assert_false(ph_listen_is_listening(devnull));
    assert_false(ph_listen_is_listening(-1));
    close(devnull);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(binds_an_ephemeral_port_and_describes_it),
        cmocka_unit_test(a_port_in_use_is_refused_with_the_address_and_reason),
        cmocka_unit_test(an_unknown_host_is_refused),
        cmocka_unit_test(a_connected_or_plain_fd_is_not_a_listening_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
