/*
 * test_operators.c - what an operator relies on (issue 13): the admin
 * listener is a port of its own and the public one never answers its
 * paths; its counters never go down across a worker crash and a reload
 * and lose none of a dead worker's requests; /readyz; the access log's
 * lines, its JSON form and its reopen on SIGUSR1; X-Forwarded-For
 * believed from trusted proxies only, for the log and the SDK's
 * client_addr; GET /openapi.json carries what a plugin declares
 * (summary, request and response types), across a reload too.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* A port nobody listens on right now (bound to 0, then released). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* GET `path` on `port`; returns the status, body in *body (malloc'd, may be NULL). */
static int get(int port, const char *path, const char *extra, char **body)
{
    char raw[1024];
    snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n\r\n", path, extra ? extra : "");
    it_response r = {0};
    int rc = it_request(port, raw, &r, false);
    assert_int_equal(rc, IT_OK);
    int status = r.status;
    if (body)
        *body = strdup(r.body ? r.body : "");
    it_response_free(&r);
    return status;
}

/* A server with an admin listener on a port of its own. */
static it_server *start_admin(int *admin, const char *keys, const char *routes)
{
    *admin = free_port();
    char all[1024];
    snprintf(all, sizeof all, "admin_listen = 127.0.0.1:%d\n%s", *admin, keys);
    it_server *s = it_start(all, routes);
    assert_true(it_server_log_wait(s, "admin listener on", IT_WAIT_MS));
    return s;
}

/* A server with its own plugin folder holding hello, echo and `extra`
 * (a test plugin), `keys` in [server], then `routes`; started. */
static it_server *start_with_plugin(const char *extra, const char *keys, const char *routes)
{
    it_server *s = it_server_new();
    it_server_add_plugin(s, "hello");
    it_server_add_plugin(s, "echo");
    it_server_add_plugin(s, extra);
    it_server_write_ini(s, "[server]\nlisten = 127.0.0.1:0\nplugin_dir = %s\nwatch = false\n%s\n%s", s->plugin_dir,
                        keys, routes);
    it_server_start(s);
    return s;
}

static void admin_paths_never_on_the_public_listener(void **state)
{
    (void)state;
    int admin;
    it_server *s = start_admin(&admin, "", IT_ROUTES_STD);
    const char *paths[] = {"/metrics", "/status", "/status.json", "/healthz", "/readyz", "/openapi.json"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        assert_int_equal(get(s->port, paths[i], NULL, NULL), 404);
        assert_int_equal(get(admin, paths[i], NULL, NULL), 200);
    }
    /* and the public routes are not on the admin listener */
    assert_int_equal(get(admin, "/hello", NULL, NULL), 404);
    it_server_stop(s);
}

/* How many times `needle` occurs in `text`. */
static int occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* /openapi.json of a server with routes /hi (it_described: GET and POST),
 * /hello (hello: a summary and text/plain) and /count (it_counter,
 * declares nothing): what each declares, generated text for the rest. */
static void assert_openapi_declarations(int admin)
{
    char *doc = NULL;
    assert_int_equal(get(admin, "/openapi.json", NULL, &doc), 200);
    /* the declared summary for both operations of /hi, instead of the generated one */
    assert_int_equal(occurrences(doc, "\"summary\":\"Say hello\""), 2);
    assert_null(strstr(doc, "(plugin it_described)"));
    assert_int_equal(occurrences(doc, "\"summary\":\"Answer Hello, World!\""), 1);
    /* a 200 with the declared response type beside default, for /hi's two and /hello */
    assert_int_equal(occurrences(doc, "\"200\":{\"description\":\"the plugin's answer\",\"content\":"
                                      "{\"text/plain\":{\"schema\":{}}}}"), 3);
    assert_int_equal(occurrences(doc, "\"default\":{"), 4);
    /* no request type declared: POST's body stays any type */
    assert_non_null(strstr(doc, "\"requestBody\":{\"content\":{\"*/*\":{\"schema\":{}}}}"));
    /* it_counter declares nothing: its generated summary, no 200 */
    assert_non_null(strstr(doc, "\"summary\":\"get /count (plugin it_counter)\""));
    assert_int_equal(occurrences(doc, "\"200\":"), 3);
    free(doc);
}

static void openapi_carries_what_plugins_declare(void **state)
{
    (void)state;
    int admin = free_port();
    char keys[128];
    snprintf(keys, sizeof keys, "admin_listen = 127.0.0.1:%d\n", admin);
    it_server *s = it_server_new();
    it_server_add_plugin(s, "hello");
    it_server_add_plugin(s, "echo");
    it_server_add_plugin(s, "it_described");
    it_server_add_plugin(s, "it_counter");
    const char *routes = "[route /hi]\nplugin = it_described\nmethods = GET POST\n\n[route /hello]\nplugin = hello\n\n"
                         "[route /count]\nplugin = it_counter\n";
    it_server_write_ini(s, "[server]\nlisten = 127.0.0.1:0\nplugin_dir = %s\nwatch = false\n%s\n%s", s->plugin_dir,
                        keys, routes);
    it_server_start(s);
    assert_true(it_server_log_wait(s, "admin listener on", IT_WAIT_MS));
    assert_openapi_declarations(admin);
    /* a reload that does not check /hi's plugin again keeps its declarations */
    it_server_write_ini(s,
                        "[server]\nlisten = 127.0.0.1:0\nplugin_dir = %s\nwatch = false\nadmin_listen = 127.0.0.1:%d\n"
                        "%s\n[route /echo]\nplugin = echo\nmethods = POST\n",
                        s->plugin_dir, admin, routes);
    assert_int_equal(kill(s->pid, SIGHUP), 0);
    assert_true(it_server_log_wait(s, "generation 2 serving", IT_WAIT_MS));
    char *doc = NULL;
    assert_int_equal(get(admin, "/openapi.json", NULL, &doc), 200);
    assert_non_null(strstr(doc, "\"/echo\":{\"post\":"));
    assert_int_equal(occurrences(doc, "\"summary\":\"Say hello\""), 2);
    assert_int_equal(occurrences(doc, "{\"text/plain\":{\"schema\":{}}}"), 3);
    assert_non_null(strstr(doc, "\"summary\":\"Echo a JSON body, re-serialised\""));
    free(doc);
    it_server_stop(s);
}

static void admin_listen_on_the_public_port_is_refused(void **state)
{
    (void)state;
    it_server *s = it_server_new();
    it_server_write_ini(s, "[server]\nlisten = 127.0.0.1:18099\nadmin_listen = 127.0.0.1:18099\nplugin_dir = %s\n"
                           "[route /hello]\nplugin = hello\n", PLUGIN_DIR);
    char *out = NULL;
    const char *args[] = {"-t", "-c", s->ini_path, NULL};
    assert_int_equal(it_run(args, IT_WAIT_MS, &out), 1);
    assert_non_null(strstr(out, "admin listener needs a port of its own"));
    free(out);
}

/* The value of the series `series` (name with labels, exactly as
 * exposed) in a scrape, or -1. */
static double series_value(const char *scrape, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = scrape; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
    }
    return -1;
}

/* Every counter and histogram series of `before` is present in `after`
 * with a value at least as high. */
static void assert_never_lower(const char *before, const char *after)
{
    int compared = 0;
    for (const char *line = before; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (*line == '#' || *line == '\n')
            continue;
        const char *sp = strchr(line, ' ');
        char series[512];
        snprintf(series, sizeof series, "%.*s", (int)(sp - line), line);
        if (!strstr(series, "_total") && !strstr(series, "_bucket") && !strstr(series, "_count") &&
            !strstr(series, "_sum"))
            continue;
        double was = strtod(sp + 1, NULL), now = series_value(after, series);
        if (now < was)
            fail_msg("%s went down: %g -> %g", series, was, now);
        compared++;
    }
    assert_true(compared > 20);
}

static void counters_survive_a_crash_and_a_reload(void **state)
{
    (void)state;
    int admin = free_port();
    char keys[128];
    snprintf(keys, sizeof keys, "workers = 2\nadmin_listen = 127.0.0.1:%d\n", admin);
    it_server *s = start_with_plugin("it_crashy", keys, "[route /hello]\nplugin = hello\n\n[route /crash]\nplugin = it_crashy\n");
    assert_true(it_server_log_wait(s, "admin listener on", IT_WAIT_MS));
    for (int i = 0; i < 40; i++)
        assert_int_equal(get(s->port, "/hello", NULL, NULL), 200);
    char *before = NULL;
    assert_int_equal(get(admin, "/metrics", NULL, &before), 200);
    assert_true(series_value(before, "plughost_requests_total{route=\"/hello\",code=\"2xx\"}") == 40);

    /* a worker dies (its 40-odd requests must stay counted), then a reload */
    char raw[] = "GET /crash?boom=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    it_response r = {0};
    it_request(s->port, raw, &r, false);
    it_response_free(&r);
    assert_true(it_server_log_wait(s, "starting a new one", IT_WAIT_MS));
    assert_true(it_server_log_wait(s, "worker 1 (pid", IT_WAIT_MS));
    it_server_write_ini(s,
                        "[server]\nlisten = 127.0.0.1:0\nworkers = 2\nplugin_dir = %s\nwatch = false\n"
                        "admin_listen = 127.0.0.1:%d\n[route /hello]\nplugin = hello\n\n[route /crash]\n"
                        "plugin = it_crashy\n\n[route /echo]\nplugin = echo\nmethods = POST\n",
                        s->plugin_dir, admin);
    assert_int_equal(kill(s->pid, SIGHUP), 0);
    assert_true(it_server_log_wait(s, "generation 2 serving", IT_WAIT_MS));
    for (int i = 0; i < 10; i++)
        assert_int_equal(get(s->port, "/hello", NULL, NULL), 200);

    char *after = NULL;
    assert_int_equal(get(admin, "/metrics", NULL, &after), 200);
    assert_never_lower(before, after);
    assert_true(series_value(after, "plughost_requests_total{route=\"/hello\",code=\"2xx\"}") == 50);
    assert_true(series_value(after, "plughost_plugin_crashes_total") >= 1);
    assert_true(series_value(after, "plughost_reloads_total") == 1);
    assert_true(series_value(after, "plughost_last_reload_success") == 1);
    assert_true(series_value(after, "plughost_generation") == 2);
    free(before);
    free(after);
    /* stop once the workers settled (none starting or retiring) */
    double end = it_now() + IT_WAIT_MS / 1000.0;
    for (;;) {
        char *status = NULL;
        assert_int_equal(get(admin, "/status.json", NULL, &status), 200);
        bool settled = !strstr(status, "\"state\":\"starting\"") && !strstr(status, "\"state\":\"retiring\"");
        free(status);
        if (settled)
            break;
        assert_true(it_now() < end);
        it_sleep_ms(50);
    }
    it_server_stop(s);
}

static void readyz_says_no_while_draining(void **state)
{
    (void)state;
    int admin;
    it_server *s = start_admin(&admin, "",
                               "[route /slow]\nplugin = sleep_sync\nseconds = 3\n");
    assert_int_equal(get(admin, "/readyz", NULL, NULL), 200);
    it_conn *c = it_connect(s->port);
    assert_int_equal(it_send_str(c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    it_sleep_ms(300);
    assert_int_equal(kill(s->pid, SIGTERM), 0);
    assert_true(it_server_log_wait(s, "draining", IT_WAIT_MS));
    assert_true(it_server_log_wait(s, "1 requests in flight", IT_WAIT_MS));
    char *body = NULL;
    assert_int_equal(get(admin, "/readyz", NULL, &body), 503);
    assert_non_null(strstr(body, "draining"));
    free(body);
    assert_int_equal(get(admin, "/healthz", NULL, NULL), 200);
    it_response r = {0};
    assert_int_equal(it_recv(c, &r, false, IT_WAIT_MS), IT_OK);
    assert_int_equal(r.status, 200);
    it_response_free(&r);
}

/* Wait up to `ms` for `needle` in file `path`. */
static bool file_wait(const char *path, const char *needle, int ms)
{
    double end = it_now() + ms / 1000.0;
    do {
        char *text = it_read_file(path);
        bool found = text && strstr(text, needle);
        free(text);
        if (found)
            return true;
        it_sleep_ms(50);
    } while (it_now() < end);
    return false;
}

/* Whether `path` exists within `ms` milliseconds. */
static bool file_appears(const char *path, int ms)
{
    double end = it_now() + ms / 1000.0;
    while (access(path, F_OK) != 0) {
        if (it_now() >= end)
            return false;
        it_sleep_ms(20);
    }
    return true;
}

static void access_log_lines_and_reopen_on_sigusr1(void **state)
{
    (void)state;
    const char *dir = it_tempdir();
    char log[PATH_MAX], moved[PATH_MAX], keys[PATH_MAX + 64];
    snprintf(log, sizeof log, "%s/access.log", dir);
    snprintf(moved, sizeof moved, "%s/access.log.1", dir);
    snprintf(keys, sizeof keys, "access_log = %s\n", log);
    it_server *s = it_start(keys, IT_ROUTES_STD);
    assert_int_equal(get(s->port, "/hello?first=1", "User-Agent: it \"quoted\"\r\n", NULL), 200);
    /* flushed within a second, without any further request */
    assert_true(file_wait(log, "\"GET /hello?first=1 HTTP/1.1\" 200 13 \"-\" \"it \\\"quoted\\\"\" route=\"/hello\" "
                               "plugin=hello file=",
                          3000));
    assert_true(file_wait(log, "version=1.0.0 mode=async rt=", 100));
    assert_true(file_wait(log, "worker=1\n", 100));

    assert_int_equal(rename(log, moved), 0);
    assert_int_equal(kill(s->pid, SIGUSR1), 0);
    assert_true(file_appears(log, 5000)); /* the worker reopened: the file is back */
    assert_int_equal(get(s->port, "/hello?second=1", NULL, NULL), 200);
    assert_true(file_wait(log, "GET /hello?second=1 ", 3000));
    char *old = it_read_file(moved);
    assert_non_null(strstr(old, "/hello?first=1"));
    assert_null(strstr(old, "/hello?second=1"));
    free(old);
    it_server_stop(s);
}

/* An access log that could not be opened at start (its directory missing)
 * begins logging once SIGUSR1 reopens it successfully. */
static void access_log_that_failed_to_open_begins_on_a_good_reopen(void **state)
{
    (void)state;
    const char *dir = it_tempdir();
    char sub[PATH_MAX], log[PATH_MAX + 32], keys[PATH_MAX + 64];
    snprintf(sub, sizeof sub, "%s/later", dir);
    snprintf(log, sizeof log, "%s/access.log", sub);
    snprintf(keys, sizeof keys, "access_log = %s\n", log);
    it_server *s = it_start(keys, IT_ROUTES_STD);
    assert_true(it_server_log_wait(s, "cannot open", IT_WAIT_MS));
    assert_int_equal(get(s->port, "/hello?before=1", NULL, NULL), 200);

    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(kill(s->pid, SIGUSR1), 0);
    assert_true(file_appears(log, 5000)); /* the worker reopened: the file exists */
    assert_int_equal(get(s->port, "/hello?after=1", NULL, NULL), 200);
    assert_true(file_wait(log, "GET /hello?after=1 ", 3000));
    char *text = it_read_file(log);
    assert_null(strstr(text, "before=1")); /* nothing was kept while it was off */
    free(text);
    it_server_stop(s);
}

static void access_log_json_lines(void **state)
{
    (void)state;
    const char *dir = it_tempdir();
    char log[PATH_MAX], keys[PATH_MAX + 64];
    snprintf(log, sizeof log, "%s/access.json", dir);
    snprintf(keys, sizeof keys, "access_log = %s\naccess_log_format = json\n", log);
    it_server *s = it_start(keys, IT_ROUTES_STD);
    assert_int_equal(get(s->port, "/sync", NULL, NULL), 200);
    assert_int_equal(get(s->port, "/missing", NULL, NULL), 404);
    assert_true(file_wait(log, "\"url\":\"/sync\",\"protocol\":\"HTTP/1.1\",\"status\":200,", 3000));
    assert_true(file_wait(log, "\"route\":\"/sync\",\"plugin\":\"sleep_sync\"", 100));
    assert_true(file_wait(log, "\"mode\":\"sync\",\"worker\":1", 100));
    assert_true(file_wait(log, "\"url\":\"/missing\",\"protocol\":\"HTTP/1.1\",\"status\":404,", 100));
    it_server_stop(s);
}

static void forwarded_for_only_from_trusted_proxies(void **state)
{
    (void)state;
    static const char routes[] = "[route /who]\nplugin = it_async_kit\nmode = headers\n";
    const char *xff = "X-Forwarded-For: 203.0.113.9, 10.1.2.3\r\n";
    char *body = NULL;

    it_server *trusting = start_with_plugin("it_async_kit", "trusted_proxies = 127.0.0.0/8, 10.0.0.0/8\n", routes);
    assert_int_equal(get(trusting->port, "/who", xff, &body), 200);
    assert_non_null(strstr(body, "client: 203.0.113.9\n")); /* 10.1.2.3 is a trusted hop too */
    free(body);
    assert_int_equal(get(trusting->port, "/who", "X-Forwarded-For: junk, 198.51.100.7\r\n", &body), 200);
    assert_non_null(strstr(body, "client: 198.51.100.7\n"));
    free(body);
    it_server_stop(trusting);

    /* the peer, 127.0.0.1, is not trusted here */
    it_server *plain = start_with_plugin("it_async_kit", "trusted_proxies = 10.0.0.0/8\n", routes);
    assert_int_equal(get(plain->port, "/who", xff, &body), 200);
    assert_non_null(strstr(body, "client: 127.0.0.1\n"));
    free(body);
    it_server_stop(plain);
}

/* Send `raw` on a fresh connection and leave before the answer. */
static void send_and_leave(int port, const char *raw)
{
    it_conn *c = it_connect(port);
    assert_non_null(c);
    assert_int_equal(it_send_str(c, raw), 0);
    it_sleep_ms(100); /* received and handed to its handler */
    it_conn_reset(c); /* gone: a FIN alone would be a half-close, still answered */
}

/* An async request whose client leaves before the answer outlives its
 * connection: its access log line (499) still names its client, the peer
 * or the one a trusted proxy forwarded for, never another request's. */
static void access_log_names_the_client_of_a_request_that_outlived_its_connection(void **state)
{
    (void)state;
    const char *dir = it_tempdir();
    char log[PATH_MAX], keys[PATH_MAX + 96];
    snprintf(log, sizeof log, "%s/access.log", dir);
    snprintf(keys, sizeof keys, "access_log = %s\ntrusted_proxies = 127.0.0.0/8\n", log);
    it_server *s = it_start(keys, "[route /async]\nplugin = sleep_async\nseconds = 1\n");
    send_and_leave(s->port, "GET /async?forwarded=1 HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n");
    send_and_leave(s->port, "GET /async?direct=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_true(file_wait(log, "203.0.113.9 - - [", 5000));
    assert_true(file_wait(log, "\"GET /async?forwarded=1 HTTP/1.1\" 499 ", 100));
    assert_true(file_wait(log, "\"GET /async?direct=1 HTTP/1.1\" 499 ", 5000));
    char *text = it_read_file(log);
    const char *direct = strstr(text, "GET /async?direct=1 ");
    assert_non_null(direct);
    const char *line = direct;
    while (line > text && line[-1] != '\n')
        line--;
    assert_int_equal(strncmp(line, "127.0.0.1 - - [", 15), 0);
    free(text);
    it_server_stop(s);
}

static void reload_lines_name_file_name_version_and_mode(void **state)
{
    (void)state;
    it_server *s = it_server_new();
    it_server_add_plugin(s, "it_v1");
    it_server_add_plugin(s, "it_v2");
    it_server_add_plugin(s, "hello");
    it_server_write_ini(s, "[server]\nlisten = 127.0.0.1:0\nplugin_dir = %s\nwatch = false\n"
                           "[route /v]\nplugin = it_v1\n[route /gone]\nplugin = hello\n", s->plugin_dir);
    it_server_start(s);
    it_server_write_ini(s, "[server]\nlisten = 127.0.0.1:0\nplugin_dir = %s\nwatch = false\n"
                           "[route /v]\nplugin = it_v2\n[route /new]\nplugin = hello\n", s->plugin_dir);
    assert_int_equal(kill(s->pid, SIGHUP), 0);
    assert_true(it_server_log_wait(s, "generation 2 serving", IT_WAIT_MS));
    char line[PATH_MAX * 2];
    snprintf(line, sizeof line, "reload: route /v now file %s/it_v2.so (plugin it_version 2.0.0, sync): mode "
                                "changed async -> sync, new version", s->plugin_dir);
    assert_true(it_server_log_wait(s, line, 100));
    snprintf(line, sizeof line, "reload: route /new added: file %s/hello.so (plugin hello 1.0.0, async)",
             s->plugin_dir);
    assert_true(it_server_log_wait(s, line, 100));
    snprintf(line, sizeof line, "reload: route /gone removed (was file %s/hello.so (plugin hello 1.0.0, async))",
             s->plugin_dir);
    assert_true(it_server_log_wait(s, line, 100));
    it_server_stop(s);
}

static void drain_line_counts_pending_async_requests(void **state)
{
    (void)state;
    it_server *s = it_start("", "[route /async]\nplugin = sleep_async\nseconds = 2\n\n"
                                "[route /sync]\nplugin = sleep_sync\nseconds = 2\n");
    it_conn *a = it_connect(s->port), *b = it_connect(s->port), *c = it_connect(s->port);
    assert_int_equal(it_send_str(a, "GET /async HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(it_send_str(b, "GET /async HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(it_send_str(c, "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    it_sleep_ms(400);
    assert_int_equal(kill(s->pid, SIGTERM), 0);
    assert_true(it_server_log_wait(s, "draining 3 connections, 3 requests in flight (2 async incl. pending, 1 sync",
                                   IT_WAIT_MS));
    it_response r = {0};
    assert_int_equal(it_recv(a, &r, false, IT_WAIT_MS), IT_OK);
    assert_int_equal(r.status, 200);
    it_response_free(&r);
}

int main(void)
{
    it_init();
    const struct CMUnitTest tests[] = {
        IT_TEST(admin_paths_never_on_the_public_listener),
        IT_TEST(admin_listen_on_the_public_port_is_refused),
        IT_TEST(openapi_carries_what_plugins_declare),
        IT_TEST(counters_survive_a_crash_and_a_reload),
        IT_TEST(readyz_says_no_while_draining),
        IT_TEST(access_log_lines_and_reopen_on_sigusr1),
        IT_TEST(access_log_that_failed_to_open_begins_on_a_good_reopen),
        IT_TEST(access_log_json_lines),
        IT_TEST(forwarded_for_only_from_trusted_proxies),
        IT_TEST(access_log_names_the_client_of_a_request_that_outlived_its_connection),
        IT_TEST(reload_lines_name_file_name_version_and_mode),
        IT_TEST(drain_line_counts_pending_async_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
