/* test_http_response.c - server/http_response.c: response heads. */
#include "http_response.h"

#include "config_value.h"
#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <regex.h>
#include <string.h>
#include <time.h>

static ph_request *response(int status, const char *body, int minor)
{
    ph_request *req = ph_request_new();
    assert_non_null(req);
    ut_request_set_url(req, "/");
    req->method = "GET";
    req->method_bit = PH_METHOD_GET;
    req->http_major = 1;
    req->http_minor = (uint8_t)minor;
    req->status = status;
    if (body)
        assert_int_equal(ph_buf_append_str(&req->resp_body, body), 0);
    return req;
}

/* Build the head and return it as a string the caller frees. */
static char *head_of(ph_request *req, bool keep_alive)
{
    assert_int_equal(ph_http_build_head(req, keep_alive), 0);
    return ut_buf_string(&req->resp_head);
}

/* Number of lines in `head` that start with `prefix`. */
static int count_lines(const char *head, const char *prefix)
{
    int n = 0;
    size_t plen = strlen(prefix);
    for (const char *line = head; *line;) {
        if (strncmp(line, prefix, plen) == 0)
            n++;
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        line = eol + 2;
    }
    return n;
}

static int release(void **state)
{
    (void)state;
    ph_request_free_cache();
    return 0;
}

static void reason_phrases_for_known_and_unknown_statuses(void **state)
{
    (void)state;
    assert_string_equal(ph_http_reason(200), "OK");
    assert_string_equal(ph_http_reason(204), "No Content");
    assert_string_equal(ph_http_reason(404), "Not Found");
    assert_string_equal(ph_http_reason(405), "Method Not Allowed");
    assert_string_equal(ph_http_reason(503), "Service Unavailable");
    assert_string_equal(ph_http_reason(299), "Unknown");
    assert_string_equal(ph_http_reason(0), "Unknown");
}

static void informational_204_and_304_have_no_body(void **state)
{
    (void)state;
    assert_true(ph_http_status_has_no_body(100));
    assert_true(ph_http_status_has_no_body(101));
    assert_true(ph_http_status_has_no_body(204));
    assert_true(ph_http_status_has_no_body(304));
    assert_false(ph_http_status_has_no_body(200));
    assert_false(ph_http_status_has_no_body(205));
    assert_false(ph_http_status_has_no_body(404));
    assert_false(ph_http_status_has_no_body(500));
}

static void head_has_status_line_server_date_length_and_blank_line(void **state)
{
    (void)state;
    ph_request *req = response(200, "Hello, World!", 1);
    assert_int_equal(ph_buf_append_str(&req->resp_headers, "Content-Type: text/plain\r\n"), 0);
    req->has_content_type = true;
    /* Retry if the second turns between building the head and reading
     * the Date line it should contain. */
    char *head = NULL;
    char date[64];
    size_t date_len;
    for (int attempt = 0; attempt < 3; attempt++) {
        free(head);
        snprintf(date, sizeof date, "%s", ph_http_date_line(&date_len));
        head = head_of(req, true);
        if (strcmp(date, ph_http_date_line(&date_len)) == 0)
            break;
    }
    char want[512];
    snprintf(want, sizeof want,
             "HTTP/1.1 200 OK\r\nServer: plughost\r\n%.*sContent-Length: 13\r\nContent-Type: text/plain\r\n\r\n",
             (int)date_len, date);
    assert_string_equal(head, want);
    assert_int_equal(ph_http_body_to_send(req), 13);
    free(head);
    ph_request_recycle(req);
}

static void head_status_line_uses_code_and_reason_for_any_status(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *line;
    } cases[] = {
        {404, "HTTP/1.1 404 Not Found\r\n"},
        {503, "HTTP/1.1 503 Service Unavailable\r\n"},
        {299, "HTTP/1.1 299 Unknown\r\n"},
        {100, "HTTP/1.1 100 Continue\r\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ph_request *req = response(cases[i].status, NULL, 1);
        char *head = head_of(req, true);
        if (strncmp(head, cases[i].line, strlen(cases[i].line)) != 0)
            fail_msg("status %d: head starts '%.40s'", cases[i].status, head);
        free(head);
        ph_request_recycle(req);
    }
}

static void head_content_length_counts_body_bytes_including_zero(void **state)
{
    (void)state;
    ph_request *req = response(200, NULL, 1);
    char *head = head_of(req, true);
    assert_int_equal(count_lines(head, "Content-Length: 0\r\n"), 1);
    assert_int_equal(count_lines(head, "Content-Type:"), 0); /* no body, no type */
    free(head);
    static char big[1234568];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(ph_buf_append_str(&req->resp_body, big), 0);
    head = head_of(req, true);
    assert_int_equal(count_lines(head, "Content-Length: 1234567\r\n"), 1);
    assert_int_equal(count_lines(head, "Content-Length:"), 1);
    free(head);
    ph_request_recycle(req);
}

static void head_adds_octet_stream_type_only_when_plugin_set_none(void **state)
{
    (void)state;
    ph_request *req = response(200, "raw", 1);
    char *head = head_of(req, true);
    assert_int_equal(count_lines(head, "Content-Type: application/octet-stream\r\n"), 1);
    free(head);
    assert_int_equal(ph_buf_append_str(&req->resp_headers, "Content-Type: text/html\r\n"), 0);
    req->has_content_type = true;
    head = head_of(req, true);
    assert_int_equal(count_lines(head, "Content-Type:"), 1);
    assert_int_equal(count_lines(head, "Content-Type: text/html\r\n"), 1);
    free(head);
    ph_request_recycle(req);
}

static void head_puts_plugin_headers_verbatim_before_the_blank_line(void **state)
{
    (void)state;
    ph_request *req = response(201, "{}", 1);
    const char *extra = "Location: /items/7\r\nX-Trace: abc\r\n";
    assert_int_equal(ph_buf_append_str(&req->resp_headers, extra), 0);
    char *head = head_of(req, true);
    size_t hl = strlen(head), el = strlen(extra);
    assert_true(hl > el + 2);
    assert_memory_equal(head + hl - el - 2, extra, el);
    assert_string_equal(head + hl - 2, "\r\n");
    free(head);
    ph_request_recycle(req);
}

static void head_rebuilt_replaces_the_previous_head(void **state)
{
    (void)state;
    ph_request *req = response(200, "x", 1);
    char *first = head_of(req, true);
    char *second = head_of(req, true);
    assert_string_equal(first, second);
    free(first);
    free(second);
    ph_request_recycle(req);
}

static void head_for_head_request_keeps_length_but_sends_no_body(void **state)
{
    (void)state;
    ph_request *req = response(200, "Hello, World!", 1);
    req->method = "HEAD";
    req->method_bit = PH_METHOD_HEAD;
    char *head = head_of(req, true);
    assert_int_equal(count_lines(head, "Content-Length: 13\r\n"), 1);
    assert_int_equal(ph_http_body_to_send(req), 0);
    free(head);
    req->method_bit = PH_METHOD_GET; /* decided with the head: a GET's sends its body */
    head = head_of(req, true);
    assert_int_equal(ph_http_body_to_send(req), 13);
    free(head);
    ph_request_recycle(req);
}

static void head_for_204_and_304_has_no_length_type_or_body(void **state)
{
    (void)state;
    static const int statuses[] = {204, 304};
    for (size_t i = 0; i < 2; i++) {
        ph_request *req = response(statuses[i], "ignored body", 1);
        char *head = head_of(req, true);
        if (count_lines(head, "Content-Length:") != 0 || count_lines(head, "Content-Type:") != 0)
            fail_msg("status %d head: %s", statuses[i], head);
        assert_int_equal(ph_http_body_to_send(req), 0);
        free(head);
        ph_request_recycle(req);
    }
    ph_request *req = response(100, NULL, 1);
    char *head = head_of(req, true);
    assert_int_equal(count_lines(head, "Content-Length:"), 0);
    free(head);
    ph_request_recycle(req);
}

static void connection_header_for_http11_only_when_closing(void **state)
{
    (void)state;
    ph_request *req = response(200, "x", 1);
    char *head = head_of(req, true);
    assert_int_equal(count_lines(head, "Connection:"), 0);
    free(head);
    head = head_of(req, false);
    assert_int_equal(count_lines(head, "Connection: close\r\n"), 1);
    assert_int_equal(count_lines(head, "Connection:"), 1);
    free(head);
    ph_request_recycle(req);
}

static void connection_header_for_http10_says_keep_alive_or_close(void **state)
{
    (void)state;
    ph_request *req = response(200, "x", 0);
    char *head = head_of(req, true);
    assert_memory_equal(head, "HTTP/1.0 200 OK\r\n", 17);
    assert_int_equal(count_lines(head, "Connection: keep-alive\r\n"), 1);
    assert_int_equal(count_lines(head, "Connection:"), 1);
    free(head);
    head = head_of(req, false);
    assert_int_equal(count_lines(head, "Connection: close\r\n"), 1);
    assert_int_equal(count_lines(head, "Connection:"), 1);
    free(head);
    ph_request_recycle(req);
}

static void streaming_head_over_http11_is_chunked_without_length(void **state)
{
    (void)state;
    ph_request *req = response(200, "first chunk", 1);
    req->streaming = true;
    req->chunked = true;
    assert_int_equal(ph_buf_append_str(&req->resp_headers, "Content-Type: text/event-stream\r\n"), 0);
    req->has_content_type = true;
    char *head = head_of(req, true);
    assert_int_equal(count_lines(head, "Transfer-Encoding: chunked\r\n"), 1);
    assert_int_equal(count_lines(head, "Content-Length:"), 0);
    assert_int_equal(count_lines(head, "Content-Type:"), 1);
    assert_int_equal(count_lines(head, "Connection:"), 0);
    free(head);
    ph_request_recycle(req);
}

static void streaming_head_over_http10_is_close_delimited(void **state)
{
    (void)state;
    ph_request *req = response(200, NULL, 0);
    req->streaming = true;
    req->chunked = false;
    char *head = head_of(req, false);
    assert_int_equal(count_lines(head, "Transfer-Encoding:"), 0);
    assert_int_equal(count_lines(head, "Content-Length:"), 0);
    assert_int_equal(count_lines(head, "Content-Type:"), 0);
    assert_int_equal(count_lines(head, "Connection: close\r\n"), 1);
    free(head);
    ph_request_recycle(req);
}

static void date_line_is_rfc7231_imf_fixdate_of_now(void **state)
{
    (void)state;
    time_t before = time(NULL);
    size_t len = 0;
    const char *line = ph_http_date_line(&len);
    time_t after = time(NULL);
    assert_int_equal(len, strlen("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
    assert_int_equal(strlen(line), len);
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] "
                             "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
                             "[0-2][0-9]:[0-5][0-9]:[0-6][0-9] GMT\r\n$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    int rc = regexec(&re, line, 0, NULL, 0);
    regfree(&re);
    if (rc != 0)
        fail_msg("bad Date line '%s'", line);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    assert_non_null(strptime(line, "Date: %a, %d %b %Y %H:%M:%S GMT", &tm));
    time_t t = timegm(&tm);
    assert_true(t >= before && t <= after);
}

/* The Date line of the second `line` names (IMF-fixdate), or -1. */
static time_t date_line_second(const char *line)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!strptime(line, "Date: %a, %d %b %Y %H:%M:%S GMT", &tm))
        return -1;
    return timegm(&tm);
}

/* The wall clock's second now, read precisely (as the Date timer does). */
static time_t wall_second(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

/* With the loop's timer, the Date line follows the seconds without a
 * clock read per use: after the loop ran across a second's turn it names
 * the new second; after shutdown each use reads the clock again. */
static void date_line_follows_the_seconds_with_the_loop_timer(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    time_t before = wall_second();
    assert_int_equal(ph_http_date_setup(base), 0);
    size_t len;
    time_t first = date_line_second(ph_http_date_line(&len));
    assert_true(first >= before && first <= wall_second());
    struct timeval run = {1, 300000}; /* past at least one second's turn */
    event_base_loopexit(base, &run);
    event_base_dispatch(base);
    time_t shown = date_line_second(ph_http_date_line(&len));
    time_t now = wall_second();
    assert_true(shown > first);
    assert_true(shown == now || shown == now - 1); /* (now may have just turned: the timer fires 1 ms past) */
    ph_http_date_shutdown();
    event_base_free(base);
    time_t after = time(NULL);
    shown = date_line_second(ph_http_date_line(&len));
    assert_true(shown >= after && shown <= time(NULL));
}

int main(void)
{
#define T(name) cmocka_unit_test_teardown(name, release)
    const struct CMUnitTest tests[] = {
        T(reason_phrases_for_known_and_unknown_statuses),
        T(informational_204_and_304_have_no_body),
        T(head_has_status_line_server_date_length_and_blank_line),
        T(head_status_line_uses_code_and_reason_for_any_status),
        T(head_content_length_counts_body_bytes_including_zero),
        T(head_adds_octet_stream_type_only_when_plugin_set_none),
        T(head_puts_plugin_headers_verbatim_before_the_blank_line),
        T(head_rebuilt_replaces_the_previous_head),
        T(head_for_head_request_keeps_length_but_sends_no_body),
        T(head_for_204_and_304_has_no_length_type_or_body),
        T(connection_header_for_http11_only_when_closing),
        T(connection_header_for_http10_says_keep_alive_or_close),
        T(streaming_head_over_http11_is_chunked_without_length),
        T(streaming_head_over_http10_is_close_delimited),
        T(date_line_is_rfc7231_imf_fixdate_of_now),
        T(date_line_follows_the_seconds_with_the_loop_timer),
    };
#undef T
    return cmocka_run_group_tests_name("http_response", tests, NULL, NULL);
}
