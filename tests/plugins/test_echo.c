/* test_echo.c - plugins/echo/echo.c through the mock host. */
#include "mock_fixture.h"

#include <cjson/cJSON.h>
#include <string.h>

/* Run echo on a POST with `body` (`len` bytes). The caller frees it. */
static ph_request *post(ph_mock_instance *inst, const char *body, size_t len, int expect)
{
    ph_request *req = ph_mock_request_new("POST", "/echo");
    assert_non_null(req);
    assert_int_equal(ph_mock_request_add_header(req, "Content-Type", "application/json"), 0);
    assert_int_equal(ph_mock_request_set_body(req, body, len), 0);
    assert_int_equal(ph_mock_handle(inst, req), expect);
    assert_true(ph_mock_responded(req));
    return req;
}

static ph_mock_instance *load(void)
{
    ph_mock_instance *inst = NULL;
    assert_int_equal(ph_mock_init(ph_plugin_entry(), NULL, &inst), 0);
    return inst;
}

/* Assert `req` got 400 with {"error": "invalid JSON..."}. */
static void assert_invalid_json_answer(ph_request *req)
{
    assert_int_equal(ph_mock_response_status(req), 400);
    assert_string_equal(ph_mock_response_header(req, "Content-Type"), "application/json");
    cJSON *json = ph_mock_response_json(req);
    assert_non_null(json);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(json, "error");
    assert_true(cJSON_IsString(err));
    assert_int_equal(strncmp(err->valuestring, "invalid JSON", 12), 0);
    assert_int_equal(cJSON_GetArraySize(json), 1);
    cJSON_Delete(json);
}

static void echo_declares_itself_sync(void **state)
{
    (void)state;
    const ph_plugin *p = ph_plugin_entry();
    assert_string_equal(p->name, "echo");
    assert_int_equal(p->mode, PH_MODE_SYNC);
}

static void echo_round_trips_nested_json_compactly(void **state)
{
    (void)state;
    static const char in[] = "{ \"a\": [1, 2.5, {\"b\": null, \"c\": [true, false]}],\n"
                             "  \"d\": {\"e\": {\"f\": \"caf\\u00e9 \\\"q\\\"\"}}, \"g\": [] }";
    static const char out[] =
        "{\"a\":[1,2.5,{\"b\":null,\"c\":[true,false]}],\"d\":{\"e\":{\"f\":\"caf\xc3\xa9 "
        "\\\"q\\\"\"}},\"g\":[]}";
    ph_mock_instance *inst = load();
    ph_request *req = post(inst, in, strlen(in), PH_OK);

    assert_int_equal(ph_mock_response_status(req), 200);
    assert_string_equal(ph_mock_response_header(req, "Content-Type"), "application/json");
    assert_string_equal(ph_mock_response_body(req, NULL), out);

    cJSON *sent = cJSON_Parse(in);
    cJSON *got = ph_mock_response_json(req);
    assert_non_null(got);
    assert_true(cJSON_Compare(sent, got, 1));
    cJSON_Delete(sent);
    cJSON_Delete(got);

    ph_mock_request_free(req);
    ph_mock_fini(inst);
}

static void echo_round_trips_scalars_and_arrays(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"42", "42"}, {"\"text\"", "\"text\""}, {"null", "null"},
        {"[1,[2,[3]]]", "[1,[2,[3]]]"}, {"  {}  \r\n", "{}"},
    };
    ph_mock_instance *inst = load();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ph_request *req = post(inst, cases[i][0], strlen(cases[i][0]), PH_OK);
        assert_int_equal(ph_mock_response_status(req), 200);
        assert_string_equal(ph_mock_response_body(req, NULL), cases[i][1]);
        ph_mock_request_free(req);
    }
    ph_mock_fini(inst);
}

static void echo_rejects_invalid_json_with_400(void **state)
{
    (void)state;
    static const char *const bad[] = {"{", "{\"a\":}", "[1,2", "nope", "{'a':1}", "\"open"};
    ph_mock_instance *inst = load();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ph_request *req = post(inst, bad[i], strlen(bad[i]), PH_OK);
        assert_invalid_json_answer(req);
        ph_mock_request_free(req);
    }
    ph_mock_fini(inst);
}

static void echo_rejects_empty_body_with_400(void **state)
{
    (void)state;
    ph_mock_instance *inst = load();
    ph_request *req = post(inst, NULL, 0, PH_OK);
    assert_invalid_json_answer(req);
    cJSON *json = ph_mock_response_json(req);
    assert_string_equal(cJSON_GetObjectItem(json, "error")->valuestring,
                        "invalid JSON: empty body");
    cJSON_Delete(json);
    ph_mock_request_free(req);
    ph_mock_fini(inst);
}

static void echo_rejects_data_after_the_value_with_400(void **state)
{
    (void)state;
    static const char body[] = "{\"a\":1} {\"b\":2}";
    ph_mock_instance *inst = load();
    ph_request *req = post(inst, body, strlen(body), PH_OK);
    assert_invalid_json_answer(req);
    ph_mock_request_free(req);

    static const char with_nul[] = "[1]\0[2]"; /* a NUL is not whitespace */
    req = post(inst, with_nul, sizeof with_nul - 1, PH_OK);
    assert_invalid_json_answer(req);
    ph_mock_request_free(req);
    ph_mock_fini(inst);
}

static void echo_parses_only_the_body_length(void **state)
{
    (void)state;
    static const char buf[] = "[1,2]GARBAGE"; /* only the first 5 bytes are the body */
    ph_mock_instance *inst = load();
    ph_request *req = post(inst, buf, 5, PH_OK);
    assert_int_equal(ph_mock_response_status(req), 200);
    assert_string_equal(ph_mock_response_body(req, NULL), "[1,2]");
    ph_mock_request_free(req);
    ph_mock_fini(inst);
}

static void echo_reports_error_when_host_is_out_of_memory(void **state)
{
    (void)state;
    ph_mock_instance *inst = load();
    ph_mock_fail_next(PH_MOCK_FAULT_NOMEM, 1);
    ph_request *req = post(inst, "[1]", 3, PH_ERROR);
    assert_int_equal(ph_mock_response_status(req), 500);
    ph_mock_request_free(req);
    ph_mock_fini(inst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        MOCK_TEST(echo_declares_itself_sync),
        MOCK_TEST(echo_round_trips_nested_json_compactly),
        MOCK_TEST(echo_round_trips_scalars_and_arrays),
        MOCK_TEST(echo_rejects_invalid_json_with_400),
        MOCK_TEST(echo_rejects_empty_body_with_400),
        MOCK_TEST(echo_rejects_data_after_the_value_with_400),
        MOCK_TEST(echo_parses_only_the_body_length),
        MOCK_TEST(echo_reports_error_when_host_is_out_of_memory),
    };
    return cmocka_run_group_tests_name("plugin echo", tests, NULL, NULL);
}
