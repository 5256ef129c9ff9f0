/* test_conform_mock.c - the conformance suite (conform_suite.c) on the
 * SDK's mock host, with it_conform compiled in. The real server runs the
 * same cases in tests/integration/test_conform_server.c. */
#include "conform_suite.h"
#include "ph_mock_host.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

static ph_mock_instance *inst;      /* it_conform, compiled in */
static ph_mock_instance *sync_inst; /* it_conform_sync.so, loaded */

static ph_mock_instance *instance_for(const conform_case *c) { return c->sync ? sync_inst : inst; }

static ph_request *request_for(const char *kind, unsigned long id)
{
    char target[128];
    snprintf(target, sizeof target, "/c?case=%s&id=%lu", kind, id);
    ph_request *req = ph_mock_request_new("GET", target);
    assert_non_null(req);
    return req;
}

static void play(const conform_case *c, unsigned long id, conform_outcome *out)
{
    ph_request *req = request_for(c->name, id);
    int rc = ph_mock_handle(instance_for(c), req);
    if (rc == PH_PENDING) {
        if (c->end == CONFORM_ANSWER)
            ph_mock_run_timers(100);
        else
            assert_int_equal(ph_mock_abort(req), 0); /* the mock plays both timeout and client */
    }
    if (ph_mock_responded(req)) {
        out->status = ph_mock_response_status(req);
        snprintf(out->body, sizeof out->body, "%s", ph_mock_response_body(req, NULL));
    }
    ph_mock_request_free(req);
}

static void report(const conform_case *c, unsigned long id, char *buf, size_t len)
{
    ph_request *req = request_for("report", id);
    assert_int_equal(ph_mock_handle(instance_for(c), req), PH_OK);
    snprintf(buf, len, "%s", ph_mock_response_body(req, NULL));
    ph_mock_request_free(req);
}

static void the_mock_host_conforms(void **state)
{
    (void)state;
    ph_mock_reset();
    assert_int_equal(ph_mock_init(ph_plugin_entry(), NULL, &inst), 0);
    void *lib;
    const ph_plugin *sync_plugin = ph_mock_plugin_open(CONFORM_SYNC_SO, &lib);
    assert_non_null(sync_plugin);
    assert_int_equal(ph_mock_init(sync_plugin, NULL, &sync_inst), 0);
    static const conform_host host = {"mock", play, report};
    conform_run(&host);
    ph_mock_fini(sync_inst);
    ph_mock_fini(inst);
    assert_int_equal(ph_mock_plugin_close(lib), 0);
    ph_mock_reset(); /* the hostile cases were recorded as misuses: that is their point */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(the_mock_host_conforms)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
