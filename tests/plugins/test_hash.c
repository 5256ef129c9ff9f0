/* test_hash.c - the hash plugin (plugins/hash/hash.c) through the mock
 * host: known SHA-256 digests computed on the pool through offload, 503
 * when the pool refuses the job, and cancellation when the client leaves
 * before, or after, the work ran. Expected digests come from coreutils'
 * sha256sum, not from the library under test. */
#include "mock_fixture.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/* 1 MiB of 'a' (head -c 1048576 /dev/zero | tr '\0' a | sha256sum) */
#define SHA256_1MIB_A "9bc1b2a288b26af7257a36277ae3816a7d4f16e89c1e7e77d0a5c48bad62b360"
/* "a\0b" */
#define SHA256_A_NUL_B "59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138"

static ph_mock_instance *load(void)
{
    ph_mock_instance *inst = NULL;
    assert_int_equal(ph_mock_init(ph_plugin_entry(), NULL, &inst), 0);
    return inst;
}

/* A POST carrying `len` bytes of `body`, handled: expect PH_PENDING with
 * one offloaded job and no answer yet. */
static ph_request *start(ph_mock_instance *inst, const void *body, size_t len)
{
    ph_request *req = ph_mock_request_new("POST", "/hash");
    assert_int_equal(ph_mock_request_set_body(req, body, len), 0);
    assert_int_equal(ph_mock_handle(inst, req), PH_PENDING);
    assert_int_equal(ph_mock_offloads_pending(req), 1);
    assert_false(ph_mock_responded(req));
    return req;
}

/* Hash `len` bytes of `body` end to end and check the digest. */
static void assert_hashes_to(const void *body, size_t len, const char *hex)
{
    ph_mock_instance *inst = load();
    ph_request *req = start(inst, body, len);
    assert_int_equal(ph_mock_run_offloads(), 1);
    mock_assert_json_reply(req, "sha256", hex);
    ph_mock_request_free(req);
    ph_mock_fini(inst);
}

static void hash_declares_itself_async(void **state)
{
    (void)state;
    assert_int_equal(ph_plugin_entry()->mode, PH_MODE_ASYNC);
    assert_string_equal(ph_plugin_entry()->name, "hash");
}

static void hash_of_the_empty_body(void **state)
{
    (void)state;
    assert_hashes_to("", 0, SHA256_EMPTY);
}

static void hash_of_abc(void **state)
{
    (void)state;
    assert_hashes_to("abc", 3, SHA256_ABC);
}

static void hash_of_a_binary_body_with_a_nul(void **state)
{
    (void)state;
    assert_hashes_to("a\0b", 3, SHA256_A_NUL_B);
}

static void hash_of_a_1_mib_body(void **state)
{
    (void)state;
    size_t len = 1u << 20;
    char *body = malloc(len);
    assert_non_null(body);
    memset(body, 'a', len);
    assert_hashes_to(body, len, SHA256_1MIB_A);
    free(body);
}

static void hash_waits_for_the_pool_then_answers_on_the_loop(void **state)
{
    (void)state;
    ph_mock_instance *inst = load();
    ph_request *req = start(inst, "abc", 3);
    assert_int_equal(ph_mock_run_offload_work(), 1); /* hashed, done not yet run */
    assert_false(ph_mock_responded(req));
    assert_int_equal(ph_mock_offloads_pending(req), 1);
    assert_int_equal(ph_mock_run_offloads(), 1);
    mock_assert_json_reply(req, "sha256", SHA256_ABC);
    ph_mock_request_free(req);
    ph_mock_fini(inst);
}

static void hash_serves_concurrent_requests_on_parallel_pool_threads(void **state)
{
    (void)state;
    static const char *const digests[] = {
        "081a89a5b26ff53af2f0802778b75dcabe068fe6650ad66e680eef0450e9a008",
        "85e08f281bf3d004784e18d04a1a8d0b8fa37ab50d6ea39c3f4b43145375762f",
        "135a39640e0b3eeef9088c33af7079679ad5c5197511a501992e45f49a1b51b0",
        "9fee02f723ebc56133d9ae11fc44df22514eea89495d34a865ffa18b0129086f",
    };
    ph_mock_instance *inst = load();
    ph_request *reqs[4];
    for (int i = 0; i < 4; i++) {
        char body[16];
        int n = snprintf(body, sizeof body, "body-%d", i);
        reqs[i] = start(inst, body, (size_t)n);
    }
    assert_int_equal(ph_mock_run_offloads(), 4); /* the four works run at once */
    for (int i = 0; i < 4; i++) {
        mock_assert_json_reply(reqs[i], "sha256", digests[i]);
        ph_mock_request_free(reqs[i]);
    }
    ph_mock_fini(inst);
}

static void hash_answers_503_when_the_pool_refuses_the_job(void **state)
{
    (void)state;
    ph_mock_instance *inst = load();
    ph_request *req = ph_mock_request_new("POST", "/hash");
    ph_mock_request_set_body_str(req, "abc");
    ph_mock_fail_next(PH_MOCK_FAULT_OFFLOAD, 1);
    assert_int_equal(ph_mock_handle(inst, req), PH_OK);
    assert_int_equal(ph_mock_response_status(req), 503);
    assert_string_equal(ph_mock_response_header(req, "Retry-After"), "1");
    cJSON *json = ph_mock_response_json(req);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(json, "error")));
    cJSON_Delete(json);
    assert_int_equal(ph_mock_offloads_pending(NULL), 0);
    ph_mock_request_free(req); /* the job was freed: the leak check says so */
    ph_mock_fini(inst);
}

static void hash_abort_before_the_work_ran_frees_the_job_in_done(void **state)
{
    (void)state;
    ph_mock_instance *inst = load();
    ph_request *req = start(inst, "abc", 3);
    assert_int_equal(ph_mock_abort(req), 0);
    assert_true(ph_mock_aborted(req));
    assert_int_equal(ph_mock_offloads_pending(NULL), 0);
    /* The request memory goes first, as on the host: the work still runs
     * and must hash its own copy (ASan would catch a read of the body). */
    ph_mock_request_free(req);
    assert_int_equal(ph_mock_run_offload_work(), 1);
    assert_int_equal(ph_mock_run_offloads(), 1); /* done(NULL): frees, answers nothing */
    ph_mock_fini(inst); /* a leak or double free shows under ASan */
}

static void hash_abort_after_the_work_ran_frees_the_job_in_done(void **state)
{
    (void)state;
    ph_mock_instance *inst = load();
    ph_request *req = start(inst, "abc", 3);
    assert_int_equal(ph_mock_run_offload_work(), 1);
    assert_int_equal(ph_mock_abort(req), 0);
    assert_int_equal(ph_mock_run_offloads(), 1); /* done(NULL) */
    assert_false(ph_mock_responded(req));
    assert_int_equal(ph_mock_complete_calls(req), 0);
    ph_mock_request_free(req);
    ph_mock_fini(inst);
}

static void hash_init_refuses_a_host_without_offload(void **state)
{
    (void)state;
    mock_assert_refuses_a_1_0_host("/hash");
}

/* Its literal headers go through add_header_n (ABI 1.5). */
static void hash_init_refuses_a_host_without_add_header_n(void **state)
{
    (void)state;
    mock_assert_refuses_a_1_4_host("/hash");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        MOCK_TEST(hash_declares_itself_async),
        MOCK_TEST(hash_of_the_empty_body),
        MOCK_TEST(hash_of_abc),
        MOCK_TEST(hash_of_a_binary_body_with_a_nul),
        MOCK_TEST(hash_of_a_1_mib_body),
        MOCK_TEST(hash_waits_for_the_pool_then_answers_on_the_loop),
        MOCK_TEST(hash_serves_concurrent_requests_on_parallel_pool_threads),
        MOCK_TEST(hash_answers_503_when_the_pool_refuses_the_job),
        MOCK_TEST(hash_abort_before_the_work_ran_frees_the_job_in_done),
        MOCK_TEST(hash_abort_after_the_work_ran_frees_the_job_in_done),
        MOCK_TEST(hash_init_refuses_a_host_without_offload),
        MOCK_TEST(hash_init_refuses_a_host_without_add_header_n),
    };
    return cmocka_run_group_tests_name("plugin hash", tests, NULL, NULL);
}
