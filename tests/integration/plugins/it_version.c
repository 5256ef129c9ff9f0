/*
 * it_version.c - built twice for the reload tests: it_v1.so (IT_VERSION 1,
 * an ASYNC plugin) and it_v2.so (IT_VERSION 2, a SYNC plugin), so a swap
 * also proves a file may change its mode between generations. Answers
 * "v<N> <greeting>" as text/plain; with `delay_ms` set it answers after
 * that long (async: a loop timer; sync: a sleep on the pool thread).
 */
#define _POSIX_C_SOURCE 200809L
#include <plughost.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef IT_VERSION
#error "IT_VERSION must be 1 or 2"
#endif

typedef struct version_state {
    const ph_host_api *api;
    char body[128];
    double delay_ms;
} version_state;

static int version_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    version_state *st = calloc(1, sizeof *st);
    if (!st)
        return -1;
    st->api = api;
    const char *greeting = api->setting(settings, "greeting");
    snprintf(st->body, sizeof st->body, "v%d %s", IT_VERSION, greeting ? greeting : "hello");
    if (api->setting_double(settings, "delay_ms", 0, &st->delay_ms) < 0 || st->delay_ms < 0) {
        free(st);
        return -1;
    }
    *state = st;
    return 0;
}

static void version_respond(version_state *st, ph_request *req)
{
    st->api->add_header(req, "Content-Type", "text/plain");
    st->api->set_body(req, st->body, strlen(st->body));
}

#if IT_VERSION == 1
static void version_timer(ph_request *req, void *arg)
{
    version_respond(arg, req);
    ((version_state *)arg)->api->complete(req);
}

static int version_handle(void *state, ph_request *req)
{
    version_state *st = state;
    if (st->delay_ms <= 0) {
        version_respond(st, req);
        return PH_OK;
    }
    return st->api->timer_start(req, (uint64_t)st->delay_ms, version_timer, st) ? PH_PENDING : PH_ERROR;
}
#define VERSION_MODE PH_MODE_ASYNC
#else
static int version_handle(void *state, ph_request *req)
{
    version_state *st = state;
    if (st->delay_ms > 0) {
        struct timespec ts = {(time_t)(st->delay_ms / 1000), (long)((long long)st->delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0)
            ;
    }
    version_respond(st, req);
    return PH_OK;
}
#define VERSION_MODE PH_MODE_SYNC
#endif

PH_PLUGIN_DECLARE("it_version", IT_VERSION == 1 ? "1.0.0" : "2.0.0", VERSION_MODE, version_init, free,
                  version_handle)
