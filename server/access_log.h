/* access_log.h - one line per finished request (`access_log`,
 * `access_log_format` = combined | json), written without blocking the
 * loop: lines collect in a buffer that is written when it fills and at
 * least once a second, with a non-blocking descriptor where the kernel
 * offers one (pipes, "-"); what cannot be written stays buffered, and
 * beyond the buffer lines are dropped and counted, never waited for.
 * Several workers append to the same file (O_APPEND, whole lines per
 * write). SIGUSR1 reopens the file (logrotate). Loop thread only. */
#ifndef PH_ACCESS_LOG_H
#define PH_ACCESS_LOG_H

#include "request.h"

struct event_base;

/* Start the flush timer on `base`; `worker` names this process in every
 * line. Returns 0 or -1 (no memory). */
int ph_alog_setup(struct event_base *base, int worker);

/* The generation going live says where to log: `path` ("-" = stdout,
 * NULL = off) and `json`. Reopens only when the path changed. A file that
 * cannot be opened is logged and leaves the access log off. */
void ph_alog_configure(const char *path, bool json);

/* Reopen the same path (SIGUSR1: logrotate moved the file). */
void ph_alog_reopen(void);

/* True when finished requests are logged (the log is open): callers skip
 * preparing a line nobody writes. Inline, one test: ph_alog_on is
 * written by access_log.c only. */
extern bool ph_alog_on;
static inline bool ph_alog_enabled(void) { return ph_alog_on; }

/* `req` finished with `status` after `seconds`: append its line. */
void ph_alog_request(const ph_request *req, int status, double seconds);

/* Write what is buffered (as far as it goes without blocking). */
void ph_alog_flush(void);

/* Flush, close, stop the timer. */
void ph_alog_shutdown(void);

#endif
