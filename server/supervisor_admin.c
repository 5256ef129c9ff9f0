/* supervisor_admin.c - the admin listener: /metrics, /status (HTML),
 * /status.json, /healthz, /readyz, /openapi.json. The supervisor serves
 * it from its own loop (libevent's evhttp: a few requests a second, no
 * plugin code), so it answers while workers crash, respawn, recycle or
 * reload, and its counters outlive every worker. It is never bound to the
 * public listener (the config refuses the same port). */
#include "log.h"
#include "status_page.h"
#include "supervisor_internal.h"
#include "listen_socket.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool ph_sup_admin_ready(const ph_supervisor *sv)
{
    return sv->serving && !sv->stopping && ph_sup_live_count(sv, PH_PROC_READY) > 0;
}

int ph_sup_admin_counters(const ph_supervisor *sv, ph_stat_counters *out)
{
    if (ph_stat_counters_copy(out, &sv->stats.folded) < 0)
        return -1;
    for (int i = 0; i < PH_BOARD_RECORDS; i++) {
        if (sv->procs[i].pid > 0 && ph_stat_add_record(out, &sv->board->records[i]) < 0) {
            ph_stat_counters_free(out);
            return -1;
        }
    }
    return 0;
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type, const char *body,
                  size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    reply(req, code, reason, "text/plain; charset=utf-8", text, strlen(text));
}

/* A malloc'd JSON document (NULL: no memory). */
static void reply_json(struct evhttp_request *req, char *json)
{
    if (!json) {
        reply_text(req, 500, "Internal Server Error", "out of memory\n");
        return;
    }
    reply(req, 200, "OK", "application/json", json, strlen(json));
    free(json);
}

static void serve_metrics(struct evhttp_request *req, const ph_supervisor *sv)
{
    struct evbuffer *b = evbuffer_new();
    if (!b || ph_sup_metrics_render(sv, b) < 0) {
        if (b)
            evbuffer_free(b);
        reply_text(req, 500, "Internal Server Error", "out of memory\n");
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

/* Every admin request: GET or HEAD on one of the known paths. */
static void on_request(struct evhttp_request *req, void *arg)
{
    ph_supervisor *sv = arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (!path)
        path = "/";
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        reply_text(req, 405, "Method Not Allowed", "method not allowed\n");
        return;
    }
    if (strcmp(path, "/metrics") == 0)
        serve_metrics(req, sv);
    else if (strcmp(path, "/healthz") == 0)
        reply_text(req, 200, "OK", "ok\n");
    else if (strcmp(path, "/readyz") == 0)
        ph_sup_admin_ready(sv) ? reply_text(req, 200, "OK", "ready\n")
                               : reply_text(req, 503, "Service Unavailable",
                                            sv->stopping ? "draining\n" : "no generation serving yet\n");
    else if (strcmp(path, "/status.json") == 0)
        reply_json(req, ph_sup_status_json(sv));
    else if (strcmp(path, "/openapi.json") == 0)
        reply_json(req, ph_sup_openapi_json(sv));
    else if (strcmp(path, "/") == 0 || strcmp(path, "/status") == 0)
        reply(req, 200, "OK", "text/html; charset=utf-8", ph_status_page_html, strlen(ph_status_page_html));
    else
        reply_text(req, 404, "Not Found",
                   "not found; try /status, /status.json, /metrics, /healthz, /readyz, /openapi.json\n");
}

static void close_admin(ph_supervisor *sv)
{
    if (sv->admin)
        evhttp_free(sv->admin);
    sv->admin = NULL;
    sv->admin_bound[0] = '\0';
}

/* Bind the good config's admin_listen. Returns 0, or -1 when the address
 * is taken or wrong (logged once by the caller). */
static int bind_admin(ph_supervisor *sv, char *err, size_t errlen)
{
    const ph_server_conf *sc = &sv->good_config->server;
    int fd = ph_listen_bind(sc->admin_host, sc->admin_port, err, errlen);
    if (fd < 0)
        return -1;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    struct evhttp *http = evhttp_new(sv->base);
    if (!http || evhttp_accept_socket(http, fd) < 0) {
        snprintf(err, errlen, "admin listener: out of memory");
        if (http)
            evhttp_free(http);
        close(fd);
        return -1;
    }
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
    evhttp_set_max_headers_size(http, 16384);
    evhttp_set_max_body_size(http, 4096);
    evhttp_set_timeout(http, 10);
    evhttp_set_gencb(http, on_request, sv);
    sv->admin = http;
    char where[128];
    snprintf(sv->admin_bound, sizeof sv->admin_bound, "%s", sc->admin_listen);
    ph_log_info("admin listener on http://%s (metrics, status, health, openapi)",
                ph_listen_describe(fd, where, sizeof where));
    return 0;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_sup_admin_update(arg);
}

void ph_sup_admin_update(ph_supervisor *sv)
{
    const char *want = sv->good_config->server.admin_listen;
    if (sv->admin && want && strcmp(want, sv->admin_bound) == 0)
        return;
    if (sv->admin) {
        ph_log_info("admin listener on %s closed%s", sv->admin_bound, want ? "; moving" : " (admin_listen off)");
        close_admin(sv);
    }
    if (!want || sv->stopping)
        return;
    char err[512];
    static bool warned; /* one line per failing address, not one a second */
    if (sv->admin_retry)
        event_del(sv->admin_retry);
    if (bind_admin(sv, err, sizeof err) == 0) {
        warned = false;
        return;
    }
    if (!sv->admin_retry && !(sv->admin_retry = evtimer_new(sv->base, on_retry, sv)))
        return;
    if (!warned)
        ph_log_warn("admin listener: %s; trying again every second", err);
    warned = true;
    struct timeval second = {1, 0};
    event_add(sv->admin_retry, &second);
}

void ph_sup_admin_teardown(ph_supervisor *sv)
{
    close_admin(sv);
    if (sv->admin_retry)
        event_free(sv->admin_retry);
    sv->admin_retry = NULL;
}
