/* supervisor_upgrade.c - binary upgrade without a dropped connection, as
 * nginx does it: on SIGUSR2 the supervisor starts the binary found at its
 * own path with the same arguments, handing down the listening socket
 * (PH_UPGRADE_ENV); the new supervisor starts its workers on that socket
 * and, once all serve, writes one byte to a pipe; the old one then drains
 * its workers and exits. If the new binary fails, the old one keeps
 * serving. */
#include "log.h"
#include "supervisor.h"
#include "supervisor_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void close_pipe(ph_supervisor *sv)
{
    if (sv->upgrade_ev)
        event_free(sv->upgrade_ev);
    sv->upgrade_ev = NULL;
    if (sv->upgrade_pipe >= 0)
        close(sv->upgrade_pipe);
    sv->upgrade_pipe = -1;
}

static void on_upgrade_pipe(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    ph_supervisor *sv = arg;
    char byte = 0;
    ssize_t n = read(fd, &byte, 1);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    close_pipe(sv);
    if (n == 1 && byte == 'R') {
        ph_log_info("upgrade: the new binary (pid %d) serves; this supervisor drains and exits",
                    (int)sv->upgrade_pid);
        sv->upgrade_pid = -1; /* no longer ours to watch: it outlives us */
        ph_sup_stop(sv, "upgrade");
    }
    /* else it closed without serving: its exit is reported when reaped */
}

void ph_sup_upgrade(ph_supervisor *sv)
{
    if (sv->stopping || sv->upgrade_pid > 0 || sv->listen_fd < 0) {
        ph_log_warn("SIGUSR2: %s; ignored", sv->stopping ? "stopping" : "an upgrade is already under way");
        return;
    }
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        ph_log_error("upgrade: %s", strerror(errno));
        return;
    }
    char env[64];
    snprintf(env, sizeof env, "%d,%d", sv->listen_fd, pipefd[1]);
    pid_t pid = fork();
    if (pid == 0) {
        /* child: async-signal-safe calls, then exec */
        if (fcntl(sv->listen_fd, F_SETFD, 0) < 0 || fcntl(pipefd[1], F_SETFD, 0) < 0)
            _exit(127);
        setenv(PH_UPGRADE_ENV, env, 1); /* single-threaded process: safe here */
        execv(sv->exe, sv->argv);
        _exit(127);
    }
    close(pipefd[1]);
    if (pid < 0) {
        ph_log_error("upgrade: cannot start %s: %s", sv->exe, strerror(errno));
        close(pipefd[0]);
        return;
    }
    sv->upgrade_pid = pid;
    sv->upgrade_pipe = pipefd[0];
    sv->upgrade_ev = event_new(sv->base, pipefd[0], EV_READ | EV_PERSIST, on_upgrade_pipe, sv);
    if (!sv->upgrade_ev || event_add(sv->upgrade_ev, NULL) < 0) {
        ph_log_error("upgrade: cannot watch the new binary; stopping it");
        kill(pid, SIGTERM);
        close_pipe(sv);
        return;
    }
    ph_log_info("upgrade (SIGUSR2): started %s as pid %d; serving until it is ready", sv->exe, (int)pid);
}

void ph_sup_upgrade_ended(ph_supervisor *sv, int status)
{
    char how[64];
    if (WIFEXITED(status))
        snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(status));
    ph_log_error("upgrade failed: the new binary (pid %d) %s before serving; this one keeps serving",
                 (int)sv->upgrade_pid, how);
    sv->upgrade_pid = -1;
    close_pipe(sv);
}

void ph_sup_upgrade_tell_ready(ph_supervisor *sv)
{
    if (sv->upgrade_ready_fd < 0)
        return;
    ssize_t n = write(sv->upgrade_ready_fd, "R", 1);
    if (n != 1)
        ph_log_warn("upgrade: cannot tell the previous binary that this one serves: %s", strerror(errno));
    close(sv->upgrade_ready_fd);
    sv->upgrade_ready_fd = -1;
}

void ph_sup_upgrade_teardown(ph_supervisor *sv)
{
    close_pipe(sv);
    if (sv->upgrade_ready_fd >= 0)
        close(sv->upgrade_ready_fd);
    sv->upgrade_ready_fd = -1;
}
