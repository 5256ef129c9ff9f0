/* test_fetch_parse.c - server/fetch_parse.c: an upstream's response as
 * pulled events. Every well-formed case is also fed split at every byte
 * (and byte by byte), and must give the same head, body and end: the
 * parser may not depend on how the bytes arrive. */
#include "fetch_parse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a whole parse saw. */
typedef struct seen {
    int heads;
    int status;
    char headers[1024]; /* "name: value\n"... */
    char body[4096];
    size_t body_len;
    int ends;
    bool keep_alive;
    bool error;
    char why[128];
    size_t left; /* bytes given but not used at END */
} seen;

static void note_head(seen *s, ph_resp_parser *p)
{
    s->heads++;
    s->status = ph_resp_status(p);
    size_t n;
    const char *const *h = ph_resp_headers(p, &n);
    assert_non_null(h);
    assert_null(h[2 * n]);
    size_t used = 0;
    for (size_t i = 0; i < n && used < sizeof s->headers - 1; i++) {
        int k = snprintf(s->headers + used, sizeof s->headers - used, "%s: %s\n", h[2 * i], h[2 * i + 1]);
        used = k < 0 || (size_t)k >= sizeof s->headers - used ? sizeof s->headers - 1 : used + (size_t)k;
    }
}

/* Feed `wire` in pieces cut at `cuts` (ascending offsets, then len) as the
 * fetch does: pull events from the bytes not yet used, append each arrival
 * to them; `eof` then plays the peer closing. */
static void feed(const char *wire, size_t len, const size_t *cuts, size_t ncuts, bool head_request, bool eof,
                 seen *s)
{
    memset(s, 0, sizeof *s);
    ph_resp_parser p;
    ph_resp_init(&p, head_request);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    size_t have = 0, start = 0; /* buf[start, have) not used yet */
    bool done = false;
    for (size_t k = 0; k <= ncuts && !done; k++) {
        size_t upto = k < ncuts ? cuts[k] : len;
        memcpy(buf + have, wire + have, upto - have);
        have = upto;
        while (start < have && !done) {
            size_t used;
            const char *piece;
            size_t plen;
            ph_resp_event ev = ph_resp_parse(&p, buf + start, have - start, &used, &piece, &plen);
            switch (ev) {
            case PH_RESP_HEAD:
                note_head(s, &p);
                break;
            case PH_RESP_BODY:
                assert_true(piece >= buf + start && piece + plen <= buf + have);
                assert_true(s->body_len + plen <= sizeof s->body);
                memcpy(s->body + s->body_len, piece, plen);
                s->body_len += plen;
                break;
            case PH_RESP_END:
                s->ends++;
                s->keep_alive = ph_resp_keep_alive(&p);
                done = true;
                break;
            case PH_RESP_ERROR:
                s->error = true;
                snprintf(s->why, sizeof s->why, "%s", ph_resp_why(&p));
                done = true;
                break;
            case PH_RESP_MORE:
                break;
            }
            start += used;
            if (ev == PH_RESP_MORE)
                assert_int_equal(start, have);
        }
    }
    if (!done && eof) {
        ph_resp_event ev = ph_resp_parse_eof(&p);
        if (ev == PH_RESP_END) {
            s->ends++;
            s->keep_alive = ph_resp_keep_alive(&p);
        } else {
            assert_int_equal(ev, PH_RESP_ERROR);
            s->error = true;
            snprintf(s->why, sizeof s->why, "%s", ph_resp_why(&p));
        }
    }
    s->left = have - start;
    ph_resp_free(&p);
    free(buf);
}

static void feed_whole(const char *wire, bool head_request, bool eof, seen *s)
{
    feed(wire, strlen(wire), NULL, 0, head_request, eof, s);
}

static void assert_same(const seen *a, const seen *b, const char *how, size_t at)
{
    if (a->heads != b->heads || a->status != b->status || strcmp(a->headers, b->headers) != 0 ||
        a->body_len != b->body_len || memcmp(a->body, b->body, a->body_len) != 0 || a->ends != b->ends ||
        a->keep_alive != b->keep_alive || a->error != b->error)
        fail_msg("%s at %zu: heads %d/%d status %d/%d body %zu/%zu ends %d/%d error %d/%d (%s)", how, at, a->heads,
                 b->heads, a->status, b->status, a->body_len, b->body_len, a->ends, b->ends, a->error, b->error,
                 b->why);
}

/* The whole-buffer parse of `wire`, checked against every split in two
 * and byte-by-byte delivery. */
static seen parse_every_way(const char *wire, bool head_request, bool eof)
{
    seen whole, other;
    size_t len = strlen(wire);
    feed_whole(wire, head_request, eof, &whole);
    for (size_t cut = 1; cut < len; cut++) {
        feed(wire, len, &cut, 1, head_request, eof, &other);
        assert_same(&whole, &other, "split", cut);
    }
    size_t *cuts = malloc(len * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    feed(wire, len, cuts, len ? len - 1 : 0, head_request, eof, &other);
    assert_same(&whole, &other, "byte by byte", 0);
    free(cuts);
    return whole;
}

/* ---- lengths ---------------------------------------------------------- */

static void content_length_body_is_delivered_and_ends(void **state)
{
    (void)state;
    seen s = parse_every_way("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
                             false, false);
    assert_int_equal(s.heads, 1);
    assert_int_equal(s.status, 200);
    assert_string_equal(s.headers, "Content-Type: text/plain\nContent-Length: 11\n");
    assert_int_equal(s.body_len, 11);
    assert_memory_equal(s.body, "hello world", 11);
    assert_int_equal(s.ends, 1);
    assert_true(s.keep_alive);
    assert_false(s.error);
}

static void zero_length_and_connection_close(void **state)
{
    (void)state;
    seen s = parse_every_way("HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", false, false);
    assert_int_equal(s.status, 201);
    assert_int_equal(s.body_len, 0);
    assert_int_equal(s.ends, 1);
    assert_false(s.keep_alive);
    /* HTTP/1.0 without keep-alive is not reusable either */
    s = parse_every_way("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false);
    assert_int_equal(s.ends, 1);
    assert_false(s.keep_alive);
}

static void a_body_without_length_runs_until_close(void **state)
{
    (void)state;
    seen s = parse_every_way("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", false, true);
    assert_int_equal(s.body_len, 13);
    assert_memory_equal(s.body, "until the end", 13);
    assert_int_equal(s.ends, 1);
    assert_false(s.keep_alive); /* it ended with the connection */
    /* without the close it never ends */
    s = parse_every_way("HTTP/1.1 200 OK\r\n\r\nopen", false, false);
    assert_int_equal(s.ends, 0);
    assert_false(s.error);
}

/* An upstream that declares more than it sends, then closes: an error,
 * never a clean short body. */
static void closing_before_the_declared_length_is_an_error(void **state)
{
    (void)state;
    seen s = parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", false, true);
    assert_int_equal(s.heads, 1);
    assert_int_equal(s.body_len, 7);
    assert_int_equal(s.ends, 0);
    assert_true(s.error);
    assert_non_null(strstr(s.why, "closed before the response was complete"));
    /* the same for chunked without its last chunk, and for a head cut short */
    s = parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", false, true);
    assert_int_equal(s.body_len, 5);
    assert_true(s.error);
    s = parse_every_way("HTTP/1.1 200 OK\r\nContent-Le", false, true);
    assert_int_equal(s.heads, 0);
    assert_true(s.error);
    feed_whole("", false, true, &s);
    assert_true(s.error);
}

/* ---- chunked ---------------------------------------------------------- */

static void chunked_body_is_decoded_and_trailers_dropped(void **state)
{
    (void)state;
    seen s = parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
                             "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n",
                             false, false);
    assert_int_equal(s.body_len, 16);
    assert_memory_equal(s.body, "hello 0123456789", 16);
    assert_string_equal(s.headers, "Transfer-Encoding: chunked\nX-A: 1\n");
    assert_int_equal(s.ends, 1);
    assert_true(s.keep_alive);
}

static void malformed_chunks_are_errors(void **state)
{
    (void)state;
    seen s;
    feed_whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, false, &s);
    assert_true(s.error);
    assert_non_null(strstr(s.why, "malformed"));
    /* strict mode: the CRLF after chunk data is checked */
    feed_whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n", false, false, &s);
    assert_true(s.error);
    /* Content-Length with chunked is refused */
    feed_whole("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
               false, false, &s);
    assert_true(s.error);
}

/* ---- no body ---------------------------------------------------------- */

static void head_204_and_304_have_no_body_whatever_they_declare(void **state)
{
    (void)state;
    seen s = parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", true, false);
    assert_int_equal(s.heads, 1);
    assert_int_equal(s.body_len, 0);
    assert_int_equal(s.ends, 1);
    assert_true(s.keep_alive);
    s = parse_every_way("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false, false);
    assert_int_equal(s.status, 204);
    assert_int_equal(s.ends, 1);
    assert_int_equal(s.body_len, 0);
    s = parse_every_way("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: \"x\"\r\n\r\n", false, false);
    assert_int_equal(s.status, 304);
    assert_int_equal(s.ends, 1);
    assert_int_equal(s.body_len, 0);
    assert_true(s.keep_alive);
}

/* Bytes after the response are left to the caller (who must not reuse the
 * connection then). */
static void bytes_after_the_response_are_left_unused(void **state)
{
    (void)state;
    seen s;
    feed_whole("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", false, false, &s);
    assert_int_equal(s.ends, 1);
    assert_int_equal(s.body_len, 2);
    assert_int_equal(s.left, 17);
    feed_whole("HTTP/1.1 204 No Content\r\n\r\nsmuggled", false, false, &s);
    assert_int_equal(s.ends, 1);
    assert_int_equal(s.left, 8);
}

/* ---- 1xx ------------------------------------------------------------- */

static void one_hundred_continue_is_skipped(void **state)
{
    (void)state;
    /* in the same bytes as the answer, and split anywhere */
    seen s = parse_every_way("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: y\r\n\r\nok",
                             false, false);
    assert_int_equal(s.heads, 1);
    assert_int_equal(s.status, 200);
    assert_string_equal(s.headers, "Content-Length: 2\nX-Final: y\n"); /* nothing of the 100 */
    assert_int_equal(s.body_len, 2);
    assert_int_equal(s.ends, 1);
    /* several, one with a header */
    s = parse_every_way("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
                        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                        false, false);
    assert_int_equal(s.heads, 1);
    assert_int_equal(s.status, 404);
    assert_string_equal(s.headers, "Content-Length: 0\n");
    assert_int_equal(s.ends, 1);
    /* a 100 that claims a body does not get one */
    s = parse_every_way("HTTP/1.1 100 Continue\r\nContent-Length: 3\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
                        false, false);
    assert_int_equal(s.status, 200);
    assert_int_equal(s.body_len, 1);
}

static void other_interim_responses_are_errors(void **state)
{
    (void)state;
    static const char *const wires[] = {
        "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "HTTP/1.1 102 Processing\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 199 Whatever\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof wires / sizeof *wires; i++) {
        seen s = parse_every_way(wires[i], false, false);
        assert_true(s.error);
        assert_int_equal(s.heads, 0);
        assert_int_equal(s.body_len, 0);
        assert_non_null(strstr(s.why, "interim"));
        assert_non_null(strstr(s.why, "only 100 Continue"));
    }
}

static void endless_100_continues_are_bounded(void **state)
{
    (void)state;
    size_t n = PH_RESP_MAX_INTERIM + 1;
    const char *one = "HTTP/1.1 100 Continue\r\n\r\n";
    char *wire = calloc(n, strlen(one) + 1);
    assert_non_null(wire);
    for (size_t i = 0; i < n; i++)
        strcat(wire, one);
    seen s;
    feed_whole(wire, false, false, &s);
    assert_true(s.error);
    assert_non_null(strstr(s.why, "interim 100 Continue"));
    free(wire);
}

/* ---- limits and malformed heads ---------------------------------------- */

static void a_head_over_64_kib_is_an_error(void **state)
{
    (void)state;
    size_t n = PH_RESP_MAX_HEAD + 100;
    char *wire = malloc(n + 64);
    assert_non_null(wire);
    int k = snprintf(wire, 64, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(wire + k, 'a', n);
    strcpy(wire + k + n, "\r\n\r\n");
    seen s;
    feed_whole(wire, false, false, &s);
    assert_true(s.error);
    assert_non_null(strstr(s.why, "64 KiB"));
    /* just under it is fine */
    memset(wire, 0, n + 64);
    k = snprintf(wire, 64, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(wire + k, 'a', PH_RESP_MAX_HEAD - 100);
    strcpy(wire + k + PH_RESP_MAX_HEAD - 100, "\r\nContent-Length: 0\r\n\r\n");
    feed_whole(wire, false, false, &s);
    assert_false(s.error);
    assert_int_equal(s.ends, 1);
    free(wire);
}

static void malformed_heads_are_errors(void **state)
{
    (void)state;
    static const char *const wires[] = {
        "garbage\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof wires / sizeof *wires; i++) {
        seen s;
        feed_whole(wires[i], false, false, &s);
        if (!s.error)
            fail_msg("accepted: %s", wires[i]);
        assert_non_null(strstr(s.why, "malformed"));
    }
}

static void empty_values_and_obs_fold(void **state)
{
    (void)state;
    seen s = parse_every_way("HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Fold: a\r\n  b\r\nContent-Length: 0\r\n\r\n", false,
                             false);
    assert_false(s.error);
    assert_int_equal(s.ends, 1);
    assert_non_null(strstr(s.headers, "X-Empty: \n"));
    /* the fold's CRLF never reaches a header value */
    const char *fold = strstr(s.headers, "X-Fold: ");
    assert_non_null(fold);
    assert_null(memchr(fold, '\r', strcspn(fold, "\n")));
}

static void declared_length_is_reported(void **state)
{
    (void)state;
    ph_resp_parser p;
    ph_resp_init(&p, false);
    const char *wire = "HTTP/1.1 200 OK\r\nContent-Length: 123456789\r\n\r\n";
    size_t used;
    const char *piece;
    size_t plen;
    assert_int_equal(ph_resp_parse(&p, wire, strlen(wire), &used, &piece, &plen), PH_RESP_HEAD);
    uint64_t len = 0;
    assert_true(ph_resp_declared_length(&p, &len));
    assert_int_equal(len, 123456789);
    ph_resp_free(&p);
    ph_resp_init(&p, false);
    wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(ph_resp_parse(&p, wire, strlen(wire), &used, &piece, &plen), PH_RESP_HEAD);
    assert_false(ph_resp_declared_length(&p, &len));
    ph_resp_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(content_length_body_is_delivered_and_ends),
        cmocka_unit_test(zero_length_and_connection_close),
        cmocka_unit_test(a_body_without_length_runs_until_close),
        cmocka_unit_test(closing_before_the_declared_length_is_an_error),
        cmocka_unit_test(chunked_body_is_decoded_and_trailers_dropped),
        cmocka_unit_test(malformed_chunks_are_errors),
        cmocka_unit_test(head_204_and_304_have_no_body_whatever_they_declare),
        cmocka_unit_test(bytes_after_the_response_are_left_unused),
        cmocka_unit_test(one_hundred_continue_is_skipped),
        cmocka_unit_test(other_interim_responses_are_errors),
        cmocka_unit_test(endless_100_continues_are_bounded),
        cmocka_unit_test(a_head_over_64_kib_is_an_error),
        cmocka_unit_test(malformed_heads_are_errors),
        cmocka_unit_test(empty_values_and_obs_fold),
        cmocka_unit_test(declared_length_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
