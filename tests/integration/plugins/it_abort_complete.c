/*
 * it_abort_complete.c - a hostile async plugin: every abort callback calls
 * complete() and the response builders (which the host must refuse), and
 * every answer calls complete() twice. Route setting `mode`:
 *   work    answer "id=<id>" (query parameter `id`) after 1..5 ms on a
 *           timer, then call complete() a second time
 *   hang    never answer: only the route timeout or the client ends it
 *   stream  stream_begin, write "id=<id>\n" at once, then "tick\n" every
 *           10 ms until the client leaves
 *   stats   answer the counters below, one "name=value" per line
 * The abort callback also checks that the request it gets is still the
 * one it registered for (its `id` parameter), and cancels its stream's
 * timer (allowed there). Counters are process-wide (workers = 1).
 */
#include <plughost.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { MODE_WORK, MODE_HANG, MODE_STREAM, MODE_STATS } it_mode;

typedef struct it_route {
    const ph_host_api *api;
    it_mode mode;
} it_route;

typedef struct it_call { /* one request */
    it_route *r;
    char id[32];
    ph_timer *timer;
} it_call;

static struct {
    unsigned long aborts;           /* abort callbacks run */
    unsigned long refused_complete; /* complete() inside them returned -1 */
    unsigned long accepted;         /* a call the host must refuse there succeeded */
    unsigned long wrong_request;    /* the callback got a request with another id */
    unsigned long answered;         /* work requests completed */
    unsigned long second_refused;   /* the second complete() returned -1 */
    unsigned long second_accepted;  /* ... or did not */
} n;

static int it_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    const char *mode = api->setting(settings, "mode");
    it_route *r = calloc(1, sizeof *r);
    if (!r || !mode || !PH_HOST_HAS(api, on_abort))
        goto fail;
    r->api = api;
    if (strcmp(mode, "work") == 0)
        r->mode = MODE_WORK;
    else if (strcmp(mode, "hang") == 0)
        r->mode = MODE_HANG;
    else if (strcmp(mode, "stream") == 0)
        r->mode = MODE_STREAM;
    else if (strcmp(mode, "stats") == 0)
        r->mode = MODE_STATS;
    else
        goto fail;
    *state = r;
    return 0;
fail:
    free(r);
    return -1;
}

static void tick(ph_request *req, void *arg)
{
    it_call *call = arg;
    call->r->api->stream_write(req, "tick\n", 5);
}

static void on_abort(ph_request *req, void *arg)
{
    it_call *call = arg;
    const ph_host_api *api = call->r->api;
    n.aborts++;
    const char *id = api->query_param(req, "id"); /* reading is allowed */
    if (!id || strcmp(id, call->id) != 0)
        n.wrong_request++;
    if (call->timer)
        api->timer_cancel(call->timer); /* allowed: its handle is valid */
    int rc = api->complete(req);
    if (rc == -1)
        n.refused_complete++;
    else
        n.accepted++;
    if (api->set_status(req, 200) == 0 || api->set_body(req, "late", 4) == 0 ||
        api->add_header(req, "X-Late", "1") == 0 || api->respond_error(req, 500, "late") == 0 ||
        api->timer_start(req, 1, tick, call) != NULL || api->on_abort(req, on_abort, call) == 0)
        n.accepted++;
    free(call);
}

static void answer(ph_request *req, void *arg)
{
    it_call *call = arg;
    const ph_host_api *api = call->r->api;
    char body[48];
    int len = snprintf(body, sizeof body, "id=%s", call->id);
    api->on_abort(req, NULL, NULL);
    api->set_body(req, body, (size_t)len);
    free(call);
    if (api->complete(req) != 0)
        return;
    n.answered++;
    if (api->complete(req) == -1) /* the hostile part: a second one */
        n.second_refused++;
    else
        n.second_accepted++;
}

static int stats(const ph_host_api *api, ph_request *req)
{
    char body[512];
    int len = snprintf(body, sizeof body,
                       "aborts=%lu\nrefused_complete=%lu\naccepted=%lu\nwrong_request=%lu\nanswered=%lu\n"
                       "second_refused=%lu\nsecond_accepted=%lu\n",
                       n.aborts, n.refused_complete, n.accepted, n.wrong_request, n.answered, n.second_refused,
                       n.second_accepted);
    api->add_header(req, "Content-Type", "text/plain");
    api->set_body(req, body, (size_t)len);
    return PH_OK;
}

static int it_handle(void *state, ph_request *req)
{
    it_route *r = state;
    const ph_host_api *api = r->api;
    if (r->mode == MODE_STATS)
        return stats(api, req);
    const char *id = api->query_param(req, "id");
    it_call *call = calloc(1, sizeof *call);
    if (!id || !call) {
        free(call);
        return PH_ERROR;
    }
    call->r = r;
    snprintf(call->id, sizeof call->id, "%s", id);
    api->on_abort(req, on_abort, call);
    if (r->mode == MODE_WORK) {
        if (!api->timer_start(req, 1 + (uint64_t)(strtoul(id, NULL, 10) % 5), answer, call))
            goto fail;
        return PH_PENDING;
    }
    if (r->mode == MODE_STREAM) {
        char line[48];
        int len = snprintf(line, sizeof line, "id=%s\n", call->id);
        api->add_header(req, "Content-Type", "text/plain");
        if (api->stream_begin(req) < 0 || api->stream_write(req, line, (size_t)len) < 0 ||
            !(call->timer = api->timer_repeat(req, 10, tick, call)))
            goto fail;
    }
    return PH_PENDING;
fail:
    api->on_abort(req, NULL, NULL);
    free(call);
    return PH_ERROR;
}

PH_PLUGIN_DECLARE("it_abort_complete", "1.0.0", PH_MODE_ASYNC, it_init, free, it_handle)
