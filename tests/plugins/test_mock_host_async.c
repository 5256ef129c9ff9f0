/* test_mock_host_async.c - the ABI 1.1 slots of the SDK mock host
 * (sdk/testing/ph_mock_host.c): path parameters, abort, repeating timers,
 * fetch, offload and streaming, their test drivers, and the misuses the
 * mock reports for them; and the 1.4 ones: fetch_stream with pause and
 * resume (ph_mock_fetch_head / _body / _end) and complete_failed(). Uses the probe
 * plugin of mock_probe.h. */
#include "mock_probe.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* Per-test scratch the probe functions and callbacks write into. */
static struct {
    const char *str[8];
    int rc[8];
    ph_timer *timer;
    ph_fetch *fetch;
    int fires, aborts, drains, dones, works;
    ph_request *cb_req;
    /* what the fetch callback saw */
    ph_fetch_error error;
    char error_text[64];
    int status;
    size_t nheaders;
    char header0[64];
    char body[64];
} seen;

static void clear_seen(void) { memset(&seen, 0, sizeof seen); }

/* Setup that also clears the scratch. */
static int setup_async(void **state)
{
    clear_seen();
    return mock_setup(state);
}

#define ASYNC_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_async, mock_teardown)

/* Clear the recorded misuses (the test provoked them on purpose). */
static void forget_misuses(void)
{
    ph_mock_reset();
}

/* Assert that exactly one misuse was recorded and it contains `needle`. */
static void assert_one_misuse(const char *needle)
{
    assert_int_equal(ph_mock_misuse_count(), 1);
    assert_non_null(strstr(ph_mock_misuse(0), needle));
}

/* ---- the table ---- */

static void mock_api_fills_every_1_1_slot_and_can_play_a_1_0_host(void **state)
{
    (void)state;
    const ph_host_api *api = ph_mock_api();
    assert_int_equal(api->abi_version, PH_ABI_VERSION);
    assert_true(PH_HOST_HAS(api, path_param));
    assert_true(PH_HOST_HAS(api, on_abort));
    assert_true(PH_HOST_HAS(api, timer_repeat));
    assert_true(PH_HOST_HAS(api, fetch));
    assert_true(PH_HOST_HAS(api, fetch_cancel));
    assert_true(PH_HOST_HAS(api, offload));
    assert_true(PH_HOST_HAS(api, stream_begin));
    assert_true(PH_HOST_HAS(api, stream_write));
    assert_true(PH_HOST_HAS(api, stream_on_drain));
    assert_true(PH_HOST_HAS(api, header_count));
    assert_true(PH_HOST_HAS(api, header_at));
    assert_true(PH_HOST_HAS(api, client_addr));

    /* header enumeration and the client address, like the host's */
    ph_request *req = ph_mock_request_new("GET", "/");
    assert_int_equal(ph_mock_request_add_header(req, "A", "1"), 0);
    assert_int_equal(ph_mock_request_add_header(req, "A", "2"), 0);
    assert_int_equal(api->header_count(req), 2);
    const char *name, *value;
    assert_int_equal(api->header_at(req, 1, &name, &value), 0);
    assert_string_equal(name, "A");
    assert_string_equal(value, "2");
    assert_int_equal(api->header_at(req, 2, &name, &value), -1);
    assert_string_equal(api->client_addr(req), "127.0.0.1");
    assert_int_equal(ph_mock_request_set_client_addr(req, "::1"), 0);
    assert_string_equal(api->client_addr(req), "::1");
    ph_mock_request_free(req);

    ph_host_api old = *api;
    old.struct_size = offsetof(ph_host_api, path_param);
    assert_true(PH_HOST_HAS(&old, timer_cancel));
    assert_false(PH_HOST_HAS(&old, path_param));
    assert_false(PH_HOST_HAS(&old, stream_on_drain));
}

/* ---- path parameters ---- */

static int read_params(const ph_host_api *api, ph_request *req)
{
    seen.str[0] = api->path_param(req, "id");
    seen.str[1] = api->path_param(req, "name");
    seen.str[2] = api->path_param(req, "ID");
    seen.str[3] = api->path_param(req, "missing");
    return PH_OK;
}

static void mock_path_param_returns_what_the_test_set(void **state)
{
    (void)state;
    ph_request *req = ph_mock_request_new("GET", "/items/42");
    assert_int_equal(ph_mock_request_set_path_params(req, "id", "7", NULL), 0);
    /* a second call replaces the first set */
    assert_int_equal(ph_mock_request_set_path_params(req, "id", "42", "name", "a b/c", NULL), 0);
    assert_int_equal(ph_mock_request_set_path_params(req, "id", (char *)NULL, NULL), -1);
    int rc;
    run_probe_on(&probe_sync, req, read_params, &rc);
    assert_int_equal(rc, PH_OK);
    assert_string_equal(seen.str[0], "42");
    assert_string_equal(seen.str[1], "a b/c");
    assert_null(seen.str[2]); /* names are case-sensitive */
    assert_null(seen.str[3]);
    finish_probe(req);
}

/* ---- repeating timers ---- */

static void count_tick(ph_request *req, void *arg)
{
    (void)arg;
    seen.fires++;
    seen.cb_req = req;
    if (seen.fires == 4)
        probe_api->timer_cancel(seen.timer); /* inside its own callback */
}

static int start_repeat(const ph_host_api *api, ph_request *req)
{
    seen.timer = api->timer_repeat(req, 10, count_tick, NULL);
    return seen.timer ? PH_PENDING : PH_ERROR;
}

static void mock_repeating_timer_fires_every_period_until_cancelled(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_repeat, &rc);
    assert_int_equal(rc, PH_PENDING);
    ph_mock_timer_info info;
    assert_int_equal(ph_mock_timer_list(&info, 1), 1);
    assert_true(info.repeat);
    assert_int_equal(info.due_ms, 10);

    assert_int_equal(ph_mock_run_timers(35), 3); /* 10, 20, 30 */
    assert_ptr_equal(seen.cb_req, req);
    assert_int_equal(ph_mock_timer_list(&info, 1), 1);
    assert_int_equal(info.due_ms, 40);

    assert_int_equal(ph_mock_run_timers(100), 1); /* 40, then it cancels itself */
    assert_int_equal(seen.fires, 4);
    assert_int_equal(ph_mock_timers_pending(NULL), 0);
    assert_int_equal(probe_api->complete(req), 0);
    finish_probe(req);
}

static void mock_repeating_timer_stops_when_the_request_completes(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_repeat, &rc);
    assert_int_equal(ph_mock_run_timers(20), 2);
    assert_int_equal(probe_api->complete(req), 0);
    assert_int_equal(ph_mock_timers_pending(NULL), 0);
    assert_int_equal(ph_mock_run_timers(1000), 0);
    finish_probe(req);
}

static int repeat_zero(const ph_host_api *api, ph_request *req)
{
    seen.timer = api->timer_repeat(req, 0, count_tick, NULL);
    return PH_OK;
}

static void mock_flags_a_zero_ms_repeating_timer(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", repeat_zero, &rc);
    assert_null(seen.timer);
    assert_one_misuse("busy-loops");
    finish_probe(req);
    forget_misuses();
}

/* ---- abort ---- */

static void on_abort_count(ph_request *req, void *arg)
{
    assert_ptr_equal(arg, &seen);
    seen.aborts++;
    seen.cb_req = req;
    /* still readable inside the callback */
    size_t len = 0;
    probe_api->body(req, &len);
    seen.rc[7] = (int)len;
}

static void never_called_timer(ph_request *req, void *arg)
{
    (void)req;
    (void)arg;
    fail_msg("a timer fired for an aborted request");
}

static void never_called_fetch(ph_request *req, const ph_fetch_response *resp, void *arg)
{
    (void)req;
    (void)resp;
    (void)arg;
    fail_msg("a fetch called back for an aborted request");
}

static void count_work(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

/* How often an offload's done ran after its request had ended. */
static atomic_int dones_after_end;

static void done_after_end(ph_request *req, void *arg)
{
    (void)arg;
    if (req)
        fail_msg("an offload done got its request after the request ended");
    atomic_fetch_add(&dones_after_end, 1);
}

static atomic_int works_run;

static int start_everything(const ph_host_api *api, ph_request *req)
{
    seen.rc[0] = api->on_abort(req, on_abort_count, &seen);
    seen.timer = api->timer_start(req, 100, never_called_timer, NULL);
    seen.rc[1] = api->timer_repeat(req, 10, never_called_timer, NULL) ? 0 : -1;
    ph_fetch_request freq = {.struct_size = sizeof freq, .url = "http://127.0.0.1:9/x"};
    seen.fetch = api->fetch(req, &freq, never_called_fetch, NULL);
    seen.rc[2] = api->offload(req, count_work, done_after_end, &works_run);
    return PH_PENDING;
}

static void mock_abort_runs_the_callback_once_and_cancels_everything(void **state)
{
    (void)state;
    atomic_store(&works_run, 0);
    ph_request *req = ph_mock_request_new("POST", "/");
    ph_mock_request_set_body_str(req, "12345");
    int rc;
    run_probe_on(&probe_async, req, start_everything, &rc);
    assert_int_equal(rc, PH_PENDING);
    assert_int_equal(seen.rc[0], 0);
    assert_int_equal(seen.rc[1], 0);
    assert_non_null(seen.fetch);
    assert_int_equal(seen.rc[2], 0);
    assert_int_equal(ph_mock_timers_pending(req), 2);
    assert_int_equal(ph_mock_fetch_pending(req), 1);
    assert_int_equal(ph_mock_offloads_pending(req), 1);

    assert_int_equal(ph_mock_abort(req), 0);
    assert_int_equal(seen.aborts, 1);
    assert_ptr_equal(seen.cb_req, req);
    assert_int_equal(seen.rc[7], 5);
    assert_int_equal(ph_mock_abort_calls(req), 1);
    assert_true(ph_mock_aborted(req));
    assert_false(ph_mock_responded(req));
    assert_int_equal(ph_mock_timers_pending(NULL), 0);
    assert_int_equal(ph_mock_fetch_pending(NULL), 0);
    assert_int_equal(ph_mock_offloads_pending(NULL), 0);

    /* nothing calls back with the request any more; the work still runs
     * and its done gets a NULL request, only to free its argument */
    atomic_store(&dones_after_end, 0);
    assert_int_equal(ph_mock_run_timers(60000), 0);
    assert_int_equal(ph_mock_fetch_respond(seen.fetch, 200, NULL, NULL, 0), -1);
    assert_int_equal(ph_mock_run_offloads(), 1);
    assert_int_equal(atomic_load(&works_run), 1);
    assert_int_equal(atomic_load(&dones_after_end), 1);

    /* once only */
    assert_int_equal(ph_mock_abort(req), -1);
    assert_int_equal(seen.aborts, 1);
    assert_int_equal(ph_mock_misuse_count(), 0);
    finish_probe(req);
    assert_int_equal(seen.aborts, 1); /* freeing an aborted request aborts nothing */
}

static int register_abort(const ph_host_api *api, ph_request *req)
{
    seen.rc[0] = api->on_abort(req, on_abort_count, &seen);
    return PH_PENDING;
}

static void mock_flags_calls_on_an_aborted_request(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", register_abort, &rc);
    assert_int_equal(ph_mock_abort(req), 0);
    assert_int_equal(probe_api->complete(req), -1);
    assert_one_misuse("complete() after the request was aborted");
    forget_misuses();
    assert_int_equal(probe_api->set_status(req, 200), -1);
    assert_null(probe_api->header(req, "X-Trace"));
    assert_null(probe_api->timer_start(req, 1, never_called_timer, NULL));
    assert_int_equal(ph_mock_misuse_count(), 3);
    finish_probe(req);
    forget_misuses();
}

static void complete_in_abort(ph_request *req, void *arg)
{
    (void)arg;
    seen.rc[1] = probe_api->complete(req);
    seen.rc[2] = probe_api->timer_start(req, 1, never_called_timer, NULL) ? 0 : -1;
}

static int register_bad_abort(const ph_host_api *api, ph_request *req)
{
    api->on_abort(req, complete_in_abort, NULL);
    return PH_PENDING;
}

static void mock_flags_complete_and_new_work_inside_the_abort_callback(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", register_bad_abort, &rc);
    assert_int_equal(ph_mock_abort(req), 0);
    assert_int_equal(seen.rc[1], -1);
    assert_int_equal(seen.rc[2], -1);
    assert_int_equal(ph_mock_misuse_count(), 2);
    assert_non_null(strstr(ph_mock_misuse(0), "inside the abort callback"));
    finish_probe(req);
    forget_misuses();
}

static void mock_abort_does_nothing_to_a_finished_request(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", register_abort, &rc);
    assert_int_equal(probe_api->complete(req), 0);
    assert_int_equal(ph_mock_abort(req), -1);
    assert_int_equal(seen.aborts, 0);
    assert_true(ph_mock_responded(req));
    finish_probe(req);
}

static void mock_freeing_a_pending_request_aborts_it(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", register_abort, &rc);
    finish_probe(req);
    assert_int_equal(seen.aborts, 1);
}

static void mock_flags_on_abort_from_a_sync_plugin(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_sync, "/", register_abort, &rc);
    assert_int_equal(seen.rc[0], -1);
    /* two misuses: on_abort, and PH_PENDING from a sync plugin */
    assert_int_equal(ph_mock_misuse_count(), 2);
    assert_non_null(strstr(ph_mock_misuse(0), "on_abort() from a sync plugin"));
    finish_probe(req);
    forget_misuses();
}

/* ---- fetch ---- */

static void note_fetch(ph_request *req, const ph_fetch_response *resp, void *arg)
{
    (void)arg;
    seen.cb_req = req;
    seen.fires++;
    seen.error = resp->error;
    snprintf(seen.error_text, sizeof seen.error_text, "%s", resp->error_text);
    seen.status = resp->status;
    seen.nheaders = resp->nheaders;
    if (resp->nheaders)
        snprintf(seen.header0, sizeof seen.header0, "%s: %s", resp->headers[0], resp->headers[1]);
    snprintf(seen.body, sizeof seen.body, "%.*s", (int)resp->body_len, (const char *)resp->body);
}

static int start_post(const ph_host_api *api, ph_request *req)
{
    const char *headers[] = {"Content-Type", "application/json", "X-Id", "7", NULL};
    ph_fetch_request freq = {.struct_size = sizeof freq,
                             .method = "POST",
                             .url = "http://upstream.test:9000/base?q=1",
                             .headers = headers,
                             .body = "{\"a\":1}",
                             .body_len = 7,
                             .timeout_ms = 2500};
    seen.fetch = api->fetch(req, &freq, note_fetch, NULL);
    return PH_PENDING;
}

static void mock_fetch_records_the_request_and_delivers_the_response(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_post, &rc);
    assert_non_null(seen.fetch);
    assert_int_equal(ph_mock_fetch_pending(NULL), 1);
    assert_int_equal(ph_mock_fetch_pending(req), 1);
    assert_ptr_equal(ph_mock_fetch_at(0), seen.fetch);
    assert_null(ph_mock_fetch_at(1));
    assert_int_equal(ph_mock_timers_pending(NULL), 0); /* its time-out is no plugin timer */

    ph_mock_fetch_info info;
    assert_int_equal(ph_mock_fetch_get(seen.fetch, &info), 0);
    assert_ptr_equal(info.req, req);
    assert_string_equal(info.method, "POST");
    assert_string_equal(info.url, "http://upstream.test:9000/base?q=1");
    assert_int_equal(info.nheaders, 2);
    assert_string_equal(info.headers[2], "X-Id");
    assert_null(info.headers[4]);
    assert_string_equal(info.body, "{\"a\":1}");
    assert_int_equal(info.body_len, 7);
    assert_int_equal(info.timeout_ms, 2500);
    assert_true(info.pending);
    assert_string_equal(ph_mock_fetch_header(seen.fetch, "content-type"), "application/json");
    assert_null(ph_mock_fetch_header(seen.fetch, "Host"));

    const char *resp_headers[] = {"Content-Type", "text/plain", "X-Up", "1", NULL};
    assert_int_equal(ph_mock_fetch_respond(seen.fetch, 201, resp_headers, "made", 4), 0);
    assert_int_equal(seen.fires, 1);
    assert_ptr_equal(seen.cb_req, req);
    assert_int_equal(seen.error, PH_FETCH_OK);
    assert_string_equal(seen.error_text, "");
    assert_int_equal(seen.status, 201);
    assert_int_equal(seen.nheaders, 2);
    assert_string_equal(seen.header0, "Content-Type: text/plain");
    assert_string_equal(seen.body, "made");

    /* answered: no second outcome, nothing pending, still inspectable */
    assert_int_equal(ph_mock_fetch_respond(seen.fetch, 200, NULL, NULL, 0), -1);
    assert_int_equal(ph_mock_fetch_fail(seen.fetch, PH_FETCH_RESET, NULL), -1);
    assert_int_equal(ph_mock_fetch_pending(NULL), 0);
    assert_int_equal(ph_mock_fetch_get(seen.fetch, &info), 0);
    assert_false(info.pending);
    assert_int_equal(ph_mock_run_timers(60000), 0);
    assert_int_equal(seen.fires, 1);
    assert_int_equal(probe_api->complete(req), 0);
    finish_probe(req);
}

static int start_get(const ph_host_api *api, ph_request *req)
{
    ph_fetch_request freq = {.struct_size = sizeof freq, .url = "http://a.test/"};
    seen.fetch = api->fetch(req, &freq, note_fetch, NULL);
    return PH_PENDING;
}

static void mock_fetch_fail_delivers_the_error(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_get, &rc);
    ph_mock_fetch_info info;
    ph_mock_fetch_get(seen.fetch, &info);
    assert_string_equal(info.method, "GET"); /* NULL method */
    assert_int_equal(info.nheaders, 0);
    assert_string_equal(info.body, "");
    assert_int_equal(ph_mock_fetch_fail(seen.fetch, PH_FETCH_OK, NULL), -1); /* not an error */
    assert_int_equal(ph_mock_fetch_fail(seen.fetch, PH_FETCH_REFUSED, "connection refused"), 0);
    assert_int_equal(seen.fires, 1);
    assert_int_equal(seen.error, PH_FETCH_REFUSED);
    assert_string_equal(seen.error_text, "connection refused");
    assert_int_equal(probe_api->complete(req), 0);
    finish_probe(req);
}

static void mock_fetch_times_out_on_the_virtual_clock(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_post, &rc); /* 2500 ms */
    assert_int_equal(ph_mock_run_timers(2499), 0);
    assert_int_equal(seen.fires, 0);
    ph_mock_run_timers(1);
    assert_int_equal(seen.fires, 1);
    assert_int_equal(seen.error, PH_FETCH_TIMEOUT);
    assert_non_null(strstr(seen.error_text, "2500 ms"));
    assert_int_equal(ph_mock_fetch_pending(NULL), 0);
    assert_int_equal(probe_api->complete(req), 0);
    finish_probe(req);

    clear_seen();
    req = run_probe(&probe_async, "/", start_get, &rc); /* 0: the host's 30 s */
    ph_mock_run_timers(29999);
    assert_int_equal(seen.fires, 0);
    ph_mock_run_timers(1);
    assert_int_equal(seen.error, PH_FETCH_TIMEOUT);
    assert_int_equal(probe_api->complete(req), 0);
    finish_probe(req);
}

static void mock_fetch_cancel_stops_the_callback_and_a_second_cancel_is_a_misuse(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_get, &rc);
    probe_api->fetch_cancel(seen.fetch);
    assert_int_equal(ph_mock_fetch_pending(NULL), 0);
    assert_int_equal(ph_mock_fetch_respond(seen.fetch, 200, NULL, NULL, 0), -1);
    assert_int_equal(ph_mock_run_timers(60000), 0);
    assert_int_equal(seen.fires, 0);
    assert_int_equal(ph_mock_misuse_count(), 0);
    probe_api->fetch_cancel(seen.fetch);
    assert_one_misuse("already cancelled");
    assert_int_equal(probe_api->complete(req), 0);
    finish_probe(req);
    forget_misuses();
}

static void mock_complete_ends_pending_fetches_and_offload_results(void **state)
{
    (void)state;
    atomic_store(&works_run, 0);
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_everything, &rc);
    atomic_store(&dones_after_end, 0);
    assert_int_equal(probe_api->complete(req), 0);
    assert_int_equal(ph_mock_fetch_pending(NULL), 0);
    assert_int_equal(ph_mock_offloads_pending(NULL), 0);
    assert_int_equal(ph_mock_run_offloads(), 1);
    assert_int_equal(atomic_load(&works_run), 1);
    assert_int_equal(atomic_load(&dones_after_end), 1);
    assert_int_equal(ph_mock_run_timers(60000), 0);
    assert_int_equal(seen.aborts, 0);
    finish_probe(req);
}

static int start_bad_fetches(const ph_host_api *api, ph_request *req)
{
    ph_fetch_request freq = {.struct_size = sizeof freq, .url = "https://secure.test/"};
    seen.rc[0] = api->fetch(req, &freq, note_fetch, NULL) ? 0 : -1;
    freq.url = "http:///nohost";
    seen.rc[1] = api->fetch(req, &freq, note_fetch, NULL) ? 0 : -1;
    freq.url = "http://a.test/with space";
    seen.rc[2] = api->fetch(req, &freq, note_fetch, NULL) ? 0 : -1;
    return PH_OK;
}

static void mock_fetch_refuses_urls_the_host_cannot_start(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_bad_fetches, &rc);
    assert_int_equal(seen.rc[0], -1);
    assert_int_equal(seen.rc[1], -1);
    assert_int_equal(seen.rc[2], -1);
    assert_int_equal(ph_mock_log_find(PH_LOG_ERROR, "fetch: cannot start"), 3);
    assert_int_equal(ph_mock_misuse_count(), 0); /* a bad URL is not a misuse */
    finish_probe(req);
}

static int start_misused_fetches(const ph_host_api *api, ph_request *req)
{
    const char *crlf[] = {"X-Evil", "a\r\nHost: b", NULL};
    const char *odd[] = {"X-Lonely", NULL};
    ph_fetch_request freq = {.struct_size = sizeof freq, .url = "http://a.test/", .headers = crlf};
    seen.rc[0] = api->fetch(req, &freq, note_fetch, NULL) ? 0 : -1;
    freq.headers = odd;
    seen.rc[1] = api->fetch(req, &freq, note_fetch, NULL) ? 0 : -1;
    freq.headers = NULL;
    freq.struct_size = 0;
    seen.rc[2] = api->fetch(req, &freq, note_fetch, NULL) ? 0 : -1;
    return PH_OK;
}

static void mock_flags_malformed_fetch_requests(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_misused_fetches, &rc);
    assert_int_equal(seen.rc[0], -1);
    assert_int_equal(seen.rc[1], -1);
    assert_int_equal(seen.rc[2], -1);
    assert_int_equal(ph_mock_misuse_count(), 3);
    assert_non_null(strstr(ph_mock_misuse(0), "X-Evil"));
    assert_non_null(strstr(ph_mock_misuse(1), "no value"));
    assert_non_null(strstr(ph_mock_misuse(2), "struct_size"));
    finish_probe(req);
    forget_misuses();
}

static void mock_flags_fetch_from_a_sync_plugin_and_injects_fetch_faults(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_sync, "/", start_bad_fetches, &rc);
    assert_int_equal(ph_mock_misuse_count(), 3);
    assert_non_null(strstr(ph_mock_misuse(0), "fetch() from a sync plugin"));
    finish_probe(req);
    forget_misuses();

    ph_mock_fail_next(PH_MOCK_FAULT_FETCH, 1);
    req = run_probe(&probe_async, "/", start_get, &rc);
    assert_null(seen.fetch);
    assert_int_equal(probe_api->complete(req), 0);
    finish_probe(req);
}

/* ---- offload ---- */

static pthread_t loop_thread;
static atomic_int work_on_loop_thread;

static void work_check_thread(void *arg)
{
    if (pthread_equal(pthread_self(), loop_thread))
        atomic_store(&work_on_loop_thread, 1);
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void note_done(ph_request *req, void *arg)
{
    seen.dones++;
    seen.cb_req = req;
    seen.rc[5] = atomic_load((atomic_int *)arg);
    if (pthread_equal(pthread_self(), loop_thread))
        seen.rc[6] = 1;
    probe_api->complete(req);
}

static int start_offload(const ph_host_api *api, ph_request *req)
{
    seen.rc[0] = api->offload(req, work_check_thread, note_done, &works_run);
    return seen.rc[0] == 0 ? PH_PENDING : PH_OK;
}

static void mock_offload_runs_work_on_a_pool_thread_then_done_on_the_loop(void **state)
{
    (void)state;
    loop_thread = pthread_self();
    atomic_store(&work_on_loop_thread, 0);
    atomic_store(&works_run, 0);
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_offload, &rc);
    assert_int_equal(rc, PH_PENDING);
    assert_int_equal(ph_mock_offloads_pending(req), 1);
    assert_int_equal(atomic_load(&works_run), 0); /* nothing runs by itself */

    assert_int_equal(ph_mock_run_offload_work(), 1);
    assert_int_equal(atomic_load(&works_run), 1);
    assert_int_equal(atomic_load(&work_on_loop_thread), 0);
    assert_int_equal(seen.dones, 0);
    assert_int_equal(ph_mock_offloads_pending(req), 1); /* done still due */

    assert_int_equal(ph_mock_run_offloads(), 1);
    assert_int_equal(seen.dones, 1);
    assert_ptr_equal(seen.cb_req, req);
    assert_int_equal(seen.rc[5], 1);
    assert_int_equal(seen.rc[6], 1);
    assert_true(ph_mock_responded(req));
    assert_int_equal(ph_mock_run_offloads(), 0);
    finish_probe(req);
}

static void mock_offload_fault_plays_a_full_pool_queue(void **state)
{
    (void)state;
    ph_mock_fail_next(PH_MOCK_FAULT_OFFLOAD, 1);
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_offload, &rc);
    assert_int_equal(seen.rc[0], -1);
    assert_int_equal(rc, PH_OK);
    assert_int_equal(ph_mock_offloads_pending(NULL), 0);
    finish_probe(req);
}

static void work_touches_request(void *arg)
{
    size_t len;
    probe_api->body((ph_request *)arg, &len);
    probe_api->log(NULL, PH_LOG_INFO, "log(NULL) from work is fine");
}

static void done_completes(ph_request *req, void *arg)
{
    (void)arg;
    probe_api->complete(req);
}

static int start_bad_work(const ph_host_api *api, ph_request *req)
{
    api->offload(req, work_touches_request, done_completes, req);
    return PH_PENDING;
}

static void mock_flags_a_work_function_touching_its_request(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_bad_work, &rc);
    assert_int_equal(ph_mock_run_offloads(), 1);
    assert_one_misuse("inside an offloaded work function");
    assert_int_equal(ph_mock_log_find(PH_LOG_INFO, "log(NULL) from work"), 1);
    finish_probe(req);
    forget_misuses();
}

static void mock_flags_offload_from_a_sync_plugin(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_sync, "/", start_offload, &rc);
    assert_int_equal(seen.rc[0], -1);
    assert_one_misuse("offload() from a sync plugin");
    finish_probe(req);
    forget_misuses();
}

/* ---- streaming ---- */

static void note_drain(ph_request *req, void *arg)
{
    (void)arg;
    seen.drains++;
    seen.cb_req = req;
}

static int start_stream(const ph_host_api *api, ph_request *req)
{
    seen.rc[0] = api->add_header(req, "Content-Type", "text/event-stream");
    seen.rc[1] = api->stream_on_drain(req, note_drain, NULL);
    seen.rc[2] = api->stream_begin(req);
    seen.rc[3] = api->stream_write(req, "abc", 3);
    return PH_PENDING;
}

static void mock_stream_records_the_body_and_plays_back_pressure(void **state)
{
    (void)state;
    ph_mock_stream_set_high_water(5);
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_stream, &rc);
    assert_int_equal(rc, PH_PENDING);
    assert_int_equal(seen.rc[0], 0);
    assert_int_equal(seen.rc[1], 0);
    assert_int_equal(seen.rc[2], 0);
    assert_int_equal(seen.rc[3], 0);
    assert_true(ph_mock_stream_begun(req));
    assert_false(ph_mock_stream_ended(req));
    assert_string_equal(ph_mock_response_header(req, "Content-Type"), "text/event-stream");

    assert_int_equal(probe_api->stream_write(req, "de", 2), 0); /* 5: at the mark */
    assert_int_equal(probe_api->stream_write(req, "f", 1), 1);  /* 6: past it */
    assert_int_equal(ph_mock_stream_buffered(req), 6);
    assert_int_equal(ph_mock_stream_writes(req), 3);

    assert_int_equal(ph_mock_stream_drain(req), 1);
    assert_int_equal(seen.drains, 1);
    assert_ptr_equal(seen.cb_req, req);
    assert_int_equal(ph_mock_stream_buffered(req), 0);
    assert_int_equal(ph_mock_stream_drain(req), 0); /* nothing was paused */
    assert_int_equal(ph_mock_drain_calls(req), 1);

    assert_int_equal(probe_api->stream_write(req, "g", 1), 0);
    assert_int_equal(probe_api->complete(req), 0);
    assert_true(ph_mock_stream_ended(req));
    size_t len;
    assert_string_equal(ph_mock_response_body(req, &len), "abcdefg");
    assert_int_equal(len, 7);
    assert_int_equal(ph_mock_response_status(req), 200);
    assert_int_equal(ph_mock_stream_drain(req), -1); /* finished */
    finish_probe(req);
}

static void mock_stream_is_unlimited_by_default_and_grows_large(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_stream, &rc);
    static char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 256; i++)
        assert_int_equal(probe_api->stream_write(req, chunk, sizeof chunk), 0);
    size_t len;
    ph_mock_response_body(req, &len);
    assert_int_equal(len, 3 + 256 * sizeof chunk);
    assert_int_equal(probe_api->complete(req), 0);
    finish_probe(req);
}

static void mock_flags_writing_on_after_back_pressure(void **state)
{
    (void)state;
    ph_mock_stream_set_high_water(1);
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_stream, &rc);
    assert_int_equal(seen.rc[3], 1);
    assert_int_equal(probe_api->stream_write(req, "x", 1), 1);
    assert_one_misuse("before the drain callback");
    assert_int_equal(probe_api->complete(req), 0);
    finish_probe(req);
    forget_misuses();
}

static int stream_misuses(const ph_host_api *api, ph_request *req)
{
    seen.rc[0] = api->stream_write(req, "early", 5);
    seen.rc[1] = api->stream_begin(req);
    seen.rc[2] = api->stream_begin(req);
    seen.rc[3] = api->add_header(req, "X-Late", "1");
    seen.rc[4] = api->set_status(req, 404);
    seen.rc[5] = api->respond_error(req, 500, "late");
    return PH_OK; /* ends the stream */
}

static void mock_flags_stream_misuses(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", stream_misuses, &rc);
    static const int expect[] = {-1, 0, -1, -1, -1, -1};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(seen.rc[i], expect[i]);
    assert_int_equal(ph_mock_misuse_count(), 5);
    assert_non_null(strstr(ph_mock_misuse(0), "stream_write() before stream_begin()"));
    assert_non_null(strstr(ph_mock_misuse(1), "twice"));
    assert_non_null(strstr(ph_mock_misuse(2), "add_header() after stream_begin()"));
    assert_true(ph_mock_stream_ended(req)); /* PH_OK from handle ends it */
    assert_int_equal(ph_mock_response_status(req), 200);
    finish_probe(req);
    forget_misuses();
}

static int stream_from_sync(const ph_host_api *api, ph_request *req)
{
    seen.rc[0] = api->stream_begin(req);
    return PH_OK;
}

static void mock_flags_streaming_from_a_sync_plugin(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_sync, "/", stream_from_sync, &rc);
    assert_int_equal(seen.rc[0], -1);
    assert_one_misuse("stream_begin() from a sync plugin");
    assert_false(ph_mock_stream_begun(req));
    finish_probe(req);
    forget_misuses();
}

static void mock_aborted_stream_is_not_ended(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_stream, &rc);
    assert_int_equal(ph_mock_abort(req), 0);
    assert_true(ph_mock_stream_begun(req));
    assert_false(ph_mock_stream_ended(req));
    assert_int_equal(ph_mock_stream_drain(req), -1);
    assert_string_equal(ph_mock_response_body(req, NULL), "abc");
    finish_probe(req);
}

/* ---- 1.4: streaming fetch and fail ---- */

static struct {
    int heads, ends;
    int status;
    char body[64];
    size_t body_len;
    ph_fetch_error error;
    int end_status;
    bool pause_on_body;
} st;

static void st_head(ph_request *req, ph_fetch *fetch, const ph_fetch_response *head, void *arg)
{
    (void)req;
    (void)fetch;
    (void)arg;
    st.heads++;
    st.status = head->status;
    assert_int_equal(head->nheaders, 1);
    assert_string_equal(head->headers[0], "X-Up");
}

static void st_body(ph_request *req, ph_fetch *fetch, const void *data, size_t len, void *arg)
{
    (void)req;
    (void)arg;
    memcpy(st.body + st.body_len, data, len);
    st.body_len += len;
    if (st.pause_on_body)
        assert_int_equal(probe_api->fetch_pause(fetch), 0);
}

static void st_end(ph_request *req, const ph_fetch_response *end, void *arg)
{
    (void)arg;
    st.ends++;
    st.error = end->error;
    st.end_status = end->status;
    assert_int_equal(probe_api->complete(req), 0);
}

static const ph_fetch_stream_cbs st_cbs = {
    .struct_size = sizeof(ph_fetch_stream_cbs), .on_head = st_head, .on_body = st_body, .on_end = st_end};

static int start_fetch_stream(const ph_host_api *api, ph_request *req)
{
    ph_fetch_request freq = {.struct_size = sizeof freq, .url = "http://up.test/s", .timeout_ms = 1000};
    seen.fetch = api->fetch_stream(req, &freq, &st_cbs, NULL);
    return PH_PENDING;
}

static void mock_fetch_stream_plays_head_body_end_and_pause(void **state)
{
    (void)state;
    memset(&st, 0, sizeof st);
    assert_true(PH_HOST_HAS(ph_mock_api(), fetch_stream));
    assert_true(PH_HOST_HAS(ph_mock_api(), complete_failed));
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_fetch_stream, &rc);
    ph_fetch *f = seen.fetch;
    assert_non_null(f);
    ph_mock_fetch_info info;
    assert_int_equal(ph_mock_fetch_get(f, &info), 0);
    assert_true(info.streaming);
    assert_false(info.head_sent);
    /* not past the head: no body, no end; respond is for fetch() only */
    assert_int_equal(ph_mock_fetch_body(f, "x", 1), -1);
    assert_int_equal(ph_mock_fetch_end(f), -1);
    assert_int_equal(ph_mock_fetch_respond(f, 200, NULL, NULL, 0), -1);
    const char *headers[] = {"X-Up", "1", NULL};
    assert_int_equal(ph_mock_fetch_head(f, 206, headers), 0);
    assert_int_equal(ph_mock_fetch_head(f, 206, headers), -1); /* once */
    assert_int_equal(st.heads, 1);
    assert_int_equal(st.status, 206);
    assert_int_equal(ph_mock_run_timers(5000), 0); /* no time-out after the head */
    st.pause_on_body = true;
    assert_int_equal(ph_mock_fetch_body(f, "ab", 2), 0);
    assert_true(ph_mock_fetch_paused(f));
    assert_int_equal(ph_mock_fetch_body(f, "cd", 2), 1); /* held back */
    assert_int_equal(ph_mock_fetch_end(f), 1);
    assert_int_equal(probe_api->fetch_resume(f), 0);
    assert_false(ph_mock_fetch_paused(f));
    st.pause_on_body = false;
    assert_int_equal(ph_mock_fetch_body(f, "cd", 2), 0);
    assert_int_equal(ph_mock_fetch_end(f), 0);
    assert_int_equal(st.ends, 1);
    assert_int_equal(st.error, PH_FETCH_OK);
    assert_int_equal(st.end_status, 206);
    assert_memory_equal(st.body, "abcd", 4);
    assert_int_equal(ph_mock_fetch_pending(NULL), 0);
    /* the fetch has ended: pausing it is a misuse */
    assert_int_equal(probe_api->fetch_pause(f), -1);
    assert_one_misuse("fetch_pause() on a fetch that has ended");
    finish_probe(req);
    forget_misuses();
}

static void mock_fetch_stream_times_out_before_its_head_and_fails_after(void **state)
{
    (void)state;
    memset(&st, 0, sizeof st);
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_fetch_stream, &rc);
    ph_mock_run_timers(999);
    assert_int_equal(st.ends, 0);
    ph_mock_run_timers(1);
    assert_int_equal(st.ends, 1);
    assert_int_equal(st.error, PH_FETCH_TIMEOUT);
    assert_int_equal(st.end_status, 0);
    finish_probe(req);

    memset(&st, 0, sizeof st);
    req = run_probe(&probe_async, "/", start_fetch_stream, &rc);
    const char *headers[] = {"X-Up", "1", NULL};
    assert_int_equal(ph_mock_fetch_head(seen.fetch, 200, headers), 0);
    assert_int_equal(ph_mock_fetch_fail(seen.fetch, PH_FETCH_RESET, "cut"), 0);
    assert_int_equal(st.error, PH_FETCH_RESET);
    assert_int_equal(st.end_status, 200);
    finish_probe(req);
}

static int pause_a_whole_fetch(const ph_host_api *api, ph_request *req)
{
    ph_fetch_request freq = {.struct_size = sizeof freq, .url = "http://up.test/"};
    seen.fetch = api->fetch(req, &freq, note_fetch, NULL);
    seen.rc[0] = api->fetch_pause(seen.fetch);
    ph_fetch_stream_cbs bad = st_cbs;
    bad.on_end = NULL;
    seen.str[0] = (const char *)api->fetch_stream(req, &freq, &bad, NULL);
    return PH_PENDING;
}

static void mock_flags_fetch_stream_misuses(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", pause_a_whole_fetch, &rc);
    assert_int_equal(seen.rc[0], -1);
    assert_null(seen.str[0]);
    assert_int_equal(ph_mock_misuse_count(), 2);
    assert_non_null(strstr(ph_mock_misuse(0), "only fetch_stream() fetches pause"));
    assert_non_null(strstr(ph_mock_misuse(1), "on_head, on_body and on_end"));
    finish_probe(req);
    forget_misuses();
}

static int begin_stream(const ph_host_api *api, ph_request *req)
{
    seen.rc[0] = api->stream_begin(req);
    seen.rc[1] = api->stream_write(req, "so far", 6);
    return PH_PENDING;
}

/* complete_failed() finishes a pending request: a 500 before stream_begin, a stream
 * cut short after it; refused where complete() is. */
static void mock_fail_answers_500_or_cuts_the_stream(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_get, &rc);
    assert_int_equal(probe_api->complete_failed(req, "broken"), 0);
    assert_true(ph_mock_failed(req));
    assert_true(ph_mock_responded(req));
    assert_int_equal(ph_mock_response_status(req), 500);
    assert_int_equal(ph_mock_fetch_pending(NULL), 0); /* its work ended with it */
    assert_int_equal(ph_mock_log_find(PH_LOG_ERROR, "complete_failed(): broken"), 1);
    assert_int_equal(probe_api->complete_failed(req, "again"), -1);
    assert_one_misuse("complete_failed() on a finished request");
    finish_probe(req);
    forget_misuses();

    req = run_probe(&probe_async, "/", begin_stream, &rc);
    assert_int_equal(seen.rc[0], 0);
    assert_int_equal(probe_api->complete_failed(req, NULL), 0);
    assert_true(ph_mock_failed(req));
    assert_false(ph_mock_stream_ended(req)); /* cut short, not ended */
    assert_int_equal(ph_mock_response_status(req), 200);
    assert_string_equal(ph_mock_response_body(req, NULL), "so far");
    assert_int_equal(ph_mock_misuse_count(), 0);
    finish_probe(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ASYNC_TEST(mock_api_fills_every_1_1_slot_and_can_play_a_1_0_host),
        ASYNC_TEST(mock_path_param_returns_what_the_test_set),
        ASYNC_TEST(mock_repeating_timer_fires_every_period_until_cancelled),
        ASYNC_TEST(mock_repeating_timer_stops_when_the_request_completes),
        ASYNC_TEST(mock_flags_a_zero_ms_repeating_timer),
        ASYNC_TEST(mock_abort_runs_the_callback_once_and_cancels_everything),
        ASYNC_TEST(mock_flags_calls_on_an_aborted_request),
        ASYNC_TEST(mock_flags_complete_and_new_work_inside_the_abort_callback),
        ASYNC_TEST(mock_abort_does_nothing_to_a_finished_request),
        ASYNC_TEST(mock_freeing_a_pending_request_aborts_it),
        ASYNC_TEST(mock_flags_on_abort_from_a_sync_plugin),
        ASYNC_TEST(mock_fetch_records_the_request_and_delivers_the_response),
        ASYNC_TEST(mock_fetch_fail_delivers_the_error),
        ASYNC_TEST(mock_fetch_times_out_on_the_virtual_clock),
        ASYNC_TEST(mock_fetch_cancel_stops_the_callback_and_a_second_cancel_is_a_misuse),
        ASYNC_TEST(mock_complete_ends_pending_fetches_and_offload_results),
        ASYNC_TEST(mock_fetch_refuses_urls_the_host_cannot_start),
        ASYNC_TEST(mock_flags_malformed_fetch_requests),
        ASYNC_TEST(mock_flags_fetch_from_a_sync_plugin_and_injects_fetch_faults),
        ASYNC_TEST(mock_offload_runs_work_on_a_pool_thread_then_done_on_the_loop),
        ASYNC_TEST(mock_offload_fault_plays_a_full_pool_queue),
        ASYNC_TEST(mock_flags_a_work_function_touching_its_request),
        ASYNC_TEST(mock_flags_offload_from_a_sync_plugin),
        ASYNC_TEST(mock_stream_records_the_body_and_plays_back_pressure),
        ASYNC_TEST(mock_stream_is_unlimited_by_default_and_grows_large),
        ASYNC_TEST(mock_flags_writing_on_after_back_pressure),
        ASYNC_TEST(mock_flags_stream_misuses),
        ASYNC_TEST(mock_flags_streaming_from_a_sync_plugin),
        ASYNC_TEST(mock_aborted_stream_is_not_ended),
        ASYNC_TEST(mock_fetch_stream_plays_head_body_end_and_pause),
        ASYNC_TEST(mock_fetch_stream_times_out_before_its_head_and_fails_after),
        ASYNC_TEST(mock_flags_fetch_stream_misuses),
        ASYNC_TEST(mock_fail_answers_500_or_cuts_the_stream),
    };
    return cmocka_run_group_tests_name("sdk mock host, ABI 1.1", tests, NULL, NULL);
}
