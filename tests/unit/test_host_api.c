/* test_host_api.c - server/host_api.c: the table plugins get. */
#include "host_api.h"

#include "config_value.h"
#include "plugin_instance.h"
#include "request.h"
#include "request_life.h"
#include "request_timer.h"
#include "router.h"
#include "sdk_calls.h"
#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

static const ph_host_api *api;

static ph_setting items[] = {
    {(char *)"seconds", (char *)"2.5"},  {(char *)"word", (char *)"abc"},   {(char *)"tail", (char *)"1x"},
    {(char *)"empty", (char *)""},       {(char *)"inf", (char *)"inf"},    {(char *)"nan", (char *)"nan"},
    {(char *)"exp", (char *)"1e2"},      {(char *)"neg", (char *)"-0.25"},
};
static struct ph_settings settings = {(char *)"/route", items, sizeof items / sizeof items[0]};

static int setup(void **state)
{
    (void)state;
    api = ph_host_api_table();
    ph_sdk_calls_install();
    return 0;
}

static int free_requests(void **state)
{
    (void)state;
    ph_request_free_cache();
    return 0;
}

/* A request a sync handler is running (the builders are open). */
static ph_request *new_request(void)
{
    ph_request *req = ph_request_new();
    assert_non_null(req);
    ut_request_set_url(req, "/route?x=1");
    req->life = PH_LIFE_RUNNING;
    return req;
}

/* A pending async request (the loop primitives are open). */
static ph_request *async_request(void)
{
    ph_request *req = new_request();
    req->async = true;
    return req;
}

static char *headers_of(const ph_request *req) { return ut_buf_string(&req->resp_headers); }

static void table_reports_its_size_version_and_fills_every_slot(void **state)
{
    (void)state;
    assert_int_equal(api->struct_size, sizeof(ph_host_api));
    assert_int_equal(api->abi_version, PH_ABI_VERSION);
    assert_ptr_equal(ph_host_api_table(), api);
    assert_true(PH_HOST_HAS(api, setting));
    assert_true(PH_HOST_HAS(api, setting_double));
    assert_true(PH_HOST_HAS(api, route_path));
    assert_true(PH_HOST_HAS(api, method));
    assert_true(PH_HOST_HAS(api, path));
    assert_true(PH_HOST_HAS(api, query));
    assert_true(PH_HOST_HAS(api, query_param));
    assert_true(PH_HOST_HAS(api, header));
    assert_true(PH_HOST_HAS(api, body));
    assert_true(PH_HOST_HAS(api, set_status));
    assert_true(PH_HOST_HAS(api, add_header));
    assert_true(PH_HOST_HAS(api, set_body));
    assert_true(PH_HOST_HAS(api, respond_json));
    assert_true(PH_HOST_HAS(api, respond_error));
    assert_true(PH_HOST_HAS(api, log));
    assert_true(PH_HOST_HAS(api, complete));
    assert_true(PH_HOST_HAS(api, timer_start));
    assert_true(PH_HOST_HAS(api, timer_cancel));
    /* ABI 1.1 */
    assert_int_equal(PH_ABI_VERSION_MINOR(api->abi_version), PH_ABI_MINOR);
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
    /* ABI 1.4 */
    assert_true(PH_HOST_HAS(api, fetch_stream));
    assert_true(PH_HOST_HAS(api, fetch_pause));
    assert_true(PH_HOST_HAS(api, fetch_resume));
    assert_true(PH_HOST_HAS(api, complete_failed));
    /* ABI 1.5 */
    assert_true(PH_HOST_HAS(api, add_header_n));
}

/* ---- settings ---- */

static void setting_returns_value_or_null(void **state)
{
    (void)state;
    assert_string_equal(api->setting(&settings, "seconds"), "2.5");
    assert_string_equal(api->setting(&settings, "empty"), "");
    assert_null(api->setting(&settings, "absent"));
    assert_null(api->setting(&settings, "Seconds"));
    assert_null(api->setting(&settings, NULL));
    assert_null(api->setting(NULL, "seconds"));
    assert_string_equal(api->route_path(&settings), "/route");
    assert_null(api->route_path(NULL));
}

static void setting_double_parses_numbers_and_defaults_when_absent(void **state)
{
    (void)state;
    double v = 0;
    assert_int_equal(api->setting_double(&settings, "seconds", 9, &v), 0);
    assert_true(v == 2.5);
    assert_int_equal(api->setting_double(&settings, "exp", 9, &v), 0);
    assert_true(v == 100.0);
    assert_int_equal(api->setting_double(&settings, "neg", 9, &v), 0);
    assert_true(v == -0.25);
    assert_int_equal(api->setting_double(&settings, "absent", 7.5, &v), 0);
    assert_true(v == 7.5);
}

static void setting_double_refuses_text_trailing_empty_and_non_finite(void **state)
{
    (void)state;
    static const char *const bad[] = {"word", "tail", "empty", "inf", "nan"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = 42;
        if (api->setting_double(&settings, bad[i], 1, &v) != -1)
            fail_msg("setting_double accepted '%s'", api->setting(&settings, bad[i]));
        assert_true(v == 42);
    }
}

/* ---- request accessors ---- */

static void accessors_read_method_path_query_headers_and_body(void **state)
{
    (void)state;
    ph_request *req = new_request();
    ut_request_set_url(req, "/r?name=a+b&flag");
    ut_request_add_header(req, "X-Thing", "v");
    req->method = "POST";
    size_t len = 99;
    const char *body = api->body(req, &len);
    assert_non_null(body);
    assert_int_equal(len, 0);
    assert_int_equal(ph_buf_append_str(&req->body, "{\"a\":1}"), 0);
    assert_string_equal(api->method(req), "POST");
    assert_string_equal(api->path(req), "/r");
    assert_string_equal(api->query(req), "name=a+b&flag");
    assert_string_equal(api->query_param(req, "name"), "a b");
    assert_string_equal(api->query_param(req, "flag"), "");
    assert_null(api->query_param(req, "nope"));
    assert_null(api->query_param(req, NULL));
    assert_string_equal(api->header(req, "x-thing"), "v");
    assert_null(api->header(req, NULL));
    body = api->body(req, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(body, "{\"a\":1}", 7);
    ph_life_discard(req);
}

/* Headers enumerate in arrival order, repeats included; the client
 * address is what the connection recorded. */
static void header_at_enumerates_every_header_and_client_addr_reports_the_peer(void **state)
{
    (void)state;
    const ph_host_api *api = ph_host_api_table();
    ph_request *req = ph_request_new();
    ut_request_set_url(req, "/h");
    ut_request_add_header(req, "A", "1");
    ut_request_add_header(req, "B", "2");
    ut_request_add_header(req, "A", "3");
    assert_int_equal(api->header_count(req), 3);
    const char *name, *value;
    const char *want[3][2] = {{"A", "1"}, {"B", "2"}, {"A", "3"}};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(api->header_at(req, i, &name, &value), 0);
        assert_string_equal(name, want[i][0]);
        assert_string_equal(value, want[i][1]);
    }
    assert_int_equal(api->header_at(req, 3, &name, &value), -1);
    assert_string_equal(api->client_addr(req), "");
    ph_request_set_client_addr(req, "::1");
    assert_string_equal(api->client_addr(req), "::1");
    ph_life_discard(req);
}

/* ---- response builders ---- */

/* A 1xx is interim: sent as a plugin's answer it went out unframed and
 * the real response was read as the next request's (issue 10). */
static void set_status_accepts_200_to_599_only(void **state)
{
    (void)state;
    ph_request *req = new_request();
    assert_int_equal(api->set_status(req, 200), 0);
    assert_int_equal(api->set_status(req, 599), 0);
    assert_int_equal(req->status, 599);
    assert_int_equal(api->set_status(req, 100), -1);
    assert_int_equal(api->set_status(req, 103), -1);
    assert_int_equal(api->set_status(req, 199), -1);
    assert_int_equal(req->status, 599);
    assert_int_equal(api->respond_error(req, 101, "x"), -1);
    assert_int_equal(api->set_status(req, 99), -1);
    assert_int_equal(api->set_status(req, 600), -1);
    assert_int_equal(api->set_status(req, -200), -1);
    assert_int_equal(req->status, 599);
    ph_life_discard(req);
}

static void add_header_appends_name_value_lines(void **state)
{
    (void)state;
    ph_request *req = new_request();
    assert_int_equal(api->add_header(req, "X-One", "1"), 0);
    assert_int_equal(api->add_header(req, "Cache-Control", "no-store, max-age=0"), 0);
    assert_int_equal(api->add_header(req, "X-Empty", ""), 0);
    char *h = headers_of(req);
    assert_string_equal(h, "X-One: 1\r\nCache-Control: no-store, max-age=0\r\nX-Empty: \r\n");
    free(h);
    assert_false(req->has_content_type);
    ph_life_discard(req);
}

static void add_header_refuses_cr_lf_in_value_and_bad_names(void **state)
{
    (void)state;
    ph_request *req = new_request();
    assert_int_equal(api->add_header(req, "X-Ok", "fine"), 0);
    size_t before = req->resp_headers.len;
    assert_int_equal(api->add_header(req, "X-Split", "a\r\nSet-Cookie: evil=1"), -1);
    assert_int_equal(api->add_header(req, "X-Cr", "a\rb"), -1);
    assert_int_equal(api->add_header(req, "X-Lf", "a\nb"), -1);
    assert_int_equal(api->add_header(req, "X-Bad\r\nX-Evil", "1"), -1);
    assert_int_equal(api->add_header(req, "X Space", "1"), -1);
    assert_int_equal(api->add_header(req, "X:Colon", "1"), -1);
    assert_int_equal(api->add_header(req, "", "1"), -1);
    assert_int_equal(api->add_header(req, NULL, "1"), -1);
    assert_int_equal(api->add_header(req, "X-Null", NULL), -1);
    assert_int_equal(req->resp_headers.len, before);
    ph_life_discard(req);
}

static void add_header_refuses_host_managed_headers_in_any_case(void **state)
{
    (void)state;
    ph_request *req = new_request();
    static const char *const managed[] = {"Content-Length", "content-length", "Transfer-Encoding",
                                          "TRANSFER-ENCODING", "Connection", "connection", "Date", "dAtE"};
    for (size_t i = 0; i < sizeof managed / sizeof managed[0]; i++) {
        if (api->add_header(req, managed[i], "1") != -1)
            fail_msg("add_header accepted managed header '%s'", managed[i]);
    }
    assert_int_equal(req->resp_headers.len, 0);
    ph_life_discard(req);
}

static void add_header_content_type_in_any_case_marks_type_set(void **state)
{
    (void)state;
    ph_request *req = new_request();
    assert_int_equal(api->add_header(req, "content-TYPE", "text/csv"), 0);
    assert_true(req->has_content_type);
    ph_life_discard(req);
}

/* Only the twelve letters and '-' of Content-Type, in any case, mark the
 * type set: a name one byte off in any place (a tchar that is not a
 * letter, a neighbouring letter, one byte more or less) does not. */
static void add_header_content_type_near_misses_leave_type_unset(void **state)
{
    (void)state;
    static const char *const near[] = {"Content-Typf", "Content_Type", "Content-Typ",  "Content-Types",
                                       "Content.Type", "Bontent-Type", "Content-Tupe", "Content~Type",
                                       "Content-Typ^", "Content-Typ`", "COntent-typ|", "XContent-Type"};
    for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) {
        ph_request *req = new_request();
        assert_int_equal(api->add_header(req, near[i], "text/csv"), 0);
        if (req->has_content_type)
            fail_msg("'%s' was taken for Content-Type", near[i]);
        ph_life_discard(req);
    }
}

/* The host's own names are matched letters in any case, everything else
 * exactly: a name one byte off is the plugin's to add, and a control
 * byte where a known name has its '-' (CR is '-' but for the case bit)
 * makes it no known name, but an invalid one. */
static void add_header_managed_near_misses_are_plugin_headers(void **state)
{
    (void)state;
    static const char *const near[] = {"Datf",           "Dat",           "Dates",
                                       "DATE_",          "Connectiom",    "Connection_",
                                       "Content-Lengti", "Content_Length", "Transfer-Encodinh",
                                       "Transfer.Encoding"};
    for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) {
        ph_request *req = new_request();
        if (api->add_header(req, near[i], "1") != 0)
            fail_msg("'%s' was refused as a managed header", near[i]);
        ph_life_discard(req);
    }
    static const char *const bad[] = {"Content\rType", "Content\rLength", "Transfer\rEncoding", "Content\x0dtype"};
    ph_request *req = new_request();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (api->add_header(req, bad[i], "1") != -1)
            fail_msg("invalid name %zu was accepted", i);
    }
    assert_int_equal(req->resp_headers.len, 0);
    assert_false(req->has_content_type);
    ph_life_discard(req);
}

/* The name and the value are scanned four bytes a step: a bad byte (CR,
 * LF, a space in the name) is found at every offset of every length, and
 * a valid one of every length is copied whole. */
static void add_header_checks_every_byte_at_every_length(void **state)
{
    (void)state;
    char name[41], value[41], want[100];
    for (size_t len = 1; len < sizeof name; len++) {
        ph_request *req = new_request();
        memset(name, 'n', len);
        memset(value, 'v', len);
        name[len] = value[len] = '\0';
        assert_int_equal(api->add_header(req, name, value), 0);
        snprintf(want, sizeof want, "%s: %s\r\n", name, value);
        char *h = headers_of(req);
        assert_string_equal(h, want);
        free(h);
        for (size_t at = 0; at < len; at++) {
            value[at] = at % 2 ? '\r' : '\n';
            assert_int_equal(api->add_header(req, name, value), -1);
            value[at] = 'v';
            name[at] = ' ';
            assert_int_equal(api->add_header(req, name, value), -1);
            name[at] = 'n';
        }
        assert_int_equal(req->resp_headers.len, strlen(want));
        ph_life_discard(req);
    }
}

/* Only CR and LF are refused in a value: a TAB or another control byte
 * (below CR or not) is kept as given, at every offset of every length. */
static void add_header_keeps_tab_and_other_control_bytes_in_values(void **state)
{
    (void)state;
    static const char controls[] = {'\t', '\x01', '\x0b', '\x0c', '\x0e', '\x1f', '\x7f'};
    char value[41], want[64];
    for (size_t len = 1; len < sizeof value; len++) {
        for (size_t at = 0; at < len; at++) {
            ph_request *req = new_request();
            memset(value, 'v', len);
            value[len] = '\0';
            value[at] = controls[(len + at) % sizeof controls];
            assert_int_equal(api->add_header(req, "X", value), 0);
            snprintf(want, sizeof want, "X: %s\r\n", value);
            char *h = headers_of(req);
            assert_string_equal(h, want);
            free(h);
            ph_life_discard(req);
        }
    }
}

/* Names and values at every start within a word and every length: a
 * value is copied whole with control bytes (TAB next to the NUL, several
 * in one word) and bytes that are CR or LF but for the high bit, and
 * refused for a CR or LF after another control byte in the same word; a
 * name with CR or LF is refused at every start. */
static void add_header_checks_text_at_every_start(void **state)
{
    (void)state;
    _Alignas(8) char name_buf[64], value_buf[64];
    char want[160];
    for (size_t start = 0; start < 8; start++) {
        for (size_t len = 0; len < 40; len++) {
            char *name = name_buf + start, *value = value_buf + start;
            memcpy(name, "X-Name", 7);
            memset(value, 'v', len);
            value[len] = '\0';
            for (size_t at = 0; at < len; at++)
                value[at] = "v\t\x01\x8d\x8a\x0c"[(at + len) % 6];
            ph_request *req = new_request();
            assert_int_equal(api->add_header(req, name, value), 0);
            snprintf(want, sizeof want, "X-Name: %s\r\n", value);
            char *h = headers_of(req);
            assert_string_equal(h, want);
            free(h);
            if (len >= 2) {
                value[len - 2] = '\t';
                value[len - 1] = len % 2 ? '\r' : '\n';
                assert_int_equal(api->add_header(req, name, value), -1);
            }
            name[len % 6] = len % 2 ? '\r' : '\n';
            assert_int_equal(api->add_header(req, name, "1"), -1);
            assert_int_equal(req->resp_headers.len, strlen(want));
            ph_life_discard(req);
        }
    }
}

/* ---- add_header_n (ABI 1.5): add_header's body with the plugin's lengths ---- */

/* A copy of the `len` bytes at `text` in a block of exactly that size (no
 * NUL after it), so ASan reports any read past the length. */
static char *exact_copy(const char *text, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, text, len);
    return p;
}

/* Slices of a buffer are copied as given, nothing past their lengths:
 * the line is the same add_header writes, an empty value is a header,
 * a slice that is Content-Type marks the type set, and a NUL right after
 * value_len (or any byte) is not part of the value. */
static void add_header_n_appends_the_given_bytes(void **state)
{
    (void)state;
    ph_request *req = new_request();
    static const char line[] = "X-One: 1; X-Two";
    assert_int_equal(api->add_header_n(req, line, 5, line + 7, 1), 0);
    assert_int_equal(api->add_header_n(req, "Cache-Controlled", 13, "no-store, max-age=0\r\n", 19), 0);
    assert_int_equal(api->add_header_n(req, "X-Empty", 7, "", 0), 0);
    assert_int_equal(api->add_header_n(req, "X-Nul-After", 11, "ok\0\r\n", 2), 0);
    char *name = exact_copy("X-Exact", 7), *value = exact_copy("tight fit", 9);
    assert_int_equal(api->add_header_n(req, name, 7, value, 9), 0);
    free(name);
    free(value);
    char *h = headers_of(req);
    assert_string_equal(h, "X-One: 1\r\nCache-Control: no-store, max-age=0\r\nX-Empty: \r\nX-Nul-After: ok\r\n"
                           "X-Exact: tight fit\r\n");
    free(h);
    assert_false(req->has_content_type);
    assert_int_equal(api->add_header_n(req, PH_LIT("content-TYPE"), PH_LIT("text/csv")), 0);
    assert_true(req->has_content_type);
    ph_life_discard(req);
}

/* Refused like add_header, with nothing written: a NULL name or value
 * (also with length 0), an empty name, a name that is no token, and a
 * host-managed name in any case, also as a slice of a longer text. */
static void add_header_n_refuses_bad_and_managed_names(void **state)
{
    (void)state;
    ph_request *req = new_request();
    assert_int_equal(api->add_header_n(req, "X", 0, "1", 1), -1);
    assert_int_equal(api->add_header_n(req, "", 0, "1", 1), -1);
    assert_int_equal(api->add_header_n(req, NULL, 0, "1", 1), -1);
    assert_int_equal(api->add_header_n(req, "X", 1, NULL, 0), -1);
    assert_int_equal(api->add_header_n(req, PH_LIT("X Space"), "1", 1), -1);
    assert_int_equal(api->add_header_n(req, PH_LIT("X:Colon"), "1", 1), -1);
    assert_int_equal(api->add_header_n(req, PH_LIT("X-Bad\r\nX-Evil"), "1", 1), -1);
    assert_int_equal(api->add_header_n(req, PH_LIT("Content\rType"), "1", 1), -1);
    static const char *const managed[] = {"Content-Length", "content-length", "Transfer-Encoding",
                                          "TRANSFER-ENCODING", "Connection", "connection", "Date", "dAtE"};
    for (size_t i = 0; i < sizeof managed / sizeof managed[0]; i++) {
        if (api->add_header_n(req, managed[i], strlen(managed[i]), "1", 1) != -1)
            fail_msg("add_header_n accepted managed header '%s'", managed[i]);
    }
    assert_int_equal(api->add_header_n(req, "Dated", 4, "1", 1), -1);
    assert_int_equal(api->add_header_n(req, "Connection: x", 10, "1", 1), -1);
    assert_int_equal(req->resp_headers.len, 0);
    assert_int_equal(api->add_header_n(req, "Dated", 5, "1", 1), 0); /* the whole slice is no managed name */
    ph_life_discard(req);
}

/* A CR, LF or NUL is refused at every offset of the name and of the
 * value, at every length up to past the word scans (in blocks of exactly
 * the given size); TAB and the other control bytes are kept in a value
 * as add_header keeps them, and refused in a name as no tchar. */
static void add_header_n_checks_every_byte_at_every_length(void **state)
{
    (void)state;
    static const char refused[] = {'\r', '\n', '\0'};
    static const char kept[] = {'\t', '\x01', '\x0b', '\x0c', '\x0e', '\x1f', '\x7f'};
    char text[41], want[100];
    for (size_t len = 1; len < sizeof text; len++) {
        ph_request *req = new_request();
        memset(text, 'v', len);
        char *name = exact_copy(text, len), *value = exact_copy(text, len);
        memset(name, 'n', len);
        assert_int_equal(api->add_header_n(req, name, len, value, len), 0);
        size_t written = req->resp_headers.len;
        for (size_t at = 0; at < len; at++) {
            for (size_t i = 0; i < sizeof refused; i++) {
                value[at] = refused[i];
                assert_int_equal(api->add_header_n(req, name, len, value, len), -1);
                value[at] = 'v';
                name[at] = refused[i];
                assert_int_equal(api->add_header_n(req, name, len, value, len), -1);
                name[at] = 'n';
            }
            name[at] = kept[(len + at) % sizeof kept];
            assert_int_equal(api->add_header_n(req, name, len, value, len), -1);
            name[at] = 'n';
            assert_int_equal(req->resp_headers.len, written);
            value[at] = kept[(len + at) % sizeof kept];
            assert_int_equal(api->add_header_n(req, name, len, value, len), 0);
            memcpy(want, ": ", 2);
            memcpy(want + 2, value, len);
            memcpy(want + 2 + len, "\r\n", 2);
            assert_memory_equal(req->resp_headers.data + written + len, want, len + 4);
            written = req->resp_headers.len;
            value[at] = 'v';
        }
        free(name);
        free(value);
        ph_life_discard(req);
    }
}

static void set_body_replaces_previous_body(void **state)
{
    (void)state;
    ph_request *req = new_request();
    assert_int_equal(api->set_body(req, "first body", 10), 0);
    assert_int_equal(api->set_body(req, "2nd", 3), 0);
    assert_int_equal(req->resp_body.len, 3);
    assert_memory_equal(req->resp_body.data, "2nd", 3);
    assert_int_equal(api->set_body(req, NULL, 0), 0);
    assert_int_equal(req->resp_body.len, 0);
    assert_int_equal(api->set_body(req, NULL, 5), -1);
    ph_life_discard(req);
}

/* A body longer than the room the response has grows it (whole bodies of
 * every length up to past the first growth), a shorter one reuses it,
 * and a refused call (the request finished) leaves the body as it was. */
static void set_body_grows_past_its_room_and_refused_keeps_it(void **state)
{
    (void)state;
    ph_request *req = new_request();
    char body[200];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char)('a' + i % 26);
    for (size_t len = 0; len <= sizeof body; len += 7) {
        assert_int_equal(api->set_body(req, body, len), 0);
        assert_int_equal(req->resp_body.len, len);
        assert_memory_equal(req->resp_body.data, body, len);
        assert_true(req->resp_body.cap >= len);
    }
    assert_int_equal(api->set_body(req, "short", 5), 0);
    assert_memory_equal(req->resp_body.data, "short", 5);
    req->life = PH_LIFE_DONE;
    assert_int_equal(api->set_body(req, body, 3), -1);
    assert_int_equal(api->set_body(req, body, sizeof body), -1);
    assert_int_equal(req->resp_body.len, 5);
    assert_memory_equal(req->resp_body.data, "short", 5);
    ph_life_discard(req);
}

static void respond_json_sets_status_compact_body_and_json_type(void **state)
{
    (void)state;
    ph_request *req = new_request();
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "message", "hi");
    cJSON_AddNumberToObject(obj, "n", 3);
    assert_int_equal(api->respond_json(req, 201, obj), 0);
    assert_int_equal(req->status, 201);
    char *body = ut_buf_string(&req->resp_body);
    assert_string_equal(body, "{\"message\":\"hi\",\"n\":3}");
    free(body);
    char *h = headers_of(req);
    assert_string_equal(h, "Content-Type: application/json\r\n");
    free(h);
    assert_true(req->has_content_type);
    /* the caller still owns the tree */
    assert_string_equal(cJSON_GetObjectItem(obj, "message")->valuestring, "hi");
    cJSON_Delete(obj);
    ph_life_discard(req);
}

static void respond_json_keeps_the_plugins_own_content_type(void **state)
{
    (void)state;
    ph_request *req = new_request();
    assert_int_equal(api->add_header(req, "Content-Type", "application/problem+json"), 0);
    cJSON *arr = cJSON_CreateArray();
    assert_int_equal(api->respond_json(req, 200, arr), 0);
    char *h = headers_of(req);
    assert_string_equal(h, "Content-Type: application/problem+json\r\n");
    free(h);
    char *body = ut_buf_string(&req->resp_body);
    assert_string_equal(body, "[]");
    free(body);
    cJSON_Delete(arr);
    ph_life_discard(req);
}

static void respond_json_twice_adds_content_type_once(void **state)
{
    (void)state;
    ph_request *req = new_request();
    cJSON *t = cJSON_CreateTrue();
    assert_int_equal(api->respond_json(req, 200, t), 0);
    assert_int_equal(api->respond_json(req, 200, t), 0);
    char *h = headers_of(req);
    assert_string_equal(h, "Content-Type: application/json\r\n");
    free(h);
    cJSON_Delete(t);
    ph_life_discard(req);
}

static void respond_json_refuses_null_tree_and_bad_status_leaving_response(void **state)
{
    (void)state;
    ph_request *req = new_request();
    assert_int_equal(api->set_body(req, "keep", 4), 0);
    cJSON *t = cJSON_CreateNull();
    assert_int_equal(api->respond_json(req, 200, NULL), -1);
    assert_int_equal(api->respond_json(req, 700, t), -1);
    assert_int_equal(req->status, 200);
    assert_int_equal(req->resp_body.len, 4);
    assert_int_equal(req->resp_headers.len, 0);
    cJSON_Delete(t);
    ph_life_discard(req);
}

static void respond_error_escapes_message_into_json(void **state)
{
    (void)state;
    ph_request *req = new_request();
    assert_int_equal(api->respond_error(req, 422, "bad \"name\"\n\\"), 0);
    assert_int_equal(req->status, 422);
    char *body = ut_buf_string(&req->resp_body);
    cJSON *parsed = cJSON_Parse(body);
    assert_non_null(parsed);
    assert_string_equal(cJSON_GetObjectItem(parsed, "error")->valuestring, "bad \"name\"\n\\");
    cJSON_Delete(parsed);
    free(body);
    assert_true(req->has_content_type);
    ph_life_discard(req);
}

/* ---- loop-only primitives ---- */

typedef struct off_loop_result {
    const ph_host_api *api;
    ph_request *req;
    ph_timer *timer;
    int complete_rc;
} off_loop_result;

static void never(ph_request *req, void *arg)
{
    (void)req;
    (void)arg;
    fail_msg("a timer refused off the loop thread fired");
}

static void *call_off_loop(void *arg)
{
    off_loop_result *r = arg;
    r->timer = r->api->timer_start(r->req, 0, never, NULL);
    r->complete_rc = r->api->complete(r->req);
    return NULL;
}

static int fired;

static void count_fire(ph_request *req, void *arg)
{
    (void)req;
    (void)arg;
    fired++;
}

static void *name_self_loop(void *arg)
{
    (void)arg;
    ph_host_api_set_loop_thread();
    return (void *)(intptr_t)ph_host_api_on_loop_thread();
}

/* Before any thread names itself, none is the loop thread. Runs first. */
static void no_thread_is_the_loop_before_one_names_itself(void **state)
{
    (void)state;
    assert_false(ph_host_api_on_loop_thread());
}

/* The loop thread is the one that named itself last. */
static void the_last_thread_to_name_itself_is_the_loop(void **state)
{
    (void)state;
    ph_host_api_set_loop_thread();
    assert_true(ph_host_api_on_loop_thread());
    pthread_t t;
    void *on_loop = NULL;
    assert_int_equal(pthread_create(&t, NULL, name_self_loop, NULL), 0);
    pthread_join(t, &on_loop);
    assert_true(on_loop != NULL); /* it was, in its own thread */
    assert_false(ph_host_api_on_loop_thread()); /* this one no longer is */
    ph_host_api_set_loop_thread();
    assert_true(ph_host_api_on_loop_thread());
}

/* Where add_header is refused, add_header_n is too, and neither writes:
 * a finished request, one whose abort callback runs, a streaming one, an
 * async one off the loop thread, a process serving nothing (no hooks). */
static void add_header_n_is_refused_where_add_header_is(void **state)
{
    (void)state;
    ph_request *req = new_request();
    req->life = PH_LIFE_DONE;
    assert_int_equal(api->add_header(req, "X-A", "1"), -1);
    assert_int_equal(api->add_header_n(req, PH_LIT("X-A"), PH_LIT("1")), -1);
    req->life = PH_LIFE_ABORTING;
    assert_int_equal(api->add_header(req, "X-A", "1"), -1);
    assert_int_equal(api->add_header_n(req, PH_LIT("X-A"), PH_LIT("1")), -1);
    req->life = PH_LIFE_RUNNING;
    req->streaming = true;
    assert_int_equal(api->add_header(req, "X-A", "1"), -1);
    assert_int_equal(api->add_header_n(req, PH_LIT("X-A"), PH_LIT("1")), -1);
    req->streaming = false;
    req->async = true;
    pthread_t t;
    void *on_loop = NULL;
    assert_int_equal(pthread_create(&t, NULL, name_self_loop, NULL), 0); /* the loop is another thread */
    pthread_join(t, &on_loop);
    assert_int_equal(api->add_header(req, "X-A", "1"), -1);
    assert_int_equal(api->add_header_n(req, PH_LIT("X-A"), PH_LIT("1")), -1);
    assert_int_equal(req->resp_headers.len, 0);
    ph_host_api_set_loop_thread(); /* on the loop both build */
    assert_int_equal(api->add_header_n(req, PH_LIT("X-A"), PH_LIT("1")), 0);
    assert_int_equal(req->resp_headers.len, strlen("X-A: 1\r\n"));
    ph_life_discard(req);
    req = new_request();
    ph_host_api_set_hooks(NULL);
    assert_int_equal(api->add_header(req, "X-A", "1"), -1);
    assert_int_equal(api->add_header_n(req, PH_LIT("X-A"), PH_LIT("1")), -1);
    ph_sdk_calls_install();
    assert_int_equal(req->resp_headers.len, 0);
    ph_life_discard(req);
}

static void timer_start_and_complete_are_refused_off_the_loop_thread(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    ph_request_timer_setup(base);
    ph_host_api_set_loop_thread();
    assert_true(ph_host_api_on_loop_thread());
    ph_request *req = async_request();
    off_loop_result r = {api, req, (ph_timer *)&r, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, call_off_loop, &r), 0);
    pthread_join(t, NULL);
    assert_null(r.timer);
    assert_int_equal(r.complete_rc, -1);
    assert_null(req->timers);

    /* on the loop thread the same timer is accepted and fires */
    fired = 0;
    assert_non_null(api->timer_start(req, 0, count_fire, NULL));
    struct timeval wait = {0, 20000};
    event_base_loopexit(base, &wait);
    event_base_dispatch(base);
    assert_int_equal(fired, 1);
    ph_life_discard(req);
    ph_request_timer_setup(NULL);
    event_base_free(base);
}

/* ---- ABI 1.1: path parameters and async-only calls ---- */

static void path_param_reads_the_matched_routes_parameters(void **state)
{
    (void)state;
    ph_request *req = new_request();
    assert_null(api->path_param(req, "id"));
    assert_int_equal(ph_buf_append(&req->params, "id\0" "42\0", 6), 0);
    assert_string_equal(api->path_param(req, "id"), "42");
    assert_null(api->path_param(req, "ID"));
    assert_null(api->path_param(req, NULL));
    assert_null(api->path_param(NULL, "id"));
    ph_life_discard(req);
}

/* A request as the dispatcher hands it to a handler of `mode`. */
typedef struct fake_route {
    ph_plugin desc;
    ph_plugin_lib lib;
    ph_instance inst;
    ph_route route;
} fake_route;

static void fake_route_init(fake_route *f, ph_mode mode)
{
    memset(f, 0, sizeof *f);
    f->desc = (ph_plugin){PH_ABI_VERSION, sizeof(ph_plugin), "fake", "1", mode, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    f->lib.path = (char *)"/fake.so";
    f->lib.desc = &f->desc;
    f->lib.refs = 1;
    f->inst.lib = &f->lib;
    f->inst.refs = 1;
    f->route.path = (char *)"/fake";
    f->route.path_len = 5;
    f->route.instance = &f->inst;
}

static ph_request *running_request(const fake_route *f)
{
    ph_request *req = new_request();
    req->route = &f->route;
    req->async = f->desc.mode == PH_MODE_ASYNC;
    return req;
}

static void never_abort(ph_request *req, void *arg)
{
    (void)req;
    (void)arg;
}

static void never_work(void *arg) { (void)arg; }

static void never_done(ph_request *req, void *arg)
{
    (void)req;
    (void)arg;
}

static void never_fetched(ph_request *req, const ph_fetch_response *resp, void *arg)
{
    (void)req;
    (void)resp;
    (void)arg;
    fail_msg("a refused fetch called back");
}

static void on_abort_registers_only_for_pending_async_requests_on_the_loop(void **state)
{
    (void)state;
    ph_host_api_set_loop_thread();
    fake_route async_route, sync_route;
    fake_route_init(&async_route, PH_MODE_ASYNC);
    fake_route_init(&sync_route, PH_MODE_SYNC);

    ph_request *req = running_request(&async_route);
    int arg;
    assert_int_equal(api->on_abort(req, never_abort, &arg), 0);
    assert_ptr_equal(req->abort_cb, never_abort);
    assert_ptr_equal(req->abort_arg, &arg);
    assert_int_equal(api->stream_on_drain(req, never_abort, &arg), 0);
    assert_ptr_equal(req->drain_cb, never_abort);
    ph_life_discard(req);

    req = running_request(&sync_route); /* a sync handler may not */
    assert_int_equal(api->on_abort(req, never_abort, NULL), -1);
    assert_null(req->abort_cb);
    assert_int_equal(api->offload(req, never_work, never_done, NULL), -1);
    assert_int_equal(api->stream_begin(req), -1);
    assert_int_equal(api->stream_write(req, "x", 1), -1);
    assert_int_equal(api->stream_on_drain(req, never_abort, NULL), -1);
    ph_fetch_request freq = {.struct_size = sizeof freq, .url = "http://127.0.0.1:1/"};
    assert_null(api->fetch(req, &freq, never_fetched, NULL));
    ph_life_discard(req);

    req = running_request(&async_route); /* an async one that is not running */
    req->life = PH_LIFE_DONE;
    assert_int_equal(api->on_abort(req, never_abort, NULL), -1);
    req->life = PH_LIFE_ABORTING;
    assert_int_equal(api->on_abort(req, never_abort, NULL), -1);
    req->life = PH_LIFE_RUNNING;
    assert_int_equal(api->on_abort(NULL, never_abort, NULL), -1);
    ph_life_discard(req);
}

typedef struct off_loop_11 {
    const ph_host_api *api;
    ph_request *req;
    int abort_rc, offload_rc, stream_rc;
    ph_timer *repeat;
} off_loop_11;

static void *call_11_off_loop(void *arg)
{
    off_loop_11 *r = arg;
    r->abort_rc = r->api->on_abort(r->req, never_abort, NULL);
    r->offload_rc = r->api->offload(r->req, never_work, never_done, NULL);
    r->stream_rc = r->api->stream_begin(r->req);
    r->repeat = r->api->timer_repeat(r->req, 5, never_abort, NULL);
    return NULL;
}

static void abi_11_loop_calls_are_refused_off_the_loop_thread(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    ph_request_timer_setup(base);
    ph_host_api_set_loop_thread();
    fake_route async_route;
    fake_route_init(&async_route, PH_MODE_ASYNC);
    ph_request *req = running_request(&async_route);
    off_loop_11 r = {api, req, 0, 0, 0, (ph_timer *)&r};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, call_11_off_loop, &r), 0);
    pthread_join(t, NULL);
    assert_int_equal(r.abort_rc, -1);
    assert_int_equal(r.offload_rc, -1);
    assert_int_equal(r.stream_rc, -1);
    assert_null(r.repeat);
    assert_null(req->abort_cb);
    assert_null(req->timers);
    ph_life_discard(req);
    ph_request_timer_setup(NULL);
    event_base_free(base);
}

static void timer_repeat_on_the_loop_fires_until_cancelled(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    ph_request_timer_setup(base);
    ph_host_api_set_loop_thread();
    ph_request *req = async_request();
    fired = 0;
    ph_timer *t = api->timer_repeat(req, 3, count_fire, NULL);
    assert_non_null(t);
    struct timeval wait = {0, 120000};
    event_base_loopexit(base, &wait);
    event_base_dispatch(base);
    assert_true(fired >= 2);
    api->timer_cancel(t);
    assert_null(req->timers);
    assert_null(api->timer_repeat(req, 0, count_fire, NULL));
    ph_life_discard(req);
    ph_request_timer_setup(NULL);
    event_base_free(base);
}

/* ---- logging ---- */

static char *capture_stderr_of_log(const ph_request *req)
{
    char *dir = ut_mkdtemp("ph-unit-hostapi");
    char path[4200];
    snprintf(path, sizeof path, "%s/stderr", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    api->log(req, PH_LOG_WARN, "value %d of %s", 7, "x");
    dup2(saved, STDERR_FILENO);
    close(saved);
    char *text = ut_read_file(path, NULL);
    ut_rmtree(dir);
    free(dir);
    assert_non_null(text);
    return text;
}

static void log_with_request_names_route_and_plugin(void **state)
{
    (void)state;
    static const ph_plugin desc = {PH_ABI_VERSION, sizeof(ph_plugin), "demo", "1", PH_MODE_SYNC, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    ph_plugin_lib lib = {.path = (char *)"/x/demo.so", .desc = &desc, .refs = 1};
    ph_instance inst = {.lib = &lib, .refs = 1};
    ph_route route = {.path = (char *)"/demo", .path_len = 5, .instance = &inst};
    ph_request *req = new_request();
    req->route = &route;
    char *text = capture_stderr_of_log(req);
    if (!strstr(text, "[warn] route /demo (plugin demo): value 7 of x\n"))
        fail_msg("log line: '%s'", text);
    free(text);
    text = capture_stderr_of_log(NULL);
    if (!strstr(text, "[warn] plugin: value 7 of x\n"))
        fail_msg("log line: '%s'", text);
    free(text);
    ph_life_discard(req);
}

int main(void)
{
#define T(name) cmocka_unit_test_teardown(name, free_requests)
    const struct CMUnitTest tests[] = {
        T(no_thread_is_the_loop_before_one_names_itself),
        T(table_reports_its_size_version_and_fills_every_slot),
        T(setting_returns_value_or_null),
        T(header_at_enumerates_every_header_and_client_addr_reports_the_peer),
        T(setting_double_parses_numbers_and_defaults_when_absent),
        T(setting_double_refuses_text_trailing_empty_and_non_finite),
        T(accessors_read_method_path_query_headers_and_body),
        T(set_status_accepts_200_to_599_only),
        T(add_header_appends_name_value_lines),
        T(add_header_refuses_cr_lf_in_value_and_bad_names),
        T(add_header_refuses_host_managed_headers_in_any_case),
        T(add_header_content_type_in_any_case_marks_type_set),
        T(add_header_content_type_near_misses_leave_type_unset),
        T(add_header_managed_near_misses_are_plugin_headers),
        T(add_header_checks_every_byte_at_every_length),
        T(add_header_keeps_tab_and_other_control_bytes_in_values),
        T(add_header_checks_text_at_every_start),
        T(add_header_n_appends_the_given_bytes),
        T(add_header_n_refuses_bad_and_managed_names),
        T(add_header_n_checks_every_byte_at_every_length),
        T(set_body_replaces_previous_body),
        T(set_body_grows_past_its_room_and_refused_keeps_it),
        T(respond_json_sets_status_compact_body_and_json_type),
        T(respond_json_keeps_the_plugins_own_content_type),
        T(respond_json_twice_adds_content_type_once),
        T(respond_json_refuses_null_tree_and_bad_status_leaving_response),
        T(respond_error_escapes_message_into_json),
        T(the_last_thread_to_name_itself_is_the_loop),
        T(add_header_n_is_refused_where_add_header_is),
        T(timer_start_and_complete_are_refused_off_the_loop_thread),
        T(path_param_reads_the_matched_routes_parameters),
        T(on_abort_registers_only_for_pending_async_requests_on_the_loop),
        T(abi_11_loop_calls_are_refused_off_the_loop_thread),
        T(timer_repeat_on_the_loop_fires_until_cancelled),
        T(log_with_request_names_route_and_plugin),
    };
#undef T
    return cmocka_run_group_tests_name("host_api", tests, setup, NULL);
}
