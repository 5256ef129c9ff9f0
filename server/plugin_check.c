/* plugin_check.c - the throwaway plugin check: child and verdict. */
#include "plugin_check.h"

#include "generation.h"
#include "host_api.h"
#include "plugin_instance.h"
#include "plugin_loader.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Signals the parent handles through libevent: the child must not run
 * those handlers (they would write into the parent's signal pipe). */
static const int parent_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD, SIGPIPE};

static void say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int fd, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t ignored = write(fd, line, (size_t)n);
    (void)ignored;
}

/* Bound on a check's "describe" lines, all routes together. */
#define DESCRIBED_MAX (1024 * 1024)

/* `text` when a report can carry it (at most PH_CHECK_DESCRIBE_MAX bytes,
 * no control character), else "" (as if not declared). */
static const char *fit(const char *text)
{
    if (!text || strlen(text) > PH_CHECK_DESCRIBE_MAX)
        return "";
    for (const char *p = text; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return "";
    }
    return text;
}

/* Say what route `route`'s plugin declares for GET /openapi.json, when it
 * declares anything. */
static void say_describe(int out, size_t route, const ph_plugin *d)
{
    const char *summary = fit(PH_DESC_FIELD(d, summary));
    const char *request = fit(PH_DESC_FIELD(d, request_type));
    const char *response = fit(PH_DESC_FIELD(d, response_type));
    if (summary[0] || request[0] || response[0])
        say(out, "describe %zu %s\t%s\t%s", route, summary, request, response);
}

/* The child: check each route in turn, say which one before touching it
 * (a crash then names it); with `full` also build the whole generation
 * (route table included). Never returns. */
static void check_child(int out, ph_config *config, const size_t *routes, size_t n, bool full,
                        const ph_privileges *privileges, const char *copy_dir)
{
    for (size_t i = 0; i < sizeof parent_signals / sizeof parent_signals[0]; i++)
        signal(parent_signals[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, "plughost-check", 0, 0, 0);
    if (ph_priv_drop(privileges) < 0) {
        say(out, "fail %s: plugin check: cannot switch to user %s: %s", config->path, privileges->name,
            strerror(errno));
        _exit(1);
    }
    ph_loader_init_at(copy_dir);
    ph_host_api_set_loop_thread();
    for (size_t i = 0; i < n; i++) {
        const ph_route_conf *rc = &config->routes[routes[i]];
        char err[1536];
        say(out, "checking %zu", routes[i]);
        ph_plugin_lib *lib = ph_plugin_lib_load(rc->plugin_path, rc->plugin_source, err, sizeof err);
        ph_instance *inst = lib ? ph_instance_create(lib, rc, err, sizeof err) : NULL;
        if (!inst) {
            say(out, "fail %s:%d: route %s: %s", config->path, rc->line, rc->path, err);
            _exit(1);
        }
        say_describe(out, routes[i], lib->desc);
        ph_instance_unref(inst); /* runs fini */
        ph_plugin_lib_unref(lib);
    }
    if (full) {
        char err[2048];
        say(out, "checking all");
        ph_generation *gen = ph_generation_build(config, NULL, 1, err, sizeof err); /* takes config */
        if (!gen) {
            say(out, "fail %s", err);
            _exit(1);
        }
        ph_generation_unref(gen);
    }
    say(out, "ok");
    _exit(0);
}

int ph_check_start(ph_check *check, ph_config *config, const size_t *routes, size_t n, bool full,
                   const ph_privileges *privileges, char *err, size_t errlen)
{
    memset(check, 0, sizeof *check);
    check->pid = -1;
    check->report_fd = -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(check->copy_dir, sizeof check->copy_dir, "%s/plughost-check-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    int pipefd[2];
    if (!mkdtemp(check->copy_dir)) {
        snprintf(err, errlen, "cannot create a folder for the plugin check: %s", strerror(errno));
        return -1;
    }
    if (privileges->drop && chown(check->copy_dir, privileges->uid, privileges->gid) < 0) {
        snprintf(err, errlen, "cannot hand %s to user %s: %s", check->copy_dir, privileges->name, strerror(errno));
        rmdir(check->copy_dir);
        return -1;
    }
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "plugin check: %s", strerror(errno));
        rmdir(check->copy_dir);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        check_child(pipefd[1], config, routes, n, full, privileges, check->copy_dir);
    }
    close(pipefd[1]);
    if (pid < 0) {
        snprintf(err, errlen, "plugin check: cannot fork: %s", strerror(errno));
        close(pipefd[0]);
        rmdir(check->copy_dir);
        return -1;
    }
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    check->pid = pid;
    check->report_fd = pipefd[0];
    return 0;
}

/* One whole line of the child's report (check->line, newline excluded):
 * "describe" lines into check->described (dropped beyond DESCRIBED_MAX),
 * the others into check->report (truncated when full), so that many
 * routes' declarations never push the verdict out. */
static void take_line(ph_check *check)
{
    const char *line = check->line;
    size_t len = check->line_len;
    check->line_len = 0;
    if (len >= 9 && strncmp(line, "describe ", 9) == 0) {
        if (check->described_len + len + 2 > DESCRIBED_MAX)
            return;
        char *grown = realloc(check->described, check->described_len + len + 2);
        if (!grown)
            return;
        check->described = grown;
        memcpy(grown + check->described_len, line, len);
        check->described_len += len;
        grown[check->described_len++] = '\n';
        grown[check->described_len] = '\0';
        return;
    }
    for (size_t i = 0; i <= len && check->report_len < sizeof check->report - 1; i++)
        check->report[check->report_len++] = i < len ? line[i] : '\n';
    check->report[check->report_len] = '\0';
}

int ph_check_read(ph_check *check)
{
    if (check->report_fd < 0)
        return 1;
    for (;;) {
        char buf[1024];
        ssize_t got = read(check->report_fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return 0; /* EAGAIN */
        if (got == 0) {
            if (check->line_len > 0)
                take_line(check); /* a last line without its newline */
            close(check->report_fd);
            check->report_fd = -1;
            return 1;
        }
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] == '\n')
                take_line(check);
            else if (check->line_len < sizeof check->line - 1)
                check->line[check->line_len++] = buf[i];
        }
        check->line[check->line_len] = '\0';
    }
}

int ph_check_parse_describe(const char *line, size_t *route, ph_check_describe *out)
{
    if (strncmp(line, "describe ", 9) != 0 || !isdigit((unsigned char)line[9]))
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long idx = strtoull(line + 9, &end, 10);
    if (errno != 0 || *end != ' ')
        return -1;
    const char *p = end + 1;
    char *fields[3] = {out->summary, out->request_type, out->response_type};
    for (int i = 0; i < 3; i++) {
        size_t len = strcspn(p, "\t\n");
        bool ok = len <= PH_CHECK_DESCRIBE_MAX;
        for (size_t j = 0; ok && j < len; j++)
            ok = (unsigned char)p[j] >= 0x20 && p[j] != 0x7f;
        if (ok)
            memcpy(fields[i], p, len);
        fields[i][ok ? len : 0] = '\0';
        p += len;
        if (i < 2 && *p++ != '\t')
            return -1;
    }
    if (*p != '\0' && *p != '\n')
        return -1;
    *route = (size_t)idx;
    return 0;
}

void ph_check_forget_described(ph_check *check)
{
    free(check->described);
    check->described = NULL;
    check->described_len = 0;
}

/* Hand each "describe" line of a passing check to on_describe. */
static void each_describe(const ph_check *check, const ph_config *config, ph_check_describe_fn on_describe, void *arg)
{
    for (const char *p = check->described; on_describe && p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t route = 0;
        ph_check_describe d;
        if (ph_check_parse_describe(p, &route, &d) == 0 && route < config->nroutes)
            on_describe(route, &d, arg);
        p = nl ? nl + 1 : p + strlen(p);
    }
}

/* The last line of the report starting with `word`, or NULL. */
static const char *last_line(const char *report, const char *word)
{
    const char *found = NULL;
    size_t wl = strlen(word);
    for (const char *p = report; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, word, wl) == 0)
            found = p;
    }
    return found;
}

/* Why a child that died by `sig` while loading probably died. */
static const char *signal_hint(int sig)
{
    switch (sig) {
    case SIGBUS: return " (truncated file?)";
    case SIGSEGV: return " (a crash in its constructor, init() or fini())";
    case SIGABRT: return " (abort() in its constructor, init() or fini())";
    default: return "";
    }
}

int ph_check_finish(ph_check *check, const ph_config *config, int timed_out, ph_check_describe_fn on_describe,
                    void *arg, char *err, size_t errlen)
{
    ph_loader_remove_dir(check->copy_dir);
    int status = check->wait_status;
    const char *fail = last_line(check->report, "fail ");
    const char *checking = last_line(check->report, "checking ");
    if (!timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0 && last_line(check->report, "ok")) {
        each_describe(check, config, on_describe, arg);
        ph_check_forget_described(check);
        return 0;
    }
    ph_check_forget_described(check);
    if (fail) {
        snprintf(err, errlen, "%.*s", (int)strcspn(fail + 5, "\n"), fail + 5);
        return -1;
    }
    size_t idx = 0;
    const ph_route_conf *rc = checking && sscanf(checking, "checking %zu", &idx) == 1 && idx < config->nroutes
                                  ? &config->routes[idx]
                                  : NULL;
    char what[128];
    if (timed_out)
        snprintf(what, sizeof what, "did not finish loading within %llu ms (load_timeout); stopped",
                 (unsigned long long)config->server.load_timeout_ms);
    else if (WIFSIGNALED(status))
        snprintf(what, sizeof what, "killed by SIG%s while loading%s",
                 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?",
                 signal_hint(WTERMSIG(status)));
    else
        snprintf(what, sizeof what, "the check exited with status %d while loading",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (rc)
        snprintf(err, errlen, "%s:%d: route %s: %s: %s", config->path, rc->line, rc->path, rc->plugin_path, what);
    else
        snprintf(err, errlen, "%s: plugin check: %s", config->path, what);
    return -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ph_check_run(ph_config *config, const size_t *routes, size_t n, bool full, const ph_privileges *privileges,
                 ph_check_describe_fn on_describe, void *arg, char *err, size_t errlen)
{
    ph_check check;
    if (ph_check_start(&check, config, routes, n, full, privileges, err, errlen) < 0)
        return -1;
    double deadline = now_s() + (double)config->server.load_timeout_ms / 1000.0;
    int timed_out = 0;
    while (!ph_check_read(&check)) {
        int left = (int)((deadline - now_s()) * 1000);
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd pfd = {.fd = check.report_fd, .events = POLLIN};
        poll(&pfd, 1, left);
    }
    if (timed_out)
        kill(check.pid, SIGKILL);
    while (waitpid(check.pid, &check.wait_status, 0) < 0 && errno == EINTR)
        ;
    check.pid = -1;
    ph_check_read(&check);
    if (check.report_fd >= 0)
        close(check.report_fd);
    return ph_check_finish(&check, config, timed_out, on_describe, arg, err, errlen);
}
