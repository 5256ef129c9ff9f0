/*
 * it_async_kit.c - an async test plugin exercising the host's ABI 1.1
 * machinery, chosen by the route setting `mode`:
 *   stream   stream_begin, then a chunk "tick <n>\n" every `interval_ms`
 *            (timer_repeat) until `count` chunks, then complete()
 *   offload  offload a `ms` sleep to the pool, then answer "offloaded"
 *   hang     never answer (only the route timeout or a disconnect ends it)
 *   block    block the loop for `ms` in handle() (the watchdog must tell)
 *   param    answer the value of path parameter `param` at once
 *   headers  answer every request header as "name: value" lines, then
 *            "client: <client_addr>"
 *   flood    stream `count` chunks of 16 KiB as fast as the host accepts:
 *            when stream_write says 1 it waits for the drain callback
 *            (logging "paused at chunk <n>"), then goes on
 * Every mode registers an abort callback that logs "abort ran for <path>";
 * an offload's done logs "offload done", or "offload done after abort"
 * when the request was aborted first, so tests can count them in the log.
 */
#define _POSIX_C_SOURCE 200809L
#include <plughost.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum { MODE_STREAM, MODE_OFFLOAD, MODE_HANG, MODE_BLOCK, MODE_PARAM, MODE_FLOOD, MODE_HEADERS } kit_mode;

typedef struct kit {
    const ph_host_api *api;
    kit_mode mode;
    double ms, interval_ms, count;
    char param[32];
} kit;

typedef struct kit_call { /* per request */
    kit *k;
    unsigned sent;
    ph_timer *timer;
    double sleep_ms;
} kit_call;

static void sleep_ms(double ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)((long long)ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int kit_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    kit *k = calloc(1, sizeof *k);
    if (!k)
        return -1;
    k->api = api;
    const char *mode = api->setting(settings, "mode");
    if (!mode || !PH_HOST_HAS(api, stream_on_drain))
        goto fail;
    if (strcmp(mode, "stream") == 0)
        k->mode = MODE_STREAM;
    else if (strcmp(mode, "offload") == 0)
        k->mode = MODE_OFFLOAD;
    else if (strcmp(mode, "hang") == 0)
        k->mode = MODE_HANG;
    else if (strcmp(mode, "block") == 0)
        k->mode = MODE_BLOCK;
    else if (strcmp(mode, "flood") == 0)
        k->mode = MODE_FLOOD;
    else if (strcmp(mode, "headers") == 0)
        k->mode = MODE_HEADERS;
    else if (strcmp(mode, "param") == 0 && api->setting(settings, "param"))
        k->mode = MODE_PARAM;
    else
        goto fail;
    if (api->setting_double(settings, "ms", 100, &k->ms) < 0 ||
        api->setting_double(settings, "interval_ms", 20, &k->interval_ms) < 0 ||
        api->setting_double(settings, "count", 5, &k->count) < 0)
        goto fail;
    if (k->mode == MODE_PARAM)
        snprintf(k->param, sizeof k->param, "%s", api->setting(settings, "param"));
    *state = k;
    return 0;
fail:
    api->log(NULL, PH_LOG_ERROR, "it_async_kit: bad settings");
    free(k);
    return -1;
}

static void on_abort(ph_request *req, void *arg)
{
    kit_call *call = arg;
    call->k->api->log(req, PH_LOG_INFO, "abort ran for %s", call->k->api->path(req));
    if (call->k->mode != MODE_OFFLOAD)
        free(call); /* an offload's done still runs and frees it */
}

static void on_tick(ph_request *req, void *arg)
{
    kit_call *call = arg;
    const ph_host_api *api = call->k->api;
    char line[32];
    int n = snprintf(line, sizeof line, "tick %u\n", ++call->sent);
    api->stream_write(req, line, (size_t)n);
    if (call->sent >= (unsigned)call->k->count) {
        api->timer_cancel(call->timer);
        free(call);
        api->complete(req);
    }
}

/* Write 16 KiB chunks until done or the host says pause. Returns 1 when
 * all are written (the caller ends the request), 0 when paused or gone. */
static int flood_some(ph_request *req, kit_call *call)
{
    static char chunk[16384];
    const ph_host_api *api = call->k->api;
    while (call->sent < (unsigned)call->k->count) {
        memset(chunk, 'a' + (int)(call->sent % 26), sizeof chunk);
        call->sent++;
        int rc = api->stream_write(req, chunk, sizeof chunk);
        if (rc < 0)
            return 0; /* the client is gone: the abort callback frees call */
        if (rc == 1 && call->sent < (unsigned)call->k->count) {
            api->log(req, PH_LOG_INFO, "paused at chunk %u", call->sent);
            return 0; /* flood() again from the drain callback */
        }
    }
    api->on_abort(req, NULL, NULL);
    free(call);
    return 1;
}

/* The drain callback: go on, and complete once all is written. */
static void flood(ph_request *req, void *arg)
{
    const ph_host_api *api = ((kit_call *)arg)->k->api;
    if (flood_some(req, arg))
        api->complete(req);
}

static void offload_work(void *arg) { sleep_ms(((kit_call *)arg)->sleep_ms); }

static void offload_done(ph_request *req, void *arg)
{
    kit_call *call = arg;
    const ph_host_api *api = call->k->api;
    if (!req) {
        api->log(NULL, PH_LOG_INFO, "offload done after abort");
        free(call);
        return;
    }
    api->log(req, PH_LOG_INFO, "offload done");
    api->set_body(req, "offloaded", 9);
    free(call);
    api->complete(req);
}

static int kit_handle(void *state, ph_request *req)
{
    kit *k = state;
    const ph_host_api *api = k->api;
    if (k->mode == MODE_HEADERS) {
        char out[4096];
        size_t n = 0;
        const char *name, *value;
        for (size_t i = 0; api->header_at(req, i, &name, &value) == 0 && n < sizeof out; i++)
            n += (size_t)snprintf(out + n, sizeof out - n, "%s: %s\n", name, value);
        if (n < sizeof out)
            n += (size_t)snprintf(out + n, sizeof out - n, "client: %s\n", api->client_addr(req));
        api->set_body(req, out, n < sizeof out ? n : sizeof out - 1);
        return PH_OK;
    }
    if (k->mode == MODE_PARAM) {
        const char *v = api->path_param(req, k->param);
        if (!v)
            return PH_ERROR;
        api->set_body(req, v, strlen(v));
        return PH_OK;
    }
    if (k->mode == MODE_BLOCK) {
        sleep_ms(k->ms);
        api->set_body(req, "blocked", 7);
        return PH_OK;
    }
    kit_call *call = calloc(1, sizeof *call);
    if (!call)
        return PH_ERROR;
    call->k = k;
    call->sleep_ms = k->ms;
    api->on_abort(req, on_abort, call);
    switch (k->mode) {
    case MODE_STREAM:
        api->add_header(req, "Content-Type", "text/plain");
        if (api->stream_begin(req) < 0 || !(call->timer = api->timer_repeat(req, (uint64_t)k->interval_ms, on_tick, call)))
            break;
        return PH_PENDING;
    case MODE_OFFLOAD:
        if (api->offload(req, offload_work, offload_done, call) < 0) {
            api->on_abort(req, NULL, NULL);
            free(call);
            api->respond_error(req, 503, "pool full");
            return PH_OK;
        }
        return PH_PENDING;
    case MODE_HANG:
        return PH_PENDING;
    case MODE_FLOOD:
        api->add_header(req, "Content-Type", "application/octet-stream");
        if (api->stream_begin(req) < 0 || api->stream_on_drain(req, flood, call) < 0)
            break;
        return flood_some(req, call) ? PH_OK : PH_PENDING; /* never complete() inside handle() */
    case MODE_BLOCK:
    case MODE_PARAM:
    case MODE_HEADERS:
        break;
    }
    api->on_abort(req, NULL, NULL);
    free(call);
    return PH_ERROR;
}

PH_PLUGIN_DECLARE("it_async_kit", "1.0.0", PH_MODE_ASYNC, kit_init, free, kit_handle)
