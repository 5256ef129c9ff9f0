/* test_fetch_url.c - server/fetch_url.c: the URL of an outbound fetch. */
#include "fetch_url.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

static void assert_parses(const char *url, const char *host, unsigned port, const char *host_header,
                          const char *target)
{
    ph_fetch_url u;
    const char *why = NULL;
    if (ph_fetch_url_parse(url, &u, &why) != 0)
        fail_msg("%s refused: %s", url, why);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    assert_string_equal(u.host_header, host_header);
    assert_string_equal(u.target, target);
    ph_fetch_url_free(&u);
}

static void assert_refused(const char *url, const char *reason)
{
    ph_fetch_url u;
    const char *why = NULL;
    if (ph_fetch_url_parse(url, &u, &why) == 0)
        fail_msg("%s accepted", url);
    if (!strstr(why, reason))
        fail_msg("%s: \"%s\" does not say \"%s\"", url, why, reason);
    assert_null(u.host);
}

static void well_formed_urls_give_host_port_and_target(void **state)
{
    (void)state;
    assert_parses("http://127.0.0.1:9000/base", "127.0.0.1", 9000, "127.0.0.1:9000", "/base");
    assert_parses("http://example.com", "example.com", 80, "example.com", "/");
    assert_parses("HTTP://Example.COM:80/a", "Example.COM", 80, "Example.COM", "/a");
    assert_parses("http://h?q=1", "h", 80, "h", "/?q=1");
    assert_parses("http://h/p/q?x=1&y=%20#frag", "h", 80, "h", "/p/q?x=1&y=%20");
    assert_parses("http://[::1]:8080/x?y=1", "::1", 8080, "[::1]:8080", "/x?y=1");
    assert_parses("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1", 80, "[::ffff:127.0.0.1]", "/");
    assert_parses("http://my-host.example_x~y:65535/", "my-host.example_x~y", 65535, "my-host.example_x~y:65535", "/");
}

static void bad_urls_are_refused_with_a_reason(void **state)
{
    (void)state;
    assert_refused("", "empty");
    assert_refused("not a url", "space");
    assert_refused("ftp://127.0.0.1/x", "only http://");
    assert_refused("https://127.0.0.1/x", "only http://");
    assert_refused("/relative/only", "not a valid URL");
    assert_refused("http:/x", "not a valid URL");
    assert_refused("http:///nohost", "no host");
    assert_refused("http://:80/", "no host");
    assert_refused("http://127.0.0.1:0/x", "port");
    assert_refused("http://127.0.0.1:99999/x", "port");
    assert_refused("http://h:/x", "port");
    assert_refused("http://h:8a/x", "port");
    assert_refused("http://user:pw@127.0.0.1/x", "user info");
    assert_refused("http://127.0.0.1/a b", "space");
    assert_refused("http://127.0.0.1/\r\nX-Evil: 1", "control");
    assert_refused("http://h\xc3\xa9/", "non-ASCII");
    assert_refused("http://[::1/", "IPv6");
    assert_refused("http://[zz]/", "IPv6");
    assert_refused("http://[::1]x/", "IPv6");
    assert_refused("http://ho\"st/", "host");
    assert_refused("http://a,b/", "host");
    char *long_url = malloc(PH_FETCH_MAX_URL + 20);
    assert_non_null(long_url);
    strcpy(long_url, "http://h/");
    memset(long_url + 9, 'a', PH_FETCH_MAX_URL);
    long_url[PH_FETCH_MAX_URL + 9] = '\0';
    assert_refused(long_url, "longer than 8192");
    free(long_url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(well_formed_urls_give_host_port_and_target),
        cmocka_unit_test(bad_urls_are_refused_with_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
