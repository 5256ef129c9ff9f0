/* request.c - request objects: recycling, accessors, host error bodies. */
#include "request.h"

#include <cjson/cJSON.h>
#include <event2/event.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Recycled requests (loop thread only): at most FREE_LIST_MAX of them,
 * holding at most FREE_LIST_BYTES together. A recycled request keeps each
 * buffer up to KEEP_BUFFER_BYTES (a bigger one is freed); when the list is
 * at its byte cap it keeps only buffers up to SMALL_BUFFER_BYTES, and is
 * freed whole when even that does not fit. A burst of large requests
 * leaves no large memory behind. */
#define FREE_LIST_MAX 1024
#define FREE_LIST_BYTES (8u << 20)
#define KEEP_BUFFER_BYTES (64u << 10)
#define SMALL_BUFFER_BYTES (4u << 10)
#define NBUFS 7 /* kept_buffers_of */

static ph_request *free_list;
static size_t free_count;
static size_t free_bytes;

/* Response head buffers between uses. A request needs one only from
 * building its head until it is recycled: one that waits for its handler
 * (a 2 s sleep) puts its buffer here (ph_request_return_head: at most
 * SPARE_HEADS of them, each at most SMALL_BUFFER_BYTES), and
 * ph_request_lend_head hands one out right before a head is built. A
 * request answered at once keeps its buffer through recycling, like its
 * other buffers: the hot path moves none and allocates nothing. */
#define SPARE_HEADS 256

/* A spare head buffer: its memory and capacity (it holds nothing). */
typedef struct spare_head {
    char *data;
    size_t cap;
} spare_head;

static spare_head spare_heads[SPARE_HEADS];
static unsigned nspare_heads;
static size_t spare_bytes;

/* The buffers a recycled request keeps, for trimming and counting. */
static void kept_buffers_of(ph_request *req, ph_buf *bufs[NBUFS])
{
    bufs[0] = &req->arena;
    bufs[1] = &req->body;
    bufs[2] = &req->query_decoded;
    bufs[3] = &req->resp_headers;
    bufs[4] = &req->resp_body;
    bufs[5] = &req->params;
    bufs[6] = &req->resp_head;
}

/* Free each kept buffer of `req` holding more than `keep` bytes; `held`
 * is what they hold together now (no more than `keep`: none does, nothing
 * to look at one by one). Returns what they hold then. Out of line: only
 * a request that held a large buffer comes here. */
__attribute__((noinline)) static size_t trim_buffers(ph_request *req, size_t held, size_t keep)
{
    if (held <= keep)
        return held;
    ph_buf *bufs[NBUFS];
    kept_buffers_of(req, bufs);
    held = 0;
    for (int i = 0; i < NBUFS; i++) {
        ph_buf_trim(bufs[i], keep);
        held += bufs[i]->cap;
    }
    return held;
}

/* Empty `req`'s kept buffers. Returns the memory they hold together. */
static size_t empty_buffers(ph_request *req)
{
    ph_buf *bufs[NBUFS];
    kept_buffers_of(req, bufs);
    size_t held = 0;
    for (int i = 0; i < NBUFS; i++) {
        bufs[i]->len = 0;
        held += bufs[i]->cap;
    }
    return held;
}

/* The memory `req` holds on the free list with buffers holding `held`. */
static size_t kept_size(const ph_request *req, size_t held)
{
    return sizeof *req + (size_t)req->headers_cap * sizeof *req->headers + held;
}

size_t ph_request_cache_bytes(void) { return free_bytes + spare_bytes; }

void ph_request_lend_head(ph_request *req)
{
    if (req->resp_head.data || !nspare_heads)
        return;
    spare_head s = spare_heads[--nspare_heads];
    req->resp_head.data = s.data; /* its len is 0: a buffer without memory holds nothing */
    req->resp_head.cap = s.cap;
    spare_bytes -= s.cap;
}

void ph_request_return_head(ph_request *req)
{
    ph_buf *h = &req->resp_head;
    if (h->data && h->cap <= SMALL_BUFFER_BYTES && nspare_heads < SPARE_HEADS) {
        spare_bytes += h->cap;
        spare_heads[nspare_heads++] = (spare_head){h->data, h->cap};
        *h = (ph_buf){0};
        return;
    }
    ph_buf_free(h);
}

/* A fresh request from the heap (PH_LIFE_PARSED, status 200), or NULL.
 * Out of line: in steady state the free list has one, and its callers
 * need no frame for this call. */
static __attribute__((noinline)) ph_request *new_from_heap(void)
{
    ph_request *req = calloc(1, sizeof *req);
    if (req)
        req->status = 200;
    return req;
}

ph_request *ph_request_new(void)
{
    ph_request *req = free_list;
    if (!req)
        return new_from_heap();
    free_list = req->next;
    free_count--;
    free_bytes -= req->kept_bytes;
    req->next = NULL;
    req->status = 200;
    req->life = PH_LIFE_PARSED;
    return req;
}

/* Free `req` and all its memory. Out of line, like everything off the
 * common path of recycling: that path then needs few registers. */
__attribute__((noinline)) static void free_request(ph_request *req)
{
    if (req->deadline)
        event_free(req->deadline);
    ph_buf_free(&req->params);
    ph_buf_free(&req->arena);
    ph_buf_free(&req->body);
    ph_buf_free(&req->query_decoded);
    ph_buf_free(&req->resp_headers);
    ph_buf_free(&req->resp_body);
    ph_buf_free(&req->resp_head);
    free(req->headers);
    free(req);
}

/* Zero every field of `req` before `arena` (what a recycled request must
 * not carry over), in 16-byte stores: GCC turns a memset of this size
 * into `rep stos`, slower to start than these few stores. */
static void forget_fields(ph_request *req)
{
    enum { FORGET = offsetof(ph_request, arena) };
    char *p = (char *)req;
    size_t o = 0;
#pragma GCC unroll 32
    for (; o + 16 <= FORGET; o += 16)
        memset(p + o, 0, 16);
    memset(p + o, 0, FORGET - o);
}

/* The free list is at its byte cap with `req`'s emptied buffers, which
 * hold `held` bytes: keep only small ones, or free `req` when even that
 * does not fit. Returns what `req` keeps, or 0 when it was freed. */
__attribute__((noinline)) static size_t keep_small(ph_request *req, size_t held)
{
    size_t kept = kept_size(req, trim_buffers(req, held, SMALL_BUFFER_BYTES));
    if (free_bytes + kept > FREE_LIST_BYTES) {
        free_request(req);
        return 0;
    }
    return kept;
}

/* Forget everything of `req` but the memory kept (request.h: from `arena`
 * on) and put it on the free list, holding `kept` bytes. */
static inline void put_on_free_list(ph_request *req, size_t kept)
{
    forget_fields(req);
    req->life = PH_LIFE_RELEASED;
    req->kept_bytes = kept;
    req->next = free_list;
    free_list = req;
    free_count++;
    free_bytes += kept;
}

/* Recycle `req`, whose buffers are emptied and hold `held` bytes, when it
 * has a route timeout to stop or reaches a limit of the free list: fewer
 * or smaller buffers kept, or `req` freed. Out of line: the usual recycling
 * then makes no call and needs no frame. */
__attribute__((noinline)) static void recycle_at_limits(ph_request *req, size_t held)
{
    if (req->deadline)
        event_del(req->deadline);
    if (free_count >= FREE_LIST_MAX) {
        free_request(req);
        return;
    }
    held = trim_buffers(req, held, KEEP_BUFFER_BYTES);
    size_t kept = kept_size(req, held);
    if (free_bytes + kept > FREE_LIST_BYTES && !(kept = keep_small(req, held)))
        return;
    put_on_free_list(req, kept);
}

void ph_request_recycle(ph_request *req)
{
    if (!req)
        return;
    size_t held = empty_buffers(req);
    size_t kept = kept_size(req, held);
    if (req->deadline || free_count >= FREE_LIST_MAX || held > KEEP_BUFFER_BYTES ||
        free_bytes + kept > FREE_LIST_BYTES) {
        recycle_at_limits(req, held);
        return;
    }
    put_on_free_list(req, kept);
}

void ph_request_free_cache(void)
{
    while (free_list) {
        ph_request *next = free_list->next;
        free_request(free_list);
        free_list = next;
    }
    free_count = 0;
    free_bytes = 0;
    while (nspare_heads)
        free(spare_heads[--nspare_heads].data);
    spare_bytes = 0;
}

void ph_request_set_client_addr(ph_request *req, const char *addr)
{
    size_t n = strnlen(addr, sizeof req->client_addr - 1);
    memmove(req->client_addr, addr, n);
    req->client_addr[n] = '\0';
}

const char *ph_request_query(const ph_request *req)
{
    if (!req->arena.len || req->path_len >= req->url_len)
        return "";
    return req->arena.data + req->path_len + 1;
}

/* The value of `name` in a "name\0value\0..." list of `len` bytes, or
 * NULL. Bounded by `len` alone: an entry without its NUL ends the walk, so
 * nothing past the list (a recycled buffer's old bytes) is ever read. */
static const char *param_lookup(const char *list, size_t len, const char *name)
{
    if (!list)
        return NULL;
    const char *p = list, *end = list + len;
    while (p < end) {
        const char *name_end = memchr(p, '\0', (size_t)(end - p));
        if (!name_end)
            return NULL;
        const char *value = name_end + 1;
        const char *value_end = value < end ? memchr(value, '\0', (size_t)(end - value)) : NULL;
        if (!value_end)
            return NULL;
        if (strcmp(p, name) == 0)
            return value;
        p = value_end + 1;
    }
    return NULL;
}

const char *ph_request_path_param(const ph_request *req, const char *name)
{
    return param_lookup(req->params.data, req->params.len, name);
}

const char *ph_request_header(const ph_request *req, const char *name)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < req->nheaders; i++) {
        const ph_header *h = &req->headers[i];
        if (h->name_len == n && strncasecmp(req->arena.data + h->name_off, name, n) == 0)
            return req->arena.data + h->value_off;
    }
    return NULL;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t ph_percent_decode(char *dst, const char *src, size_t len, bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (src[i] == '%' && i + 2 < len && (hi = hex_value(src[i + 1])) >= 0 && (lo = hex_value(src[i + 2])) >= 0 &&
            (hi | lo) != 0) {
            dst[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (src[i] == '+' && plus_space) {
            dst[o++] = ' ';
        } else {
            dst[o++] = src[i];
        }
    }
    dst[o] = '\0';
    return o;
}

/* Decode all parameters once: "key\0value\0key\0value\0..." in
 * query_decoded; a key without '=' gets "" as value. Returns 0 or -1. */
static int decode_query(ph_request *req)
{
    const char *q = ph_request_query(req);
    size_t qlen = strlen(q);
    ph_buf_reset(&req->query_decoded);
    if (ph_buf_reserve(&req->query_decoded, 2 * qlen + 2) < 0)
        return -1;
    char *out = req->query_decoded.data;
    size_t o = 0;
    const char *p = q;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        if (plen) {
            const char *eq = memchr(p, '=', plen);
            size_t klen = eq ? (size_t)(eq - p) : plen;
            o += ph_percent_decode(out + o, p, klen, true) + 1;
            if (eq)
                o += ph_percent_decode(out + o, eq + 1, plen - klen - 1, true) + 1;
            else
                out[o++] = '\0';
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    req->query_decoded.len = o;
    req->query_ready = true;
    return 0;
}

const char *ph_request_query_param(ph_request *req, const char *name)
{
    if (!req->query_ready && decode_query(req) < 0)
        return NULL;
    return param_lookup(req->query_decoded.data, req->query_decoded.len, name);
}

int ph_request_set_json(ph_request *req, int status, const cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    if (!text)
        return -1;
    ph_buf_reset(&req->resp_body);
    int rc = ph_buf_append(&req->resp_body, text, strlen(text));
    cJSON_free(text);
    if (rc == 0 && !req->has_content_type) {
        rc = ph_buf_append_str(&req->resp_headers, "Content-Type: application/json\r\n");
        req->has_content_type = rc == 0;
    }
    if (rc == 0)
        req->status = status;
    return rc;
}

void ph_request_set_error(ph_request *req, int status, const char *message, const char *extra_header)
{
    req->status = status;
    ph_buf_reset(&req->resp_headers);
    ph_buf_reset(&req->resp_body);
    req->has_content_type = true;
    /* Host messages are fixed ASCII without quotes or backslashes. */
    if (ph_buf_append_str(&req->resp_headers, "Content-Type: application/json\r\n") < 0 ||
        (extra_header && ph_buf_append_str(&req->resp_headers, extra_header) < 0) ||
        ph_buf_append_str(&req->resp_body, "{\"error\":\"") < 0 ||
        ph_buf_append_str(&req->resp_body, message) < 0 || ph_buf_append_str(&req->resp_body, "\"}") < 0) {
        ph_buf_reset(&req->resp_headers);
        ph_buf_reset(&req->resp_body);
        req->has_content_type = false;
    }
}
