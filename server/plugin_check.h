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

/* Longest declared text (summary, request or response type) a check
 * reports; a longer one counts as not declared. */
#define PH_CHECK_DESCRIBE_MAX 200

/* What one checked route's plugin declares for GET /openapi.json; ""
 * when not declared. */
typedef struct ph_check_describe {
    char summary[PH_CHECK_DESCRIBE_MAX + 1];
    char request_type[PH_CHECK_DESCRIBE_MAX + 1];
    char response_type[PH_CHECK_DESCRIBE_MAX + 1];
} ph_check_describe;

/* Called by ph_check_finish for each route a passing check described. */
typedef void (*ph_check_describe_fn)(size_t route, const ph_check_describe *d, void *arg);

/* A check under way: the child, its report pipe and its copy folder. */
typedef struct ph_check {
    pid_t pid;               /* -1 once reaped */
    int report_fd;           /* read end; -1 once at end-of-file */
    char copy_dir[4096];     /* the child's private copies, removed by ph_check_finish */
    char report[4096];       /* what the child wrote, "describe" lines apart */
    size_t report_len;
    char line[2048];         /* the line being read */
    size_t line_len;
    char *described;         /* the "describe" lines (malloc'd, bounded); freed by ph_check_finish */
    size_t described_len;
    int wait_status;         /* valid once pid is -1 */
} ph_check;

/* Parse one report line "describe <route> <summary>\t<request type>\t
 * <response type>" (without its newline). Returns 0 with *route and *out
 * filled, or -1 when it is not such a line; a field longer than
 * PH_CHECK_DESCRIBE_MAX or holding a control character is left "". */
int ph_check_parse_describe(const char *line, size_t *route, ph_check_describe *out);

/* Forget a check's "describe" lines (a check abandoned without
 * ph_check_finish). */
void ph_check_forget_described(ph_check *check);

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
 * says the caller killed it after load_timeout. On 0 and with a non-NULL
 * `on_describe`, calls it for each checked route whose plugin declares a
 * summary or content type. Removes the copy folder and frees the
 * "describe" lines. */
int ph_check_finish(ph_check *check, const ph_config *config, int timed_out, ph_check_describe_fn on_describe,
                    void *arg, char *err, size_t errlen);

/* Start, wait (bounded by the config's load_timeout), finish (passing
 * on_describe and arg, which may be NULL): for `plughost -t` and the
 * first start. Returns 0 or -1 with err set. */
int ph_check_run(ph_config *config, const size_t *routes, size_t n, bool full, const ph_privileges *privileges,
                 ph_check_describe_fn on_describe, void *arg, char *err, size_t errlen);

#endif
