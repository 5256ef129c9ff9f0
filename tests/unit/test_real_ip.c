/* test_real_ip.c - server/real_ip.c: trusted proxies and X-Forwarded-For. */
#include "real_ip.h"
#include "request.h"
#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

static int teardown(void **state)
{
    (void)state;
    ph_real_ip_configure(NULL);
    ph_request_free_cache();
    return 0;
}

static void parse_takes_addresses_and_networks_of_both_families(void **state)
{
    (void)state;
    ph_real_ip_set set;
    char err[128];
    assert_int_equal(ph_real_ip_parse("127.0.0.1, 10.0.0.0/8 ::1\t2001:db8::/32", &set, err, sizeof err), 0);
    assert_int_equal(set.count, 4);
    assert_true(ph_real_ip_trusted(&set, "127.0.0.1"));
    assert_false(ph_real_ip_trusted(&set, "127.0.0.2"));
    assert_true(ph_real_ip_trusted(&set, "10.255.1.2"));
    assert_false(ph_real_ip_trusted(&set, "11.0.0.1"));
    assert_true(ph_real_ip_trusted(&set, "::1"));
    assert_true(ph_real_ip_trusted(&set, "2001:db8:1::5"));
    assert_false(ph_real_ip_trusted(&set, "2001:db9::5"));
    assert_true(ph_real_ip_trusted(&set, "::ffff:10.1.1.1")); /* IPv4 peer on a dual-stack socket */
    assert_false(ph_real_ip_trusted(&set, "garbage"));
    assert_int_equal(ph_real_ip_parse("", &set, err, sizeof err), 0);
    assert_int_equal(set.count, 0);
}

static void parse_refuses_what_is_not_an_address_or_prefix(void **state)
{
    (void)state;
    static const char *const bad[] = {"10.0.0.0/33", "::1/129", "localhost", "10.0.0.0/", "10.0.0.0/8x",
                                      "1.2.3", "10.0.0.0/-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ph_real_ip_set set;
        char err[128] = "";
        assert_int_equal(ph_real_ip_parse(bad[i], &set, err, sizeof err), -1);
        assert_non_null(strstr(err, "is not an address"));
    }
}

static void prefix_bits_inside_a_byte_are_honoured(void **state)
{
    (void)state;
    ph_real_ip_set set;
    char err[128];
    assert_int_equal(ph_real_ip_parse("192.168.1.64/26", &set, err, sizeof err), 0);
    assert_true(ph_real_ip_trusted(&set, "192.168.1.64"));
    assert_true(ph_real_ip_trusted(&set, "192.168.1.127"));
    assert_false(ph_real_ip_trusted(&set, "192.168.1.128"));
    assert_false(ph_real_ip_trusted(&set, "192.168.1.63"));
}

static const char *client_after(const char *peer, const char *xff)
{
    static char out[64];
    ph_request *req = ph_request_new();
    assert_non_null(req);
    ut_request_set_url(req, "/");
    ph_request_set_client_addr(req, peer);
    if (xff)
        ut_request_add_header(req, "X-Forwarded-For", xff);
    ph_real_ip_apply(req);
    snprintf(out, sizeof out, "%s", ph_request_client_addr(req));
    ph_request_recycle(req);
    return out;
}

static void forwarded_for_is_believed_from_trusted_peers_only(void **state)
{
    (void)state;
    ph_real_ip_configure("127.0.0.1, 10.0.0.0/8");
    assert_string_equal(client_after("127.0.0.1", "203.0.113.9"), "203.0.113.9");
    assert_string_equal(client_after("192.0.2.1", "203.0.113.9"), "192.0.2.1"); /* untrusted peer */
    assert_string_equal(client_after("127.0.0.1", NULL), "127.0.0.1");
    /* the rightmost address that is not a trusted hop */
    assert_string_equal(client_after("127.0.0.1", "198.51.100.1, 203.0.113.9, 10.0.0.2"), "203.0.113.9");
    /* a client's forged entries left of the real one are ignored */
    assert_string_equal(client_after("127.0.0.1", "1.1.1.1 , 203.0.113.9"), "203.0.113.9");
    /* garbage stops the walk: nothing left of it is believed */
    assert_string_equal(client_after("127.0.0.1", "203.0.113.9, junk, 10.0.0.2"), "10.0.0.2");
    assert_string_equal(client_after("127.0.0.1", "junk"), "127.0.0.1");
    /* every hop trusted: the leftmost */
    assert_string_equal(client_after("127.0.0.1", "10.0.0.3, 10.0.0.2"), "10.0.0.3");
    assert_string_equal(client_after("127.0.0.1", "2001:db8::7"), "2001:db8::7");
    ph_real_ip_configure(NULL);
    assert_string_equal(client_after("127.0.0.1", "203.0.113.9"), "127.0.0.1"); /* nobody trusted */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(parse_takes_addresses_and_networks_of_both_families, teardown),
        cmocka_unit_test_teardown(parse_refuses_what_is_not_an_address_or_prefix, teardown),
        cmocka_unit_test_teardown(prefix_bits_inside_a_byte_are_honoured, teardown),
        cmocka_unit_test_teardown(forwarded_for_is_believed_from_trusted_peers_only, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
