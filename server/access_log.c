/* access_log.c - the access log: formatting, buffering, reopening. */
#include "access_log.h"

#include "log.h"
#include "plugin_instance.h"
#include "router.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUF_MAX (256 * 1024)   /* beyond this, lines are dropped */
#define FLUSH_AT (32 * 1024)   /* write as soon as this much waits */
#define LINE_MAX_BYTES 8192

static struct {
    int fd;
    char *path;
    bool json;
    int worker;
    char *buf;
    size_t len;
    unsigned long dropped;
    struct event *timer;
    time_t stamp_sec;
    char stamp_combined[40]; /* 10/Oct/2000:13:55:36 +0000 */
    char stamp_iso[40];      /* 2000-10-10T13:55:36Z */
} al = {.fd = -1};

bool ph_alog_on; /* al.fd >= 0 (then al.buf is set): see ph_alog_enabled */

/* Open `path` for appending without blocking: "-" reopens stdout through
 * /proc so that O_NONBLOCK stays this process's own. Returns the fd or -1. */
static int open_target(const char *path)
{
    int flags = O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC;
    if (strcmp(path, "-") == 0) {
        int fd = open("/proc/self/fd/1", flags & ~O_CREAT);
        return fd >= 0 ? fd : fcntl(1, F_DUPFD_CLOEXEC, 3);
    }
    return open(path, flags, 0644);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    ph_alog_flush();
    if (al.dropped) {
        ph_log_warn("access log %s: %lu lines dropped (the file does not take them fast enough)", al.path,
                    al.dropped);
        al.dropped = 0;
    }
}

int ph_alog_setup(struct event_base *base, int worker)
{
    al.worker = worker;
    al.timer = event_new(base, -1, EV_PERSIST, on_timer, NULL);
    struct timeval second = {1, 0};
    if (!al.timer || event_add(al.timer, &second) < 0)
        return -1;
    return 0;
}

void ph_alog_flush(void)
{
    if (!al.buf || !al.len)
        return;
    size_t off = 0;
    while (al.fd >= 0 && off < al.len) {
        ssize_t n = write(al.fd, al.buf + off, al.len - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            ph_log_warn("access log %s: %s; %zu bytes kept for later", al.path, strerror(errno), al.len - off);
        break;
    }
    if (al.fd < 0)
        off = al.len; /* off: nothing to keep */
    memmove(al.buf, al.buf + off, al.len - off);
    al.len -= off;
}

static void close_target(void)
{
    ph_alog_flush();
    if (al.fd >= 0)
        close(al.fd);
    al.fd = -1;
    al.len = 0;
    ph_alog_on = false;
}

void ph_alog_configure(const char *path, bool json)
{
    al.json = json;
    if ((!path && !al.path) || (path && al.path && strcmp(path, al.path) == 0))
        return;
    close_target();
    free(al.path);
    al.path = NULL;
    if (!path)
        return;
    if (!al.buf && !(al.buf = malloc(BUF_MAX))) {
        ph_log_error("access log %s: out of memory; not logging", path);
        return;
    }
    al.path = strdup(path);
    al.fd = al.path ? open_target(path) : -1;
    ph_alog_on = al.fd >= 0;
    if (al.fd < 0)
        ph_log_error("access log %s: cannot open: %s; not logging", path, strerror(errno));
}

void ph_alog_reopen(void)
{
    if (!al.path)
        return;
    ph_alog_flush();
    int fd = open_target(al.path);
    if (fd < 0) {
        ph_log_error("access log %s: cannot reopen: %s; %s", al.path, strerror(errno),
                     al.fd >= 0 ? "still writing to the old file" : "not logging");
        return;
    }
    if (al.fd >= 0)
        close(al.fd);
    al.fd = fd;
    ph_alog_on = true; /* (also when the first open had failed: logging begins now) */
}

static void refresh_stamps(void)
{
    time_t now = time(NULL);
    if (now == al.stamp_sec)
        return;
    al.stamp_sec = now;
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(al.stamp_combined, sizeof al.stamp_combined, "%d/%b/%Y:%H:%M:%S %z", &tm);
    gmtime_r(&now, &tm);
    strftime(al.stamp_iso, sizeof al.stamp_iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Append `src` (n bytes) to out[*pos..cap) escaped for a quoted field:
 * '"', '\\' and control or non-ASCII bytes as \xHH (combined, as nginx)
 * or \u00HH (JSON). */
static void put_escaped(char *out, size_t *pos, size_t cap, const char *src, size_t n, bool json)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n && *pos + 7 < cap; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '"' || c == '\\') {
            out[(*pos)++] = '\\';
            out[(*pos)++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            const char *pre = json ? "\\u00" : "\\x";
            for (const char *p = pre; *p; p++)
                out[(*pos)++] = *p;
            out[(*pos)++] = hex[c >> 4];
            out[(*pos)++] = hex[c & 15];
        } else {
            out[(*pos)++] = (char)c;
        }
    }
}

static void put_str(char *out, size_t *pos, size_t cap, const char *s, bool json)
{
    put_escaped(out, pos, cap, s, strlen(s), json);
}

/* printf into out[*pos..cap). */
static void put_fmt(char *out, size_t *pos, size_t cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put_fmt(char *out, size_t *pos, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *pos, cap - *pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos += (size_t)n < cap - *pos ? (size_t)n : cap - *pos - 1;
}

/* What the access log says about the route and plugin of `req`. */
typedef struct alog_route {
    const char *route, *plugin, *file, *version, *mode;
} alog_route;

static alog_route route_of(const ph_request *req)
{
    if (!req->route)
        return (alog_route){"-", "-", "-", "-", "-"};
    const ph_plugin_lib *lib = req->route->instance->lib;
    return (alog_route){req->route->path, lib->desc->name ? lib->desc->name : "-", lib->path ? lib->path : "-",
                        lib->desc->version ? lib->desc->version : "-", req->async ? "async" : "sync"};
}

static size_t format_combined(char *line, const ph_request *req, int status, long bytes, double seconds)
{
    size_t pos = 0, cap = LINE_MAX_BYTES;
    const char *ref = ph_request_header(req, "Referer");
    const char *ua = ph_request_header(req, "User-Agent");
    alog_route r = route_of(req);
    const char *client = ph_request_client_addr(req);
    put_fmt(line, &pos, cap, "%s - - [%s] \"%s ", client[0] ? client : "-",
            al.stamp_combined, req->method ? req->method : "-");
    put_escaped(line, &pos, cap, req->arena.data ? req->arena.data : "", req->url_len, false);
    put_fmt(line, &pos, cap, " HTTP/%u.%u\" %d ", req->http_major, req->http_minor, status);
    put_fmt(line, &pos, cap, bytes >= 0 ? "%ld \"" : "-\"", bytes);
    put_str(line, &pos, cap, ref ? ref : "-", false);
    put_fmt(line, &pos, cap, "\" \"");
    put_str(line, &pos, cap, ua ? ua : "-", false);
    put_fmt(line, &pos, cap, "\" route=\"");
    put_str(line, &pos, cap, r.route, false);
    put_fmt(line, &pos, cap, "\" plugin=%s file=%s version=%s mode=%s rt=%.6f worker=%d\n", r.plugin, r.file,
            r.version, r.mode, seconds, al.worker);
    return pos;
}

static size_t format_json(char *line, const ph_request *req, int status, long bytes, double seconds)
{
    size_t pos = 0, cap = LINE_MAX_BYTES;
    const char *ref = ph_request_header(req, "Referer");
    const char *ua = ph_request_header(req, "User-Agent");
    alog_route r = route_of(req);
    put_fmt(line, &pos, cap, "{\"time\":\"%s\",\"client\":\"%s\",\"method\":\"", al.stamp_iso,
            ph_request_client_addr(req));
    put_str(line, &pos, cap, req->method ? req->method : "", true);
    put_fmt(line, &pos, cap, "\",\"url\":\"");
    put_escaped(line, &pos, cap, req->arena.data ? req->arena.data : "", req->url_len, true);
    put_fmt(line, &pos, cap, "\",\"protocol\":\"HTTP/%u.%u\",\"status\":%d,\"bytes\":", req->http_major,
            req->http_minor, status);
    put_fmt(line, &pos, cap, bytes >= 0 ? "%ld" : "null", bytes);
    put_fmt(line, &pos, cap, ",\"duration_ms\":%.3f,\"route\":\"", seconds * 1e3);
    put_str(line, &pos, cap, r.route, true);
    put_fmt(line, &pos, cap, "\",\"plugin\":\"");
    put_str(line, &pos, cap, r.plugin, true);
    put_fmt(line, &pos, cap, "\",\"plugin_file\":\"");
    put_str(line, &pos, cap, r.file, true);
    put_fmt(line, &pos, cap, "\",\"plugin_version\":\"");
    put_str(line, &pos, cap, r.version, true);
    put_fmt(line, &pos, cap, "\",\"mode\":\"%s\",\"worker\":%d,\"referer\":\"", r.mode, al.worker);
    put_str(line, &pos, cap, ref ? ref : "", true);
    put_fmt(line, &pos, cap, "\",\"user_agent\":\"");
    put_str(line, &pos, cap, ua ? ua : "", true);
    put_fmt(line, &pos, cap, "\"}\n");
    if (line[pos - 1] != '\n') /* cut at the cap: keep it one line */
        line[pos - 1] = '\n';
    return pos;
}

/* Format the line of `req` and add it to the buffer (dropped, counted,
 * when the buffer stays full). Out of line: its 8 KiB frame would cost
 * every request when the log is off. */
static __attribute__((noinline)) void append_line(const ph_request *req, int status, double seconds)
{
    refresh_stamps();
    char line[LINE_MAX_BYTES];
    long bytes = req->streaming ? -1 : (long)req->resp_body.len;
    size_t n = al.json ? format_json(line, req, status, bytes, seconds)
                       : format_combined(line, req, status, bytes, seconds);
    if (line[n - 1] != '\n')
        line[n - 1] = '\n';
    if (al.len + n > BUF_MAX) {
        ph_alog_flush();
        if (al.len + n > BUF_MAX) {
            al.dropped++;
            return;
        }
    }
    memcpy(al.buf + al.len, line, n);
    al.len += n;
    if (al.len >= FLUSH_AT)
        ph_alog_flush();
}

void ph_alog_request(const ph_request *req, int status, double seconds)
{
    if (ph_alog_enabled())
        append_line(req, status, seconds);
}

void ph_alog_shutdown(void)
{
    close_target();
    free(al.path);
    al.path = NULL;
    free(al.buf);
    al.buf = NULL;
    if (al.timer)
        event_free(al.timer);
    al.timer = NULL;
}
