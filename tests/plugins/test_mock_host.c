/* test_mock_host.c - the SDK mock host itself (sdk/testing/ph_mock_host.c):
 * query decoding, header rules, JSON builders, settings, the virtual clock,
 * misuse detection, descriptor checks, and loading a built .so, through
 * the probe plugin of mock_probe.h. The ABI 1.1 slots are tested in
 * test_mock_host_async.c. */
#include "mock_probe.h"

#include <cjson/cJSON.h>
#include <string.h>

/* ---- query and request accessors ---- */

static const char *seen[8];

static int read_query(const ph_host_api *api, ph_request *req)
{
    seen[0] = api->query_param(req, "q");
    seen[1] = api->query_param(req, "name with space");
    seen[2] = api->query_param(req, "flag");
    seen[3] = api->query_param(req, "missing");
    seen[4] = api->query_param(req, "bad");
    seen[5] = api->query_param(req, "dup");
    if (api->query_param(req, "nul"))
        seen[5] = "a key with %00 matched its prefix";
    seen[6] = api->query(req);
    seen[7] = api->path(req);
    return PH_OK;
}

static void mock_query_param_percent_decodes_and_plus_is_space(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async,
                                "/p/a%20th?q=a+b%2Bc%3D%26d&name+with%20space=%C3%A9&flag"
                                "&bad=%zz%4&dup=1&dup=2&nul%00x=no",
                                read_query, &rc);
    assert_int_equal(rc, PH_OK);
    assert_string_equal(seen[0], "a b+c=&d");
    assert_string_equal(seen[1], "\xc3\xa9");
    assert_string_equal(seen[2], "");     /* key without '=' */
    assert_null(seen[3]);                 /* absent */
    assert_string_equal(seen[4], "%zz%4"); /* invalid escapes kept as written */
    assert_string_equal(seen[5], "1");    /* the first wins */
    assert_string_equal(seen[6], "q=a+b%2Bc%3D%26d&name+with%20space=%C3%A9&flag&bad=%zz%4&dup=1&dup=2"
                                  "&nul%00x=no");
    assert_string_equal(seen[7], "/p/a%20th"); /* the path stays as sent */
    finish_probe(req);
}

static int read_request(const ph_host_api *api, ph_request *req)
{
    size_t len = 99;
    seen[0] = api->header(req, "x-TRACE");
    seen[1] = api->header(req, "X-Absent");
    seen[2] = api->query(req);
    seen[3] = api->body(req, &len);
    seen[4] = len == 0 ? "empty" : "non-empty";
    seen[5] = api->method(req);
    return PH_OK;
}

static void mock_request_accessors_follow_the_sdk_contract(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/x", read_request, &rc);
    assert_string_equal(seen[0], "abc"); /* case-insensitive */
    assert_null(seen[1]);
    assert_string_equal(seen[2], "");    /* no query */
    assert_non_null(seen[3]);            /* never NULL */
    assert_string_equal(seen[4], "empty");
    assert_string_equal(seen[5], "GET");
    finish_probe(req);
}

/* ---- response builders ---- */

static int results[16];

static int try_headers(const ph_host_api *api, ph_request *req)
{
    int i = 0;
    results[i++] = api->add_header(req, "X-Ok", "value with\ttab");
    results[i++] = api->add_header(req, "X-Bad", "a\r\nSet-Cookie: evil=1");
    results[i++] = api->add_header(req, "X-Bad", "a\nb");
    results[i++] = api->add_header(req, "X-Bad\r\nInjected", "v");
    results[i++] = api->add_header(req, "Bad Name", "v");
    results[i++] = api->add_header(req, "Bad:Name", "v");
    results[i++] = api->add_header(req, "", "v");
    results[i++] = api->add_header(req, "content-length", "5");
    results[i++] = api->add_header(req, "Transfer-Encoding", "chunked");
    results[i++] = api->add_header(req, "CONNECTION", "close");
    results[i++] = api->add_header(req, "Date", "yesterday");
    results[i++] = api->add_header(req, "Set-Cookie", "a=1");
    results[i++] = api->add_header(req, "Set-Cookie", "b=2");
    return PH_OK;
}

static void mock_add_header_refuses_crlf_bad_names_and_host_managed(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", try_headers, &rc);
    static const int expect[] = {0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0};
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++)
        assert_int_equal(results[i], expect[i]);
    assert_int_equal(ph_mock_response_header_count(req), 3);
    const char *name, *value;
    assert_int_equal(ph_mock_response_header_at(req, 2, &name, &value), 0);
    assert_string_equal(name, "Set-Cookie");
    assert_string_equal(value, "b=2");
    assert_int_equal(ph_mock_response_header_at(req, 3, &name, &value), -1);
    assert_string_equal(ph_mock_response_header(req, "set-cookie"), "a=1");
    finish_probe(req);
}

static int try_headers_n(const ph_host_api *api, ph_request *req)
{
    static const char buf[] = "X-Slice: from a buffer;Date";
    int i = 0;
    results[i++] = api->add_header_n(req, buf, 7, buf + 9, 13);       /* slices: kept */
    results[i++] = api->add_header_n(req, "X-Tab", 5, "a\tb\0junk", 3); /* NUL after the length: kept */
    results[i++] = api->add_header_n(req, PH_LIT("X-Empty"), "", 0);    /* empty value: kept */
    results[i++] = api->add_header_n(req, "X-Nul", 5, "a\0b", 3);
    results[i++] = api->add_header_n(req, "X-Nul\0", 6, "v", 1);
    results[i++] = api->add_header_n(req, PH_LIT("X-Bad"), PH_LIT("a\r\nSet-Cookie: evil=1"));
    results[i++] = api->add_header_n(req, PH_LIT("Bad Name"), "v", 1);
    results[i++] = api->add_header_n(req, "X", 0, "v", 1);
    results[i++] = api->add_header_n(req, NULL, 0, "v", 1);
    results[i++] = api->add_header_n(req, "X", 1, NULL, 0);
    results[i++] = api->add_header_n(req, buf + 23, 4, "today", 5);     /* "Date": managed */
    results[i++] = api->add_header_n(req, PH_LIT("content-LENGTH"), PH_LIT("5"));
    return PH_OK;
}

/* add_header_n (ABI 1.5) adds exactly its slices, and refuses what the
 * real host refuses: NUL, CR or LF within the lengths, empty or non-token
 * names, NULL pointers, host-managed names. */
static void mock_add_header_n_takes_slices_and_refuses_like_add_header(void **state)
{
    (void)state;
    int rc;
    assert_true(PH_HOST_HAS(ph_mock_api(), add_header_n));
    ph_request *req = run_probe(&probe_async, "/", try_headers_n, &rc);
    static const int expect[] = {0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        if (results[i] != expect[i])
            fail_msg("add_header_n call %zu returned %d, not %d", i, results[i], expect[i]);
    }
    assert_int_equal(ph_mock_response_header_count(req), 3);
    assert_string_equal(ph_mock_response_header(req, "X-Slice"), "from a buffer");
    assert_string_equal(ph_mock_response_header(req, "X-Tab"), "a\tb");
    assert_string_equal(ph_mock_response_header(req, "X-Empty"), "");
    finish_probe(req);
}

static int build_json(const ph_host_api *api, ph_request *req)
{
    results[0] = api->add_header(req, "Content-Type", "application/problem+json");
    results[1] = api->set_status(req, 99);
    results[2] = api->set_status(req, 600);
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddNumberToObject(obj, "n", 1);
    cJSON_AddStringToObject(obj, "s", "x y");
    results[3] = api->respond_json(req, 201, obj);
    cJSON_Delete(obj);
    results[4] = api->respond_json(req, 200, NULL);
    return PH_OK;
}

static void mock_respond_json_is_compact_and_keeps_the_plugins_content_type(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", build_json, &rc);
    assert_int_equal(results[0], 0);
    assert_int_equal(results[1], -1);
    assert_int_equal(results[2], -1);
    assert_int_equal(results[3], 0);
    assert_int_equal(results[4], -1);
    assert_int_equal(ph_mock_response_status(req), 201);
    assert_int_equal(ph_mock_response_header_count(req), 1);
    assert_string_equal(ph_mock_response_header(req, "content-type"), "application/problem+json");
    assert_string_equal(ph_mock_response_body(req, NULL), "{\"n\":1,\"s\":\"x y\"}");
    finish_probe(req);
}

static int build_error(const ph_host_api *api, ph_request *req)
{
    results[0] = api->respond_error(req, 404, "no \"such\" thing");
    return PH_OK;
}

static void mock_respond_error_sends_error_object(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", build_error, &rc);
    assert_int_equal(results[0], 0);
    assert_int_equal(ph_mock_response_status(req), 404);
    assert_string_equal(ph_mock_response_body(req, NULL), "{\"error\":\"no \\\"such\\\" thing\"}");
    assert_string_equal(ph_mock_response_header(req, "Content-Type"), "application/json");
    finish_probe(req);
}

/* ---- settings ---- */

static void mock_settings_parse_numbers_strictly(void **state)
{
    (void)state;
    const ph_host_api *api = ph_mock_api();
    ph_settings *s = ph_mock_settings_new("/r", "a", "0.25", "b", "abc", "c", "1e3", "d", "",
                                          "e", "0x10", "f", "inf", "a", "-3", NULL);
    assert_non_null(s);
    double v = 0;
    assert_int_equal(api->setting_double(s, "a", 7, &v), 0);
    assert_true(v == -3.0); /* the later duplicate replaced the first */
    assert_int_equal(api->setting_double(s, "c", 7, &v), 0);
    assert_true(v == 1000.0);
    assert_int_equal(api->setting_double(s, "absent", 7, &v), 0);
    assert_true(v == 7.0);
    assert_int_equal(api->setting_double(s, "b", 7, &v), -1);
    assert_int_equal(api->setting_double(s, "d", 7, &v), -1);
    assert_int_equal(api->setting_double(s, "e", 7, &v), -1);
    assert_int_equal(api->setting_double(s, "f", 7, &v), -1);
    assert_string_equal(api->setting(s, "b"), "abc");
    assert_null(api->setting(s, "B")); /* keys are case-sensitive */
    assert_string_equal(api->route_path(s), "/r");
    assert_int_equal(ph_mock_settings_set(s, "b", NULL), 0);
    assert_null(api->setting(s, "b"));
    ph_mock_settings_free(s);

    assert_null(ph_mock_settings_new("/r", "key_without_value", (char *)NULL, NULL));
}

/* ---- timers and the virtual clock ---- */

static char order[16];
static size_t norder;
static uint64_t fired_at[16];

static void note_timer(ph_request *req, void *arg)
{
    (void)req;
    fired_at[norder] = ph_mock_now_ms();
    order[norder++] = *(const char *)arg;
}

static void chain_timer(ph_request *req, void *arg)
{
    note_timer(req, arg);
    probe_api->timer_start(req, 5, note_timer, "D");
}

static int start_timers(const ph_host_api *api, ph_request *req)
{
    api->timer_start(req, 30, note_timer, "C");
    api->timer_start(req, 10, chain_timer, "A"); /* starts D at 10 + 5 */
    api->timer_start(req, 10, note_timer, "B");  /* same deadline: after A */
    ph_timer *x = api->timer_start(req, 20, note_timer, "X");
    api->timer_cancel(x);
    return PH_PENDING;
}

static void mock_timers_fire_in_deadline_order_on_the_virtual_clock(void **state)
{
    (void)state;
    norder = 0;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", start_timers, &rc);
    assert_int_equal(rc, PH_PENDING);

    ph_mock_timer_info list[4];
    assert_int_equal(ph_mock_timer_list(list, 4), 3);
    assert_int_equal(list[0].due_ms, 10);
    assert_int_equal(list[1].due_ms, 10);
    assert_int_equal(list[2].due_ms, 30);
    assert_ptr_equal(list[2].req, req);

    assert_int_equal(ph_mock_run_timers(9), 0);
    assert_int_equal(ph_mock_run_timers(21), 4); /* A, B, D (started by A), C */
    assert_int_equal(norder, 4);
    assert_memory_equal(order, "ABDC", 4);
    assert_int_equal(fired_at[0], 10);
    assert_int_equal(fired_at[2], 15);
    assert_int_equal(fired_at[3], 30);
    assert_int_equal(ph_mock_now_ms(), 30);
    assert_false(ph_mock_responded(req)); /* nobody called complete() */
    finish_probe(req);
}

/* ---- misuse detection ---- */

static int complete_inside_handle(const ph_host_api *api, ph_request *req)
{
    results[0] = api->complete(req);
    return PH_OK;
}

static void mock_flags_complete_inside_handle(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", complete_inside_handle, &rc);
    assert_int_equal(results[0], -1);
    assert_int_equal(ph_mock_misuse_count(), 1);
    assert_non_null(strstr(ph_mock_misuse(0), "complete() inside handle()"));
    finish_probe(req);
    ph_mock_reset(); /* the misuse was the point */
}

static int pend(const ph_host_api *api, ph_request *req)
{
    (void)api;
    (void)req;
    return PH_PENDING;
}

/* A request of a fresh probe_async instance (*inst) whose handler
 * returned PH_PENDING. */
static ph_request *pending_request(ph_mock_instance **inst)
{
    assert_int_equal(ph_mock_init(&probe_async, NULL, inst), 0);
    ph_request *req = ph_mock_request_new("GET", "/");
    probe_fn = pend;
    assert_int_equal(ph_mock_handle(*inst, req), PH_PENDING);
    probe_fn = NULL;
    return req;
}

static void mock_flags_complete_twice_and_builders_after_it(void **state)
{
    (void)state;
    ph_mock_instance *inst = NULL;
    ph_request *req = pending_request(&inst);
    assert_int_equal(probe_api->set_body(req, "late but fine", 13), 0);
    assert_int_equal(probe_api->complete(req), 0);
    assert_true(ph_mock_responded(req));
    assert_int_equal(ph_mock_misuse_count(), 0);

    assert_int_equal(probe_api->complete(req), -1);
    assert_int_equal(probe_api->set_status(req, 404), -1);
    assert_int_equal(ph_mock_complete_calls(req), 2);
    assert_int_equal(ph_mock_misuse_count(), 2);
    assert_string_equal(ph_mock_response_body(req, NULL), "late but fine");
    ph_mock_request_free(req);
    ph_mock_fini(inst);
    ph_mock_reset();
}

/* After the response is final, add_header_n is a misuse named as such. */
static void mock_flags_add_header_n_after_complete(void **state)
{
    (void)state;
    ph_mock_instance *inst = NULL;
    ph_request *req = pending_request(&inst);
    assert_int_equal(probe_api->add_header_n(req, PH_LIT("X-In-Time"), PH_LIT("1")), 0);
    assert_int_equal(probe_api->complete(req), 0);
    assert_int_equal(probe_api->add_header_n(req, PH_LIT("X-Late"), PH_LIT("1")), -1);
    assert_int_equal(ph_mock_misuse_count(), 1);
    assert_non_null(strstr(ph_mock_misuse(0), "add_header_n()"));
    assert_string_equal(ph_mock_response_header(req, "X-In-Time"), "1");
    assert_null(ph_mock_response_header(req, "X-Late"));
    ph_mock_request_free(req);
    ph_mock_fini(inst);
    ph_mock_reset(); /* the misuse was the point */
}

static int sync_misbehaves(const ph_host_api *api, ph_request *req)
{
    results[0] = api->timer_start(req, 1, note_timer, "Z") == NULL ? -1 : 0;
    return PH_PENDING;
}

static void mock_flags_timers_and_pending_from_a_sync_plugin(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_sync, "/", sync_misbehaves, &rc);
    assert_int_equal(rc, PH_PENDING);
    assert_int_equal(results[0], -1);
    assert_int_equal(ph_mock_response_status(req), 500); /* what the host answers */
    assert_true(ph_mock_responded(req));
    assert_int_equal(ph_mock_misuse_count(), 2);
    finish_probe(req);
    ph_mock_reset();
}

static void mock_flags_cancel_of_a_fired_timer(void **state)
{
    (void)state;
    norder = 0;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", pend, &rc);
    assert_int_equal(rc, PH_PENDING);
    ph_timer *t = probe_api->timer_start(req, 1, note_timer, "M");
    assert_non_null(t);
    assert_int_equal(ph_mock_run_timers(1), 1);
    probe_api->timer_cancel(t); /* the real host freed it when it fired */
    assert_int_equal(ph_mock_misuse_count(), 1);
    assert_non_null(strstr(ph_mock_misuse(0), "already fired"));
    assert_int_equal(probe_api->complete(req), 0);
    finish_probe(req);
    ph_mock_reset();
}

/* ---- descriptors, init, log ---- */

static int failing_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    (void)state;
    api->log(NULL, PH_LOG_ERROR, "route %s: nope", api->route_path(settings));
    return 7;
}

static void mock_refuses_bad_descriptors_and_reports_failed_init(void **state)
{
    (void)state;
    ph_mock_instance *inst = (ph_mock_instance *)&inst;
    ph_plugin p = probe_async;
    p.abi_version = (PH_ABI_MAJOR + 1u) << 16;
    assert_int_equal(ph_mock_init(&p, NULL, &inst), -1);
    assert_null(inst);
    assert_int_equal(ph_mock_log_find(PH_LOG_ERROR, "ABI"), 1);

    p = probe_async;
    p.mode = (ph_mode)3;
    assert_int_equal(ph_mock_init(&p, NULL, &inst), -1);

    p = probe_async;
    p.handle = NULL;
    assert_int_equal(ph_mock_init(&p, NULL, &inst), -1);

    p = probe_async;
    p.init = failing_init;
    ph_settings *s = ph_mock_settings_new("/f", NULL);
    assert_int_equal(ph_mock_init(&p, s, &inst), 7);
    assert_null(inst);
    assert_int_equal(ph_mock_log_find(PH_LOG_ERROR, "route /f: nope"), 1);
    assert_int_equal(ph_mock_log_find(PH_LOG_ERROR, "refused to load"), 1);
    ph_mock_settings_free(s);
}

static int log_some(const ph_host_api *api, ph_request *req)
{
    api->log(req, PH_LOG_DEBUG, "debug %d", 1);
    api->log(req, PH_LOG_WARN, "warn %s", "two");
    return PH_OK;
}

static void mock_log_keeps_lines_and_levels(void **state)
{
    (void)state;
    int rc;
    ph_request *req = run_probe(&probe_async, "/", log_some, &rc);
    assert_int_equal(ph_mock_log_count(), 2);
    ph_log_level level;
    assert_string_equal(ph_mock_log_line(0, &level), "debug 1");
    assert_int_equal(level, PH_LOG_DEBUG);
    assert_string_equal(ph_mock_log_line(1, &level), "warn two");
    assert_int_equal(level, PH_LOG_WARN);
    assert_null(ph_mock_log_line(2, &level));
    assert_int_equal(ph_mock_log_find(PH_LOG_INFO, ""), 1);
    assert_int_equal(ph_mock_log_find(PH_LOG_DEBUG, "two"), 1);
    finish_probe(req);
}

static void mock_loads_a_built_plugin_so(void **state)
{
    (void)state;
    void *handle = NULL;
    const ph_plugin *p = ph_mock_plugin_open(HELLO_SO_PATH, &handle);
    assert_non_null(p);
    assert_string_equal(p->name, "hello");
    ph_mock_instance *inst = NULL;
    assert_int_equal(ph_mock_init(p, NULL, &inst), 0);
    ph_request *req = ph_mock_request_new("GET", "/");
    assert_int_equal(ph_mock_handle(inst, req), PH_OK);
    assert_string_equal(ph_mock_response_body(req, NULL), "Hello, World!");
    ph_mock_request_free(req);
    ph_mock_fini(inst);
    assert_int_equal(ph_mock_plugin_close(handle), 0);

    assert_null(ph_mock_plugin_open("/nonexistent/plugin.so", &handle));
    assert_null(handle);
    assert_int_equal(ph_mock_log_find(PH_LOG_ERROR, "cannot load plugin"), 1);
}

/* ABI 1.3: like the host, the mock refuses a route key a declaring plugin
 * does not list (a misspelt "methds"); reserved keys always pass. */
static void mock_refuses_an_undeclared_key_of_a_declaring_plugin(void **state)
{
    (void)state;
    static const char *const keys[] = {"seconds", NULL};
    static const ph_plugin declaring = {PH_ABI_VERSION, sizeof(ph_plugin), "probe", "0", PH_MODE_ASYNC,
                                        probe_init,     NULL,              probe_handle, keys, NULL, NULL, NULL};
    ph_settings *bad = ph_mock_settings_new("/r", "seconds", "1", "methds", "GET", NULL);
    ph_settings *good = ph_mock_settings_new("/r", "seconds", "1", "methods", "GET", "timeout", "1s", NULL);
    assert_non_null(bad);
    assert_non_null(good);
    ph_mock_instance *inst = NULL;
    assert_int_equal(ph_mock_init(&declaring, bad, &inst), -1);
    assert_null(inst);
    assert_int_equal(ph_mock_init(&declaring, good, &inst), 0);
    assert_non_null(inst);
    ph_mock_fini(inst);
    ph_mock_settings_free(bad);
    ph_mock_settings_free(good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        MOCK_TEST(mock_query_param_percent_decodes_and_plus_is_space),
        MOCK_TEST(mock_request_accessors_follow_the_sdk_contract),
        MOCK_TEST(mock_add_header_refuses_crlf_bad_names_and_host_managed),
        MOCK_TEST(mock_add_header_n_takes_slices_and_refuses_like_add_header),
        MOCK_TEST(mock_respond_json_is_compact_and_keeps_the_plugins_content_type),
        MOCK_TEST(mock_respond_error_sends_error_object),
        MOCK_TEST(mock_settings_parse_numbers_strictly),
        MOCK_TEST(mock_timers_fire_in_deadline_order_on_the_virtual_clock),
        MOCK_TEST(mock_flags_complete_inside_handle),
        MOCK_TEST(mock_flags_complete_twice_and_builders_after_it),
        MOCK_TEST(mock_flags_add_header_n_after_complete),
        MOCK_TEST(mock_flags_timers_and_pending_from_a_sync_plugin),
        MOCK_TEST(mock_flags_cancel_of_a_fired_timer),
        MOCK_TEST(mock_refuses_bad_descriptors_and_reports_failed_init),
        MOCK_TEST(mock_log_keeps_lines_and_levels),
        MOCK_TEST(mock_loads_a_built_plugin_so),
        MOCK_TEST(mock_refuses_an_undeclared_key_of_a_declaring_plugin),
    };
    return cmocka_run_group_tests_name("sdk mock host", tests, NULL, NULL);
}
