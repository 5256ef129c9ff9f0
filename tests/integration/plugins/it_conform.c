/*
 * it_conform.c - the plugin of the conformance suite
 * (tests/plugins/conform_suite.c), run on the mock host and on the real
 * server alike. GET ?case=<name>&id=<n> plays one case and records what
 * each SDK call returned under <n>; GET ?case=report&id=<n> answers that
 * record (empty until the case has recorded it). Cases:
 *   ok                 body "ok", PH_OK (records "handled")
 *   error              PH_ERROR (records "handled")
 *   pending            a 5 ms timer, then body "late" and complete()
 *   twice              as pending, then complete() a second time
 *   complete_in_handle complete() inside handle(), then body "ok", PH_OK
 *   status_1xx         set_status/respond_error with 1xx (refused), then
 *                      status 201, body "ok", PH_OK
 *   abort              pending forever; the abort callback tries every
 *                      call and records what the host said
 *   abort_stream       stream_begin, "started\n", then as abort
 *   stream_builders    stream_begin, then the builders, stream_write "x",
 *                      and complete() from a 5 ms timer
 * Built with IT_CONFORM_SYNC it is a sync plugin (it_conform_sync), whose
 * one case is
 *   sync_primitives    the loop primitives from a sync handler, then
 *                      body "ok", PH_OK
 */
#include <plughost.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RECORDS 64

static const ph_host_api *api;

static struct {
    unsigned long id;
    char text[256];
} records[MAX_RECORDS];

static void record(unsigned long id, const char *fmt, ...) PH_PRINTF_FORMAT(2, 3);
static void record(unsigned long id, const char *fmt, ...)
{
    size_t slot = id % MAX_RECORDS;
    records[slot].id = id;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(records[slot].text, sizeof records[slot].text, fmt, ap);
    va_end(ap);
}

static int conform_init(const ph_host_api *host, const ph_settings *settings, void **state)
{
    (void)settings;
    (void)state;
    api = host;
    return PH_HOST_HAS(host, client_addr) ? 0 : -1;
}

typedef struct call {
    unsigned long id;
    char kind[32];
    char before[128]; /* what stream_builders recorded before complete() */
    ph_timer *never; /* a timer the abort callback cancels */
} call;

static void never_fires(ph_request *req, void *arg)
{
    (void)req;
    (void)arg;
}

static void on_abort(ph_request *req, void *arg)
{
    call *c = arg;
    int comp = api->complete(req);
    int status = api->set_status(req, 200);
    int body = api->set_body(req, "late", 4);
    int header = api->add_header(req, "X-Late", "1");
    int header_n = api->add_header_n(req, PH_LIT("X-Late"), PH_LIT("1"));
    int err = api->respond_error(req, 500, "late");
    ph_timer *t = api->timer_start(req, 1, never_fires, NULL);
    int again = api->on_abort(req, on_abort, c);
    int write = api->stream_write(req, "x", 1);
    const char *kind = api->query_param(req, "case");
    api->timer_cancel(c->never); /* allowed: its handle is still valid */
    record(c->id,
           "abort complete=%d set_status=%d set_body=%d add_header=%d add_header_n=%d respond_error=%d "
           "timer_start=%s on_abort=%d stream_write=%d read=%s",
           comp, status, body, header, header_n, err, t ? "timer" : "null", again, write,
           kind && strcmp(kind, c->kind) == 0 ? "ok" : "bad");
    free(c);
}

static void finish_late(ph_request *req, void *arg)
{
    call *c = arg;
    if (strcmp(c->kind, "stream_builders") == 0) {
        int first = api->complete(req);
        record(c->id, "%s complete=%d", c->before, first);
        free(c);
        return;
    }
    api->set_body(req, "late", 4);
    int first = api->complete(req);
    if (strcmp(c->kind, "twice") == 0) {
        int second = api->complete(req); /* the request is finished: refused */
        record(c->id, "first=%d second=%d", first, second);
    } else {
        record(c->id, "complete=%d", first);
    }
    free(c);
}

static int report(ph_request *req, unsigned long id)
{
    size_t slot = id % MAX_RECORDS;
    const char *text = records[slot].id == id ? records[slot].text : "";
    api->set_body(req, text, strlen(text));
    return PH_OK;
}

/* A sync handler on a pool thread: the loop primitives are refused. */
static int sync_primitives(ph_request *req, unsigned long id)
{
    ph_timer *t = api->timer_start(req, 1, never_fires, NULL);
    int comp = api->complete(req);
    int abort_rc = api->on_abort(req, on_abort, NULL);
    int stream = api->stream_begin(req);
    int body = api->set_body(req, "ok", 2);
    record(id, "timer_start=%s complete=%d on_abort=%d stream_begin=%d set_body=%d", t ? "timer" : "null", comp,
           abort_rc, stream, body);
    return PH_OK;
}

static int conform_handle(void *state, ph_request *req)
{
    (void)state;
    const char *kind = api->query_param(req, "case");
    const char *id_text = api->query_param(req, "id");
    if (!kind || !id_text)
        return PH_ERROR;
    unsigned long id = strtoul(id_text, NULL, 10);
    if (strcmp(kind, "report") == 0)
        return report(req, id);
    if (strcmp(kind, "sync_primitives") == 0)
        return sync_primitives(req, id);
    if (strcmp(kind, "ok") == 0) {
        record(id, "handled");
        api->set_body(req, "ok", 2);
        return PH_OK;
    }
    if (strcmp(kind, "error") == 0) {
        record(id, "handled");
        return PH_ERROR;
    }
    if (strcmp(kind, "status_1xx") == 0) {
        int s100 = api->set_status(req, 100);
        int s103 = api->set_status(req, 103);
        int s199 = api->set_status(req, 199);
        int e103 = api->respond_error(req, 103, "early");
        int s201 = api->set_status(req, 201);
        record(id, "s100=%d s103=%d s199=%d respond_error103=%d s201=%d", s100, s103, s199, e103, s201);
        api->set_body(req, "ok", 2);
        return PH_OK;
    }
    if (strcmp(kind, "complete_in_handle") == 0) {
        int rc = api->complete(req);
        record(id, "complete=%d", rc);
        api->set_body(req, "ok", 2);
        return PH_OK;
    }
    call *c = calloc(1, sizeof *c);
    if (!c)
        return PH_ERROR;
    c->id = id;
    snprintf(c->kind, sizeof c->kind, "%s", kind);
    if (strcmp(kind, "pending") == 0 || strcmp(kind, "twice") == 0) {
        if (api->timer_start(req, 5, finish_late, c))
            return PH_PENDING;
    } else if (strcmp(kind, "abort") == 0 || strcmp(kind, "abort_stream") == 0) {
        c->never = api->timer_start(req, 60000, never_fires, NULL);
        if (c->never && api->on_abort(req, on_abort, c) == 0 &&
            (kind[5] == '\0' || (api->stream_begin(req) == 0 && api->stream_write(req, "started\n", 8) == 0)))
            return PH_PENDING;
    } else if (strcmp(kind, "stream_builders") == 0) {
        if (api->stream_begin(req) == 0) {
            int status = api->set_status(req, 201);
            int header = api->add_header(req, "X-After", "1");
            int header_n = api->add_header_n(req, PH_LIT("X-After"), PH_LIT("1"));
            int body = api->set_body(req, "y", 1);
            int write = api->stream_write(req, "x", 1);
            snprintf(c->before, sizeof c->before,
                     "set_status=%d add_header=%d add_header_n=%d set_body=%d stream_write=%d", status, header,
                     header_n, body, write);
            if (api->timer_start(req, 5, finish_late, c))
                return PH_PENDING;
        }
    }
    free(c);
    return PH_ERROR;
}

#ifdef IT_CONFORM_SYNC
PH_PLUGIN_DECLARE("it_conform_sync", "1.0.0", PH_MODE_SYNC, conform_init, NULL, conform_handle)
#else
PH_PLUGIN_DECLARE("it_conform", "1.0.0", PH_MODE_ASYNC, conform_init, NULL, conform_handle)
#endif
