/* plugin_check.h - proving plugins in a throwaway process before any
 * serving process maps them. The child checks each given route's plugin:
 * ELF sanity, dlopen, descriptor and ABI, init() with the route's
 * settings, fini(); it reports over a pipe and _exits. A crash, a signal,
 * a non-zero init or a timeout refuses the plugin with a reason, and
 * whoever asked keeps running. Used by the supervisor before a reload
 * (asynchronously, from its loop) and by `plughost -t` (synchronously). */
#ifndef PH_PLUGIN_CHECK_H
#define PH_PLUGIN_CHECK_H

#include "config.h"
#include "privileges.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A check under way: the child, its report pipe and its copy folder. */
typedef struct ph_check {
    pid_t pid;               /* -1 once reaped */
    int report_fd;           /* read end; -1 once at end-of-file */
    char copy_dir[4096];     /* the child's private copies, removed by ph_check_finish */
    char report[4096];       /* what the child wrote */
    size_t report_len;
    int wait_status;         /* valid once pid is -1 */
} ph_check;

/* Start checking routes `routes[0..n)` of `config` (their plugin_source,
 * when set, is what gets loaded) in a child that switches to `privileges`
 * first; with `full` the child then also builds the whole generation
 * (every plugin and the route table), as `plughost -t` and the first
 * start do. The config stays the caller's (the child works on its copy).
 * Returns 0 with *check filled, or -1 with the reason in err. */
int ph_check_start(ph_check *check, ph_config *config, const size_t *routes, size_t n, bool full,
                   const ph_privileges *privileges, char *err, size_t errlen);

/* Read what the child has written (non-blocking). Returns 1 at
 * end-of-file, 0 when more may come. */
int ph_check_read(ph_check *check);

/* The check's verdict once the child is reaped (check->pid == -1) and its
 * report read to the end: 0 when every plugin passed, or -1 with
 * "<ini>:<line>: route <path>: <plugin>: <reason>" in err. `timed_out`
 * says the caller killed it after load_timeout. Removes the copy folder. */
int ph_check_finish(ph_check *check, const ph_config *config, int timed_out, char *err, size_t errlen);

/* Start, wait (bounded by the config's load_timeout), finish: for
 * `plughost -t`. Returns 0 or -1 with err set. */
int ph_check_run(ph_config *config, const size_t *routes, size_t n, bool full, const ph_privileges *privileges,
                 char *err, size_t errlen);

#endif
