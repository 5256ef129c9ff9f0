/* log.c - one-line log records on stderr. */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static ph_log_level min_level = PH_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};
static char tag[40]; /* "[worker 2] " or "" for the supervisor */

void ph_log_set_tag(const char *name)
{
    if (name && name[0])
        snprintf(tag, sizeof tag, "[%s] ", name);
    else
        tag[0] = '\0';
}

void ph_log_set_level(ph_log_level level) { min_level = level; }

int ph_log_parse_level(const char *name, ph_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (ph_log_level)i;
            return 0;
        }
    }
    return -1;
}

void ph_log_v(ph_log_level level, const char *fmt, va_list ap)
{
    if (level < min_level)
        return;
    if ((unsigned)level > PH_LOG_ERROR)
        level = PH_LOG_ERROR;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03dZ [%s] %s", (int)(tv.tv_usec / 1000),
                          level_names[level], tag);
    int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n += (size_t)m;
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, n);
    (void)ignored;
}

void ph_log(ph_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ph_log_v(level, fmt, ap);
    va_end(ap);
}
