/*
 * it_crashy.c - a plugin that crashes its worker on request: `?boom=1`
 * writes through a NULL pointer inside handle(). Otherwise it answers
 * "pid <worker pid>" (after `?sleep=MS` milliseconds when asked, sync
 * build only), so tests can tell workers apart. Built three times:
 * it_crashy (sync, pool thread), it_crashy_async (IT_CRASHY_ASYNC, loop
 * thread) and it_crashy_always (IT_CRASHY_ALWAYS: "it_crashy" 9.9.9, a
 * broken release that crashes on every request, for rollback tests).
 */
#define _POSIX_C_SOURCE 200809L
#include <plughost.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const ph_host_api *api;

static int crashy_init(const ph_host_api *host, const ph_settings *settings, void **state)
{
    api = host;
    *state = NULL;
    double sleep_ms = 0; /* `init_sleep_ms`: an init that hangs, for load_timeout */
    if (host->setting_double(settings, "init_sleep_ms", 0, &sleep_ms) == 0 && sleep_ms > 0) {
        struct timespec ts = {(time_t)(sleep_ms / 1000), (long)((long)sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* NULL, but the compiler may not assume it (a literal NULL lets it drop
 * the write as undefined). */
int *volatile crashy_target;

/* Not inlined, so the backtrace has a frame of its own in this plugin;
 * not checked by UBSan, which would end the process before the fault. */
__attribute__((noinline, no_sanitize_undefined)) static void crashy_write_through_null(void)
{
    *crashy_target = 42;
}

static int crashy_handle(void *state, ph_request *req)
{
    (void)state;
    const char *boom = api->query_param(req, "boom");
#ifdef IT_CRASHY_ALWAYS
    boom = "1"; /* the broken release: every request crashes */
#endif
    if (boom && strcmp(boom, "1") == 0)
        crashy_write_through_null();
#ifndef IT_CRASHY_ASYNC
    const char *sleep_ms = api->query_param(req, "sleep");
    if (sleep_ms) {
        long ms = strtol(sleep_ms, NULL, 10);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
#endif
    char body[64];
    int n = snprintf(body, sizeof body, "pid %d", (int)getpid());
    api->add_header(req, "Content-Type", "text/plain");
    api->set_body(req, body, (size_t)n);
    return PH_OK;
}

#if defined(IT_CRASHY_ASYNC)
PH_PLUGIN_DECLARE("it_crashy_async", "2.0.0", PH_MODE_ASYNC, crashy_init, NULL, crashy_handle)
#elif defined(IT_CRASHY_ALWAYS)
PH_PLUGIN_DECLARE("it_crashy", "9.9.9", PH_MODE_SYNC, crashy_init, NULL, crashy_handle)
#else
PH_PLUGIN_DECLARE("it_crashy", "1.0.0", PH_MODE_SYNC, crashy_init, NULL, crashy_handle)
#endif
