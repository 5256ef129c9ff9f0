/* test_http_parse.c - server/http_parse.c without sockets: bytes in,
 * requests out, one message per call, limits answered with their status. */
#include "http_parse.h"

#include "config_value.h"
#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

static int begun, bodies;
static bool begin_fails; /* the begin hook is out of memory */
static ph_request *made[8];

static ph_request *begin(void *owner)
{
    (void)owner;
    if (begin_fails)
        return NULL;
    ph_request *req = ph_request_new();
    assert_non_null(req);
    made[begun++ % 8] = req;
    return req;
}

static void body_follows(void *owner, ph_request *req)
{
    (void)owner;
    (void)req;
    bodies++;
}

static const ph_http_parse_hooks hooks = {begin, body_follows};
static ph_server_conf limits;
static ph_http_parser parser;

static int setup(void **state)
{
    (void)state;
    begun = bodies = 0;
    begin_fails = false;
    limits = (ph_server_conf){.max_body_size = 64, .max_url_size = 32, .max_header_size = 128};
    ph_http_parser_init(&parser, &hooks, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ph_request_recycle(ph_http_parse_take(&parser));
    ph_request_free_cache();
    return 0;
}

/* Parse all of `text` expecting one message; returns it. */
static ph_request *one(const char *text)
{
    size_t used;
    ph_request *req;
    int status = 0;
    assert_int_equal(ph_http_parse(&parser, &limits, text, strlen(text), &used, &req, &status), PH_PARSE_MESSAGE);
    assert_int_equal(used, strlen(text));
    assert_non_null(req);
    return req;
}

/* The status of the error `text` is answered with. */
static int error_of(const char *text)
{
    size_t used;
    ph_request *req;
    int status = 0;
    assert_int_equal(ph_http_parse(&parser, &limits, text, strlen(text), &used, &req, &status), PH_PARSE_ERROR);
    assert_null(req);
    return status;
}

static void a_request_comes_out_with_path_query_headers_and_body(void **state)
{
    (void)state;
    ph_request *req = one("POST /a/b?x=1&y=two HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nContent-Length: 3\r\n\r\nabc");
    assert_string_equal(req->method, "POST");
    assert_int_equal(req->method_bit, PH_METHOD_POST);
    assert_string_equal(ph_request_path(req), "/a/b");
    assert_string_equal(ph_request_query(req), "x=1&y=two");
    assert_string_equal(ph_request_header(req, "host"), "h");
    assert_string_equal(ph_request_header(req, "X-Empty"), "");
    assert_int_equal(req->nheaders, 3);
    assert_int_equal(req->body.len, 3);
    assert_memory_equal(req->body.data, "abc", 3);
    assert_true(req->keep_alive);
    assert_int_equal(begun, 1);
    assert_int_equal(bodies, 1);
    ph_request_recycle(req);
}

/* "OPTIONS *" asks about the server, not a resource: its path is "*". */
static void options_asterisk_form_parses_with_path_star(void **state)
{
    (void)state;
    ph_request *req = one("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(req->method_bit, PH_METHOD_OPTIONS);
    assert_string_equal(ph_request_path(req), "*");
    assert_int_equal(req->path_len, 1);
    ph_request_recycle(req);
}

static void pipelined_messages_come_out_one_per_call(void **state)
{
    (void)state;
    const char *two = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    size_t used, len = strlen(two);
    ph_request *a, *b;
    int status;
    assert_int_equal(ph_http_parse(&parser, &limits, two, len, &used, &a, &status), PH_PARSE_MESSAGE);
    assert_string_equal(ph_request_path(a), "/1");
    assert_true(used < len);
    size_t first = used;
    assert_int_equal(ph_http_parse(&parser, &limits, two + first, len - first, &used, &b, &status), PH_PARSE_MESSAGE);
    assert_int_equal(first + used, len);
    assert_string_equal(ph_request_path(b), "/2");
    assert_false(b->keep_alive);
    assert_int_equal(bodies, 0);
    ph_request_recycle(a);
    ph_request_recycle(b);
}

static void a_request_split_byte_by_byte_comes_out_whole(void **state)
{
    (void)state;
    const char *text = "GET /slow?q=%20 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
    ph_request *req = NULL;
    for (size_t i = 0; i < strlen(text); i++) {
        size_t used;
        int status;
        ph_parse_status rc = ph_http_parse(&parser, &limits, text + i, 1, &used, &req, &status);
        assert_int_equal(used, 1);
        if (i + 1 < strlen(text)) {
            assert_int_equal(rc, PH_PARSE_MORE);
            assert_non_null(parser.req); /* being received */
        } else {
            assert_int_equal(rc, PH_PARSE_MESSAGE);
        }
    }
    assert_non_null(req);
    assert_null(parser.req);
    assert_int_equal(begun, 1);
    assert_ptr_equal(req, made[0]);
    assert_string_equal(ph_request_query_param(req, "q"), " ");
    assert_int_equal(req->body.len, 2); /* chunked, decoded */
    assert_memory_equal(req->body.data, "hi", 2);
    ph_request_recycle(req);
}

static void http_10_is_not_kept_alive_unless_asked(void **state)
{
    (void)state;
    ph_request *req = one("GET / HTTP/1.0\r\n\r\n");
    assert_false(req->keep_alive);
    assert_int_equal(req->http_minor, 0);
    ph_request_recycle(req);
}

/* llhttp_should_keep_alive's answer at the end of a message, from a
 * plain llhttp parser: what keep_alive must equal. */
static int llhttp_keep_alive;

static int note_keep_alive(llhttp_t *p)
{
    llhttp_keep_alive = llhttp_should_keep_alive(p);
    return HPE_PAUSED;
}

static bool llhttp_keeps_alive(const char *text)
{
    llhttp_settings_t settings;
    llhttp_settings_init(&settings);
    settings.on_message_complete = note_keep_alive;
    llhttp_t p;
    llhttp_init(&p, HTTP_REQUEST, &settings);
    llhttp_keep_alive = -1;
    assert_int_equal(llhttp_execute(&p, text, strlen(text)), HPE_PAUSED);
    assert_int_not_equal(llhttp_keep_alive, -1);
    return llhttp_keep_alive != 0;
}

static void keep_alive_is_llhttps_answer(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool keep;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", false}, /* (llhttp reads 2.0 as before 1.1) */
        {"GET / HTTP/2.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n", true},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi", true},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n"
         "Connection: close\r\n\r\n",
         false}, /* (llhttp reads a Connection trailer too) */
        {"POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ph_request *req = one(cases[i].text);
        assert_int_equal(req->keep_alive, cases[i].keep);
        assert_int_equal(llhttp_keeps_alive(cases[i].text), cases[i].keep);
        ph_request_recycle(req);
        ph_http_parser_init(&parser, &hooks, NULL);
    }
}

static void limits_are_answered_with_their_status(void **state)
{
    (void)state;
    assert_int_equal(error_of("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n"), 414);
    ph_request_recycle(ph_http_parse_take(&parser));
    ph_http_parser_init(&parser, &hooks, NULL);
    assert_int_equal(error_of("GET / HTTP/1.1\r\nHost: h\r\nX-Big: "
                              "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                              "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n\r\n"),
                     431);
    ph_request_recycle(ph_http_parse_take(&parser));
    ph_http_parser_init(&parser, &hooks, NULL);
    assert_int_equal(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65\r\n\r\n"), 413);
    ph_request_recycle(ph_http_parse_take(&parser));
    ph_http_parser_init(&parser, &hooks, NULL);
    assert_int_equal(error_of("GET / HTTP/1.1\r\n\r\n"), 400); /* 1.1 without Host */
    ph_request_recycle(ph_http_parse_take(&parser));
    ph_http_parser_init(&parser, &hooks, NULL);
    assert_int_equal(error_of("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400); /* asterisk form: OPTIONS only */
    ph_request_recycle(ph_http_parse_take(&parser));
    ph_http_parser_init(&parser, &hooks, NULL);
    assert_int_equal(error_of("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    ph_request_recycle(ph_http_parse_take(&parser));
    ph_http_parser_init(&parser, &hooks, NULL);
    assert_int_equal(error_of("NONSENSE\r\n\r\n"), 400);
    assert_non_null(ph_http_parse_why(&parser));
}

static void a_chunked_body_over_the_limit_is_413(void **state)
{
    (void)state;
    assert_int_equal(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "41\r\n"
                              "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\r\n0\r\n\r\n"),
                     413);
}

static void take_hands_over_the_request_being_received(void **state)
{
    (void)state;
    size_t used;
    ph_request *req;
    int status;
    const char *half = "GET /half HTTP/1.1\r\nHo";
    assert_int_equal(ph_http_parse(&parser, &limits, half, strlen(half), &used, &req, &status), PH_PARSE_MORE);
    ph_request *taken = ph_http_parse_take(&parser);
    assert_ptr_equal(taken, made[0]);
    assert_null(ph_http_parse_take(&parser));
    ph_request_recycle(taken);
}


/* A declared Content-Length reserves nothing: the body grows as its bytes
 * arrive, doubling, never past the declared length. */
static void a_declared_length_reserves_nothing_before_its_bytes(void **state)
{
    (void)state;
    limits.max_body_size = (size_t)2 << 30;
    size_t used;
    ph_request *req;
    int status;
    const char *head = "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 1073741824\r\n\r\n";
    assert_int_equal(ph_http_parse(&parser, &limits, head, strlen(head), &used, &req, &status), PH_PARSE_MORE);
    assert_int_equal(bodies, 1);
    ph_request *big = parser.req;
    assert_non_null(big);
    assert_int_equal(big->body.cap, 0); /* 1 GiB declared, nothing reserved */
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    size_t sent = 0;
    for (int i = 0; i < 100; i++) { /* 400 KiB arrive */
        assert_int_equal(ph_http_parse(&parser, &limits, chunk, sizeof chunk, &used, &req, &status), PH_PARSE_MORE);
        sent += sizeof chunk;
        assert_int_equal(big->body.len, sent);
        assert_true(big->body.cap >= sent && big->body.cap <= 2 * sent + (16u << 10)); /* geometric */
    }
    assert_memory_equal(big->body.data + sent - 3, "xxx", 3);
}

/* A small declared body gets exactly its size; a chunked one grows within
 * max_body_size. */
static void a_body_buffer_never_grows_past_what_the_message_can_hold(void **state)
{
    (void)state;
    limits.max_body_size = 1 << 20;
    ph_request *req = one("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    assert_int_equal(req->body.len, 5);
    assert_int_equal(req->body.cap, 5);
    ph_request_recycle(req);
    req = one("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    assert_int_equal(req->body.len, 5);
    assert_memory_equal(req->body.data, "abcde", 5);
    assert_true(req->body.cap <= (16u << 10));
    ph_request_recycle(req);
}

/* Fresh parser, then the status `text` is answered with. */
static int fresh_error_of(const char *text)
{
    ph_request_recycle(ph_http_parse_take(&parser));
    ph_http_parser_init(&parser, &hooks, NULL);
    return error_of(text);
}

/* The status answered when `text` arrives one byte per call (0 when it
 * parses as a message). */
static int bytewise_error_of(const char *text)
{
    ph_request_recycle(ph_http_parse_take(&parser));
    ph_http_parser_init(&parser, &hooks, NULL);
    for (size_t i = 0; i < strlen(text); i++) {
        size_t used;
        ph_request *req = NULL;
        int status = 0;
        ph_parse_status rc = ph_http_parse(&parser, &limits, text + i, 1, &used, &req, &status);
        if (rc == PH_PARSE_ERROR)
            return status;
        if (rc == PH_PARSE_MESSAGE) {
            ph_request_recycle(req);
            return 0;
        }
    }
    return -1;
}

/* llhttp 8.1 without LLHTTP_STRICT_MODE takes any two bytes for the CRLF
 * after chunk data ("abcXY" -> "abc") and a space inside a field name. */
static void strict_llhttp_refuses_bad_chunk_ends_and_spaces_in_names(void **state)
{
    (void)state;
    assert_int_equal(fresh_error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    "3\r\nabcXY3\r\ndefZW0\r\n\r\n"),
                     400);
    assert_int_equal(fresh_error_of("GET / HTTP/1.1\r\nHost: h\r\nFoo Bar: x\r\n\r\n"), 400);
}

/* obs-fold (a line starting with SP/HT continues a value) is 400, also
 * when the fold arrives in pieces and when the first line is empty. */
static void obs_fold_is_400_however_it_arrives(void **state)
{
    (void)state;
    const char *folds[] = {
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX:\r\n\tb\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n   \t  b\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof folds / sizeof *folds; i++) {
        assert_int_equal(fresh_error_of(folds[i]), 400);
        assert_int_equal(bytewise_error_of(folds[i]), 400);
    }
    /* a value with inner spaces, split anywhere, is no fold */
    assert_int_equal(bytewise_error_of("GET / HTTP/1.1\r\nHost: h\r\nX: a  b \t c\r\n\r\n"), 0);
}

static void a_second_host_is_400_in_any_case(void **state)
{
    (void)state;
    assert_int_equal(fresh_error_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    assert_int_equal(fresh_error_of("GET / HTTP/1.1\r\nHost: a\r\nhOST: a\r\n\r\n"), 400);
    assert_int_equal(fresh_error_of("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
}

/* %00 anywhere in the target is 400: decoded parameters hold no NUL. */
static void percent_00_in_the_target_is_400(void **state)
{
    (void)state;
    assert_int_equal(fresh_error_of("GET /p?x=%00role HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_int_equal(fresh_error_of("PUT /items/a%00b HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_int_equal(fresh_error_of("GET /?k%00=x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_int_equal(fresh_error_of("GET /%20%%00 HTTP/1.1\r\nHost: h\r\n\r\n"), 400); /* after other '%'s */
    ph_request_recycle(ph_http_parse_take(&parser));
    ph_http_parser_init(&parser, &hooks, NULL);
    ph_request *req = one("GET /a%0%0?b=%2500%0 HTTP/1.1\r\nHost: h\r\n\r\n"); /* near misses */
    assert_string_equal(ph_request_path(req), "/a%0%0");
    ph_request_recycle(req);
}

/* A target of 1-40 bytes with a '?', a "%00" or another '%' at any
 * offset (each half, word and block of the scan, and each tail: 4-7
 * bytes, 8-16, then 16 at a time; past 32 bytes the span is copied out of
 * line): the path ends at the '?', "%00" is 400, any other '%' is kept. */
static void a_query_or_escape_is_found_at_every_offset(void **state)
{
    (void)state;
    limits.max_url_size = 64;
    for (size_t len = 1; len <= 40; len++) {
        char target[48], text[128];
        memset(target, 'a', len);
        target[0] = '/';
        target[len] = '\0';
        snprintf(text, sizeof text, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target);
        ph_request *plain = one(text);
        assert_string_equal(ph_request_path(plain), target);
        assert_string_equal(ph_request_query(plain), "");
        ph_request_recycle(plain);
        for (size_t at = 1; at < len; at++) {
            memset(target, 'a', len);
            target[0] = '/';
            target[len] = '\0';
            target[at] = '?';
            snprintf(text, sizeof text, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target);
            ph_request *req = one(text);
            assert_int_equal(req->path_len, at);
            assert_string_equal(ph_request_query(req), target + at + 1);
            ph_request_recycle(req);
            if (at + 3 > len)
                continue;
            memcpy(target + at, "%41", 3);
            snprintf(text, sizeof text, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target);
            req = one(text);
            assert_string_equal(ph_request_path(req), target);
            ph_request_recycle(req);
            memcpy(target + at, "%00", 3);
            snprintf(text, sizeof text, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target);
            assert_int_equal(fresh_error_of(text), 400);
            ph_request_recycle(ph_http_parse_take(&parser));
            ph_http_parser_init(&parser, &hooks, NULL);
        }
    }
}

/* Each method a route can name gets its bit, the same as the config's
 * names; any other method gets none. */
static void every_method_gets_its_bit(void **state)
{
    (void)state;
    const char *names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "TRACE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "%s /m HTTP/1.1\r\nHost: h\r\n\r\n", names[i]);
        ph_request *req = one(text);
        assert_string_equal(req->method, names[i]);
        assert_int_equal(req->method_bit, ph_method_bit(names[i], strlen(names[i])));
        assert_int_equal(req->method_bit != 0, i < PH_METHOD_COUNT);
        ph_request_recycle(req);
        ph_http_parser_init(&parser, &hooks, NULL);
    }
}

/* RFC 9112 3.2.2: an absolute-form target is served as its origin form,
 * and its authority replaces the Host header. */
static void an_absolute_form_target_is_served_as_origin_form(void **state)
{
    (void)state;
    ph_request *req = one("GET http://ex.org:81/a/b?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_string_equal(ph_request_path(req), "/a/b");
    assert_string_equal(ph_request_query(req), "x=1");
    assert_string_equal(ph_request_header(req, "Host"), "ex.org:81");
    ph_request_recycle(req);
    req = one("GET HTTPS://ex.org?q HTTP/1.1\r\nHost: ex.org\r\n\r\n");
    assert_string_equal(ph_request_path(req), "/");
    assert_string_equal(ph_request_query(req), "q");
    ph_request_recycle(req);
    assert_int_equal(fresh_error_of("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);      /* no authority */
    assert_int_equal(fresh_error_of("GET http://u@h/x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);   /* userinfo */
    assert_int_equal(fresh_error_of("GET http://h/x HTTP/1.1\r\n\r\n"), 400);                  /* 1.1 needs Host */
}

/* A message has its request from its first call on, also when that call
 * stops (or fails) before the URL: the connection times its head and
 * answers an error with it. Leading empty lines begin nothing. */
static void a_message_has_its_request_before_its_url(void **state)
{
    (void)state;
    size_t used;
    ph_request *req;
    int status;
    assert_int_equal(ph_http_parse(&parser, &limits, "\r\n", 2, &used, &req, &status), PH_PARSE_MORE);
    assert_null(parser.req);
    assert_int_equal(ph_http_parse(&parser, &limits, "GET", 3, &used, &req, &status), PH_PARSE_MORE);
    assert_non_null(parser.req);
    assert_int_equal(begun, 1);
    req = one(" /after HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_ptr_equal(req, made[0]);
    assert_string_equal(ph_request_path(req), "/after");
    assert_int_equal(begun, 1);
    ph_request_recycle(req);

    /* empty lines before a message in the same bytes: its URL begins it */
    req = one("\r\n\r\nGET /crlf HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_ptr_equal(req, made[1]);
    assert_string_equal(ph_request_path(req), "/crlf");
    assert_int_equal(begun, 2);
    ph_request_recycle(req);

    /* a method llhttp refuses: the request that answers it exists */
    assert_int_equal(fresh_error_of("G\001T / HTTP/1.1\r\n\r\n"), 400);
    assert_non_null(parser.req);
    assert_int_equal(begun, 3);
    /* a control byte first (llhttp begins a message there too, to fail it) */
    assert_int_equal(fresh_error_of("\tGET / HTTP/1.1\r\n\r\n"), 400);
    assert_non_null(parser.req);
    assert_int_equal(begun, 4);
    /* a bad version after the URL: its URL reads as it came */
    assert_int_equal(fresh_error_of("GET /u HTTP/9.9\r\nHost: h\r\n\r\n"), 400);
    ph_request *taken = ph_http_parse_take(&parser);
    assert_non_null(taken);
    assert_int_equal(taken->url_len, 2);
    assert_memory_equal(taken->arena.data, "/u", 2);
    ph_request_recycle(taken);
}

/* No memory for a request is 503, whether the call stops before the URL
 * or reaches it. */
static void no_memory_for_a_request_is_503(void **state)
{
    (void)state;
    size_t used;
    ph_request *req;
    int status = 0;
    begin_fails = true;
    assert_int_equal(ph_http_parse(&parser, &limits, "GE", 2, &used, &req, &status), PH_PARSE_ERROR);
    assert_int_equal(status, 503);
    assert_null(parser.req);
    assert_non_null(ph_http_parse_why(&parser));
    assert_int_equal(fresh_error_of("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 503);
    assert_null(parser.req);
}

/* A message that fails or is taken inside a header's name or value keeps
 * its headers readable: each part NUL-terminated, a name without a value
 * has an empty one. */
static void a_header_cut_short_reads_as_what_arrived(void **state)
{
    (void)state;
    limits.max_header_size = 16;
    assert_int_equal(error_of("GET / HTTP/1.1\r\nHost: h\r\nX-Very-Long-Name"), 431);
    ph_request *req = ph_http_parse_take(&parser);
    assert_int_equal(req->nheaders, 2);
    assert_string_equal(ph_request_header(req, "Host"), "h");
    assert_int_equal(req->headers[1].name_len, 0); /* (its span never fitted the limit) */
    assert_string_equal(req->arena.data + req->headers[1].value_off, "");
    ph_request_recycle(req);

    ph_http_parser_init(&parser, &hooks, NULL);
    limits.max_header_size = 128;
    size_t used;
    int status;
    const char *half = "GET / HTTP/1.1\r\nHost: h\r\nX-A: part";
    assert_int_equal(ph_http_parse(&parser, &limits, half, strlen(half), &used, &req, &status), PH_PARSE_MORE);
    req = ph_http_parse_take(&parser);
    assert_string_equal(ph_request_header(req, "X-A"), "part");
    ph_request_recycle(req);

    ph_http_parser_init(&parser, &hooks, NULL);
    half = "GET / HTTP/1.1\r\nHost: h\r\nX-B";
    assert_int_equal(ph_http_parse(&parser, &limits, half, strlen(half), &used, &req, &status), PH_PARSE_MORE);
    req = ph_http_parse_take(&parser);
    assert_string_equal(ph_request_header(req, "X-B"), "");
    ph_request_recycle(req);
}

/* MAX_HEADERS (100) headers parse; one more is 431. */
static void the_hundred_and_first_header_is_431(void **state)
{
    (void)state;
    limits.max_header_size = 1 << 20;
    char text[4096];
    size_t len = (size_t)snprintf(text, sizeof text, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 1; i < 100; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "X-%d: %d\r\n", i, i);
    snprintf(text + len, sizeof text - len, "\r\n");
    ph_request *req = one(text);
    assert_int_equal(req->nheaders, 100);
    assert_string_equal(ph_request_header(req, "X-99"), "99");
    ph_request_recycle(req);
    snprintf(text + len, sizeof text - len, "X-100: 100\r\n\r\n");
    assert_int_equal(error_of(text), 431);
}

/* Trailers after a chunked body are read as headers (the last one
 * NUL-terminated like the others). */
static void trailers_read_as_headers(void **state)
{
    (void)state;
    ph_request *req = one("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "1\r\na\r\n0\r\nX-T: v\r\nX-U: last\r\n\r\n");
    assert_int_equal(req->nheaders, 4);
    assert_string_equal(ph_request_header(req, "X-T"), "v");
    assert_string_equal(ph_request_header(req, "X-U"), "last");
    assert_int_equal(req->body.len, 1);
    ph_request_recycle(req);
}

/* A head whose spans grow the arena (from a fresh request's empty one)
 * comes out whole, in one call and byte by byte. */
static void long_names_values_and_urls_grow_the_arena(void **state)
{
    (void)state;
    limits.max_url_size = 4096;
    limits.max_header_size = 8192;
    char url[1001], value[2001], text[4096];
    memset(url, 'u', sizeof url - 1);
    url[0] = '/';
    url[sizeof url - 1] = '\0';
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    snprintf(text, sizeof text, "GET %s?q=1 HTTP/1.1\r\nHost: h\r\nX-Seventeen-Bytes: %.17s\r\nX-%s: %s\r\n\r\n", url,
             value, "A-Name-Of-More-Than-Thirty-Two-Bytes", value);
    ph_request *req = one(text);
    assert_string_equal(ph_request_path(req), url);
    assert_string_equal(ph_request_query(req), "q=1");
    assert_string_equal(ph_request_header(req, "X-Seventeen-Bytes"), "vvvvvvvvvvvvvvvvv");
    assert_string_equal(ph_request_header(req, "X-A-Name-Of-More-Than-Thirty-Two-Bytes"), value);
    ph_request_recycle(req);
    ph_request_free_cache(); /* the next request starts from an empty arena */
    assert_int_equal(bytewise_error_of(text), 0);
}

/* max_header_size counts the names' and values' bytes exactly (not the
 * NULs stored after each, nor the colons or line ends): at the limit the
 * head parses, one byte past it is 431, whole or byte by byte. */
static void max_header_size_is_exact_however_the_head_arrives(void **state)
{
    (void)state;
    char at_limit[512], past[600];
    size_t len = (size_t)snprintf(at_limit, sizeof at_limit, "GET / HTTP/1.1\r\nHost: h\r\n"); /* 5 */
    for (int i = 0; i < 10; i++) /* 10 x 12 */
        len += (size_t)snprintf(at_limit + len, sizeof at_limit - len, "X%02d: vvvvvvvvv\r\n", i);
    snprintf(past, sizeof past, "%sY: zzz\r\n\r\n", at_limit);      /* 4: 129 */
    snprintf(at_limit + len, sizeof at_limit - len, "Y: zz\r\n\r\n"); /* 3: 128 */
    ph_request *req = one(at_limit);
    assert_int_equal(req->nheaders, 12);
    assert_string_equal(ph_request_header(req, "Y"), "zz");
    ph_request_recycle(req);
    assert_int_equal(fresh_error_of(past), 431);
    assert_int_equal(bytewise_error_of(at_limit), 0);
    assert_int_equal(bytewise_error_of(past), 431);
    ph_request_free_cache(); /* from an empty arena too */
    assert_int_equal(bytewise_error_of(at_limit), 0);
    ph_request_free_cache();
    assert_int_equal(fresh_error_of(past), 431);
}

/* Parse `text` in two calls, split after `cut` bytes, with a fresh
 * parser (an HTTP/1.0 message leaves llhttp closed); returns the
 * message. */
static ph_request *split_in_two(const char *text, size_t cut)
{
    ph_http_parser_init(&parser, &hooks, NULL);
    size_t used, len = strlen(text);
    ph_request *req;
    int status = 0;
    assert_int_equal(ph_http_parse(&parser, &limits, text, cut, &used, &req, &status), PH_PARSE_MORE);
    assert_int_equal(used, cut);
    assert_int_equal(ph_http_parse(&parser, &limits, text + cut, len - cut, &used, &req, &status),
                     PH_PARSE_MESSAGE);
    assert_int_equal(used, len - cut);
    assert_non_null(req);
    return req;
}

/* Whether `a` and `b` read the same: URL, path, query, headers. */
static void assert_same_request(const ph_request *a, const ph_request *b)
{
    assert_int_equal(a->url_len, b->url_len);
    assert_memory_equal(a->arena.data, b->arena.data, a->url_len);
    assert_int_equal(a->path_len, b->path_len);
    assert_int_equal(a->path_off, b->path_off);
    assert_string_equal(ph_request_path(a), ph_request_path(b));
    assert_string_equal(ph_request_query(a), ph_request_query(b));
    assert_int_equal(a->nheaders, b->nheaders);
    for (uint32_t i = 0; i < a->nheaders; i++) {
        assert_int_equal(a->headers[i].name_len, b->headers[i].name_len);
        assert_string_equal(a->arena.data + a->headers[i].name_off, b->arena.data + b->headers[i].name_off);
        assert_int_equal(a->headers[i].value_len, b->headers[i].value_len);
        assert_string_equal(a->arena.data + a->headers[i].value_off, b->arena.data + b->headers[i].value_off);
    }
}

/* The URL is finished by the span that ends it, so a head split at any
 * byte (inside the URL, right before the space after it: an empty last
 * span, inside a name or value) reads the same as a whole one, for each
 * form of target; the path is the URL itself unless there is a query. */
static void a_head_split_at_every_byte_reads_the_same(void **state)
{
    (void)state;
    const char *texts[] = {
        "GET /hello HTTP/1.1\r\nHost: 127.0.0.1:1\r\nuser-agent: h2load nghttp2/1.52.0\r\n\r\n",
        "GET /a/b?x=1&y=%41 HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\r\n",
        "GET http://example.com/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    };
    for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
        ph_http_parser_init(&parser, &hooks, NULL);
        ph_request *whole = one(texts[t]);
        if (whole->path_len == whole->url_len)
            assert_ptr_equal(ph_request_path(whole), whole->arena.data); /* no copy */
        for (size_t cut = 1; cut < strlen(texts[t]); cut++) {
            ph_request *req = split_in_two(texts[t], cut);
            assert_same_request(whole, req);
            ph_request_recycle(req);
        }
        ph_request_recycle(whole);
    }
}

/* The parser records where the path is once: the URL itself (offset 0)
 * without a query, its copy right after the URL's NUL with one, however
 * the target is split across reads; the query is what follows the '?'. */
static void the_path_and_query_are_found_split_anywhere(void **state)
{
    (void)state;
    const struct {
        const char *text, *path, *query;
        uint32_t path_off;
    } cases[] = {
        {"GET /p/q HTTP/1.1\r\nHost: h\r\n\r\n", "/p/q", "", 0},
        {"GET /p/q?a=1&b HTTP/1.1\r\nHost: h\r\n\r\n", "/p/q", "a=1&b", 11},
        {"GET /p%41?x HTTP/1.1\r\nHost: h\r\n\r\n", "/p%41", "x", 8},
        {"GET /p%41 HTTP/1.1\r\nHost: h\r\n\r\n", "/p%41", "", 0},
        {"GET /e? HTTP/1.1\r\nHost: h\r\n\r\n", "/e", "", 4},
    };
    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        size_t end_of_target = strchr(cases[t].text + 4, ' ') - cases[t].text;
        for (size_t cut = 1; cut <= end_of_target + 1; cut++) {
            ph_request *req = split_in_two(cases[t].text, cut);
            assert_int_equal(req->path_off, cases[t].path_off);
            assert_string_equal(ph_request_path(req), cases[t].path);
            assert_int_equal(req->path_len, strlen(cases[t].path));
            assert_string_equal(ph_request_query(req), cases[t].query);
            ph_request_recycle(req);
        }
    }
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(a_request_comes_out_with_path_query_headers_and_body),
        T(options_asterisk_form_parses_with_path_star),
        T(pipelined_messages_come_out_one_per_call),
        T(a_request_split_byte_by_byte_comes_out_whole),
        T(http_10_is_not_kept_alive_unless_asked),
        T(keep_alive_is_llhttps_answer),
        T(limits_are_answered_with_their_status),
        T(a_chunked_body_over_the_limit_is_413),
        T(take_hands_over_the_request_being_received),
        T(strict_llhttp_refuses_bad_chunk_ends_and_spaces_in_names),
        T(obs_fold_is_400_however_it_arrives),
        T(a_second_host_is_400_in_any_case),
        T(percent_00_in_the_target_is_400),
        T(a_query_or_escape_is_found_at_every_offset),
        T(every_method_gets_its_bit),
        T(an_absolute_form_target_is_served_as_origin_form),
        T(a_declared_length_reserves_nothing_before_its_bytes),
        T(a_body_buffer_never_grows_past_what_the_message_can_hold),
        T(a_message_has_its_request_before_its_url),
        T(no_memory_for_a_request_is_503),
        T(a_header_cut_short_reads_as_what_arrived),
        T(the_hundred_and_first_header_is_431),
        T(trailers_read_as_headers),
        T(long_names_values_and_urls_grow_the_arena),
        T(max_header_size_is_exact_however_the_head_arrives),
        T(a_head_split_at_every_byte_reads_the_same),
        T(the_path_and_query_are_found_split_anywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
