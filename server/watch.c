/* watch.c - inotify for server.ini and plugin files, with settling. */
#include "watch.h"

#include "log.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* Quiet time after the last event before the change counts: short after
 * an event that ends a write (close after writing, a rename into place, a
 * chmod), long while a file may still be being written (created,
 * modified, deleted), so a half-written .so is not loaded. */
#define SETTLE_DONE_MS 20
#define SETTLE_WRITING_MS 250

struct ph_watch {
    int fd;
    int config_wd, plugin_wd;
    char config_path[PATH_MAX];
    char config_dir[PATH_MAX];
    const char *config_name; /* points into config_path */
    char plugin_dir[PATH_MAX];
    char changed[NAME_MAX + 1]; /* last relevant file, for the log */
    struct event *read_ev;
    struct event *settle_ev;
    ph_watch_cb cb;
    void *arg;
};

static int ends_with_so(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

/* Is this event about a file we care for? */
static int relevant(const ph_watch *w, const struct inotify_event *ev)
{
    if (!ev->len)
        return 0;
    if (ev->wd == w->config_wd && strcmp(ev->name, w->config_name) == 0)
        return 1;
    return ev->wd == w->plugin_wd && ends_with_so(ev->name);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    ph_watch *w = arg;
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    int hit = 0;
    uint32_t last_mask = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & IN_Q_OVERFLOW) {
                hit = 1;
                last_mask = IN_MODIFY;
                snprintf(w->changed, sizeof w->changed, "(event queue overflow)");
            } else if (relevant(w, ev)) {
                hit = 1;
                last_mask = ev->mask;
                snprintf(w->changed, sizeof w->changed, "%s", ev->name);
            }
            p += sizeof *ev + ev->len;
        }
    }
    if (hit) { /* (re)start the quiet period, as the last event says */
        long ms = (last_mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_ATTRIB)) ? SETTLE_DONE_MS : SETTLE_WRITING_MS;
        struct timeval tv = {0, ms * 1000};
        event_add(w->settle_ev, &tv);
    }
}

static void on_settled(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ph_watch *w = arg;
    w->cb(w->arg, w->changed);
}

static int add_dir(ph_watch *w, const char *dir)
{
    int wd = inotify_add_watch(w->fd, dir,
                               IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM |
                                   IN_ATTRIB | IN_ONLYDIR);
    if (wd < 0)
        ph_log_error("watch: cannot watch %s: %s", dir, strerror(errno));
    return wd;
}

ph_watch *ph_watch_start(struct event_base *base, const char *config_path, const char *plugin_dir,
                         ph_watch_cb cb, void *arg)
{
    ph_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->fd = -1;
    w->cb = cb;
    w->arg = arg;
    snprintf(w->config_path, sizeof w->config_path, "%s", config_path);
    snprintf(w->plugin_dir, sizeof w->plugin_dir, "%s", plugin_dir);
    const char *slash = strrchr(w->config_path, '/');
    if (slash) {
        snprintf(w->config_dir, sizeof w->config_dir, "%.*s", (int)(slash - w->config_path),
                 w->config_path);
        if (!w->config_dir[0])
            snprintf(w->config_dir, sizeof w->config_dir, "/");
        w->config_name = slash + 1;
    } else {
        snprintf(w->config_dir, sizeof w->config_dir, ".");
        w->config_name = w->config_path;
    }
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        ph_log_error("watch: inotify_init1: %s", strerror(errno));
        goto fail;
    }
    w->config_wd = add_dir(w, w->config_dir);
    w->plugin_wd = add_dir(w, w->plugin_dir); /* the same wd when the folders are one */
    if (w->config_wd < 0 || w->plugin_wd < 0)
        goto fail;
    w->read_ev = event_new(base, w->fd, EV_READ | EV_PERSIST, on_inotify, w);
    w->settle_ev = evtimer_new(base, on_settled, w);
    if (!w->read_ev || !w->settle_ev || event_add(w->read_ev, NULL) < 0)
        goto fail;
    ph_log_info("watching %s and %s/*.so for changes", w->config_path, w->plugin_dir);
    return w;
fail:
    ph_watch_stop(w);
    return NULL;
}

int ph_watch_is_for(const ph_watch *w, const char *config_path, const char *plugin_dir)
{
    return strcmp(w->config_path, config_path) == 0 && strcmp(w->plugin_dir, plugin_dir) == 0;
}

void ph_watch_stop(ph_watch *w)
{
    if (!w)
        return;
    if (w->read_ev)
        event_free(w->read_ev);
    if (w->settle_ev)
        event_free(w->settle_ev);
    if (w->fd >= 0)
        close(w->fd);
    free(w);
}
