/* test_config.c - server/config.c: server.ini into a ph_config.
 *
 * Each test writes its ini with mkstemp into a private folder, so the
 * plugin_dir resolution against the ini's folder can be checked too. */
#include "config.h"

#include "config_value.h"
#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    char *dir;    /* private folder holding the ini */
    char *ini;    /* path of the last ini written */
    ph_config *config;
    char err[1024];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->dir = ut_mkdtemp("ph-unit-config");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ph_config_free(f->config);
    ut_rmtree(f->dir);
    free(f->dir);
    free(f->ini);
    free(f);
    return 0;
}

/* Write `text` as a fresh ini in the fixture's folder and load it. */
static ph_config *load_text(fixture *f, const char *text)
{
    ph_config_free(f->config);
    f->config = NULL;
    free(f->ini);
    f->ini = ut_temp_file_in(f->dir, "server.ini", text);
    memset(f->err, 'X', sizeof f->err - 1);
    f->err[sizeof f->err - 1] = '\0';
    f->config = ph_config_load(f->ini, f->err, sizeof f->err);
    return f->config;
}

/* Assert that loading `text` fails with exactly "<ini>:<line>: <what>". */
static void assert_rejected(fixture *f, const char *text, int line, const char *what)
{
    ph_config *c = load_text(f, text);
    char want[1200];
    snprintf(want, sizeof want, "%s:%d: %s", f->ini, line, what);
    if (c)
        fail_msg("accepted, wanted error: %s", want);
    assert_string_equal(f->err, want);
}

/* Assert that loading `text` fails with an error that starts with
 * "<ini>:<line>: " and contains every one of the NULL-terminated needles. */
static void assert_rejected_at(fixture *f, const char *text, int line, ...)
{
    ph_config *c = load_text(f, text);
    char prefix[1200];
    snprintf(prefix, sizeof prefix, "%s:%d: ", f->ini, line);
    if (c)
        fail_msg("accepted, wanted an error at %s", prefix);
    if (strncmp(f->err, prefix, strlen(prefix)) != 0)
        fail_msg("error '%s' does not start with '%s'", f->err, prefix);
    va_list ap;
    va_start(ap, line);
    for (const char *needle; (needle = va_arg(ap, const char *));) {
        if (!strstr(f->err, needle))
            fail_msg("error '%s' lacks '%s'", f->err, needle);
    }
    va_end(ap);
}

/* ---- defaults and [server] keys ---- */

static void assert_defaults(fixture *f, const ph_config *c)
{
    const ph_server_conf *s = &c->server;
    assert_string_equal(c->path, f->ini);
    assert_string_equal(s->listen, "127.0.0.1:8080");
    assert_string_equal(s->listen_host, "127.0.0.1");
    assert_int_equal(s->listen_port, 8080);
    assert_int_equal(s->workers, 1);
    assert_int_equal(s->sync_threads, 40);
    assert_int_equal(s->sync_queue, 1024);
    assert_true(s->watch);
    assert_int_equal(s->max_body_size, 1u << 20);
    assert_int_equal(s->max_url_size, 8u << 10);
    assert_int_equal(s->max_header_size, 16u << 10);
    assert_int_equal(s->max_connections, 10000);
    assert_int_equal(s->header_timeout_ms, 10000);
    assert_int_equal(s->body_timeout_ms, 60000);
    assert_int_equal(s->keepalive_timeout_ms, 15000);
    assert_int_equal(s->send_timeout_ms, 60000);
    assert_int_equal(s->drain_timeout_ms, 30000);
    assert_int_equal(s->timeout_ms, 60000);
    assert_int_equal(s->loop_warn_ms, 100);
    assert_int_equal(s->upstream_connections, 256);
    assert_null(s->status_path);
    assert_int_equal(s->log_level, PH_LOG_INFO);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/plugins", f->dir);
    assert_string_equal(s->plugin_dir, want);
    assert_int_equal(c->nroutes, 0);
}

static void config_empty_server_section_gives_documented_defaults(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f, "[server]\n");
    assert_non_null(c);
    assert_string_equal(f->err, "");
    assert_defaults(f, c);
}

static void config_empty_file_gives_documented_defaults(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f, "; nothing but a comment\n\n");
    assert_non_null(c);
    assert_defaults(f, c);
}

static void config_reads_every_server_key(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f,
                             "[server]\n"
                             "listen = 0.0.0.0:9090\n"
                             "workers = 4\n"
                             "sync_threads = 8\n"
                             "sync_queue = 16\n"
                             "plugin_dir = /opt/ph/plugins\n"
                             "watch = false\n"
                             "max_body_size = 2m\n"
                             "max_url_size = 4k\n"
                             "max_header_size = 32768\n"
                             "max_connections = 77\n"
                             "header_timeout = 500ms\n"
                             "body_timeout = 1.5s\n"
                             "keepalive_timeout = 3\n"
                             "send_timeout = 4s\n"
                             "drain_timeout = 250ms\n"
                             "timeout = 5s\n"
                             "loop_warn = 50ms\n"
                             "status_path = /_status\n"
                             "upstream_connections = 1024\n"
                             "log_level = debug\n");
    if (!c)
        fail_msg("%s", f->err);
    const ph_server_conf *s = &c->server;
    assert_string_equal(s->listen, "0.0.0.0:9090");
    assert_string_equal(s->listen_host, "0.0.0.0");
    assert_int_equal(s->listen_port, 9090);
    assert_int_equal(s->workers, 4);
    assert_int_equal(s->sync_threads, 8);
    assert_int_equal(s->sync_queue, 16);
    assert_string_equal(s->plugin_dir, "/opt/ph/plugins");
    assert_false(s->watch);
    assert_int_equal(s->max_body_size, 2u << 20);
    assert_int_equal(s->max_url_size, 4096);
    assert_int_equal(s->max_header_size, 32768);
    assert_int_equal(s->max_connections, 77);
    assert_int_equal(s->header_timeout_ms, 500);
    assert_int_equal(s->body_timeout_ms, 1500);
    assert_int_equal(s->keepalive_timeout_ms, 3000);
    assert_int_equal(s->send_timeout_ms, 4000);
    assert_int_equal(s->drain_timeout_ms, 250);
    assert_int_equal(s->timeout_ms, 5000);
    assert_int_equal(s->loop_warn_ms, 50);
    assert_string_equal(s->status_path, "/_status");
    assert_int_equal(s->upstream_connections, 1024);
    assert_int_equal(s->log_level, PH_LOG_DEBUG);
}

static void config_workers_auto_means_one_per_core_zero(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f, "[server]\nworkers = auto\n");
    assert_non_null(c);
    assert_int_equal(c->server.workers, 0);
}

static void config_recycling_keys_are_off_by_default_and_parsed_when_set(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f, "[server]\n");
    assert_non_null(c);
    assert_int_equal(c->server.max_requests, 0);
    assert_int_equal(c->server.max_worker_rss, 0);
    assert_int_equal(c->server.max_stuck_sync, 0);
    c = load_text(f, "[server]\nmax_requests = 5000\nmax_worker_rss = 256m\nmax_stuck_sync = 8\n");
    assert_non_null(c);
    assert_int_equal(c->server.max_requests, 5000);
    assert_int_equal(c->server.max_worker_rss, 256u << 20);
    assert_int_equal(c->server.max_stuck_sync, 8);
}

/* upstream_max_body: 16 MiB by default; a size up to 1 GiB (a fetched
 * body is held whole in memory). */
static void config_upstream_max_body_is_a_bounded_size(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f, "[server]\n");
    assert_non_null(c);
    assert_int_equal(c->server.upstream_max_body, 16u << 20);
    c = load_text(f, "[server]\nupstream_max_body = 1g\n");
    assert_non_null(c);
    assert_int_equal(c->server.upstream_max_body, 1u << 30);
    assert_null(load_text(f, "[server]\nupstream_max_body = 2g\n"));
    assert_non_null(strstr(f->err, ":2: upstream_max_body: '2g' is above 1g, the most it can be (a fetched body is held in memory whole)"));
    assert_null(load_text(f, "[server]\nupstream_max_body = 0\n"));
    assert_non_null(strstr(f->err, ":2: upstream_max_body: '0' is not a size"));
    assert_null(load_text(f, "[server]\nupstream_max_body = 99999999999999999999\n"));
    assert_non_null(strstr(f->err, "upstream_max_body"));
}

static void config_bad_recycling_values_are_refused_with_the_line(void **state)
{
    fixture *f = *state;
    assert_null(load_text(f, "[server]\nmax_requests = -1\n"));
    assert_non_null(strstr(f->err, ":2: max_requests: '-1' is not an integer"));
    assert_null(load_text(f, "[server]\nmax_worker_rss = lots\n"));
    assert_non_null(strstr(f->err, ":2: max_worker_rss: 'lots' is not a size"));
}

static void config_operator_keys_are_off_by_default_and_parsed_when_set(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f, "[server]\n");
    assert_non_null(c);
    assert_null(c->server.access_log);
    assert_false(c->server.access_log_json);
    assert_null(c->server.trusted_proxies);
    assert_null(c->server.admin_listen);
    c = load_text(f, "[server]\naccess_log = logs/access.log\naccess_log_format = json\n"
                     "trusted_proxies = 127.0.0.1, 10.0.0.0/8\nadmin_listen = 127.0.0.1:9090\n");
    assert_non_null(c);
    char want[1100];
    snprintf(want, sizeof want, "%s/logs/access.log", f->dir); /* relative to the ini's folder */
    assert_string_equal(c->server.access_log, want);
    assert_true(c->server.access_log_json);
    assert_string_equal(c->server.trusted_proxies, "127.0.0.1, 10.0.0.0/8");
    assert_string_equal(c->server.admin_host, "127.0.0.1");
    assert_int_equal(c->server.admin_port, 9090);
    c = load_text(f, "[server]\naccess_log = -\nadmin_listen = off\naccess_log_format = combined\n");
    assert_non_null(c);
    assert_string_equal(c->server.access_log, "-");
    assert_null(c->server.admin_listen);
    assert_false(c->server.access_log_json);
    c = load_text(f, "[server]\naccess_log = off\n");
    assert_null(c->server.access_log);
}

static void config_bad_operator_values_are_refused_with_the_line(void **state)
{
    fixture *f = *state;
    assert_rejected(f, "[server]\naccess_log_format = apache\n", 2,
                    "access_log_format: 'apache' is not combined or json");
    assert_rejected(f, "[server]\nadmin_listen = 9090\n", 2, "admin_listen: '9090' is not host:port or off");
    assert_rejected(f, "[server]\ntrusted_proxies = 10.0.0.0/8, nginx\n", 2,
                    "trusted_proxies: 'nginx' is not an address or address/prefix");
    assert_null(load_text(f, "[server]\nlisten = 127.0.0.1:8080\nadmin_listen = 127.0.0.1:8080\n"));
    assert_non_null(strstr(f->err, "the admin listener needs a port of its own"));
}

static void config_load_stream_reads_an_open_stream_named_by_path(void **state)
{
    fixture *f = *state;
    const char text[] = "[server]\nlisten = 127.0.0.1:9\nplugin_dir = p\n\n[route /x]\nplugin = hello\n";
    FILE *stream = fmemopen((void *)text, sizeof text - 1, "r");
    assert_non_null(stream);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/named.ini", f->dir);
    ph_config *c = ph_config_load_stream(stream, path, f->err, sizeof f->err);
    fclose(stream);
    assert_non_null(c);
    assert_string_equal(c->path, path);
    char want[PATH_MAX + 16];
    snprintf(want, sizeof want, "%s/p", f->dir); /* relative to the named file's folder */
    assert_string_equal(c->server.plugin_dir, want);
    assert_int_equal(c->nroutes, 1);
    ph_config_free(c);
}

static void config_listen_accepts_bracketed_ipv6(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f, "[server]\nlisten = [::1]:8443\n");
    assert_non_null(c);
    assert_string_equal(c->server.listen, "[::1]:8443");
    assert_string_equal(c->server.listen_host, "::1");
    assert_int_equal(c->server.listen_port, 8443);
}

static void config_strips_inline_comments_from_values(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f,
                             "[server]\n"
                             "sync_threads = 12   ; per worker\n"
                             "[route /sync]\n"
                             "plugin = sleep_sync ; the file\n"
                             "seconds = 2 ; setting\n");
    if (!c)
        fail_msg("%s", f->err);
    assert_int_equal(c->server.sync_threads, 12);
    assert_string_equal(c->routes[0].plugin, "sleep_sync");
    assert_string_equal(ph_route_conf_setting(&c->routes[0], "seconds"), "2");
}

static void config_rejects_unknown_server_key_with_line(void **state)
{
    assert_rejected(*state, "[server]\nworkers = 2\nthreads = 4\n", 3, "unknown key 'threads' in [server]");
}

static void config_rejects_duplicate_server_key_with_line(void **state)
{
    assert_rejected(*state, "[server]\nsync_queue = 8\n\n; again\nsync_queue = 9\n", 5,
                    "duplicate key 'sync_queue' in [server]");
}

static void config_rejects_duplicate_server_key_across_two_server_sections(void **state)
{
    assert_rejected(*state, "[server]\nworkers = 2\n[route /a]\nplugin = hello\n[server]\nworkers = 3\n", 6,
                    "duplicate key 'workers' in [server]");
}

static void config_rejects_key_outside_any_section_with_line(void **state)
{
    assert_rejected(*state, "; header\nworkers = 2\n[server]\n", 2, "key 'workers' outside of any section");
}

static void config_rejects_unknown_section_with_line(void **state)
{
    assert_rejected(*state, "[server]\n[routes /a]\nplugin = hello\n", 2,
                    "unknown section [routes /a] (expected [server] or [route /path])");
}

/* Every bad [server] value is refused naming its line, key and text. */
static void config_rejects_bad_server_values_naming_line_key_and_value(void **state)
{
    static const struct {
        const char *line;
        const char *what;
    } cases[] = {
        {"listen = 8080", "listen: '8080' is not host:port"},
        {"listen = localhost:99999", "listen: 'localhost:99999' is not host:port"},
        {"workers = -1", "workers: '-1' is not an integer in 0..256"},
        {"workers = 257", "workers: '257' is not an integer in 0..256"},
        {"workers = many", "workers: 'many' is not an integer in 0..256"},
        {"sync_threads = 0", "sync_threads: '0' is not an integer in 1..4096"},
        {"sync_queue = 1e3", "sync_queue: '1e3' is not an integer in 0..1000000"},
        {"max_connections = 0", "max_connections: '0' is not an integer in 1..10000000"},
        {"watch = maybe", "watch: 'maybe' is not a boolean (true/false)"},
        {"max_body_size = 0", "max_body_size: '0' is not a size (e.g. 1048576, 64k, 1m)"},
        {"max_url_size = 8q", "max_url_size: '8q' is not a size (e.g. 1048576, 64k, 1m)"},
        {"max_header_size = -1", "max_header_size: '-1' is not a size (e.g. 1048576, 64k, 1m)"},
        {"max_url_size = 1025m", "max_url_size: '1025m' is above 1g, the most it can be (a request's offsets are 32-bit)"},
        {"max_header_size = 4g", "max_header_size: '4g' is above 1g, the most it can be (a request's offsets are 32-bit)"},
        {"max_body_size = 1025g", "max_body_size: '1025g' is above 1024g, the most it can be (a body is held in memory whole)"},
        {"load_timeout = 2147484", "load_timeout: '2147484' is above 2147483 s, the most it can be (it is waited for in int "
                                   "milliseconds)"},
        {"max_inflight_per_connection = 0", "max_inflight_per_connection: '0' is not an integer in 1..32"},
        {"header_timeout = 5h", "header_timeout: '5h' is not a duration (e.g. 500ms, 10s, 2)"},
        {"body_timeout = -1s", "body_timeout: '-1s' is not a duration (e.g. 500ms, 10s, 2)"},
        {"keepalive_timeout = soon", "keepalive_timeout: 'soon' is not a duration (e.g. 500ms, 10s, 2)"},
        {"send_timeout = 31d", "send_timeout: '31d' is not a duration (e.g. 500ms, 10s, 2)"},
        {"drain_timeout = 9999999", "drain_timeout: '9999999' is not a duration (e.g. 500ms, 10s, 2)"},
        {"timeout = forever", "timeout: 'forever' is not a duration (e.g. 500ms, 10s, 2)"},
        {"loop_warn = -5ms", "loop_warn: '-5ms' is not a duration (e.g. 500ms, 10s, 2)"},
        {"log_level = verbose", "log_level: 'verbose' is not debug, info, warn or error"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[server]\nworkers = 1\n%s\n", cases[i].line);
        if (strncmp(cases[i].line, "workers", 7) == 0)
            snprintf(text, sizeof text, "[server]\nwatch = true\n%s\n", cases[i].line);
        assert_rejected(*state, text, 3, cases[i].what);
    }
}

/* ---- the malformed section line (inih goes on after it) ---- */

/* inih reports "[route /x" only through its return value and hands the
 * following keys to the *previous* section. Whatever those keys are, the
 * file must be rejected, and the error must name the malformed line
 * (before 6e0fa7f the keys after it were reported instead, e.g. as an
 * unknown [server] key or a duplicate 'plugin' one line further down). */
#define MALFORMED_SECTION "syntax error: a section header is '[server]' or '[route /path]'"

static void config_rejects_malformed_section_line_after_route_with_its_line(void **state)
{
    assert_rejected(*state, "[server]\n[route /a]\nplugin = hello\n[route /x\nseconds = 2\n", 4, MALFORMED_SECTION);
}

static void config_rejects_malformed_section_line_after_server_with_its_line(void **state)
{
    assert_rejected(*state, "; conf\n[server]\nworkers = 2\n[route /x\nplugin = hello\n", 4, MALFORMED_SECTION);
}

static void config_rejects_malformed_section_line_before_plugin_key_with_its_line(void **state)
{
    assert_rejected(*state, "[server]\n[route /a]\nplugin = hello\n\n[route /x\nplugin = echo\n", 5,
                    MALFORMED_SECTION);
}

static void config_rejects_malformed_section_line_at_end_of_file(void **state)
{
    assert_rejected(*state, "[server]\nworkers = 2\n[route /x\n", 3, MALFORMED_SECTION);
}

static void config_rejects_malformed_section_line_with_comment_after_it(void **state)
{
    assert_rejected(*state, "[server]\n[route /x ; no bracket\nplugin = hello\n", 2, MALFORMED_SECTION);
}

/* ---- routes ---- */

static void config_reads_routes_in_order_with_line_plugin_path_and_settings(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f,
                             "[server]\n"
                             "plugin_dir = mods\n"
                             "\n"
                             "[route /sync]\n"
                             "plugin = sleep_sync\n"
                             "methods = GET\n"
                             "seconds = 2\n"
                             "label = slow one\n"
                             "[route /hello]\n"
                             "plugin = hello\n");
    if (!c)
        fail_msg("%s", f->err);
    assert_int_equal(c->nroutes, 2);
    const ph_route_conf *r = &c->routes[0];
    assert_string_equal(r->path, "/sync");
    assert_int_equal(r->line, 4);
    assert_string_equal(r->plugin, "sleep_sync");
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/mods/sleep_sync.so", f->dir);
    assert_string_equal(r->plugin_path, want);
    assert_int_equal(r->methods, PH_METHOD_GET);
    assert_int_equal(r->nsettings, 2);
    assert_string_equal(r->settings[0].key, "seconds");
    assert_string_equal(r->settings[0].value, "2");
    assert_string_equal(r->settings[1].key, "label");
    assert_string_equal(r->settings[1].value, "slow one");
    assert_string_equal(ph_route_conf_setting(r, "label"), "slow one");
    assert_null(ph_route_conf_setting(r, "plugin"));
    assert_null(ph_route_conf_setting(r, "methods"));
    assert_null(ph_route_conf_setting(r, "missing"));
    r = &c->routes[1];
    assert_string_equal(r->path, "/hello");
    assert_int_equal(r->line, 9);
    assert_int_equal(r->nsettings, 0);
    assert_null(ph_route_conf_setting(r, "seconds"));
}

static void config_route_methods_default_to_get(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f, "[route /a]\nplugin = hello\n");
    assert_non_null(c);
    assert_int_equal(c->routes[0].methods, PH_METHOD_GET);
}

static void config_route_methods_parse_lists(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f,
                             "[route /a]\nplugin = echo\nmethods = POST, PUT\n"
                             "[route /b]\nplugin = echo\nmethods = GET HEAD DELETE PATCH OPTIONS\n");
    if (!c)
        fail_msg("%s", f->err);
    assert_int_equal(c->routes[0].methods, PH_METHOD_POST | PH_METHOD_PUT);
    assert_int_equal(c->routes[1].methods,
                     PH_METHOD_GET | PH_METHOD_HEAD | PH_METHOD_DELETE | PH_METHOD_PATCH | PH_METHOD_OPTIONS);
}

static void config_rejects_unknown_method_naming_it_and_line(void **state)
{
    assert_rejected(*state, "[route /a]\nplugin = echo\nmethods = GET, FETCH\n", 3,
                    "methods: unknown method 'FETCH' (GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS)");
}

static void config_rejects_empty_methods_with_line(void **state)
{
    assert_rejected(*state, "[route /a]\nplugin = echo\nmethods =\n", 3,
                    "methods: unknown method '(empty)' (GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS)");
}

static void config_rejects_route_without_plugin_naming_its_header_line(void **state)
{
    assert_rejected(*state, "[server]\n\n[route /a]\nplugin = hello\n[route /b]\nseconds = 1\n", 5,
                    "route /b has no 'plugin' key");
}

static void config_rejects_duplicate_route_path_naming_first_line(void **state)
{
    assert_rejected(*state, "[route /a]\nplugin = hello\n[route /b]\nplugin = hello\n[route /a]\nplugin = echo\n", 5,
                    "duplicate route /a (first at line 1)");
}

static void config_rejects_duplicate_route_setting_with_line(void **state)
{
    assert_rejected(*state, "[route /a]\nplugin = hello\nseconds = 1\nseconds = 2\n", 4,
                    "duplicate key 'seconds' in [route /a] (an indented line continues the previous value)");
}

static void config_rejects_duplicate_plugin_key_with_line(void **state)
{
    assert_rejected(*state, "[route /a]\nplugin = hello\nplugin = echo\n", 3,
                    "duplicate key 'plugin' in [route /a]");
}

/* An indented line continues the previous key (inih multi-line): the
 * continuation arrives as a second value of that key and is refused as a
 * duplicate with a hint, rather than silently dropped or merged. */
static void config_rejects_indented_continuation_as_duplicate_with_hint(void **state)
{
    assert_rejected(*state, "[route /a]\nplugin = hello\ngreeting = hello\n    world\n", 4,
                    "duplicate key 'greeting' in [route /a] (an indented line continues the previous value)");
}

static void config_rejects_indented_key_line_as_continuation_of_server_key(void **state)
{
    assert_rejected(*state, "[server]\nworkers = 2\n  sync_threads = 4\n", 3, "duplicate key 'workers' in [server]");
}

static void config_rejects_bad_route_paths_with_line(void **state)
{
    static const char *const bad[] = {"x", "/a b", "/a?b", "/a#b", "hello/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128], what[256];
        snprintf(text, sizeof text, "[server]\n[route %s]\nplugin = hello\n", bad[i]);
        snprintf(what, sizeof what, "route path '%s' must start with '/' and contain no spaces, '?' or '#'", bad[i]);
        assert_rejected(*state, text, 2, what);
    }
}

static void config_rejects_route_section_without_path(void **state)
{
    assert_rejected(*state, "[server]\n[route]\nplugin = hello\n", 2,
                    "unknown section [route] (expected [server] or [route /path])");
}

static void config_rejects_plugin_names_that_are_not_plain(void **state)
{
    static const char *const bad[] = {"../evil", "a/b", "a\\b", ".", ".."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128], what[256];
        snprintf(text, sizeof text, "[route /a]\nplugin = %s\n", bad[i]);
        snprintf(what, sizeof what, "plugin: '%s' must be a plain name (the file is <plugin_dir>/<name>.so)", bad[i]);
        assert_rejected(*state, text, 2, what);
    }
}

static void config_rejects_empty_plugin_name(void **state)
{
    assert_rejected(*state, "[route /a]\nplugin =\n", 2,
                    "plugin: '' must be a plain name (the file is <plugin_dir>/<name>.so)");
}

static void config_rejects_over_long_line_with_its_number(void **state)
{
    fixture *f = *state;
    char text[1024];
    char value[400];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    snprintf(text, sizeof text, "[route /a]\nplugin = hello\nnote = %s\n", value);
    assert_rejected_at(f, text, 3, "line longer than", NULL);
}

static void config_rejects_line_without_equals_with_line(void **state)
{
    assert_rejected(*state, "[server]\nworkers = 2\njust some words\n", 3,
                    "syntax error (expected 'key = value', '[server]' or '[route /path]')");
}

static void config_missing_file_names_path_and_errno(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX], want[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/absent.ini", f->dir);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    assert_null(ph_config_load(path, f->err, sizeof f->err));
    assert_string_equal(f->err, want);
}

static void config_route_timeout_is_parsed_and_also_handed_to_the_plugin(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f,
                             "[server]\ntimeout = 30s\n"
                             "[route /slow]\nplugin = sleep_sync\ntimeout = 1.5s\n"
                             "[route /plain]\nplugin = hello\n");
    if (!c)
        fail_msg("%s", f->err);
    assert_true(c->routes[0].has_timeout);
    assert_int_equal(c->routes[0].timeout_ms, 1500);
    assert_string_equal(ph_route_conf_setting(&c->routes[0], "timeout"), "1.5s");
    assert_false(c->routes[1].has_timeout);
    assert_null(ph_route_conf_setting(&c->routes[1], "timeout"));
    assert_int_equal(c->server.timeout_ms, 30000);
}

/* max_inflight, queue and sync_threads are the host's: parsed, never
 * handed to the plugin; queue alone (no limit to wait for) is refused. */
static void config_route_limits_are_the_hosts_keys(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f, "[route /a]\nplugin = sleep_sync\nmax_inflight = 8\nqueue = 0\nsync_threads = 2\n"
                                "[route /b]\nplugin = hello\n");
    if (!c)
        fail_msg("%s", f->err);
    assert_int_equal(c->routes[0].max_inflight, 8);
    assert_true(c->routes[0].has_queue);
    assert_int_equal(c->routes[0].queue, 0);
    assert_int_equal(c->routes[0].sync_threads, 2);
    assert_int_equal(c->routes[0].nsettings, 0);
    assert_int_equal(c->routes[1].max_inflight, 0);
    assert_false(c->routes[1].has_queue);
    assert_int_equal(c->server.max_inflight_per_connection, 1);
    ph_config_free(c);
    f->config = NULL;
    assert_rejected(f, "[route /a]\nplugin = hello\nqueue = 5\n", 1,
                    "route /a: queue needs max_inflight or sync_threads (it holds the requests past the route's limit)");
    assert_rejected(f, "[route /a]\nplugin = hello\nmax_inflight = 0\n", 3,
                    "max_inflight: '0' is not an integer in 1..1000000");
    assert_rejected(f, "[route /a]\nplugin = hello\nsync_threads = 4097\n", 3,
                    "sync_threads: '4097' is not an integer in 1..4096");
    assert_rejected(f, "[route /a]\nplugin = hello\nmax_inflight = 2\nqueue = 1\nqueue = 2\n", 5,
                    "duplicate key 'queue' in [route /a]");
}

static void config_rejects_bad_route_timeout_with_line(void **state)
{
    assert_rejected(*state, "[route /a]\nplugin = hello\n\ntimeout = 2 minutes\n", 4,
                    "timeout: '2 minutes' is not a duration (e.g. 500ms, 10s, 2)");
}

static void config_rejects_route_on_the_status_path_naming_route_line(void **state)
{
    assert_rejected(*state, "[server]\nstatus_path = /status\n[route /a]\nplugin = hello\n[route /status]\nplugin = hello\n",
                    5, "route /status is also the status_path");
}

/* A status_path without its leading '/' is refused naming the key's line. */
static void config_rejects_relative_status_path_with_its_line(void **state)
{
    assert_rejected(*state, "[server]\nworkers = 1\nstatus_path = status\n", 3, "status_path: 'status' must start with '/'");
}

/* ---- plugin_dir resolution ---- */

static void config_relative_plugin_dir_resolves_against_ini_folder(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f, "[server]\nplugin_dir = ../build/plugins\n[route /h]\nplugin = hello\n");
    assert_non_null(c);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/../build/plugins", f->dir);
    assert_string_equal(c->server.plugin_dir, want);
    snprintf(want, sizeof want, "%s/../build/plugins/hello.so", f->dir);
    assert_string_equal(c->routes[0].plugin_path, want);
}

static void config_absolute_plugin_dir_is_kept(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f, "[server]\nplugin_dir = /srv/plugins\n[route /h]\nplugin = hello\n");
    assert_non_null(c);
    assert_string_equal(c->server.plugin_dir, "/srv/plugins");
    assert_string_equal(c->routes[0].plugin_path, "/srv/plugins/hello.so");
}

/* A route before [server] still gets the plugin_dir set later in the file. */
static void config_plugin_path_uses_plugin_dir_set_after_the_route(void **state)
{
    fixture *f = *state;
    ph_config *c = load_text(f, "[route /h]\nplugin = hello\n[server]\nplugin_dir = /late\n");
    assert_non_null(c);
    assert_string_equal(c->routes[0].plugin_path, "/late/hello.so");
}

static void config_ini_given_relative_resolves_against_its_folder(void **state)
{
    fixture *f = *state;
    char ini[PATH_MAX];
    snprintf(ini, sizeof ini, "%s/relative.ini", f->dir);
    const char *text = "[server]\nplugin_dir = p\n";
    assert_int_equal(ut_write_file(ini, text, strlen(text)), 0);
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f->dir), 0);
    ph_config *c = ph_config_load("relative.ini", f->err, sizeof f->err);
    assert_int_equal(chdir(cwd), 0);
    if (!c)
        fail_msg("%s", f->err);
    assert_string_equal(c->path, "relative.ini");
    assert_string_equal(c->server.plugin_dir, "./p");
    ph_config_free(c);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(config_empty_server_section_gives_documented_defaults),
        T(config_route_limits_are_the_hosts_keys),
        T(config_empty_file_gives_documented_defaults),
        T(config_reads_every_server_key),
        T(config_workers_auto_means_one_per_core_zero),
        T(config_recycling_keys_are_off_by_default_and_parsed_when_set),
        T(config_bad_recycling_values_are_refused_with_the_line),
        T(config_upstream_max_body_is_a_bounded_size),
        T(config_operator_keys_are_off_by_default_and_parsed_when_set),
        T(config_bad_operator_values_are_refused_with_the_line),
        T(config_load_stream_reads_an_open_stream_named_by_path),
        T(config_listen_accepts_bracketed_ipv6),
        T(config_strips_inline_comments_from_values),
        T(config_rejects_unknown_server_key_with_line),
        T(config_rejects_duplicate_server_key_with_line),
        T(config_rejects_duplicate_server_key_across_two_server_sections),
        T(config_rejects_key_outside_any_section_with_line),
        T(config_rejects_unknown_section_with_line),
        T(config_rejects_bad_server_values_naming_line_key_and_value),
        T(config_rejects_malformed_section_line_after_route_with_its_line),
        T(config_rejects_malformed_section_line_after_server_with_its_line),
        T(config_rejects_malformed_section_line_before_plugin_key_with_its_line),
        T(config_rejects_malformed_section_line_at_end_of_file),
        T(config_rejects_malformed_section_line_with_comment_after_it),
        T(config_reads_routes_in_order_with_line_plugin_path_and_settings),
        T(config_route_methods_default_to_get),
        T(config_route_methods_parse_lists),
        T(config_rejects_unknown_method_naming_it_and_line),
        T(config_rejects_empty_methods_with_line),
        T(config_rejects_route_without_plugin_naming_its_header_line),
        T(config_rejects_duplicate_route_path_naming_first_line),
        T(config_rejects_duplicate_route_setting_with_line),
        T(config_rejects_duplicate_plugin_key_with_line),
        T(config_rejects_indented_continuation_as_duplicate_with_hint),
        T(config_rejects_indented_key_line_as_continuation_of_server_key),
        T(config_rejects_bad_route_paths_with_line),
        T(config_rejects_route_section_without_path),
        T(config_rejects_plugin_names_that_are_not_plain),
        T(config_rejects_empty_plugin_name),
        T(config_rejects_over_long_line_with_its_number),
        T(config_rejects_line_without_equals_with_line),
        T(config_missing_file_names_path_and_errno),
        T(config_route_timeout_is_parsed_and_also_handed_to_the_plugin),
        T(config_rejects_bad_route_timeout_with_line),
        T(config_rejects_route_on_the_status_path_naming_route_line),
        T(config_rejects_relative_status_path_with_its_line),
        T(config_relative_plugin_dir_resolves_against_ini_folder),
        T(config_absolute_plugin_dir_is_kept),
        T(config_plugin_path_uses_plugin_dir_set_after_the_route),
        T(config_ini_given_relative_resolves_against_its_folder),
    };
#undef T
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
