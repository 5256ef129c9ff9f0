/*
 * sse_clock - a server-sent-events stream of the current UTC time.
 *
 * Async, streaming: handle() answers 200 with
 *     Content-Type: text/event-stream
 *     Cache-Control: no-cache
 * (stream_begin), then a repeating loop timer writes one event every
 * `interval`, the first one interval after the start:
 *     id: <n>\n
 *     data: 2024-05-06T07:08:09.123Z\n
 *     \n
 * where n counts the events sent, from 1, and the time is the wall clock at
 * the tick, ISO 8601 in UTC with milliseconds.
 *
 * Back-pressure: when stream_write returns 1 the client reads slower than
 * the clock ticks, so the following ticks are skipped (not queued) until the
 * host's drain callback; the first tick after it sends the time of that
 * tick. A stream never holds more than one event beyond the high-water mark.
 *
 * Settings
 *   interval  a duration ("250ms", "2s", a bare number is seconds); default
 *             1s, 10ms to 1 day.
 *   count     events to send before the stream ends with complete(); a
 *             whole number, default 0 = unlimited.
 *
 * Client gone: the abort callback frees the per-stream context; the host
 * cancels the timer.
 */
#define _POSIX_C_SOURCE 200809L

#include <plughost.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "plugin_duration.h"

#define SSE_DEFAULT_INTERVAL_MS 1000u
#define SSE_MIN_INTERVAL_MS 10u
#define SSE_MAX_COUNT 1e9

typedef struct sse_state {
    const ph_host_api *api;
    uint64_t interval_ms;
    uint64_t count; /* 0: unlimited */
} sse_state;

/* One open stream: from handle() until complete() or the abort callback. */
typedef struct sse_stream {
    const sse_state *st;
    uint64_t sent; /* events written */
    bool paused;   /* stream_write returned 1: skip ticks until drained */
} sse_stream;

/* Read `count` into *out. Returns 0, or -1 after logging why. Loop thread. */
static int read_count(const ph_host_api *api, const ph_settings *settings, uint64_t *out)
{
    const char *raw = api->setting(settings, "count");
    double count;
    if (api->setting_double(settings, "count", 0.0, &count) != 0 || count < 0.0 ||
        count > SSE_MAX_COUNT || count != (double)(uint64_t)count) {
        api->log(NULL, PH_LOG_ERROR,
                 "sse_clock: route %s: count = \"%s\" is not a whole number from 0 "
                 "(unlimited) to %g",
                 api->route_path(settings), raw ? raw : "", SSE_MAX_COUNT);
        return -1;
    }
    *out = (uint64_t)count;
    return 0;
}

/* Check the host and the settings. Returns 0, or -1 with the reason
 * logged. Loop thread. */
static int sse_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    if (!PH_HOST_HAS(api, stream_on_drain) || !PH_HOST_HAS(api, timer_repeat) ||
        !PH_HOST_HAS(api, on_abort)) {
        api->log(NULL, PH_LOG_ERROR,
                 "sse_clock: route %s: the host lacks streaming/timer_repeat (needs SDK ABI 1.1)",
                 api->route_path(settings));
        return -1;
    }
    if (!PH_HOST_HAS(api, add_header_n)) {
        api->log(NULL, PH_LOG_ERROR, "sse_clock: route %s: the host lacks add_header_n (needs SDK ABI 1.5)",
                 api->route_path(settings));
        return -1;
    }
    uint64_t interval_ms, count;
    if (plugin_duration_setting(api, settings, "sse_clock", "interval", SSE_DEFAULT_INTERVAL_MS,
                                SSE_MIN_INTERVAL_MS, PLUGIN_DURATION_MAX_MS, &interval_ms) != 0 ||
        read_count(api, settings, &count) != 0)
        return -1;
    sse_state *st = malloc(sizeof *st);
    if (!st) {
        api->log(NULL, PH_LOG_ERROR, "sse_clock: out of memory for the instance state");
        return -1;
    }
    st->api = api;
    st->interval_ms = interval_ms;
    st->count = count;
    *state = st;
    return 0;
}

static void sse_fini(void *state) { free(state); }

/* Format event `id` with the current UTC time into `buf`. Returns its
 * length (the buffer is large enough for any 64-bit id). Any thread. */
static size_t format_event(char *buf, size_t size, uint64_t id)
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(buf, size, "id: %llu\ndata: %04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\n\n",
                     (unsigned long long)id, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000L);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* Finish the stream: free its context, then complete (the host cancels
 * the timer). Loop thread. */
static void end_stream(sse_stream *s, ph_request *req)
{
    const ph_host_api *api = s->st->api;
    free(s);
    if (api->complete(req) != 0)
        api->log(req, PH_LOG_ERROR, "sse_clock: complete() refused the stream");
}

/* The clock ticked: send one event unless paused; end after `count`.
 * Loop thread. */
static void on_tick(ph_request *req, void *arg)
{
    sse_stream *s = arg;
    if (s->paused)
        return; /* the reader is behind: skip this tick */
    char event[96];
    size_t len = format_event(event, sizeof event, s->sent + 1);
    int rc = s->st->api->stream_write(req, event, len);
    if (rc < 0) {
        s->st->api->log(req, PH_LOG_ERROR, "sse_clock: stream_write failed; ending the stream");
        end_stream(s, req);
        return;
    }
    s->sent++;
    s->paused = rc == 1;
    if (s->st->count && s->sent >= s->st->count)
        end_stream(s, req);
}

/* The reader caught up: resume on the next tick. Loop thread. */
static void on_drain(ph_request *req, void *arg)
{
    (void)req;
    ((sse_stream *)arg)->paused = false;
}

/* The client left: free the context (the host cancels the timer). */
static void on_client_gone(ph_request *req, void *arg)
{
    (void)req;
    free(arg);
}

/* Send the headers and start the clock; PH_PENDING, or PH_ERROR (the host
 * answers 500) when a primitive fails before the stream starts. Loop
 * thread. */
static int sse_handle(void *state, ph_request *req)
{
    const sse_state *st = state;
    const ph_host_api *api = st->api;
    sse_stream *s = calloc(1, sizeof *s);
    if (!s) {
        api->log(req, PH_LOG_ERROR, "sse_clock: out of memory");
        return PH_ERROR;
    }
    s->st = st;
    if (api->on_abort(req, on_client_gone, s) != 0 ||
        api->stream_on_drain(req, on_drain, s) != 0 ||
        !api->timer_repeat(req, st->interval_ms, on_tick, s) ||
        api->add_header_n(req, PH_LIT("Content-Type"), PH_LIT("text/event-stream")) != 0 ||
        api->add_header_n(req, PH_LIT("Cache-Control"), PH_LIT("no-cache")) != 0 || api->stream_begin(req) != 0) {
        /* PH_ERROR: the host cancels the timer and no abort follows */
        free(s);
        api->log(req, PH_LOG_ERROR, "sse_clock: cannot start the event stream");
        return PH_ERROR;
    }
    return PH_PENDING;
}

/* The route settings read at init: any other non-reserved key is an error. */
static const char *const sse_settings[] = {"interval", "count", NULL};

PH_PLUGIN_DESCRIBE("sse_clock", "1.0.0", PH_MODE_ASYNC, sse_init, sse_fini, sse_handle, sse_settings,
                   "Server-sent events: the current UTC time", NULL, "text/event-stream")
