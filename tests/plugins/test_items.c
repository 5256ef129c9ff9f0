/* test_items.c - the items plugin (plugins/items/items.c) through the mock
 * host: GET/PUT/DELETE on /items/{id}, 404/400/405/507, the max_items
 * limit, a store large enough to grow its table, and PUT/GET/DELETE from
 * several threads at once (run it under ThreadSanitizer). */
#include "mock_fixture.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define ROUTE "/items/{id}"

/* Load items at ROUTE with optional `max_items` (NULL: absent). */
static ph_mock_instance *load(ph_settings **s, const char *max_items)
{
    return mock_load(s, ROUTE, "max_items", max_items, NULL);
}

/* Handle `method` /items/<id> with `body` (NULL: none). Returns the
 * handled request (free it with ph_mock_request_free) or NULL on a mock
 * failure; never calls cmocka, so threads may use it. */
static ph_request *call(ph_mock_instance *inst, const char *method, const char *id,
                        const char *body, int *rc)
{
    char target[512];
    snprintf(target, sizeof target, "/items/%s", id);
    ph_request *req = ph_mock_request_new(method, target);
    if (!req || ph_mock_request_set_path_params(req, "id", id, NULL) != 0 ||
        (body && ph_mock_request_set_body_str(req, body) != 0)) {
        ph_mock_request_free(req);
        return NULL;
    }
    *rc = ph_mock_handle(inst, req);
    return req;
}

/* call() and assert PH_OK with `status` and, if `body` is not NULL, that
 * exact response body. */
static void expect(ph_mock_instance *inst, const char *method, const char *id,
                   const char *req_body, int status, const char *body)
{
    int rc;
    ph_request *req = call(inst, method, id, req_body, &rc);
    assert_non_null(req);
    assert_int_equal(rc, PH_OK);
    if (ph_mock_response_status(req) != status)
        fail_msg("%s %s: status %d, expected %d (%s)", method, id,
                 ph_mock_response_status(req), status, ph_mock_response_body(req, NULL));
    if (body)
        assert_string_equal(ph_mock_response_body(req, NULL), body);
    if (status != 204)
        assert_string_equal(ph_mock_response_header(req, "Content-Type"), "application/json");
    ph_mock_request_free(req);
}

/* call() and assert an error `status` whose {"error"} message contains
 * `needle`. */
static void expect_error(ph_mock_instance *inst, const char *method, const char *id,
                         const char *req_body, int status, const char *needle)
{
    int rc;
    ph_request *req = call(inst, method, id, req_body, &rc);
    assert_int_equal(rc, PH_OK);
    assert_int_equal(ph_mock_response_status(req), status);
    cJSON *json = ph_mock_response_json(req);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(json, "error");
    assert_true(cJSON_IsString(err));
    if (!strstr(err->valuestring, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err->valuestring, needle);
    cJSON_Delete(json);
    ph_mock_request_free(req);
}

static void items_declares_itself_sync(void **state)
{
    (void)state;
    assert_int_equal(ph_plugin_entry()->mode, PH_MODE_SYNC);
    assert_string_equal(ph_plugin_entry()->name, "items");
}

static void items_get_of_an_unknown_id_is_404(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL);
    expect_error(inst, "GET", "42", NULL, 404, "no item with id \"42\"");
    mock_unload(inst, s);
}

static void items_put_creates_with_201_and_get_returns_it(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL);
    int rc;
    ph_request *req = call(inst, "PUT", "42", " { \"name\" : \"x\", \"n\": [1, 2] } \n", &rc);
    assert_int_equal(rc, PH_OK);
    assert_int_equal(ph_mock_response_status(req), 201);
    assert_string_equal(ph_mock_response_header(req, "Location"), "/items/42");
    assert_string_equal(ph_mock_response_body(req, NULL), "{\"name\":\"x\",\"n\":[1,2]}");
    ph_mock_request_free(req);
    expect(inst, "GET", "42", NULL, 200, "{\"name\":\"x\",\"n\":[1,2]}");
    expect(inst, "HEAD", "42", NULL, 200, "{\"name\":\"x\",\"n\":[1,2]}"); /* the host drops it */
    expect_error(inst, "GET", "43", NULL, 404, "43");
    mock_unload(inst, s);
}

static void items_put_replaces_with_200(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL);
    expect(inst, "PUT", "a", "1", 201, "1");
    expect(inst, "PUT", "a", "\"two\"", 200, "\"two\"");
    expect(inst, "GET", "a", NULL, 200, "\"two\"");
    mock_unload(inst, s);
}

static void items_put_refuses_invalid_json_with_400(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL);
    expect_error(inst, "PUT", "a", "{\"a\":", 400, "invalid JSON");
    expect_error(inst, "PUT", "a", "", 400, "empty body");
    expect_error(inst, "PUT", "a", NULL, 400, "empty body");
    expect_error(inst, "PUT", "a", "{} {}", 400, "unexpected data");
    expect_error(inst, "GET", "a", NULL, 404, "a"); /* nothing stored */
    mock_unload(inst, s);
}

static void items_delete_answers_204_then_404(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL);
    expect(inst, "PUT", "k", "{}", 201, NULL);
    expect(inst, "DELETE", "k", NULL, 204, "");
    expect_error(inst, "GET", "k", NULL, 404, "k");
    expect_error(inst, "DELETE", "k", NULL, 404, "k");
    mock_unload(inst, s);
}

static void items_answers_507_when_full_but_still_replaces(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, "2");
    expect(inst, "PUT", "a", "1", 201, NULL);
    expect(inst, "PUT", "b", "2", 201, NULL);
    expect_error(inst, "PUT", "c", "3", 507, "max_items = 2");
    expect_error(inst, "GET", "c", NULL, 404, "c");
    expect(inst, "PUT", "a", "10", 200, "10"); /* replacing needs no room */
    expect(inst, "DELETE", "b", NULL, 204, NULL);
    expect(inst, "PUT", "c", "3", 201, "3");
    expect(inst, "GET", "a", NULL, 200, "10");
    mock_unload(inst, s);
}

static void items_refuses_other_methods_with_405_and_allow(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL);
    int rc;
    ph_request *req = call(inst, "POST", "a", "{}", &rc);
    assert_int_equal(rc, PH_OK);
    assert_int_equal(ph_mock_response_status(req), 405);
    assert_string_equal(ph_mock_response_header(req, "Allow"), "GET, HEAD, PUT, DELETE");
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void items_refuses_a_missing_or_overlong_id_with_400(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL);
    char id[258];
    memset(id, 'x', 257);
    id[257] = '\0';
    expect_error(inst, "GET", id, NULL, 400, "longer than 256");
    id[256] = '\0';
    expect(inst, "PUT", id, "true", 201, "true"); /* 256 bytes is fine */

    ph_request *req = ph_mock_request_new("GET", "/items/"); /* no path parameter */
    assert_int_equal(ph_mock_handle(inst, req), PH_OK);
    assert_int_equal(ph_mock_response_status(req), 400);
    ph_mock_request_free(req);
    mock_unload(inst, s);
}

static void items_ids_are_exact_strings(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL);
    expect(inst, "PUT", "a b/c", "1", 201, NULL); /* decoded by the host: any bytes */
    expect(inst, "PUT", "A", "2", 201, NULL);
    expect(inst, "GET", "a b/c", NULL, 200, "1");
    expect(inst, "GET", "A", NULL, 200, "2");
    expect_error(inst, "GET", "a", NULL, 404, "a");
    mock_unload(inst, s);
}

static void items_keeps_thousands_of_items(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL);
    char id[16], body[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "id-%d", i);
        snprintf(body, sizeof body, "{\"i\":%d}", i);
        expect(inst, "PUT", id, body, 201, NULL);
    }
    for (int i = 0; i < 3000; i += 7) {
        snprintf(id, sizeof id, "id-%d", i);
        snprintf(body, sizeof body, "{\"i\":%d}", i);
        expect(inst, "GET", id, NULL, 200, body);
    }
    for (int i = 0; i < 3000; i += 2) {
        snprintf(id, sizeof id, "id-%d", i);
        expect(inst, "DELETE", id, NULL, 204, NULL);
    }
    expect_error(inst, "GET", "id-10", NULL, 404, "id-10");
    expect(inst, "GET", "id-11", NULL, 200, "{\"i\":11}");
    mock_unload(inst, s); /* fini frees the rest: the leak check says so */
}

/* ---- concurrency ---- */

#define NTHREADS 8
#define NOPS 400

typedef struct worker {
    ph_mock_instance *inst;
    int n;
    atomic_int *failures;
} worker;

/* Each thread writes and reads back its own ids, and races the others on
 * a few shared ids (any answer must be a whole value some thread PUT). */
static void *hammer(void *arg)
{
    worker *w = arg;
    char id[32], body[64];
    for (int i = 0; i < NOPS; i++) {
        int rc;
        snprintf(id, sizeof id, "t%d-%d", w->n, i % 50);
        snprintf(body, sizeof body, "{\"t\":%d,\"i\":%d}", w->n, i);
        ph_request *put = call(w->inst, "PUT", id, body, &rc);
        ph_request *get = call(w->inst, "GET", id, NULL, &rc);
        if (!put || !get || ph_mock_response_status(get) != 200 ||
            strcmp(ph_mock_response_body(get, NULL), body) != 0)
            atomic_fetch_add(w->failures, 1);
        ph_mock_request_free(put);
        ph_mock_request_free(get);

        snprintf(id, sizeof id, "shared-%d", i % 5);
        const char *method = i % 3 == 0 ? "DELETE" : i % 3 == 1 ? "PUT" : "GET";
        ph_request *r = call(w->inst, method, id, body, &rc);
        int status = r ? ph_mock_response_status(r) : 0;
        if (!r || rc != PH_OK || (status != 200 && status != 201 && status != 204 && status != 404))
            atomic_fetch_add(w->failures, 1);
        if (status == 200 && method[0] == 'G') {
            cJSON *json = ph_mock_response_json(r);
            if (!cJSON_IsNumber(cJSON_GetObjectItem(json, "t")))
                atomic_fetch_add(w->failures, 1);
            cJSON_Delete(json);
        }
        ph_mock_request_free(r);
    }
    return NULL;
}

static void items_serves_concurrent_put_get_delete_from_many_threads(void **state)
{
    (void)state;
    ph_settings *s;
    ph_mock_instance *inst = load(&s, NULL);
    atomic_int failures = 0;
    pthread_t threads[NTHREADS];
    worker workers[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        workers[i] = (worker){inst, i, &failures};
        assert_int_equal(pthread_create(&threads[i], NULL, hammer, &workers[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(threads[i], NULL);
    assert_int_equal(atomic_load(&failures), 0);
    /* every thread's last value of each of its ids is there */
    char id[32], body[64];
    for (int t = 0; t < NTHREADS; t++) {
        for (int k = 0; k < 50; k++) {
            snprintf(id, sizeof id, "t%d-%d", t, k);
            snprintf(body, sizeof body, "{\"t\":%d,\"i\":%d}", t, NOPS - 50 + k);
            expect(inst, "GET", id, NULL, 200, body);
        }
    }
    mock_unload(inst, s);
}

/* ---- init ---- */

static void assert_init_refuses(const char *route, const char *max_items, const char *needle)
{
    mock_assert_init_refuses(needle, route, "max_items", max_items, NULL);
}

static void items_init_refuses_a_route_without_id_and_bad_max_items(void **state)
{
    (void)state;
    assert_init_refuses("/items", NULL, "no {id} path parameter");
    assert_init_refuses("/items/{key}", NULL, "no {id}");
    assert_init_refuses(ROUTE, "0", "max_items");
    assert_init_refuses(ROUTE, "-5", "max_items");
    assert_init_refuses(ROUTE, "1.5", "max_items");
    assert_init_refuses(ROUTE, "lots", "max_items");
    assert_init_refuses(ROUTE, "20000000", "max_items");
}

static void items_init_refuses_a_host_without_path_param(void **state)
{
    (void)state;
    mock_assert_refuses_a_1_0_host(ROUTE);
}

/* Its literal headers go through add_header_n (ABI 1.5). */
static void items_init_refuses_a_host_without_add_header_n(void **state)
{
    (void)state;
    mock_assert_refuses_a_1_4_host(ROUTE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        MOCK_TEST(items_declares_itself_sync),
        MOCK_TEST(items_get_of_an_unknown_id_is_404),
        MOCK_TEST(items_put_creates_with_201_and_get_returns_it),
        MOCK_TEST(items_put_replaces_with_200),
        MOCK_TEST(items_put_refuses_invalid_json_with_400),
        MOCK_TEST(items_delete_answers_204_then_404),
        MOCK_TEST(items_answers_507_when_full_but_still_replaces),
        MOCK_TEST(items_refuses_other_methods_with_405_and_allow),
        MOCK_TEST(items_refuses_a_missing_or_overlong_id_with_400),
        MOCK_TEST(items_ids_are_exact_strings),
        MOCK_TEST(items_keeps_thousands_of_items),
        MOCK_TEST(items_serves_concurrent_put_get_delete_from_many_threads),
        MOCK_TEST(items_init_refuses_a_route_without_id_and_bad_max_items),
        MOCK_TEST(items_init_refuses_a_host_without_path_param),
        MOCK_TEST(items_init_refuses_a_host_without_add_header_n),
    };
    return cmocka_run_group_tests_name("plugin items", tests, NULL, NULL);
}
