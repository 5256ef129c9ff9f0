/* http_parse.c - llhttp callbacks filling a ph_request. */
#include "http_parse.h"

#include "bytes.h"
#include "config_value.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADERS 100
#define HEADERS_FIRST 4 /* a header array's first size, then it doubles (a request keeps it while it waits) */

#define PARSER(l) ((ph_http_parser *)(l)->data)

/* Whether the `len` bytes at `s` hold "%00" (found by its '%', which
 * most targets lack). */
static bool has_pct00(const char *s, size_t len)
{
    const char *end = s + len;
    for (const char *p = memchr(s, '%', len); p; p = memchr(p + 1, '%', (size_t)(end - p - 1))) {
        if (end - p >= 3 && p[1] == '0' && p[2] == '0')
            return true;
    }
    return false;
}

/* 16 bytes as one vector, and as two words (GCC's vector extension:
 * SSE2 on x86-64, NEON on arm64). */
typedef uint8_t bytes16 __attribute__((vector_size(16)));
typedef uint64_t words2 __attribute__((vector_size(16)));

/* Whether one of the 16 bytes of `v` is '%' or '?': a few vector
 * instructions, their constants in vector registers (word tests hold
 * six in general registers, which callers then save). */
static inline bool block_has_pct_or_query(bytes16 v)
{
    words2 hit = (words2)((v == '%') | (v == '?'));
    return (hit[0] | hit[1]) != 0;
}

/* The 16 bytes at `s` (any alignment). */
static inline bytes16 load_block(const char *s)
{
    bytes16 v;
    memcpy(&v, s, 16);
    return v;
}

/* Whether the `len` bytes at `s` are a target with neither '%' nor '?'
 * (the usual one: no escapes, no query): 4-7 bytes as two overlapping
 * halves of a block's first word, 8-16 as two overlapping words, more 16
 * bytes at a time (the last block overlaps the one before). False for
 * one under 4 bytes: the caller's full check decides. */
static bool plain_target(const char *s, size_t len)
{
    if (len < 8) {
        if (len < 4)
            return false;
        uint32_t head, tail;
        memcpy(&head, s, 4);
        memcpy(&tail, s + len - 4, 4);
        words2 w = {(uint64_t)tail << 32 | head, 0};
        return !block_has_pct_or_query((bytes16)w);
    }
    if (len <= 16) {
        words2 w = {ph_load_word(s), ph_load_word(s + len - 8)};
        return !block_has_pct_or_query((bytes16)w);
    }
    for (size_t i = 0; i + 16 < len; i += 16) {
        if (block_has_pct_or_query(load_block(s + i)))
            return false;
    }
    return !block_has_pct_or_query(load_block(s + len - 16));
}

/* PH_METHOD_* of llhttp's method `m`, 0 for one routes cannot name. */
#define METHOD_BIT(m)                                \
    ((m) == HTTP_GET       ? PH_METHOD_GET           \
     : (m) == HTTP_HEAD    ? PH_METHOD_HEAD          \
     : (m) == HTTP_POST    ? PH_METHOD_POST          \
     : (m) == HTTP_PUT     ? PH_METHOD_PUT           \
     : (m) == HTTP_DELETE  ? PH_METHOD_DELETE        \
     : (m) == HTTP_PATCH   ? PH_METHOD_PATCH         \
     : (m) == HTTP_OPTIONS ? PH_METHOD_OPTIONS       \
                           : 0)

/* llhttp's methods by number: the name (as llhttp_method_name gives it)
 * and the bit (a table: no call and no switch per request). Every method
 * llhttp parses is in its map, HTTP_ALL_METHOD_MAP. */
static const struct {
    const char *name;
    unsigned bit;
} methods[] = {
#define METHOD(num, name, string) [num] = {#string, METHOD_BIT(HTTP_##name)},
    HTTP_ALL_METHOD_MAP(METHOD)
#undef METHOD
};

static llhttp_settings_t settings;
static bool settings_ready;

/* An absolute-form target's authority while its URL is rewritten in
 * place (absolute_to_origin to finish_other_url, one callback): one for
 * all parsers, not 256 bytes in each connection. */
static char authority_buf[256];

/* Append the `len` bytes at `at` (a span of this call's bytes) to `b`,
 * which has room for them: a callback's last step, so that nothing it
 * holds has to outlive a memcpy call. */
static inline void put_span(ph_buf *b, const char *at, size_t len)
{
    char *d = b->data + b->len;
    b->len += len;
    ph_copy_bytes(d, at, len); /* (inline up to 32 bytes: the callbacks call nothing) */
}

static int fail_with(ph_http_parser *c, int status)
{
    c->error_status = status;
    return -1;
}

/* End the name or value being received with its NUL: there is room for
 * it (head_bound). Returns the length after it (the next part's offset). */
static inline size_t put_nul(ph_buf *b)
{
    size_t at = b->len;
    b->len = at + 1;
    b->data[at] = '\0';
    return at + 1;
}

/* A URL span that does not fit the arena with the two bytes its end may
 * need (the URL's NUL and the first name's: end_line): grow it, then
 * run `cb` (on_url) again. Out of line, so that the callbacks call nothing
 * (and save no registers) on their usual path. Returns what `cb` returns,
 * or -1 (503). */
__attribute__((noinline)) static int grow_then(llhttp_t *p, const char *at, size_t len, llhttp_data_cb cb)
{
    ph_http_parser *c = PARSER(p);
    if (ph_buf_grow(&c->req->arena, len + 2) < 0)
        return fail_with(c, 503);
    return cb(p, at, len);
}

/* The message llhttp is in gets its request from the begin hook (no
 * on_message_begin callback: each one llhttp calls costs; ph_http_parse
 * begins it before llhttp reads its first byte, or when a call stops or
 * fails before its URL, and else its URL's first span). Returns it, or
 * NULL (no memory). */
static ph_request *begin_message(ph_http_parser *c)
{
    ph_request *req = c->hooks->begin(c->owner);
    if (!req)
        return NULL;
    c->req = req;
    c->part = PH_PART_LINE;
    c->authority_len = 0;
    c->host = 0;
    return req;
}

/* The length of an "http://" or "https://" prefix of the `len` bytes at
 * `u` (any case), 0 for none. */
static size_t scheme_len(const char *u, size_t len)
{
    if (u[0] == '/')
        return 0; /* origin-form, the usual one */
    if (len >= 7 && strncasecmp(u, "http://", 7) == 0)
        return 7;
    if (len >= 8 && strncasecmp(u, "https://", 8) == 0)
        return 8;
    return 0;
}

/* Rewrite an absolute-form URL at the start of the arena in place to its
 * origin form ("/" when the path is empty), keeping its authority in
 * authority_buf for finish_other_url. Returns 0, or the status to answer (400
 * empty or bad authority). */
__attribute__((noinline)) /* rare: out of finish_other_url's way */
static int absolute_to_origin(ph_http_parser *c, ph_request *req, size_t skip)
{
    char *a = req->arena.data;
    size_t n = req->url_len;
    size_t auth_end = skip;
    while (auth_end < n && a[auth_end] != '/' && a[auth_end] != '?')
        auth_end++;
    size_t auth_len = auth_end - skip;
    if (auth_len == 0 || memchr(a + skip, '@', auth_len))
        return 400; /* RFC 9110 4.2.1: no userinfo in an http(s) URI */
    /* Keep the authority, then make room for a leading '/' if needed. */
    if (auth_len >= sizeof authority_buf)
        return 400;
    memcpy(authority_buf, a + skip, auth_len);
    size_t rest = n - auth_end;
    bool slash = rest == 0 || a[auth_end] != '/';
    memmove(a + (slash ? 1 : 0), a + auth_end, rest);
    if (slash)
        a[0] = '/';
    req->url_len = (uint32_t)(rest + (slash ? 1 : 0));
    req->arena.len = req->url_len;
    c->authority_len = (uint32_t)auth_len; /* finish_other_url stores it past the path */
    return 0;
}

/* Finish a URL that is not a plain origin-form target (end_line has
 * those): store its NUL, then a NUL-terminated copy of its path when it has
 * a query (without one the path is the URL itself: ph_request_path), then
 * the authority of an absolute-form target, NUL-terminated. Returns 0, or
 * the status to answer: 400 for "%00" anywhere in the target (decoded
 * parameters never hold a NUL) and for a target that is neither
 * origin-form, absolute-form nor OPTIONS' asterisk-form; 503. Out of
 * line: rare, out of on_url's way. */
__attribute__((noinline)) static int finish_other_url(const llhttp_t *p, ph_http_parser *c, ph_request *req)
{
    size_t n = req->url_len;
    if (n >= 3 && has_pct00(req->arena.data, n))
        return 400;
    size_t skip = n ? scheme_len(req->arena.data, n) : 0;
    if (skip) {
        int status = absolute_to_origin(c, req, skip);
        if (status)
            return status;
        n = req->url_len;
    }
    const char *q = n ? memchr(req->arena.data, '?', n) : NULL;
    size_t path_len = q ? (size_t)(q - req->arena.data) : n;
    size_t path_copy = q ? path_len + 1 : 0;
    size_t auth_len = c->authority_len;
    /* The URL's NUL, the path's copy and its NUL, the authority and its
     * NUL, and the first name's NUL (close_header writes it if that name
     * fails before bound_then makes room). */
    if (ph_buf_reserve(&req->arena, 1 + path_copy + auth_len + 1 + 1) < 0)
        return 503;
    char *a = req->arena.data;
    req->path_len = (uint32_t)path_len;
    req->path_off = q ? (uint32_t)(n + 1) : 0;
    req->arena.len = n + 1;
    a[n] = '\0';
    if (q) {
        memcpy(a + n + 1, a, path_len);
        a[n + 1 + path_len] = '\0';
        req->arena.len += path_copy;
    }
    if (auth_len) {
        c->authority_off = (uint32_t)req->arena.len;
        memcpy(a + req->arena.len, authority_buf, auth_len);
        a[req->arena.len + auth_len] = '\0';
        req->arena.len += auth_len + 1;
    }
    if (n == 1 && a[0] == '*' && p->method == HTTP_OPTIONS)
        return 0; /* asterisk-form (RFC 9112 3.2.4): the server's options, answered by the host */
    if (path_len == 0 || a[0] != '/')
        return 400; /* "*" with another method, and other forms */
    return 0;
}

/* The names and values are stored NUL-terminated, each name's NUL
 * written when its value's first span comes and each value's when the
 * next header or the end of the headers comes: llhttp's field_complete and
 * value_complete callbacks are not set (each call costs), so the span
 * callbacks tell a header's parts apart by the part being received.
 * (llhttp 8.1 reports every value, an empty one as an empty span, before
 * the next name.) */

/* NUL-terminate the header part being received of a message that failed
 * or is taken before its end, so that its headers read as what arrived (a
 * name without a value has an empty one). There is room for that NUL:
 * head_bound leaves two bytes, end_line one for the first name. */
static void close_header(ph_http_parser *c)
{
    ph_request *req = c->req;
    if (c->part == PH_PART_NAME) {
        put_nul(&req->arena);
        req->headers[req->nheaders - 1].value_off = (uint32_t)req->arena.len - 1;
    } else if (c->part == PH_PART_VALUE) {
        put_nul(&req->arena);
    }
    c->part = PH_PART_NONE;
}

/* The bytes of the header names and values received (max_header_size
 * counts them): the arena from the first name on, but the NULs (two per
 * header, less the ones of the part being received). */
static size_t header_bytes(const ph_http_parser *c, const ph_request *req)
{
    size_t open = c->part == PH_PART_NAME ? 2 : c->part == PH_PART_VALUE ? 1 : 0;
    return req->arena.len - req->headers[0].name_off - (2 * (size_t)req->nheaders - open);
}

/* Set head_bound, the arena length a header span may reach on the usual
 * path: one that leaves two bytes of room (the NUL of the part the span
 * may end, and its own: put_nul) and that the header bytes cannot pass
 * max_header_size by, `left` bytes from now (the NULs count there too: a
 * bound; bound_then checks exactly). */
static void set_head_bound(ph_http_parser *c, const ph_request *req, size_t left)
{
    size_t room_end = req->arena.cap - 2, limit_end = req->arena.len + left;
    c->head_bound = room_end < limit_end ? room_end : limit_end;
}

/* A header span that would pass head_bound: 431 if the header bytes pass
 * max_header_size with it, else grow the arena if the span does not fit
 * with two bytes more, and set head_bound again; then `cb` runs again.
 * Returns what `cb` returns, or -1 (431, 503). Out of line: the callbacks
 * compare one length on their usual path. */
__attribute__((noinline)) static int bound_then(llhttp_t *p, const char *at, size_t len, llhttp_data_cb cb)
{
    ph_http_parser *c = PARSER(p);
    ph_request *req = c->req;
    size_t left = c->limits->max_header_size - header_bytes(c, req);
    if (len > left)
        return fail_with(c, 431);
    if (len + 2 > req->arena.cap - req->arena.len && ph_buf_grow(&req->arena, len + 2) < 0)
        return fail_with(c, 503);
    set_head_bound(c, req, left);
    return cb(p, at, len);
}

/* Make room in req->headers for one more header (it is full): the array
 * doubles, up to MAX_HEADERS (so a full one of MAX_HEADERS is the limit).
 * Returns 0 or -1 (431 past MAX_HEADERS, 503). */
static int grow_headers(ph_http_parser *c, ph_request *req)
{
    if (req->nheaders >= MAX_HEADERS)
        return fail_with(c, 431);
    uint32_t cap = req->headers_cap ? req->headers_cap * 2 : HEADERS_FIRST;
    if (cap > MAX_HEADERS)
        cap = MAX_HEADERS;
    ph_header *h = realloc(req->headers, cap * sizeof *h);
    if (!h)
        return fail_with(c, 503);
    req->headers = h;
    req->headers_cap = cap;
    return 0;
}

/* The headers begin: head_bound for the first name. Returns 0. */
static inline int open_headers(ph_http_parser *c, const ph_request *req)
{
    c->part = PH_PART_NONE;
    set_head_bound(c, req, c->limits->max_header_size);
    return 0;
}

/* end_line for a URL that is not a plain origin-form target: finish it
 * (finish_other_url), then the headers begin. Returns 0 or -1. Out of
 * line, reached by a tail call: on_url calls nothing on its usual path
 * (and saves no registers). */
__attribute__((noinline)) static int finish_other_then(const llhttp_t *p, ph_http_parser *c, ph_request *req)
{
    int status = finish_other_url(p, c, req);
    if (status)
        return fail_with(c, status);
    return open_headers(c, req);
}

/* The request line ends with its URL: finish the URL, and the headers
 * begin (head_bound). A plain origin-form target (no '%', no '?': the
 * usual one) is its own path: its NUL alone finishes it, in the two bytes
 * on_url leaves; finish_other_then has the rest. Returns 0 or -1. */
static inline int end_line(const llhttp_t *p, ph_http_parser *c, ph_request *req)
{
    size_t n = req->url_len;
    char *a = req->arena.data;
    if (!plain_target(a, n) || a[0] != '/')
        return finish_other_then(p, c, req);
    a[n] = '\0';
    req->arena.len = n + 1;
    req->path_len = (uint32_t)n; /* path_off stays a fresh request's 0: the path is the URL itself */
    return open_headers(c, req);
}

static int on_url(llhttp_t *p, const char *at, size_t len);

/* The URL's first span, of a message that has no request yet (its bytes
 * began with CR or LF, or the begin hook failed: ph_http_parse): begin
 * it, then run on_url again. Out of line: rare. Returns what on_url
 * returns, or -1 (503). */
__attribute__((noinline)) static int begin_then(llhttp_t *p, const char *at, size_t len)
{
    ph_http_parser *c = PARSER(p);
    if (!begin_message(c))
        return fail_with(c, 503);
    return on_url(p, at, len);
}

/* Append a URL span that fits (on_url checked it), and end the line when
 * the URL ends with it. Returns 0 or -1. */
static inline __attribute__((always_inline)) int add_url_span(llhttp_t *p, ph_http_parser *c, ph_request *req,
                                                              const char *at, size_t len)
{
    req->url_len += (uint32_t)len;
    put_span(&req->arena, at, len);
    if (at + len == c->chunk_end)
        return 0; /* it may go on in the next call's bytes */
    return end_line(p, c, req);
}

/* add_url_span for a span over 32 bytes, which put_span copies with a
 * memcpy call. Out of line, reached by a tail call: on_url then calls
 * nothing and saves no registers. */
__attribute__((noinline)) static int add_long_url_span(llhttp_t *p, const char *at, size_t len)
{
    ph_http_parser *c = PARSER(p);
    return add_url_span(p, c, c->req, at, len);
}

/* A span of the URL. One that ends before this call's bytes do ends the
 * URL (llhttp reports a span at its end, or at the end of a call's bytes
 * while it goes on: then the next call reports the rest, perhaps as an
 * empty span): no on_url_complete callback, each one llhttp calls costs.
 * Its message has its request already, as a rule (ph_http_parse). */
static int on_url(llhttp_t *p, const char *at, size_t len)
{
    ph_http_parser *c = PARSER(p);
    ph_request *req = c->req;
    if (!req)
        return begin_then(p, at, len);
    if (req->url_len + len > c->limits->max_url_size)
        return fail_with(c, 414);
    if (len + 2 > req->arena.cap - req->arena.len)
        return grow_then(p, at, len, on_url);
    if (len > 32)
        return add_long_url_span(p, at, len);
    return add_url_span(p, c, req, at, len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len);

/* Begin a header: end the value being received, if one is, then a new
 * entry in req->headers (it has room) for the name. Returns the entry. */
static inline ph_header *start_header(ph_http_parser *c, ph_request *req)
{
    if (c->part == PH_PART_VALUE)
        put_nul(&req->arena);
    ph_header *h = &req->headers[req->nheaders++];
    *h = (ph_header){.name_off = (uint32_t)req->arena.len};
    c->part = PH_PART_NAME;
    c->header = h;
    return h;
}

/* Append a span of the name being received, `h`'s. Returns 0 or -1. */
static inline int put_name_span(llhttp_t *p, ph_http_parser *c, ph_request *req, ph_header *h, const char *at,
                                size_t len)
{
    if (req->arena.len + len > c->head_bound)
        return bound_then(p, at, len, on_header_field);
    h->name_len += (uint32_t)len;
    put_span(&req->arena, at, len);
    return 0;
}

/* A header begins and req->headers is full: grow it, then run
 * on_header_field again. Out of line: rare. Returns what on_header_field
 * returns, or -1. */
__attribute__((noinline)) static int grow_headers_then(llhttp_t *p, const char *at, size_t len)
{
    ph_http_parser *c = PARSER(p);
    if (grow_headers(c, c->req) < 0)
        return -1;
    return on_header_field(p, at, len);
}

/* A span of a header's name: the first one begins a header, ending the
 * previous value (the URL is finished: on_url). Trailers after a chunked
 * body come here too, after the headers (PH_PART_NONE). */
static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    ph_http_parser *c = PARSER(p);
    ph_request *req = c->req;
    ph_header *h;
    if (c->part == PH_PART_NAME) {
        h = c->header;
    } else {
        if (req->nheaders == req->headers_cap)
            return grow_headers_then(p, at, len);
        h = start_header(c, req);
    }
    return put_name_span(p, c, req, h, at, len);
}

/* Whether a header value span starting at `at` (inside this call's
 * bytes) starts a line: only SP/HT between it and the previous LF. A value
 * follows its colon on the same line, so such a span is an obs-fold
 * continuation, which llhttp would join to the value. */
static bool starts_line(const ph_http_parser *c, const char *at)
{
    if (at - c->chunk >= 2) { /* the usual "name: value", in one compare */
        uint16_t before, colon_space;
        memcpy(&before, at - 2, 2);
        memcpy(&colon_space, ": ", 2);
        if (before == colon_space)
            return false;
    }
    const char *b = at;
    while (b > c->chunk && (b[-1] == ' ' || b[-1] == '\t'))
        b--;
    return b > c->chunk ? b[-1] == '\n' : c->tail_line_start;
}

/* A span of a header's value: the first one ends the name (noting a
 * Host: a second one is answered 400 once the headers are complete). */
static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    ph_http_parser *c = PARSER(p);
    ph_request *req = c->req;
    ph_header *h = c->header;
    if (c->part == PH_PART_NAME) {
        h->value_off = (uint32_t)put_nul(&req->arena);
        c->part = PH_PART_VALUE;
        if (h->name_len == 4 && ph_name_is(req->arena.data + h->name_off, 4, "host")) {
            c->host = c->host ? PH_HOST_TWICE : req->nheaders;
        }
    }
    /* (llhttp reports an empty value as an empty span at the next line's
     * start: only a span with bytes can be a fold) */
    if (len && starts_line(c, at))
        return fail_with(c, 400); /* obs-fold: RFC 9112 5.2 allows 400 */
    if (req->arena.len + len > c->head_bound)
        return bound_then(p, at, len, on_header_value);
    h->value_len += (uint32_t)len;
    put_span(&req->arena, at, len);
    return 0;
}

/* The Host rules, for a head without exactly one Host or with an
 * absolute-form target. Returns 0 or the status to answer (400). */
static int check_host(ph_http_parser *c, ph_request *req)
{
    if (c->host == PH_HOST_TWICE)
        return 400; /* RFC 9112 3.2: more than one Host */
    if (req->http_major == 1 && req->http_minor >= 1 && !c->host)
        return 400; /* RFC 9112 3.2: a 1.1 request without Host */
    if (c->host && c->authority_len) { /* RFC 9112 3.2.2: the target's authority wins */
        ph_header *host = &req->headers[c->host - 1];
        host->value_off = c->authority_off;
        host->value_len = c->authority_len;
    }
    return 0;
}

/* The end of the head of a message that declares a body (Content-Length
 * or chunked): 413 past max_body_size, else the body's most (body_most)
 * and, when a body follows, the body_follows hook. Out of line: most
 * requests have none. Returns 0 or -1 (413). */
__attribute__((noinline)) static int body_ahead(const llhttp_t *p, ph_http_parser *c, ph_request *req)
{
    c->body_most = c->limits->max_body_size;
    if (p->flags & F_CONTENT_LENGTH) {
        if (p->content_length > c->limits->max_body_size)
            return fail_with(c, 413);
        c->body_most = (size_t)p->content_length; /* reserved as its bytes arrive, not now */
    }
    if (p->content_length || (p->flags & F_CHUNKED))
        c->hooks->body_follows(c->owner, req);
    return 0;
}

/* The head is complete and its Host settled: a declared body comes next
 * (body_ahead). Returns 0 or -1. */
static inline int end_head(const llhttp_t *p, ph_http_parser *c, ph_request *req)
{
    if (p->flags & (F_CONTENT_LENGTH | F_CHUNKED))
        return body_ahead(p, c, req);
    return 0;
}

/* The end of a head that needs the Host rules (check_host: on_headers_complete
 * tests two fields for it), then end_head. Returns 0 or -1 (400). Out of
 * line, reached by a tail call: on_headers_complete then calls nothing on
 * its usual path and needs no frame. */
__attribute__((noinline)) static int check_host_then(const llhttp_t *p, ph_http_parser *c, ph_request *req)
{
    int status = check_host(c, req);
    if (status)
        return fail_with(c, status);
    return end_head(p, c, req);
}

static int on_headers_complete(llhttp_t *p)
{
    ph_http_parser *c = PARSER(p);
    ph_request *req = c->req;
    if (c->part == PH_PART_VALUE)
        put_nul(&req->arena);
    c->part = PH_PART_NONE;
    if (p->method >= sizeof methods / sizeof *methods || !methods[p->method].name)
        return fail_with(c, 501); /* not in llhttp's map, which names every method it parses: never */
    req->method = methods[p->method].name;
    req->method_bit = methods[p->method].bit;
    req->http_major = p->http_major;
    req->http_minor = p->http_minor;
    if (c->host - 1 >= PH_HOST_TWICE - 1 || c->authority_len) /* none or two, or absolute-form */
        return check_host_then(p, c, req);
    return end_head(p, c, req);
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    ph_http_parser *c = PARSER(p);
    ph_request *req = c->req;
    if (!len)
        return 0;
    if (req->body.len + len > c->limits->max_body_size)
        return fail_with(c, 413);
    if (ph_buf_reserve_capped(&req->body, len, PH_BUF_BODY_FIRST, c->body_most) < 0)
        return fail_with(c, 503);
    memcpy(req->body.data + req->body.len, at, len);
    req->body.len += len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    ph_http_parser *c = PARSER(p);
    ph_request *req = c->req;
    if (c->part == PH_PART_VALUE)
        put_nul(&req->arena); /* the last trailer's value: no headers_complete after trailers */
    c->req = NULL;
    req->keep_alive = llhttp_should_keep_alive(p);
    c->complete = req;
    return HPE_PAUSED; /* one message per llhttp_execute */
}

static void init_settings(void)
{
    llhttp_settings_init(&settings);
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    settings_ready = true;
}

void ph_http_parser_init(ph_http_parser *p, const ph_http_parse_hooks *hooks, void *owner)
{
    if (!settings_ready)
        init_settings();
    memset(p, 0, sizeof *p);
    llhttp_init(&p->llhttp, HTTP_REQUEST, &settings);
    p->llhttp.data = p;
    p->hooks = hooks;
    p->owner = owner;
}

/* Remember whether the `len` bytes used end a line start (LF, then only
 * SP/HT), for starts_line() in the next call. */
static void note_tail(ph_http_parser *p, const char *data, size_t len)
{
    size_t i = len;
    while (i > 0 && (data[i - 1] == ' ' || data[i - 1] == '\t'))
        i--;
    if (i > 0)
        p->tail_line_start = data[i - 1] == '\n';
}

/* Whether llhttp, stopped between calls or by an error, is inside a
 * message: it began one (before on_message_begin, which is not set) and
 * has not finished it. */
static bool in_message(const ph_http_parser *p)
{
    return p->llhttp.finish == HTTP_FINISH_UNSAFE;
}

/* A call that stopped inside a message before its URL could not begin its
 * request (no memory): 503, and llhttp fails from now on. */
__attribute__((noinline)) /* rare: out of ph_http_parse's way */
static ph_parse_status fail_early(ph_http_parser *p, size_t *used, int *status)
{
    p->llhttp.error = HPE_USER;
    llhttp_set_error_reason(&p->llhttp, "out of memory for a request");
    *used = 0;
    *status = 503;
    return PH_PARSE_ERROR;
}

ph_parse_status ph_http_parse(ph_http_parser *p, const ph_server_conf *limits, const char *data, size_t len,
                              size_t *used, ph_request **msg, int *status)
{
    p->limits = limits;
    p->chunk = data;
    p->chunk_end = data + len;
    *msg = NULL;
    /* A message whose bytes begin here (the usual case: a call parses at
     * most one message, from where the last one ended) gets its request
     * now, before llhttp's first callback: llhttp begins a message at any
     * byte but CR and LF (which it skips between messages; it begins one
     * at the other control bytes too, to fail it, and the error path
     * below begins that one). On a NULL (no memory), on_url tries again. */
    if (!p->req && len && (unsigned char)data[0] > '\r')
        (void)begin_message(p);
    llhttp_errno_t err = llhttp_execute(&p->llhttp, data, len);
    if (err == HPE_OK) {
        *used = len;
        note_tail(p, data, len);
        if (!p->req && in_message(p) && !begin_message(p))
            return fail_early(p, used, status);
        return PH_PARSE_MORE;
    }
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        /* (no note_tail: the next message's first call has its request
         * line, so no value span starts where its bytes do) */
        *used = (size_t)(p->llhttp.error_pos - data); /* llhttp_get_error_pos() */
        *msg = p->complete;
        p->complete = NULL;
        if (err == HPE_PAUSED_UPGRADE)
            return PH_PARSE_UPGRADE; /* upgrades are not served: answer, then close */
        p->llhttp.error = HPE_OK; /* llhttp_resume() of the pause */
        return PH_PARSE_MESSAGE;
    }
    if (!p->req && in_message(p))
        (void)begin_message(p); /* the message failed before its URL: its request answers it */
    if (p->req)
        close_header(p);
    *used = 0;
    *status = p->error_status ? p->error_status : 400;
    return PH_PARSE_ERROR;
}

ph_request *ph_http_parse_take(ph_http_parser *p)
{
    ph_request *req = p->req;
    if (req)
        close_header(p);
    p->req = NULL;
    return req;
}

const char *ph_http_parse_why(const ph_http_parser *p)
{
    const char *reason = llhttp_get_error_reason(&p->llhttp);
    return reason ? reason : llhttp_errno_name(llhttp_get_errno(&p->llhttp));
}
