/* watch.h - inotify on server.ini's folder and the plugin folder, through
 * a libevent event. Bursts of events (an editor's rename dance, a build
 * writing a .so in place) are coalesced: the callback runs once the
 * watched files have been quiet for a settle period — 20 ms after a write
 * was closed or a file renamed into place, 250 ms while a file may still
 * be being written. Loop thread only. */
#ifndef PH_WATCH_H
#define PH_WATCH_H

struct event_base;
typedef struct ph_watch ph_watch;

/* Called on the loop thread after a settled change; `what` names one
 * changed file. */
typedef void (*ph_watch_cb)(void *arg, const char *what);

/* Watch `config_path` (the file, through its folder, so rename-saves are
 * seen) and `*.so` in `plugin_dir`. Returns the watch or NULL (logged). */
ph_watch *ph_watch_start(struct event_base *base, const char *config_path, const char *plugin_dir,
                         ph_watch_cb cb, void *arg);

/* True when `w` watches exactly these paths. */
int ph_watch_is_for(const ph_watch *w, const char *config_path, const char *plugin_dir);

void ph_watch_stop(ph_watch *w);

#endif
