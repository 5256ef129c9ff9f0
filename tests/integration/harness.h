/*
 * harness.h - the integration-test kit: run the real plughost binary on
 * 127.0.0.1 with an ephemeral port and talk raw HTTP to it over sockets.
 *
 * Every wait in here is bounded (poll() timeouts, bounded waitpid loops), so
 * no test can hang; a failed bound fails the current cmocka test. Servers,
 * connections and temporary folders are registered and released by
 * it_teardown(), which each test uses as its cmocka teardown, so a failing
 * assertion never leaves a server process behind (the server also gets
 * PR_SET_PDEATHSIG, in case the test process itself dies).
 *
 * Single-threaded: call everything from the test's thread.
 */
#ifndef PLUGHOST_IT_HARNESS_H
#define PLUGHOST_IT_HARNESS_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* cmocka needs these before its header. */
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#ifndef PLUGHOST_BIN
#error "PLUGHOST_BIN must name the plughost binary"
#endif
#ifndef PLUGIN_DIR
#error "PLUGIN_DIR must name the bundled plugin folder"
#endif
#ifndef TEST_PLUGIN_DIR
#error "TEST_PLUGIN_DIR must name the test plugin folder"
#endif

/* Default bound for waits that should be quick (start, stop, one response). */
#define IT_WAIT_MS 10000

/* The four bundled routes, with 0.3 s sleeps. */
#define IT_ROUTES_STD                                                         \
    "[route /hello]\nplugin = hello\nmethods = GET\n\n"                       \
    "[route /echo]\nplugin = echo\nmethods = POST\n\n"                        \
    "[route /sync]\nplugin = sleep_sync\nmethods = GET\nseconds = 0.3\n\n"    \
    "[route /async]\nplugin = sleep_async\nmethods = GET\nseconds = 0.3\n\n"

/* ------------------------------------------------------------------ */
/* time and files                                                      */

/* Monotonic clock in seconds. */
double it_now(void);
/* Sleep for `ms` milliseconds. */
void it_sleep_ms(int ms);
/* Whole file as a NUL-terminated malloc'd string (caller frees), or NULL. */
char *it_read_file(const char *path);

/* The pid of the supervisor `supervisor`'s first child (with workers = 1,
 * its worker), waiting up to 5 s for it; fails the test when there is none. */
pid_t it_worker_pid(pid_t supervisor);
/* Write `text` to `path` (truncating). Fails the test on error. */
void it_write_file(const char *path, const char *text);
/* A fresh mkdtemp folder, removed with its contents by it_teardown(). The
 * returned string is owned by the harness. */
const char *it_tempdir(void);

/* ------------------------------------------------------------------ */
/* the server process                                                   */

typedef struct it_server {
    pid_t pid;                 /* > 0 while running, -1 once reaped */
    int port;                  /* the port from the "listening on" line */
    int wait_status;           /* raw waitpid status once reaped */
    char dir[PATH_MAX];        /* mkdtemp folder holding server.ini and the log */
    char plugin_dir[PATH_MAX]; /* <dir>/plugins, for it_server_add_plugin */
    char ini_path[PATH_MAX];   /* <dir>/server.ini */
    char log_path[PATH_MAX];   /* <dir>/server.log: the server's stdout+stderr */
} it_server;

/* A new server record with its own temp folder; nothing is started. */
it_server *it_server_new(void);
/* Copy plugin `name`.so from the bundled or the test plugin folder into
 * s->plugin_dir (created on first use). Fails the test if it is in neither. */
void it_server_add_plugin(it_server *s, const char *name);
/* Write s->ini_path from a printf format. */
void it_server_write_ini(it_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Start `plughost -c <ini>` and wait (bounded) for "listening on
 * 127.0.0.1:PORT" in its log; fills s->port. Fails the test (printing the
 * log) if the server exits or does not get ready in time. */
void it_server_start(it_server *s);
/* The same with `plughost -l LISTEN` (NULL: none). */
void it_server_start_with(it_server *s, const char *listen);

/* The common case: a server whose ini is
 *   [server] listen = 127.0.0.1:0, workers = 1, plugin_dir = PLUGIN_DIR,
 *   watch = false, then `server_keys` (more [server] lines, may be ""),
 *   then `routes` (route sections),
 * started and ready. */
it_server *it_start(const char *server_keys, const char *routes);

/* Send `sig` and wait up to `timeout_ms` for the exit. Returns the raw wait
 * status, or -1 if it did not exit (it is then killed with SIGKILL). */
int it_server_signal_wait(it_server *s, int sig, int timeout_ms);
/* SIGTERM, then assert the server exits with status 0 within IT_WAIT_MS
 * (prints the log on failure; under ASan a leak report makes it non-zero). */
void it_server_stop(it_server *s);
/* True if the server log contains `needle` within `timeout_ms`. */
bool it_server_log_wait(it_server *s, const char *needle, int timeout_ms);
/* How many times `needle` occurs in the server log now. */
int it_server_log_count(it_server *s, const char *needle);
/* Print the server log to stderr (for failure context). */
void it_server_dump_log(it_server *s);

/* Run PLUGHOST_BIN with `args` (NULL-terminated, without argv[0]), stdout
 * and stderr captured together, bounded by `timeout_ms`. Returns the exit
 * status (0..255), or -1 if it was killed by a signal or timed out; stores
 * the captured output (malloc'd) in *output when output is not NULL. */
int it_run(const char *const args[], int timeout_ms, char **output);

/* ------------------------------------------------------------------ */
/* raw HTTP client                                                     */

#define IT_MAX_HEADERS 64

typedef struct it_header {
    char *name;
    char *value;
} it_header;

typedef struct it_response {
    int status;                /* e.g. 200; 0 when nothing was parsed */
    int minor_version;         /* HTTP/1.<minor> */
    char *head;                /* owned copy of the status line + headers */
    size_t nheaders;
    it_header headers[IT_MAX_HEADERS]; /* point into `head` */
    char *body;                /* owned, NUL-terminated (chunked: decoded) */
    size_t body_len;
    size_t wire_len;           /* bytes the response took on the wire */
} it_response;

typedef struct it_conn {
    int fd;
    char *buf; /* received, not yet parsed bytes */
    size_t len, cap;
    bool eof;  /* the peer closed (FIN or RST) */
} it_conn;

/* Return codes of the readers. */
enum {
    IT_OK = 0,
    IT_TIMEOUT = -1, /* nothing complete within the timeout */
    IT_CLOSED = -2,  /* the peer closed before a full response */
    IT_BAD = -3,     /* the bytes are not a valid HTTP/1.x response */
};

/* Connect to 127.0.0.1:port; fails the test on error. */
it_conn *it_connect(int port);
/* Same, but returns NULL (errno set) instead of failing. */
it_conn *it_try_connect(int port);
/* Send all bytes (bounded). Returns 0, or -1 if the peer closed/reset. */
int it_send(it_conn *c, const void *data, size_t len);
int it_send_str(it_conn *c, const char *s);
/* Read one response. `head`: it answers a HEAD request (no body).
 * Returns IT_OK or a negative IT_* code. */
int it_recv(it_conn *c, it_response *r, bool head, int timeout_ms);
/* Non-blocking step: read what is there and try to complete a response.
 * Returns 1 when *r is complete, 0 when more is needed, or IT_CLOSED/IT_BAD. */
int it_recv_step(it_conn *c, it_response *r, bool head);
/* Wait until the peer closes. Returns true if it did within `timeout_ms`;
 * bytes received meanwhile (after what was already buffered) are discarded
 * and counted into *extra (may be NULL). */
bool it_wait_closed(it_conn *c, int timeout_ms, size_t *extra);
/* Close and free (also done by it_teardown for connections left open). */
void it_conn_close(it_conn *c);
/* Close abortively (SO_LINGER 0: the server sees a reset, not a FIN that
 * could be a half-close still waiting for its answers) and free. */
void it_conn_reset(it_conn *c);

/* One request on a fresh connection; returns the it_recv code. */
int it_request(int port, const char *raw, it_response *r, bool head);

/* First value of header `name` (case-insensitive), or NULL. */
const char *it_header_get(const it_response *r, const char *name);
/* Release what it_recv allocated; safe on a zeroed response. */
void it_response_free(it_response *r);

/* Open `n` connections to `port`, send `request` on each, then wait for all
 * responses (bounded by `timeout_ms` in total). resps[i] and rcs[i] get
 * each outcome (IT_OK or a negative code); done_at[i] (may be NULL) the
 * seconds from the start to that response. Returns the seconds from the
 * first connect to the last response. */
double it_concurrent(int port, const char *request, int n, it_response *resps,
                     int *rcs, double *done_at, int timeout_ms);

/* ------------------------------------------------------------------ */
/* cmocka glue                                                         */

/* Teardown for every test: kill servers still running, close connections,
 * remove temp folders. Always returns 0. */
int it_teardown(void **state);

/* Ignore SIGPIPE; call once from main(). */
void it_init(void);

/* For tests that crash servers on purpose: servers started from now on
 * die by their own SIGSEGV, SIGBUS and SIGABRT (under ASan, its handlers
 * are turned off for them, keeping the other ASAN_OPTIONS). */
void it_servers_keep_their_fatal_signals(void);

/* A test upstream on 127.0.0.1: a thread accepts on an ephemeral port
 * (`port`) and runs serve(fd) for each connection on a detached thread of
 * its own; serve closes fd and returns soon after it_upstream_stopping(). */
typedef struct it_upstream {
    int listen_fd;
    int port;
    atomic_bool stop;
    atomic_int serving; /* connection threads not yet returned */
    pthread_t acceptor;
    void (*serve)(int fd);
} it_upstream;

/* Listen on 127.0.0.1 (with `backlog`) and start accepting; fails the
 * test if it cannot. */
void it_upstream_start(it_upstream *u, void (*serve)(int fd), int backlog);

/* The same on ::1. Returns false (nothing started) when this machine has
 * no IPv6 loopback. */
bool it_upstream_start_ipv6(it_upstream *u, void (*serve)(int fd), int backlog);

/* True once it_upstream_stop was called: connection threads finish. */
bool it_upstream_stopping(it_upstream *u);

/* A connection thread's reader: until buf (`*len` bytes held, room for
 * `cap` - 1 and a NUL) holds a whole request head, read more from `fd`.
 * Returns the head's length through its blank line (the bytes after it
 * stay in buf), or 0 when the peer closed, buf is full or the upstream
 * is stopping. */
size_t it_upstream_read_head(it_upstream *u, int fd, char *buf, size_t cap, size_t *len);

/* Stop accepting, join the acceptor, close the listener and wait (up to
 * 10 s, else the test fails) until every connection thread has returned:
 * after it, no thread of this upstream touches the test's state. */
void it_upstream_stop(it_upstream *u);

#define IT_TEST(f) cmocka_unit_test_teardown(f, it_teardown)

/* Assert that `haystack` contains `needle`, printing both otherwise. */
#define it_assert_contains(haystack, needle)                                  \
    it_assert_contains_impl((haystack), (needle), __FILE__, __LINE__)
void it_assert_contains_impl(const char *haystack, const char *needle, const char *file,
                             int line);

/* Assert a response's status, printing it in decimal with the response head. */
#define it_assert_status(resp, want)                                          \
    it_assert_status_impl((resp), (want), __FILE__, __LINE__)
void it_assert_status_impl(const it_response *r, int want, const char *file, int line);

#endif /* PLUGHOST_IT_HARNESS_H */
