/*
 * fetch_sync - bench-only SYNC plugin: the same upstream call as the bundled
 * async `proxy`, made with a plain blocking HTTP/1.1 client on the pool
 * thread that runs handle(). tests/bench/bench_async.sh builds it out of
 * tree, as a user would:
 *
 *   cc -std=c11 -O2 -fPIC -shared -fvisibility=hidden -pthread \
 *      -I<repo>/sdk/include fetch_sync.c -o fetch_sync.so
 *
 * Settings
 *   upstream  required, http://host[:port][/path] (no https, no user info;
 *             the host is resolved once, at init). The request's query
 *             string, if any, is appended.
 *   timeout   optional duration ("500ms", "2s", bare number = seconds;
 *             default 30s): SO_SNDTIMEO/SO_RCVTIMEO of the upstream socket,
 *             so it bounds connect, each send and each receive (not the
 *             whole exchange). Past it the client gets 504. The host reads
 *             the same key as the route's own handler timeout.
 *
 * The client: a keep-alive connection pool per route instance - a
 * mutex-protected stack of idle sockets. A call pops one (or connects a new
 * one), sends `GET <path> HTTP/1.1` with `Connection: keep-alive`, reads the
 * status line and headers, then exactly Content-Length body bytes (or until
 * EOF when the upstream sends neither Content-Length nor chunked; chunked is
 * refused with 502), and pushes the socket back unless the upstream said
 * `Connection: close`. So each pool thread keeps about one upstream
 * connection, like a blocking client library with a session (requests,
 * libcurl easy handles). A reused socket that the upstream had closed
 * (send fails, or EOF before the first response byte) is dropped and the
 * request retried once on a fresh connection (GET is idempotent).
 *
 * Relayed: the upstream status, its Content-Type and its body. Refused,
 * reset or malformed -> 502 {"error": ...}; timeout -> 504.
 *
 * Every function may run on any pool thread, except init/fini (loop thread).
 */
#define _POSIX_C_SOURCE 200809L

#include <plughost.h>

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#define FS_DEFAULT_TIMEOUT_MS 30000u
#define FS_MAX_IDLE 4096u               /* idle sockets kept per instance */
#define FS_MAX_HEAD (64u * 1024u)       /* status line + headers */
#define FS_MAX_BODY (64u * 1024u * 1024u)

typedef struct fs_state {
    const ph_host_api *api;
    char *upstream;         /* the setting, for log lines */
    char *hostport;         /* Host header value */
    char *path;             /* "/slow" */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct timeval io_timeout;
    pthread_mutex_t lock;
    int idle[FS_MAX_IDLE];  /* idle keep-alive sockets, a stack */
    unsigned nidle;
} fs_state;

typedef enum fs_err { FS_OK = 0, FS_REFUSED, FS_TIMEOUT, FS_RESET, FS_INVALID, FS_NOMEM } fs_err;

typedef struct fs_resp {
    int status;
    char content_type[256];
    char *buf;     /* head + body as read */
    size_t len, cap;
    size_t body_off, body_len;
    bool keep_alive;
} fs_resp;

/* ------------------------------------------------------------- settings */

/* "500ms" / "2s" / "1.5" -> ms. Returns 0 or -1. */
static int parse_duration_ms(const char *s, uint64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    if (strcmp(end, "ms") == 0)
        ;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        v *= 1000.0;
    else
        return -1;
    if (v < 1 || v > 86400000.0)
        return -1;
    *out = (uint64_t)(v + 0.5);
    return 0;
}

/* Split http://host[:port][/path] and resolve host. Returns 0 or -1 (logged). */
static int parse_upstream(fs_state *st, const char *route, const char *url)
{
    const ph_host_api *api = st->api;
    if (strncasecmp(url, "http://", 7) != 0) {
        api->log(NULL, PH_LOG_ERROR, "fetch_sync: route %s: upstream \"%s\" must start with http://",
                 route, url);
        return -1;
    }
    const char *auth = url + 7;
    size_t alen = strcspn(auth, "/?");
    if (alen == 0 || alen > 255 || memchr(auth, '@', alen) || auth[0] == '[') {
        api->log(NULL, PH_LOG_ERROR,
                 "fetch_sync: route %s: upstream \"%s\": host missing or unsupported (user info, "
                 "IPv6 literal)", route, url);
        return -1;
    }
    char host[256], port[8] = "80";
    memcpy(host, auth, alen);
    host[alen] = '\0';
    char *colon = strchr(host, ':');
    if (colon) {
        *colon = '\0';
        if (!colon[1] || strlen(colon + 1) > 5 || strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
            api->log(NULL, PH_LOG_ERROR, "fetch_sync: route %s: upstream \"%s\": bad port", route, url);
            return -1;
        }
        strcpy(port, colon + 1);
    }
    const char *path = auth + alen;
    st->hostport = strndup(auth, alen);
    st->path = strdup(*path == '/' ? path : "/");
    st->upstream = strdup(url);
    if (!st->hostport || !st->path || !st->upstream) {
        api->log(NULL, PH_LOG_ERROR, "fetch_sync: route %s: out of memory", route);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) {
        api->log(NULL, PH_LOG_ERROR, "fetch_sync: route %s: cannot resolve %s:%s: %s", route,
                 host, port, gai_strerror(rc));
        return -1;
    }
    memcpy(&st->addr, res->ai_addr, res->ai_addrlen);
    st->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void fs_free(fs_state *st)
{
    for (unsigned i = 0; i < st->nidle; i++)
        close(st->idle[i]);
    free(st->upstream);
    free(st->hostport);
    free(st->path);
    free(st);
}

/* Loop thread. Returns 0, or -1 with the reason logged. */
static int fs_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    const char *route = api->route_path(settings);
    const char *url = api->setting(settings, "upstream");
    const char *tmo = api->setting(settings, "timeout");
    uint64_t timeout_ms = FS_DEFAULT_TIMEOUT_MS;
    if (!url || !*url) {
        api->log(NULL, PH_LOG_ERROR, "fetch_sync: route %s: upstream is required", route);
        return -1;
    }
    if (tmo && parse_duration_ms(tmo, &timeout_ms) != 0) {
        api->log(NULL, PH_LOG_ERROR, "fetch_sync: route %s: timeout \"%s\" is not a duration",
                 route, tmo);
        return -1;
    }
    fs_state *st = calloc(1, sizeof *st);
    if (!st) {
        api->log(NULL, PH_LOG_ERROR, "fetch_sync: out of memory");
        return -1;
    }
    st->api = api;
    st->io_timeout.tv_sec = (time_t)(timeout_ms / 1000);
    st->io_timeout.tv_usec = (suseconds_t)((timeout_ms % 1000) * 1000);
    if (parse_upstream(st, route, url) != 0 || pthread_mutex_init(&st->lock, NULL) != 0) {
        fs_free(st);
        return -1;
    }
    *state = st;
    return 0;
}

static void fs_fini(void *state)
{
    fs_state *st = state;
    pthread_mutex_destroy(&st->lock);
    fs_free(st);
}

/* ------------------------------------------------------------- the pool */

static int pool_get(fs_state *st)
{
    int fd = -1;
    pthread_mutex_lock(&st->lock);
    if (st->nidle)
        fd = st->idle[--st->nidle];
    pthread_mutex_unlock(&st->lock);
    return fd;
}

static void pool_put(fs_state *st, int fd)
{
    pthread_mutex_lock(&st->lock);
    if (st->nidle < FS_MAX_IDLE) {
        st->idle[st->nidle++] = fd;
        fd = -1;
    }
    pthread_mutex_unlock(&st->lock);
    if (fd >= 0)
        close(fd);
}

static fs_err errno_kind(int e)
{
    if (e == EAGAIN || e == EWOULDBLOCK || e == ETIMEDOUT || e == EINPROGRESS)
        return FS_TIMEOUT;
    if (e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH)
        return FS_REFUSED;
    return FS_RESET;
}

/* A new blocking socket connected to the upstream, or -1 with *err set. */
static int connect_new(fs_state *st, fs_err *err)
{
    int fd = socket(st->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = FS_REFUSED;
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Linux applies SO_SNDTIMEO to connect() too */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &st->io_timeout, sizeof st->io_timeout);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &st->io_timeout, sizeof st->io_timeout);
    while (connect(fd, (struct sockaddr *)&st->addr, st->addrlen) != 0) {
        if (errno == EINTR)
            continue;
        *err = errno_kind(errno);
        close(fd);
        return -1;
    }
    return fd;
}

/* ------------------------------------------------------------- one exchange */

static int send_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read more into r->buf. Returns bytes read, 0 on EOF, -1 on error (errno). */
static ssize_t read_more(int fd, fs_resp *r)
{
    if (r->cap - r->len < 4096) {
        size_t ncap = r->cap ? r->cap * 2 : 8192;
        char *nb = realloc(r->buf, ncap);
        if (!nb) {
            errno = ENOMEM;
            return -1;
        }
        r->buf = nb;
        r->cap = ncap;
    }
    for (;;) {
        ssize_t n = recv(fd, r->buf + r->len, r->cap - r->len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            r->len += (size_t)n;
        return n;
    }
}

/* Case-insensitive search of a token in a comma list (Connection values). */
static bool has_token(const char *v, size_t vlen, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= vlen; i++) {
        if (strncasecmp(v + i, tok, tl) == 0)
            return true;
    }
    return false;
}

/* Parse status line and headers in r->buf[0..head_len). Sets status,
 * content type, keep_alive, *clen (-1 if absent), *chunked. 0 or -1. */
static int parse_head(fs_resp *r, size_t head_len, long long *clen, bool *chunked)
{
    const char *p = r->buf, *end = r->buf + head_len;
    if (head_len < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
        return -1;
    if (p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
        return -1;
    r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    r->keep_alive = p[7] == '1'; /* HTTP/1.1 default; 1.0 closes */
    *clen = -1;
    *chunked = false;
    const char *line = memchr(p, '\n', (size_t)(end - p));
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon) {
            size_t nlen = (size_t)(colon - line);
            const char *v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            size_t vlen = (size_t)(eol - v);
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
                char *e;
                char tmp[32];
                if (vlen == 0 || vlen >= sizeof tmp)
                    return -1;
                memcpy(tmp, v, vlen);
                tmp[vlen] = '\0';
                long long n = strtoll(tmp, &e, 10);
                if (*e || n < 0 || (*clen >= 0 && *clen != n))
                    return -1;
                *clen = n;
            } else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
                *chunked = true; /* anything but identity: not supported here */
            } else if (nlen == 10 && strncasecmp(line, "Connection", 10) == 0) {
                if (has_token(v, vlen, "close"))
                    r->keep_alive = false;
                else if (has_token(v, vlen, "keep-alive"))
                    r->keep_alive = true;
            } else if (nlen == 12 && strncasecmp(line, "Content-Type", 12) == 0 &&
                       vlen < sizeof r->content_type) {
                memcpy(r->content_type, v, vlen);
                r->content_type[vlen] = '\0';
            }
        }
        line = eol;
    }
    return 0;
}

/* Send the request on fd and read the whole response into r.
 * *got_any: some response byte arrived (a retry is then unsafe). */
static fs_err exchange(int fd, const char *req, size_t req_len, fs_resp *r, bool *got_any)
{
    *got_any = false;
    if (send_all(fd, req, req_len) != 0)
        return errno_kind(errno);
    size_t head_len = 0;
    for (;;) {
        ssize_t n = read_more(fd, r);
        if (n < 0)
            return errno == ENOMEM ? FS_NOMEM : errno_kind(errno);
        if (n == 0)
            return FS_RESET;
        *got_any = true;
        r->buf[r->len] = '\0';
        char *e = strstr(r->buf, "\r\n\r\n");
        if (e) {
            head_len = (size_t)(e - r->buf) + 4;
            break;
        }
        if (r->len > FS_MAX_HEAD)
            return FS_INVALID;
    }
    long long clen;
    bool chunked;
    if (parse_head(r, head_len, &clen, &chunked) != 0 || chunked || clen > (long long)FS_MAX_BODY)
        return FS_INVALID;
    r->body_off = head_len;
    bool no_body = r->status == 204 || r->status == 304 || r->status < 200;
    if (no_body)
        clen = 0;
    if (clen >= 0) {
        while (r->len - head_len < (size_t)clen) {
            ssize_t n = read_more(fd, r);
            if (n < 0)
                return errno == ENOMEM ? FS_NOMEM : errno_kind(errno);
            if (n == 0)
                return FS_RESET;
        }
        if (r->len - head_len > (size_t)clen)
            return FS_INVALID; /* extra bytes: we never pipeline */
        r->body_len = (size_t)clen;
    } else { /* close-delimited */
        r->keep_alive = false;
        for (;;) {
            ssize_t n = read_more(fd, r);
            if (n < 0)
                return errno == ENOMEM ? FS_NOMEM : errno_kind(errno);
            if (n == 0)
                break;
            if (r->len - head_len > FS_MAX_BODY)
                return FS_INVALID;
        }
        r->body_len = r->len - head_len;
    }
    return FS_OK;
}

/* ------------------------------------------------------------- handle */

static int answer_error(const ph_host_api *api, ph_request *req, int status, const char *msg)
{
    if (api->respond_error(req, status, msg) == 0)
        return PH_OK;
    return api->set_status(req, status) == 0 ? PH_OK : PH_ERROR;
}

/* Pool thread. Blocks for the whole upstream exchange. */
static int fs_handle(void *state, ph_request *req)
{
    fs_state *st = state;
    const ph_host_api *api = st->api;
    const char *query = api->query(req);
    size_t qlen = query ? strlen(query) : 0;
    size_t cap = strlen(st->path) + qlen + strlen(st->hostport) + 96;
    char stackbuf[512];
    char *reqbuf = cap <= sizeof stackbuf ? stackbuf : malloc(cap);
    if (!reqbuf)
        return answer_error(api, req, 500, "out of memory");
    int req_len = snprintf(reqbuf, cap, "GET %s%s%s HTTP/1.1\r\nHost: %s\r\nConnection: keep-alive\r\n\r\n",
                           st->path, qlen ? "?" : "", qlen ? query : "", st->hostport);

    fs_resp r = {0};
    fs_err err = FS_RESET;
    int fd = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        bool reused = false, got_any = false;
        fd = attempt == 0 ? pool_get(st) : -1;
        if (fd >= 0)
            reused = true;
        else if ((fd = connect_new(st, &err)) < 0)
            break;
        r.len = 0;
        r.status = 0;
        r.content_type[0] = '\0';
        err = exchange(fd, reqbuf, (size_t)req_len, &r, &got_any);
        if (err == FS_OK)
            break;
        close(fd);
        fd = -1;
        /* a stale keep-alive socket: retry once on a fresh one */
        if (!(reused && !got_any && (err == FS_RESET)))
            break;
    }
    if (reqbuf != stackbuf)
        free(reqbuf);

    int rc;
    if (err == FS_OK) {
        if (r.keep_alive)
            pool_put(st, fd);
        else
            close(fd);
        if (api->set_status(req, r.status) != 0) {
            rc = answer_error(api, req, 502, "bad gateway: invalid upstream status");
        } else {
            if (r.content_type[0])
                api->add_header(req, "Content-Type", r.content_type);
            rc = api->set_body(req, r.buf + r.body_off, r.body_len) == 0
                     ? PH_OK
                     : answer_error(api, req, 500, "out of memory");
        }
    } else {
        static const char *const why[] = {
            [FS_REFUSED] = "bad gateway: the upstream refused the connection",
            [FS_TIMEOUT] = "gateway timeout: the upstream did not answer in time",
            [FS_RESET] = "bad gateway: the upstream closed the connection mid-response",
            [FS_INVALID] = "bad gateway: invalid upstream response",
            [FS_NOMEM] = "out of memory",
        };
        int status = err == FS_TIMEOUT ? 504 : err == FS_NOMEM ? 500 : 502;
        api->log(req, PH_LOG_WARN, "fetch_sync: upstream %s failed: %s", st->upstream, why[err]);
        rc = answer_error(api, req, status, why[err]);
    }
    free(r.buf);
    return rc;
}

PH_PLUGIN_DECLARE("fetch_sync", "1.0.0", PH_MODE_SYNC, fs_init, fs_fini, fs_handle)
