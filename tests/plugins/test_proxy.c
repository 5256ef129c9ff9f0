/* test_proxy.c - the proxy plugin (plugins/proxy/proxy.c) through the mock
 * host: the upstream URL it builds, what it forwards and drops, how it
 * relays the upstream's answer as it arrives (the head, body pieces with
 * back-pressure, the end; a failure after the head cuts the answer short),
 * buffer = on (a whole-response fetch), 502/504 on failures, cancellation
 * when the client leaves, and the settings init refuses. The test plays
 * the upstream with ph_mock_fetch_head / _body / _end / _fail (streaming)
 * and ph_mock_fetch_respond (buffer = on). */
#include "mock_fixture.h"

#include <cjson/cJSON.h>
#include <string.h>

#define UPSTREAM "http://127.0.0.1:9000/base"

/* Load the proxy with `upstream` and optional `timeout` (NULL: absent). */
static ph_mock_instance *load(ph_settings **s, const char *upstream, const char *timeout)
{
    return mock_load(s, "/api", "upstream", upstream, "timeout", timeout, NULL);
}

/* Play a whole upstream answer on a streaming fetch: the head, the body in
 * one piece (when len > 0), the end. */
static void upstream_answers(ph_fetch *f, int status, const char *const *headers, const void *body, size_t len)
{
    assert_int_equal(ph_mock_fetch_head(f, status, headers), 0);
    if (len)
        assert_int_equal(ph_mock_fetch_body(f, body, len), 0);
    assert_int_equal(ph_mock_fetch_end(f), 0);
}

/* Handle `req` and expect one fetch started; returns it. */
static ph_fetch *forward(ph_mock_instance *inst, ph_request *req)
{
    assert_int_equal(ph_mock_handle(inst, req), PH_PENDING);
    assert_int_equal(ph_mock_fetch_pending(req), 1);
    ph_fetch *f = ph_mock_fetch_at(0);
    assert_non_null(f);
    return f;
}

/* The URL the proxy fetched for a GET of `target` with `upstream`. */
static void assert_fetches(const char *upstream, const char *target, const char *url)
{
    ph_settings *s;
    ph_mock_instance *inst = load(&s, upstream, NULL);
    ph_request *req = ph_mock_request_new("GET", target);
    ph_fetch *f = forward(inst, req);
    ph_mock_fetch_info info;
    assert_int_equal(ph_mock_fetch_get(f, &info), 0);
    assert_string_equal(info.url, url);
    assert_string_equal(info.method, "GET");
    assert_true(info.streaming);
    upstream_answers(f, 204, NULL, NULL, 0);
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

/* Assert the JSON error body of `req` is {"error": "<starts with prefix>..."}. */
static void assert_error_body(ph_request *req, const char *prefix)
{
    cJSON *json = ph_mock_response_json(req);
    assert_non_null(json);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(json, "error");
    assert_true(cJSON_IsString(err));
    assert_int_equal(strncmp(err->valuestring, prefix, strlen(prefix)), 0);
    cJSON_Delete(json);
    assert_string_equal(ph_mock_response_header(req, "Content-Type"), "application/json");
}

static void proxy_declares_itself_async(void **state)
{
    (void)state;
    assert_int_equal(ph_plugin_entry()->mode, PH_MODE_ASYNC);
    assert_string_equal(ph_plugin_entry()->name, "proxy");
}

static void proxy_appends_the_query_string_to_the_upstream_url(void **state)
{
    (void)state;
    assert_fetches(UPSTREAM, "/api?x=1&y=a%20b", UPSTREAM "?x=1&y=a%20b");
}

static void proxy_sends_the_bare_upstream_url_without_a_query(void **state)
{
    (void)state;
    assert_fetches(UPSTREAM, "/api", UPSTREAM);
    assert_fetches(UPSTREAM, "/api/deeper/path", UPSTREAM); /* the path is not appended */
}

static void proxy_joins_with_ampersand_when_the_upstream_has_a_query(void **state)
{
    (void)state;
    assert_fetches(UPSTREAM "?key=v", "/api?x=1", UPSTREAM "?key=v&x=1");
    assert_fetches(UPSTREAM "?", "/api?x=1", UPSTREAM "?x=1");
    assert_fetches(UPSTREAM "?key=v&", "/api?x=1", UPSTREAM "?key=v&x=1");
}

static void proxy_forwards_method_body_and_timeout(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, UPSTREAM, "500ms");
    ph_request *req = ph_mock_request_new("PUT", "/api");
    ph_mock_request_set_body_str(req, "{\"n\":1}");
    ph_fetch *f = forward(inst, req);
    ph_mock_fetch_info info;
    ph_mock_fetch_get(f, &info);
    assert_string_equal(info.method, "PUT");
    assert_int_equal(info.body_len, 7);
    assert_memory_equal(info.body, "{\"n\":1}", 7);
    assert_int_equal(info.timeout_ms, 500);
    ph_mock_request_free(req); /* the client leaves: aborts and cancels */
    assert_int_equal(ph_mock_fetch_pending(NULL), 0);
    mock_unload(inst, s);
}

static void proxy_timeout_defaults_to_30_s_and_reads_durations(void **state)
{
    (void)state;
    static const struct {
        const char *setting;
        uint64_t ms;
    } cases[] = {{NULL, 30000}, {"2s", 2000}, {"2", 2000}, {"1.5", 1500}, {"250ms", 250}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ph_settings *s;
        ph_mock_instance *inst = load(&s, UPSTREAM, cases[i].setting);
        ph_request *req = ph_mock_request_new("GET", "/api");
        ph_mock_fetch_info info;
        ph_mock_fetch_get(forward(inst, req), &info);
        assert_int_equal(info.timeout_ms, cases[i].ms);
        ph_mock_request_free(req);
        mock_unload(inst, s);
    }
}

static void proxy_forwards_end_to_end_headers_and_drops_hop_by_hop(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, UPSTREAM, NULL);
    ph_request *req = ph_mock_request_new("POST", "/api");
    static const char *const sent[][2] = {
        {"Accept", "application/json"},
        {"Authorization", "Bearer t0k"},
        {"Content-Type", "application/json"},
        {"Cookie", "a=1"},
        {"User-Agent", "test/1"},
        {"X-Request-Id", "req-42"},
        {"Accept-Language", "fr"},
        {"X-Custom", "kept"}, /* any end-to-end header, not a fixed list */
        {"X-Custom", "twice"}, /* repeated fields each time */
        /* hop-by-hop, or the fetch's own: never forwarded */
        {"Connection", "keep-alive, Upgrade"},
        {"Keep-Alive", "timeout=5"},
        {"Proxy-Authorization", "Basic eA=="},
        {"Proxy-Connection", "keep-alive"},
        {"TE", "trailers"},
        {"Trailer", "X-Sum"},
        {"Transfer-Encoding", "chunked"},
        {"Upgrade", "websocket"},
        {"Host", "client.example"},
        {"Content-Length", "2"},
        {"Expect", "100-continue"},
    };
    for (size_t i = 0; i < sizeof sent / sizeof *sent; i++)
        assert_int_equal(ph_mock_request_add_header(req, sent[i][0], sent[i][1]), 0);
    assert_int_equal(ph_mock_request_add_header(req, "X-Forwarded-For", "10.0.0.1"), 0);
    assert_int_equal(ph_mock_request_set_client_addr(req, "192.0.2.7"), 0);
    ph_mock_request_set_body_str(req, "{}");
    ph_fetch *f = forward(inst, req);

    for (size_t i = 0; i < 8; i++) /* the first X-Custom is what a lookup sees */
        assert_string_equal(ph_mock_fetch_header(f, sent[i][0]), sent[i][1]);
    for (size_t i = 10; i < sizeof sent / sizeof *sent; i++) {
        if (ph_mock_fetch_header(f, sent[i][0]))
            fail_msg("header %s was forwarded", sent[i][0]);
    }
    /* the client is appended to the incoming X-Forwarded-For */
    assert_string_equal(ph_mock_fetch_header(f, "X-Forwarded-For"), "10.0.0.1, 192.0.2.7");
    ph_mock_fetch_info info;
    ph_mock_fetch_get(f, &info);
    assert_int_equal(info.nheaders, 10); /* 8 + the second X-Custom + X-Forwarded-For */
    bool twice = false;
    for (size_t i = 0; i < info.nheaders; i++)
        twice |= strcmp(info.headers[2 * i], "X-Custom") == 0 && strcmp(info.headers[2 * i + 1], "twice") == 0;
    assert_true(twice);
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void proxy_drops_headers_the_clients_connection_header_names(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, UPSTREAM, NULL);
    ph_request *req = ph_mock_request_new("GET", "/api");
    ph_mock_request_add_header(req, "Connection", "close ,  cookie");
    ph_mock_request_add_header(req, "Cookie", "secret=1");
    ph_mock_request_add_header(req, "Accept", "*/*");
    ph_fetch *f = forward(inst, req);
    assert_null(ph_mock_fetch_header(f, "Cookie"));
    assert_string_equal(ph_mock_fetch_header(f, "Accept"), "*/*");
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void proxy_relays_status_end_to_end_headers_and_body(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, UPSTREAM, NULL);
    ph_request *req = ph_mock_request_new("POST", "/api");
    ph_fetch *f = forward(inst, req);
    const char *headers[] = {"Content-Type", "text/csv",
                             "Set-Cookie", "a=1",
                             "Set-Cookie", "b=2",
                             "X-Upstream", "yes",
                             "Connection", "keep-alive, X-Hop",
                             "X-Hop", "per-connection",
                             "Keep-Alive", "timeout=5",
                             "Transfer-Encoding", "chunked",
                             "Content-Length", "7",
                             "Date", "Mon, 01 Jan 2024 00:00:00 GMT",
                             "Proxy-Authenticate", "Basic",
                             "Upgrade", "h2c",
                             "Trailer", "X-Sum",
                             "TE", "trailers",
                             NULL};
    upstream_answers(f, 201, headers, "a,b\n1,2", 7);

    assert_true(ph_mock_stream_begun(req));
    assert_true(ph_mock_stream_ended(req));
    assert_true(ph_mock_responded(req));
    assert_int_equal(ph_mock_complete_calls(req), 1);
    assert_int_equal(ph_mock_response_status(req), 201);
    size_t len;
    assert_memory_equal(ph_mock_response_body(req, &len), "a,b\n1,2", 7);
    assert_int_equal(len, 7);
    assert_int_equal(ph_mock_response_header_count(req), 4);
    const char *name, *value;
    ph_mock_response_header_at(req, 0, &name, &value);
    assert_string_equal(name, "Content-Type");
    assert_string_equal(value, "text/csv");
    ph_mock_response_header_at(req, 1, &name, &value);
    assert_string_equal(value, "a=1");
    ph_mock_response_header_at(req, 2, &name, &value);
    assert_string_equal(value, "b=2"); /* repeated fields all relayed, in order */
    assert_string_equal(ph_mock_response_header(req, "X-Upstream"), "yes");
    assert_null(ph_mock_response_header(req, "X-Hop"));
    assert_int_equal(ph_mock_log_find(PH_LOG_WARN, ""), 0); /* nothing refused */
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void proxy_relays_an_upstream_error_status_as_is(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, UPSTREAM, NULL);
    ph_request *req = ph_mock_request_new("GET", "/api?id=9");
    const char *headers[] = {"Content-Type", "application/json", NULL};
    upstream_answers(forward(inst, req), 404, headers, "{\"e\":1}", 7);
    assert_int_equal(ph_mock_response_status(req), 404);
    assert_string_equal(ph_mock_response_body(req, NULL), "{\"e\":1}");
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

/* Fail the fetch with `error` and expect `status` with an error body. */
static void assert_failure_answers(ph_fetch_error error, int status, const char *prefix)
{
    ph_settings *s;
    ph_mock_instance *inst = load(&s, UPSTREAM, NULL);
    ph_request *req = ph_mock_request_new("GET", "/api");
    assert_int_equal(ph_mock_fetch_fail(forward(inst, req), error, "detail for the log"), 0);
    assert_true(ph_mock_responded(req));
    assert_int_equal(ph_mock_complete_calls(req), 1);
    assert_int_equal(ph_mock_response_status(req), status);
    assert_error_body(req, prefix);
    assert_int_equal(ph_mock_log_find(PH_LOG_WARN, "detail for the log"), 1);
    assert_int_equal(ph_mock_log_find(PH_LOG_WARN, UPSTREAM), 1);
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void proxy_answers_502_when_the_upstream_refuses(void **state)
{
    (void)state;
    assert_failure_answers(PH_FETCH_REFUSED, 502, "bad gateway");
}

static void proxy_answers_502_when_the_upstream_resets(void **state)
{
    (void)state;
    assert_failure_answers(PH_FETCH_RESET, 502, "bad gateway");
}

static void proxy_answers_502_on_dns_and_invalid_responses(void **state)
{
    (void)state;
    assert_failure_answers(PH_FETCH_DNS, 502, "bad gateway");
    ph_mock_reset();
    assert_failure_answers(PH_FETCH_INVALID, 502, "bad gateway");
}

static void proxy_answers_504_when_the_upstream_times_out(void **state)
{
    (void)state;
    assert_failure_answers(PH_FETCH_TIMEOUT, 504, "gateway timeout");
}

static void proxy_answers_504_when_its_timeout_passes_on_the_clock(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, UPSTREAM, "500ms");
    ph_request *req = ph_mock_request_new("GET", "/api");
    forward(inst, req);
    ph_mock_run_timers(499);
    assert_false(ph_mock_responded(req));
    ph_mock_run_timers(1);
    assert_int_equal(ph_mock_response_status(req), 504);
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void proxy_answers_502_at_once_when_the_fetch_cannot_start(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, UPSTREAM, NULL);
    ph_request *req = ph_mock_request_new("GET", "/api");
    ph_mock_fail_next(PH_MOCK_FAULT_FETCH, 1);
    assert_int_equal(ph_mock_handle(inst, req), PH_OK);
    assert_int_equal(ph_mock_response_status(req), 502);
    assert_error_body(req, "bad gateway");
    assert_int_equal(ph_mock_complete_calls(req), 0);
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void proxy_abort_cancels_the_fetch_and_frees_its_context(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, UPSTREAM, NULL);
    ph_request *req = ph_mock_request_new("GET", "/api");
    ph_fetch *f = forward(inst, req);
    assert_int_equal(ph_mock_abort(req), 0);
    assert_int_equal(ph_mock_abort_calls(req), 1);
    assert_int_equal(ph_mock_fetch_pending(NULL), 0);
    assert_int_equal(ph_mock_fetch_head(f, 200, NULL), -1); /* nobody listens */
    assert_int_equal(ph_mock_run_timers(60000), 0);
    assert_false(ph_mock_responded(req));
    assert_int_equal(ph_mock_complete_calls(req), 0);
    /* the context is freed: AddressSanitizer's leak check proves it */
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void proxy_serves_overlapping_requests_independently(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, UPSTREAM, NULL);
    ph_request *a = ph_mock_request_new("GET", "/api?who=a");
    ph_request *b = ph_mock_request_new("GET", "/api?who=b");
    assert_int_equal(ph_mock_handle(inst, a), PH_PENDING);
    assert_int_equal(ph_mock_handle(inst, b), PH_PENDING);
    assert_int_equal(ph_mock_fetch_pending(NULL), 2);
    ph_fetch *fa = ph_mock_fetch_at(0), *fb = ph_mock_fetch_at(1);
    ph_mock_fetch_info info;
    ph_mock_fetch_get(fb, &info);
    assert_string_equal(info.url, UPSTREAM "?who=b");
    upstream_answers(fb, 200, NULL, "B", 1);
    assert_int_equal(ph_mock_fetch_fail(fa, PH_FETCH_REFUSED, "refused"), 0);
    assert_string_equal(ph_mock_response_body(b, NULL), "B");
    assert_int_equal(ph_mock_response_status(a), 502);
    ph_mock_request_free(a);
    ph_mock_request_free(b);
    mock_unload(inst, s);
}

/* ---- streaming ---- */

static void proxy_streams_the_body_as_it_arrives(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, UPSTREAM, NULL);
    ph_request *req = ph_mock_request_new("GET", "/api");
    ph_fetch *f = forward(inst, req);
    const char *headers[] = {"Content-Type", "text/plain", "Content-Length", "6", NULL};
    assert_int_equal(ph_mock_fetch_head(f, 200, headers), 0);
    assert_true(ph_mock_stream_begun(req)); /* the head is out before any body */
    assert_false(ph_mock_responded(req));
    assert_int_equal(ph_mock_fetch_body(f, "ab", 2), 0);
    assert_string_equal(ph_mock_response_body(req, NULL), "ab");
    assert_int_equal(ph_mock_fetch_body(f, "cdef", 4), 0);
    assert_int_equal(ph_mock_stream_writes(req), 2);
    assert_false(ph_mock_responded(req));
    assert_int_equal(ph_mock_fetch_end(f), 0);
    assert_true(ph_mock_stream_ended(req));
    assert_int_equal(ph_mock_complete_calls(req), 1);
    assert_string_equal(ph_mock_response_body(req, NULL), "abcdef");
    assert_string_equal(ph_mock_response_header(req, "Content-Type"), "text/plain");
    assert_null(ph_mock_response_header(req, "Content-Length")); /* the host frames the stream */
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

/* stream_write says the client's buffer is full: the fetch pauses (the
 * upstream's next piece is not taken) until the drain callback. */
static void proxy_pauses_the_upstream_while_the_client_is_slow(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, UPSTREAM, NULL);
    ph_request *req = ph_mock_request_new("GET", "/api");
    ph_fetch *f = forward(inst, req);
    ph_mock_stream_set_high_water(4);
    assert_int_equal(ph_mock_fetch_head(f, 200, NULL), 0);
    assert_int_equal(ph_mock_fetch_body(f, "123", 3), 0);
    assert_false(ph_mock_fetch_paused(f));
    assert_int_equal(ph_mock_fetch_body(f, "45", 2), 0); /* 5 > 4: stream_write returned 1 */
    assert_true(ph_mock_fetch_paused(f));
    assert_int_equal(ph_mock_fetch_body(f, "6", 1), 1); /* not read while paused */
    assert_int_equal(ph_mock_fetch_end(f), 1);
    assert_int_equal(ph_mock_stream_drain(req), 1);     /* the client caught up */
    assert_false(ph_mock_fetch_paused(f));
    assert_int_equal(ph_mock_fetch_body(f, "6", 1), 0);
    assert_int_equal(ph_mock_fetch_end(f), 0);
    assert_true(ph_mock_stream_ended(req));
    assert_string_equal(ph_mock_response_body(req, NULL), "123456");
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

/* After the head the status is on the wire: an upstream failure must not
 * look like a clean end. complete_failed() cuts the stream short. */
static void proxy_cuts_the_answer_short_when_the_upstream_fails_mid_body(void **state)
{
    (void)state;
    static const ph_fetch_error errors[] = {PH_FETCH_RESET, PH_FETCH_TIMEOUT, PH_FETCH_INVALID};
    for (size_t i = 0; i < sizeof errors / sizeof *errors; i++) {
        ph_mock_reset();
        ph_settings *s;
        ph_mock_instance *inst = load(&s, UPSTREAM, NULL);
        ph_request *req = ph_mock_request_new("GET", "/api");
        ph_fetch *f = forward(inst, req);
        assert_int_equal(ph_mock_fetch_head(f, 200, NULL), 0);
        assert_int_equal(ph_mock_fetch_body(f, "part", 4), 0);
        assert_int_equal(ph_mock_fetch_fail(f, errors[i], "closed before the response was complete"), 0);
        assert_true(ph_mock_responded(req));
        assert_true(ph_mock_failed(req));
        assert_false(ph_mock_stream_ended(req));
        assert_int_equal(ph_mock_complete_calls(req), 0);
        assert_int_equal(ph_mock_response_status(req), 200);
        assert_string_equal(ph_mock_response_body(req, NULL), "part");
        assert_int_equal(ph_mock_log_find(PH_LOG_WARN, "the client's answer is cut short"), 1);
        assert_int_equal(ph_mock_log_find(PH_LOG_WARN, "closed before the response was complete"), 1);
        assert_int_equal(ph_mock_misuse_count(), 0);
        ph_mock_request_free(req);
        mock_unload(inst, s);
    }
}

/* A HEAD, a 204 or a 304 has no body: relayed whole at the end, not
 * streamed (a stream would add chunked framing to a body-less answer). */
static void proxy_sends_bodyless_answers_whole(void **state)
{
    (void)state;
    static const struct {
        const char *method;
        int status;
    } cases[] = {{"HEAD", 200}, {"GET", 204}, {"GET", 304}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ph_settings *s;
        ph_mock_instance *inst = load(&s, UPSTREAM, NULL);
        ph_request *req = ph_mock_request_new(cases[i].method, "/api");
        ph_fetch *f = forward(inst, req);
        ph_mock_fetch_info info;
        ph_mock_fetch_get(f, &info);
        assert_string_equal(info.method, cases[i].method);
        const char *headers[] = {"ETag", "\"v1\"", NULL};
        assert_int_equal(ph_mock_fetch_head(f, cases[i].status, headers), 0);
        assert_false(ph_mock_stream_begun(req));
        assert_false(ph_mock_responded(req));
        assert_int_equal(ph_mock_fetch_end(f), 0);
        assert_true(ph_mock_responded(req));
        assert_int_equal(ph_mock_complete_calls(req), 1);
        assert_int_equal(ph_mock_response_status(req), cases[i].status);
        assert_string_equal(ph_mock_response_header(req, "ETag"), "\"v1\"");
        ph_mock_request_free(req);
        mock_unload(inst, s);
    }
}

static void proxy_answers_502_for_a_status_the_host_refuses(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, UPSTREAM, NULL);
    ph_request *req = ph_mock_request_new("GET", "/api");
    ph_fetch *f = forward(inst, req);
    assert_int_equal(ph_mock_fetch_head(f, 700, NULL), 0);
    assert_int_equal(ph_mock_fetch_pending(NULL), 0); /* cancelled from its on_head */
    assert_int_equal(ph_mock_response_status(req), 502);
    assert_error_body(req, "bad gateway");
    assert_int_equal(ph_mock_complete_calls(req), 1);
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void proxy_client_gone_mid_stream_cancels_the_fetch(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, UPSTREAM, NULL);
    ph_request *req = ph_mock_request_new("GET", "/api");
    ph_fetch *f = forward(inst, req);
    assert_int_equal(ph_mock_fetch_head(f, 200, NULL), 0);
    assert_int_equal(ph_mock_fetch_body(f, "x", 1), 0);
    assert_int_equal(ph_mock_abort(req), 0);
    assert_int_equal(ph_mock_fetch_pending(NULL), 0);
    assert_int_equal(ph_mock_fetch_body(f, "y", 1), -1);
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

/* ---- buffer = on ---- */

static void proxy_buffered_relays_the_whole_answer(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = mock_load(&s, "/api", "upstream", UPSTREAM, "buffer", "on", NULL);
    ph_request *req = ph_mock_request_new("GET", "/api");
    ph_fetch *f = forward(inst, req);
    ph_mock_fetch_info info;
    ph_mock_fetch_get(f, &info);
    assert_false(info.streaming);
    const char *headers[] = {"Content-Type", "text/plain", NULL};
    assert_int_equal(ph_mock_fetch_respond(f, 200, headers, "whole", 5), 0);
    assert_false(ph_mock_stream_begun(req));
    assert_int_equal(ph_mock_complete_calls(req), 1);
    assert_string_equal(ph_mock_response_body(req, NULL), "whole");
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

/* The host fails a whole-response fetch past upstream_max_body: a 502
 * that says so. */
static void proxy_buffered_answers_502_past_upstream_max_body(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = mock_load(&s, "/api", "upstream", UPSTREAM, "buffer", "yes", NULL);
    ph_request *req = ph_mock_request_new("GET", "/api");
    assert_int_equal(ph_mock_fetch_fail(forward(inst, req), PH_FETCH_INVALID,
                                        "the response body from 127.0.0.1:9000 is over upstream_max_body (1048576 "
                                        "bytes)"),
                     0);
    assert_int_equal(ph_mock_response_status(req), 502);
    assert_error_body(req, "bad gateway: the upstream response is larger than upstream_max_body");
    assert_int_equal(ph_mock_log_find(PH_LOG_WARN, "over upstream_max_body"), 1);
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

/* ---- settings and hosts ---- */

static void proxy_declares_its_settings(void **state)
{
    (void)state;
    const char *const *keys = ph_plugin_entry()->settings;
    assert_non_null(keys);
    assert_string_equal(keys[0], "upstream");
    assert_string_equal(keys[1], "timeout");
    assert_string_equal(keys[2], "buffer");
    assert_null(keys[3]);
    /* so a misspelt key is refused instead of silently ignored */
    mock_assert_init_refuses("unknown key 'upstrem'", "/api", "upstream", UPSTREAM, "upstrem", "x", NULL);
    mock_assert_init_refuses("buffer", "/api", "upstream", UPSTREAM, "buffer", "maybe", NULL);
}

/* A 1.3 host has no fetch_stream: the proxy refuses to stream there, and
 * works with buffer = on. */
static void proxy_needs_abi_1_4_to_stream(void **state)
{
    (void)state;
    ph_host_api old = *ph_mock_api();
    old.struct_size = offsetof(ph_host_api, fetch_stream);
    ph_settings *s = ph_mock_settings_new("/api", "upstream", UPSTREAM, NULL);
    ph_mock_instance *inst;
    assert_int_not_equal(ph_mock_init_with_api(&old, ph_plugin_entry(), s, &inst), 0);
    assert_int_equal(ph_mock_log_find(PH_LOG_ERROR, "ABI 1.4"), 1);
    assert_int_equal(ph_mock_settings_set(s, "buffer", "on"), 0);
    assert_int_equal(ph_mock_init_with_api(&old, ph_plugin_entry(), s, &inst), 0);
    ph_request *req = ph_mock_request_new("GET", "/api");
    assert_int_equal(ph_mock_handle(inst, req), PH_PENDING);
    assert_int_equal(ph_mock_fetch_respond(ph_mock_fetch_at(0), 200, NULL, "ok", 2), 0);
    assert_string_equal(ph_mock_response_body(req, NULL), "ok");
    ph_mock_request_free(req);
    ph_mock_fini(inst);
    ph_mock_settings_free(s);
}

/* init refuses upstream/timeout, logging `needle` and the route. */
static void assert_init_refuses(const char *upstream, const char *timeout, const char *needle)
{
    mock_assert_init_refuses(needle, "/api", "upstream", upstream, "timeout", timeout, NULL);
}

static void proxy_init_refuses_a_missing_or_bad_upstream(void **state)
{
    (void)state;
    assert_init_refuses(NULL, NULL, "upstream is required");
    assert_init_refuses("", NULL, "upstream is required");
    assert_init_refuses("https://example.com/", NULL, "https is not supported");
    assert_init_refuses("ftp://example.com/", NULL, "must start with http://");
    assert_init_refuses("127.0.0.1:9000", NULL, "must start with http://");
    assert_init_refuses("http://", NULL, "no host");
    assert_init_refuses("http:///path", NULL, "no host");
    assert_init_refuses("http://:9000/", NULL, "no host");
    assert_init_refuses("http://host:/", NULL, "port");
    assert_init_refuses("http://host:99999/", NULL, "port");
    assert_init_refuses("http://host:0/", NULL, "port");
    assert_init_refuses("http://host:8x/", NULL, "port");
    assert_init_refuses("http://user@host/", NULL, "user info");
    assert_init_refuses("http://host/a b", NULL, "space");
    assert_init_refuses("http://host/#top", NULL, "fragment");
    assert_init_refuses("http://[::1/", NULL, "IPv6");
}

static void proxy_init_accepts_well_formed_upstreams(void **state)
{
    (void)state;
    static const char *const good[] = {"http://127.0.0.1:9000/base", "HTTP://example.com",
                                       "http://[::1]:8080/x?y=1", "http://h:65535", "http://h?q"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        ph_settings *s;
        ph_mock_instance *inst = load(&s, good[i], NULL);
        mock_unload(inst, s);
    }
}

static void proxy_init_refuses_a_bad_timeout(void **state)
{
    (void)state;
    assert_init_refuses(UPSTREAM, "abc", "timeout");
    assert_init_refuses(UPSTREAM, "-1", "not a duration");
    assert_init_refuses(UPSTREAM, "2m", "not a duration");
    assert_init_refuses(UPSTREAM, "1e3", "not a duration");
    assert_init_refuses(UPSTREAM, "", "not a duration");
    assert_init_refuses(UPSTREAM, "0", "out of range");
    assert_init_refuses(UPSTREAM, "2d", "not a duration");
    assert_init_refuses(UPSTREAM, "86401", "out of range"); /* over a day */
}

static void proxy_init_refuses_a_host_without_fetch(void **state)
{
    (void)state;
    mock_assert_refuses_a_1_0_host("/api");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        MOCK_TEST(proxy_declares_itself_async),
        MOCK_TEST(proxy_appends_the_query_string_to_the_upstream_url),
        MOCK_TEST(proxy_sends_the_bare_upstream_url_without_a_query),
        MOCK_TEST(proxy_joins_with_ampersand_when_the_upstream_has_a_query),
        MOCK_TEST(proxy_forwards_method_body_and_timeout),
        MOCK_TEST(proxy_timeout_defaults_to_30_s_and_reads_durations),
        MOCK_TEST(proxy_forwards_end_to_end_headers_and_drops_hop_by_hop),
        MOCK_TEST(proxy_drops_headers_the_clients_connection_header_names),
        MOCK_TEST(proxy_relays_status_end_to_end_headers_and_body),
        MOCK_TEST(proxy_relays_an_upstream_error_status_as_is),
        MOCK_TEST(proxy_answers_502_when_the_upstream_refuses),
        MOCK_TEST(proxy_answers_502_when_the_upstream_resets),
        MOCK_TEST(proxy_answers_502_on_dns_and_invalid_responses),
        MOCK_TEST(proxy_answers_504_when_the_upstream_times_out),
        MOCK_TEST(proxy_answers_504_when_its_timeout_passes_on_the_clock),
        MOCK_TEST(proxy_answers_502_at_once_when_the_fetch_cannot_start),
        MOCK_TEST(proxy_abort_cancels_the_fetch_and_frees_its_context),
        MOCK_TEST(proxy_serves_overlapping_requests_independently),
        MOCK_TEST(proxy_streams_the_body_as_it_arrives),
        MOCK_TEST(proxy_pauses_the_upstream_while_the_client_is_slow),
        MOCK_TEST(proxy_cuts_the_answer_short_when_the_upstream_fails_mid_body),
        MOCK_TEST(proxy_sends_bodyless_answers_whole),
        MOCK_TEST(proxy_answers_502_for_a_status_the_host_refuses),
        MOCK_TEST(proxy_client_gone_mid_stream_cancels_the_fetch),
        MOCK_TEST(proxy_buffered_relays_the_whole_answer),
        MOCK_TEST(proxy_buffered_answers_502_past_upstream_max_body),
        MOCK_TEST(proxy_declares_its_settings),
        MOCK_TEST(proxy_needs_abi_1_4_to_stream),
        MOCK_TEST(proxy_init_refuses_a_missing_or_bad_upstream),
        MOCK_TEST(proxy_init_accepts_well_formed_upstreams),
        MOCK_TEST(proxy_init_refuses_a_bad_timeout),
        MOCK_TEST(proxy_init_refuses_a_host_without_fetch),
    };
    return cmocka_run_group_tests_name("plugin proxy", tests, NULL, NULL);
}
