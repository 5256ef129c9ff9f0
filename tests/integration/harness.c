/*
 * harness.c - see harness.h. Process control for the plughost binary, a raw
 * HTTP/1.x response reader over sockets, and the cleanup registry.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* registry: what it_teardown releases                                 */

#define IT_MAX_TRACKED 256

static it_server *g_servers[IT_MAX_TRACKED];
static size_t g_nservers;
static it_conn *g_conns[IT_MAX_TRACKED];
static size_t g_nconns;
static char *g_dirs[IT_MAX_TRACKED];
static size_t g_ndirs;

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    assert_non_null(p);
    return p;
}

static void track_conn(it_conn *c)
{
    for (size_t i = 0; i < g_nconns; i++)
        if (g_conns[i] == NULL) {
            g_conns[i] = c;
            return;
        }
    assert_true(g_nconns < IT_MAX_TRACKED);
    g_conns[g_nconns++] = c;
}

static void untrack_conn(it_conn *c)
{
    for (size_t i = 0; i < g_nconns; i++)
        if (g_conns[i] == c)
            g_conns[i] = NULL;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

int it_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < g_nservers; i++) {
        it_server *s = g_servers[i];
        if (s->pid > 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            s->pid = -1;
        }
        free(s);
    }
    g_nservers = 0;
    for (size_t i = 0; i < g_nconns; i++) {
        if (g_conns[i] != NULL) {
            close(g_conns[i]->fd);
            free(g_conns[i]->buf);
            free(g_conns[i]);
        }
    }
    g_nconns = 0;
    for (size_t i = 0; i < g_ndirs; i++) {
        nftw(g_dirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(g_dirs[i]);
    }
    g_ndirs = 0;
    return 0;
}

void it_init(void)
{
    signal(SIGPIPE, SIG_IGN);
}

void it_servers_keep_their_fatal_signals(void)
{
    const char *asan = getenv("ASAN_OPTIONS");
    char opts[512];
    snprintf(opts, sizeof opts, "%s%shandle_segv=0:handle_sigbus=0:handle_abort=0", asan ? asan : "",
             asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
}

int it_server_log_count(it_server *s, const char *needle)
{
    char *log = it_read_file(s->log_path);
    int n = 0;
    for (const char *p = log; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(log);
    return n;
}

void it_assert_contains_impl(const char *haystack, const char *needle, const char *file,
                             int line)
{
    if (haystack != NULL && strstr(haystack, needle) != NULL)
        return;
    print_error("expected to find \"%s\" in:\n---\n%s\n---\n", needle,
                haystack ? haystack : "(null)");
    _fail(file, line);
}

void it_assert_status_impl(const it_response *r, int want, const char *file, int line)
{
    if (r->status == want)
        return;
    print_error("status %d, expected %d; response head:\n%s\nbody (%zu bytes): %.200s\n",
                r->status, want, r->head ? r->head : "(none)", r->body_len,
                r->body ? r->body : "");
    _fail(file, line);
}

/* ------------------------------------------------------------------ */
/* time and files                                                      */

double it_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void it_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

char *it_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        fclose(f);
        return NULL;
    }
    for (;;) {
        if (cap - len < 2048) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

pid_t it_worker_pid(pid_t supervisor)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)supervisor, (int)supervisor);
    for (int tries = 0; tries < 100; tries++) {
        char *kids = it_read_file(path);
        long pid = kids ? strtol(kids, NULL, 10) : 0;
        free(kids);
        if (pid > 0)
            return (pid_t)pid;
        it_sleep_ms(50);
    }
    fail_msg("the supervisor %d has no worker", (int)supervisor);
    return -1;
}

void it_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        print_error("cannot write %s: %s\n", path, strerror(errno));
        fail();
    }
    size_t len = strlen(text);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

const char *it_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == '\0')
        base = "/tmp";
    char tmpl[PATH_MAX];
    snprintf(tmpl, sizeof tmpl, "%s/plughost-it-XXXXXX", base);
    char *dir = mkdtemp(tmpl);
    if (dir == NULL) {
        print_error("mkdtemp(%s): %s\n", tmpl, strerror(errno));
        fail();
    }
    assert_true(g_ndirs < IT_MAX_TRACKED);
    char *copy = strdup(dir);
    assert_non_null(copy);
    g_dirs[g_ndirs++] = copy;
    return copy;
}

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            rc = -1;
            break;
        }
    }
    if (n < 0)
        rc = -1;
    close(in);
    if (close(out) != 0)
        rc = -1;
    return rc;
}

/* ------------------------------------------------------------------ */
/* the server process                                                   */

it_server *it_server_new(void)
{
    assert_true(g_nservers < IT_MAX_TRACKED);
    it_server *s = xcalloc(1, sizeof *s);
    s->pid = -1;
    const char *dir = it_tempdir();
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->plugin_dir, sizeof s->plugin_dir, "%s/plugins", dir);
    snprintf(s->ini_path, sizeof s->ini_path, "%s/server.ini", dir);
    snprintf(s->log_path, sizeof s->log_path, "%s/server.log", dir);
    g_servers[g_nservers++] = s;
    return s;
}

void it_server_add_plugin(it_server *s, const char *name)
{
    if (mkdir(s->plugin_dir, 0755) != 0 && errno != EEXIST) {
        print_error("mkdir %s: %s\n", s->plugin_dir, strerror(errno));
        fail();
    }
    char to[PATH_MAX + 64], from[PATH_MAX + 64];
    snprintf(to, sizeof to, "%s/%s.so", s->plugin_dir, name);
    const char *dirs[] = {PLUGIN_DIR, TEST_PLUGIN_DIR};
    for (size_t i = 0; i < 2; i++) {
        snprintf(from, sizeof from, "%s/%s.so", dirs[i], name);
        if (access(from, R_OK) == 0) {
            if (copy_file(from, to) != 0) {
                print_error("copy %s -> %s: %s\n", from, to, strerror(errno));
                fail();
            }
            return;
        }
    }
    print_error("plugin %s.so is in neither %s nor %s\n", name, PLUGIN_DIR, TEST_PLUGIN_DIR);
    fail();
}

void it_server_write_ini(it_server *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    it_write_file(s->ini_path, text);
    free(text);
}

void it_server_dump_log(it_server *s)
{
    char *log = it_read_file(s->log_path);
    /* whole, with stdio: cmocka's print_error cuts long text short */
    fflush(stdout);
    fprintf(stderr, "---- server log (%s) ----\n%s\n---- end of log ----\n", s->log_path,
            log ? log : "(unreadable)");
    fflush(stderr);
    free(log);
}

/* fork + exec PLUGHOST_BIN with argv, stdout and stderr to `out_path`. */
static pid_t spawn(const char *const argv[], const char *out_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Die with the test process, whatever happens to it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (out < 0 || in < 0)
            _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        signal(SIGPIPE, SIG_DFL);
        execv(PLUGHOST_BIN, (char *const *)argv);
        dprintf(2, "exec %s: %s\n", PLUGHOST_BIN, strerror(errno));
        _exit(127);
    }
    return pid;
}

/* Wait up to timeout_ms for pid; returns the wait status or -1. */
static int wait_bounded(pid_t pid, int timeout_ms)
{
    double deadline = it_now() + timeout_ms / 1000.0;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (it_now() > deadline)
            return -1;
        it_sleep_ms(5);
    }
}

static int parse_port(const char *log)
{
    const char *key = "listening on 127.0.0.1:";
    const char *p = log ? strstr(log, key) : NULL;
    if (p == NULL)
        return 0;
    p += strlen(key);
    char *end;
    long port = strtol(p, &end, 10);
    if (end == p || port <= 0 || port > 65535)
        return 0;
    return (int)port;
}

void it_server_start(it_server *s) { it_server_start_with(s, NULL); }

void it_server_start_with(it_server *s, const char *listen)
{
    const char *argv[] = {"plughost", "-c", s->ini_path, listen ? "-l" : NULL, listen, NULL};
    s->pid = spawn(argv, s->log_path);
    double deadline = it_now() + IT_WAIT_MS / 1000.0;
    for (;;) {
        char *log = it_read_file(s->log_path);
        int port = parse_port(log);
        free(log);
        if (port > 0) {
            s->port = port;
            return;
        }
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = -1;
            s->wait_status = status;
            print_error("plughost exited before listening (status 0x%x)\n", status);
            it_server_dump_log(s);
            fail();
        }
        if (it_now() > deadline) {
            print_error("plughost did not log 'listening on' within %d ms\n", IT_WAIT_MS);
            it_server_dump_log(s);
            fail();
        }
        it_sleep_ms(10);
    }
}

it_server *it_start(const char *server_keys, const char *routes)
{
    it_server *s = it_server_new();
    it_server_write_ini(s,
                        "[server]\n"
                        "listen = 127.0.0.1:0\n"
                        "workers = 1\n"
                        "plugin_dir = %s\n"
                        "watch = false\n"
                        "%s\n"
                        "%s",
                        PLUGIN_DIR, server_keys, routes);
    it_server_start(s);
    return s;
}

int it_server_signal_wait(it_server *s, int sig, int timeout_ms)
{
    assert_true(s->pid > 0);
    kill(s->pid, sig);
    int status = wait_bounded(s->pid, timeout_ms);
    if (status == -1) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = -1;
        return -1;
    }
    s->pid = -1;
    s->wait_status = status;
    return status;
}

void it_server_stop(it_server *s)
{
    int status = it_server_signal_wait(s, SIGTERM, IT_WAIT_MS);
    if (status == -1) {
        print_error("plughost did not exit within %d ms of SIGTERM (killed)\n", IT_WAIT_MS);
        it_server_dump_log(s);
        fail();
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFSIGNALED(status))
            print_error("plughost died of signal %d after SIGTERM\n", WTERMSIG(status));
        else
            print_error("plughost exited with status %d after SIGTERM\n", WEXITSTATUS(status));
        it_server_dump_log(s);
        fail();
    }
}

bool it_server_log_wait(it_server *s, const char *needle, int timeout_ms)
{
    double deadline = it_now() + timeout_ms / 1000.0;
    for (;;) {
        char *log = it_read_file(s->log_path);
        bool found = log != NULL && strstr(log, needle) != NULL;
        free(log);
        if (found)
            return true;
        if (it_now() > deadline)
            return false;
        it_sleep_ms(10);
    }
}

int it_run(const char *const args[], int timeout_ms, char **output)
{
    const char *dir = it_tempdir();
    char out_path[PATH_MAX + 16];
    snprintf(out_path, sizeof out_path, "%s/output", dir);
    const char *argv[32];
    size_t n = 0;
    argv[n++] = "plughost";
    for (size_t i = 0; args[i] != NULL; i++) {
        assert_true(n < 31);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    pid_t pid = spawn(argv, out_path);
    int status = wait_bounded(pid, timeout_ms);
    if (status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (output != NULL)
        *output = it_read_file(out_path);
    if (status == -1 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* ------------------------------------------------------------------ */
/* raw HTTP client                                                     */

it_conn *it_try_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Bound every blocking send. */
    struct timeval tv = {IT_WAIT_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    it_conn *c = xcalloc(1, sizeof *c);
    c->fd = fd;
    track_conn(c);
    return c;
}

it_conn *it_connect(int port)
{
    it_conn *c = it_try_connect(port);
    if (c == NULL) {
        print_error("connect 127.0.0.1:%d: %s\n", port, strerror(errno));
        fail();
    }
    return c;
}

int it_send(it_conn *c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int it_send_str(it_conn *c, const char *s)
{
    return it_send(c, s, strlen(s));
}

void it_conn_close(it_conn *c)
{
    if (c == NULL)
        return;
    untrack_conn(c);
    close(c->fd);
    free(c->buf);
    free(c);
}

void it_conn_reset(it_conn *c)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    it_conn_close(c);
}

void it_response_free(it_response *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

const char *it_header_get(const it_response *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

/* Read what is available without blocking. Returns bytes read, 0 when
 * nothing was there, and sets c->eof on FIN/RST. */
static size_t fill(it_conn *c)
{
    size_t total = 0;
    for (;;) {
        if (c->cap - c->len < 16384) {
            size_t ncap = c->cap ? c->cap * 2 : 65536;
            char *nb = realloc(c->buf, ncap);
            assert_non_null(nb);
            c->buf = nb;
            c->cap = ncap;
        }
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, MSG_DONTWAIT);
        if (n > 0) {
            c->len += (size_t)n;
            total += (size_t)n;
            continue;
        }
        if (n == 0) {
            c->eof = true;
            return total;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            c->eof = true; /* ECONNRESET and friends */
        return total;
    }
}

static const char *find_crlf(const char *p, const char *end)
{
    for (; p + 1 < end; p++)
        if (p[0] == '\r' && p[1] == '\n')
            return p;
    return NULL;
}

static bool has_token(const char *value, const char *token)
{
    return value != NULL && strcasestr(value, token) != NULL;
}

/*
 * Try to parse one response at the start of buf. Returns the bytes it took
 * (> 0) with *r filled, 0 when more bytes are needed, IT_BAD when the bytes
 * are not a response, IT_CLOSED when eof came before its end.
 */
static long parse_response(const char *buf, size_t len, bool eof, bool head, it_response *r)
{
    const char *end = buf + len;
    const char *hend = memmem(buf, len, "\r\n\r\n", 4);
    if (hend == NULL) {
        if (len >= 7 && strncmp(buf, "HTTP/1.", 7) != 0)
            return IT_BAD;
        return eof ? (len ? IT_BAD : IT_CLOSED) : 0;
    }
    size_t hlen = (size_t)(hend - buf) + 4;

    it_response tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.head = malloc(hlen + 1);
    assert_non_null(tmp.head);
    memcpy(tmp.head, buf, hlen);
    tmp.head[hlen] = '\0';

    /* status line: HTTP/1.x SSS[ reason] */
    char *line = tmp.head;
    char *eol = strstr(line, "\r\n");
    *eol = '\0';
    if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
        strlen(line) < 12 || (line[12] != '\0' && line[12] != ' ')) {
        free(tmp.head);
        return IT_BAD;
    }
    tmp.minor_version = line[7] - '0';
    for (int i = 9; i < 12; i++)
        if (line[i] < '0' || line[i] > '9') {
            free(tmp.head);
            return IT_BAD;
        }
    tmp.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');

    /* headers */
    line = eol + 2;
    while (*line != '\r' && *line != '\0') {
        eol = strstr(line, "\r\n");
        *eol = '\0';
        char *colon = strchr(line, ':');
        if (colon == NULL || colon == line || tmp.nheaders == IT_MAX_HEADERS) {
            free(tmp.head);
            return IT_BAD;
        }
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        char *ve = v + strlen(v);
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            *--ve = '\0';
        tmp.headers[tmp.nheaders].name = line;
        tmp.headers[tmp.nheaders].value = v;
        tmp.nheaders++;
        line = eol + 2;
    }

    const char *p = buf + hlen;
    size_t body_len = 0;
    char *body = NULL;
    const char *te = it_header_get(&tmp, "Transfer-Encoding");
    const char *cl = it_header_get(&tmp, "Content-Length");
    if (head || tmp.status / 100 == 1 || tmp.status == 204 || tmp.status == 304) {
        body = malloc(1);
        assert_non_null(body);
    } else if (has_token(te, "chunked")) {
        size_t cap = 256;
        body = malloc(cap);
        assert_non_null(body);
        for (;;) {
            const char *le = find_crlf(p, end);
            if (le == NULL)
                goto incomplete;
            char *hx_end;
            unsigned long size = strtoul(p, &hx_end, 16);
            if (hx_end == p) {
                free(body);
                free(tmp.head);
                return IT_BAD;
            }
            p = le + 2;
            if (size == 0) {
                /* trailers, then the empty line */
                for (;;) {
                    le = find_crlf(p, end);
                    if (le == NULL)
                        goto incomplete;
                    const char *was = p;
                    p = le + 2;
                    if (le == was)
                        break;
                }
                break;
            }
            if ((size_t)(end - p) < size + 2)
                goto incomplete;
            if (body_len + size + 1 > cap) {
                while (body_len + size + 1 > cap)
                    cap *= 2;
                char *nb = realloc(body, cap);
                assert_non_null(nb);
                body = nb;
            }
            memcpy(body + body_len, p, size);
            body_len += size;
            p += size + 2;
        }
    } else if (cl != NULL) {
        char *cle;
        unsigned long long n = strtoull(cl, &cle, 10);
        if (cle == cl || *cle != '\0') {
            free(tmp.head);
            return IT_BAD;
        }
        if ((size_t)(end - p) < n)
            goto incomplete;
        body = malloc(n + 1);
        assert_non_null(body);
        memcpy(body, p, n);
        body_len = n;
        p += n;
    } else {
        /* delimited by the close */
        if (!eof)
            goto incomplete;
        body_len = (size_t)(end - p);
        body = malloc(body_len + 1);
        assert_non_null(body);
        memcpy(body, p, body_len);
        p = end;
    }
    body[body_len] = '\0';
    tmp.body = body;
    tmp.body_len = body_len;
    tmp.wire_len = (size_t)(p - buf);
    *r = tmp;
    return (long)tmp.wire_len;

incomplete:
    free(body);
    free(tmp.head);
    return eof ? IT_CLOSED : 0;
}

/* Parse from c's buffer; on success drop the bytes. Same codes as
 * it_recv_step. */
static int take(it_conn *c, it_response *r, bool head)
{
    if (c->len == 0)
        return c->eof ? IT_CLOSED : 0;
    long n = parse_response(c->buf, c->len, c->eof, head, r);
    if (n > 0) {
        memmove(c->buf, c->buf + n, c->len - (size_t)n);
        c->len -= (size_t)n;
        return 1;
    }
    return (int)n;
}

int it_recv_step(it_conn *c, it_response *r, bool head)
{
    int rc = take(c, r, head);
    if (rc != 0)
        return rc;
    fill(c);
    return take(c, r, head);
}

int it_recv(it_conn *c, it_response *r, bool head, int timeout_ms)
{
    memset(r, 0, sizeof *r);
    double deadline = it_now() + timeout_ms / 1000.0;
    for (;;) {
        int rc = it_recv_step(c, r, head);
        if (rc == 1)
            return IT_OK;
        if (rc < 0)
            return rc;
        int left = (int)((deadline - it_now()) * 1000.0);
        if (left <= 0)
            return IT_TIMEOUT;
        struct pollfd pfd = {c->fd, POLLIN, 0};
        poll(&pfd, 1, left);
    }
}

bool it_wait_closed(it_conn *c, int timeout_ms, size_t *extra)
{
    double deadline = it_now() + timeout_ms / 1000.0;
    size_t got = 0;
    for (;;) {
        size_t before = c->len;
        fill(c);
        got += c->len - before;
        c->len = before; /* discard */
        if (c->eof) {
            if (extra)
                *extra = got;
            return true;
        }
        int left = (int)((deadline - it_now()) * 1000.0);
        if (left <= 0) {
            if (extra)
                *extra = got;
            return false;
        }
        struct pollfd pfd = {c->fd, POLLIN, 0};
        poll(&pfd, 1, left);
    }
}

int it_request(int port, const char *raw, it_response *r, bool head)
{
    it_conn *c = it_connect(port);
    int rc = it_send_str(c, raw);
    if (rc == 0)
        rc = it_recv(c, r, head, IT_WAIT_MS);
    else
        memset(r, 0, sizeof *r);
    it_conn_close(c);
    return rc;
}

double it_concurrent(int port, const char *request, int n, it_response *resps, int *rcs,
                     double *done_at, int timeout_ms)
{
    it_conn **conns = xcalloc((size_t)n, sizeof *conns);
    double t0 = it_now();
    double deadline = t0 + timeout_ms / 1000.0;
    for (int i = 0; i < n; i++) {
        memset(&resps[i], 0, sizeof resps[i]);
        rcs[i] = IT_TIMEOUT;
        if (done_at)
            done_at[i] = -1;
        conns[i] = it_connect(port);
        /* a failed send still leaves any response to read */
        (void)it_send_str(conns[i], request);
    }
    double last = 0;
    struct pollfd *pfds = xcalloc((size_t)n, sizeof *pfds);
    for (;;) {
        int np = 0;
        for (int i = 0; i < n; i++) {
            if (rcs[i] != IT_TIMEOUT)
                continue;
            int rc = it_recv_step(conns[i], &resps[i], false);
            if (rc == 0) {
                pfds[np].fd = conns[i]->fd;
                pfds[np].events = POLLIN;
                pfds[np].revents = 0;
                np++;
                continue;
            }
            double t = it_now() - t0;
            rcs[i] = rc == 1 ? IT_OK : rc;
            if (done_at)
                done_at[i] = t;
            if (t > last)
                last = t;
        }
        if (np == 0)
            break;
        int left = (int)((deadline - it_now()) * 1000.0);
        if (left <= 0)
            break;
        poll(pfds, (nfds_t)np, left);
    }
    for (int i = 0; i < n; i++)
        it_conn_close(conns[i]);
    free(conns);
    free(pfds);
    return last;
}

/* ---- a test upstream ---- */

typedef struct upstream_conn {
    it_upstream *u;
    int fd;
} upstream_conn;

static void *upstream_conn_main(void *arg)
{
    upstream_conn c = *(upstream_conn *)arg;
    free(arg);
    c.u->serve(c.fd);
    atomic_fetch_sub(&c.u->serving, 1);
    return NULL;
}

static void *upstream_accept_main(void *arg)
{
    it_upstream *u = arg;
    while (!atomic_load(&u->stop)) {
        struct pollfd p = {u->listen_fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(u->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        upstream_conn *c = malloc(sizeof *c);
        pthread_t t;
        if (!c) {
            close(fd);
            continue;
        }
        *c = (upstream_conn){u, fd};
        atomic_fetch_add(&u->serving, 1);
        if (pthread_create(&t, NULL, upstream_conn_main, c) != 0) {
            atomic_fetch_sub(&u->serving, 1);
            free(c);
            close(fd);
        } else {
            pthread_detach(t);
        }
    }
    return NULL;
}

/* Start accepting on the bound, listening `fd` (its port into u->port). */
static void upstream_run(it_upstream *u, void (*serve)(int fd), int fd)
{
    u->serve = serve;
    u->listen_fd = fd;
    struct sockaddr_storage a;
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    u->port = ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
                                             : ((struct sockaddr_in *)&a)->sin_port);
    atomic_store(&u->stop, false);
    atomic_store(&u->serving, 0);
    assert_int_equal(pthread_create(&u->acceptor, NULL, upstream_accept_main, u), 0);
}

void it_upstream_start(it_upstream *u, void (*serve)(int fd), int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, backlog), 0);
    upstream_run(u, serve, fd);
}

bool it_upstream_start_ipv6(it_upstream *u, void (*serve)(int fd), int backlog)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, backlog) != 0) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    upstream_run(u, serve, fd);
    return true;
}

bool it_upstream_stopping(it_upstream *u) { return atomic_load(&u->stop); }

size_t it_upstream_read_head(it_upstream *u, int fd, char *buf, size_t cap, size_t *len)
{
    buf[*len] = '\0';
    for (;;) {
        char *end = strstr(buf, "\r\n\r\n");
        if (end)
            return (size_t)(end + 4 - buf);
        if (*len + 1 >= cap)
            return 0;
        struct pollfd p = {fd, POLLIN, 0};
        do {
            if (it_upstream_stopping(u))
                return 0;
        } while (poll(&p, 1, 100) <= 0);
        ssize_t n = read(fd, buf + *len, cap - 1 - *len);
        if (n <= 0)
            return 0;
        *len += (size_t)n;
        buf[*len] = '\0';
    }
}

void it_upstream_stop(it_upstream *u)
{
    atomic_store(&u->stop, true);
    pthread_join(u->acceptor, NULL);
    close(u->listen_fd);
    for (int waited_ms = 0; atomic_load(&u->serving) > 0; waited_ms += 10) {
        if (waited_ms >= 10000)
            fail_msg("test upstream: %d connection threads still running 10 s after stop", atomic_load(&u->serving));
        it_sleep_ms(10);
    }
}
