/* test_hello.c - plugins/hello/hello.c through the mock host. */
#include "mock_fixture.h"

#include <string.h>

static ph_mock_instance *load(void)
{
    ph_mock_instance *inst = NULL;
    assert_int_equal(ph_mock_init(ph_plugin_entry(), NULL, &inst), 0);
    assert_non_null(inst);
    return inst;
}

static void hello_declares_itself_async_with_current_abi(void **state)
{
    (void)state;
    const ph_plugin *p = ph_plugin_entry();
    assert_string_equal(p->name, "hello");
    assert_int_equal(p->mode, PH_MODE_ASYNC);
    assert_int_equal(p->abi_version, PH_ABI_VERSION);
    assert_int_equal(p->struct_size, sizeof(ph_plugin));
}

static void hello_answers_200_hello_world_as_text_plain(void **state)
{
    (void)state;
    ph_mock_instance *inst = load();
    ph_request *req = ph_mock_request_new("GET", "/hello");
    assert_int_equal(ph_mock_handle(inst, req), PH_OK);

    assert_true(ph_mock_responded(req));
    assert_int_equal(ph_mock_response_status(req), 200);
    assert_string_equal(ph_mock_response_header(req, "Content-Type"), "text/plain");
    assert_int_equal(ph_mock_response_header_count(req), 1);
    size_t len;
    const char *body = ph_mock_response_body(req, &len);
    assert_int_equal(len, strlen("Hello, World!"));
    assert_memory_equal(body, "Hello, World!", len);

    ph_mock_request_free(req);
    ph_mock_fini(inst);
}

static void hello_responds_immediately_without_timers_or_complete(void **state)
{
    (void)state;
    ph_mock_instance *inst = load();
    ph_request *req = ph_mock_request_new("GET", "/");
    assert_int_equal(ph_mock_handle(inst, req), PH_OK);
    assert_int_equal(ph_mock_timers_pending(NULL), 0);
    assert_int_equal(ph_mock_complete_calls(req), 0);
    ph_mock_request_free(req);
    ph_mock_fini(inst);
}

static void hello_answers_every_method_path_and_body_alike(void **state)
{
    (void)state;
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD"};
    ph_mock_instance *inst = load();
    for (size_t i = 0; i < 100; i++) {
        ph_request *req = ph_mock_request_new(methods[i % 5], "/any/path?x=1");
        assert_non_null(req);
        assert_int_equal(ph_mock_request_set_body_str(req, "ignored"), 0);
        assert_int_equal(ph_mock_handle(inst, req), PH_OK);
        assert_string_equal(ph_mock_response_body(req, NULL), "Hello, World!");
        ph_mock_request_free(req);
    }
    ph_mock_fini(inst);
}

static void hello_reports_error_when_host_is_out_of_memory(void **state)
{
    (void)state;
    ph_mock_instance *inst = load();
    ph_request *req = ph_mock_request_new("GET", "/");
    ph_mock_fail_next(PH_MOCK_FAULT_NOMEM, 1);
    assert_int_equal(ph_mock_handle(inst, req), PH_ERROR);
    assert_int_equal(ph_mock_response_status(req), 500);
    ph_mock_request_free(req);
    ph_mock_fini(inst);
}

/* hello adds its header with add_header_n (ABI 1.5): it refuses a 1.4
 * host (a table ending before that slot), naming the route and the ABI it
 * needs, instead of calling past the table. */
static void hello_refuses_a_host_without_add_header_n(void **state)
{
    (void)state;
    mock_assert_refuses_a_1_4_host("/hello");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        MOCK_TEST(hello_declares_itself_async_with_current_abi),
        MOCK_TEST(hello_answers_200_hello_world_as_text_plain),
        MOCK_TEST(hello_responds_immediately_without_timers_or_complete),
        MOCK_TEST(hello_answers_every_method_path_and_body_alike),
        MOCK_TEST(hello_reports_error_when_host_is_out_of_memory),
        MOCK_TEST(hello_refuses_a_host_without_add_header_n),
    };
    return cmocka_run_group_tests_name("plugin hello", tests, NULL, NULL);
}
