/* log.h - one-line log records on stderr, any thread. */
#ifndef PH_LOG_H
#define PH_LOG_H

#include "plughost.h"
#include <stdarg.h>

/* Records below `level` are dropped. Call before threads start. */
void ph_log_set_level(ph_log_level level);

/* Name this process in every record ("worker 2" → "[worker 2] "); NULL
 * or "" for none. Call before threads start. */
void ph_log_set_tag(const char *name);

/* Parse "debug", "info", "warn" or "error". Returns 0 or -1. */
int ph_log_parse_level(const char *name, ph_log_level *out);

/* Write one record: "<UTC time> [level] message\n" in a single write(2),
 * so lines from several threads never interleave. Any thread. */
void ph_log(ph_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ph_log_v(ph_log_level level, const char *fmt, va_list ap);

#define ph_log_debug(...) ph_log(PH_LOG_DEBUG, __VA_ARGS__)
#define ph_log_info(...) ph_log(PH_LOG_INFO, __VA_ARGS__)
#define ph_log_warn(...) ph_log(PH_LOG_WARN, __VA_ARGS__)
#define ph_log_error(...) ph_log(PH_LOG_ERROR, __VA_ARGS__)

#endif
