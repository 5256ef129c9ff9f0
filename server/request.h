/* request.h - one HTTP request and the response being built for it: the
 * data, and who may write which part of it.
 *
 * Every field has one writer, named on its section below; anyone may read.
 * The life of a request (who holds it, when it is released) is
 * request_life.c's; this file only recycles the memory. Requests are
 * recycled through a free list so a keep-alive connection allocates
 * nothing per request in steady state. Loop thread, except that a sync
 * handler's pool thread has the request to itself while it runs (the loop
 * then writes only fields that thread never reads: conn, next, and the
 * life flags). */
#ifndef PH_REQUEST_H
#define PH_REQUEST_H

#include "buf.h"
#include "plughost.h"

#include <stdbool.h>
#include <stdint.h>

struct ph_conn;
struct ph_generation;
struct ph_route;
struct ph_offload;
struct event;

typedef struct ph_header {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
} ph_header;

/* The life of a request (request_life.c has every transition):
 *   PARSED -> RUNNING -> DONE -> RELEASED, or PARSED -> DONE (host answer)
 *   PARSED -> QUEUED -> RUNNING, or QUEUED -> DONE (route timeout, client gone)
 *   RUNNING -> ABORTING -> DONE (async: client gone or route timeout) */
typedef enum ph_life_state {
    PH_LIFE_PARSED = 0, /* received; not handed to a handler */
    PH_LIFE_RUNNING,    /* a handler runs (loop or pool) or an async one is pending */
    PH_LIFE_ABORTING,   /* the plugin's abort callback is on the stack */
    PH_LIFE_DONE,       /* the response is final (or discarded): no plugin code for it */
    PH_LIFE_RELEASED,   /* back on the free list */
    PH_LIFE_QUEUED,     /* waiting in its route's queue for a place under max_inflight (route_gate.h) */
} ph_life_state;

/* The pool job a sync request becomes (see pool.h). */
typedef struct ph_job {
    void (*run)(struct ph_job *job);  /* on a pool thread */
    void (*done)(struct ph_job *job); /* on the loop thread, after run */
    struct ph_job *next;
} ph_job;

struct ph_request {
    ph_job job; /* first: a job is a request (written by dispatch and the pool) */
    int handler_result;        /* what a sync handle() returned (dispatch, on the pool thread) */

    /* ---- the parsed request: written by the connection layer while
     * receiving (http_conn.c), then read-only (also arena, headers and
     * body, at the end) ---- */
    uint32_t url_len;
    uint32_t path_len;         /* path = URL up to '?' */
    uint32_t path_off;         /* the NUL-terminated path in arena: 0 (the URL itself), or its copy after the URL */
    uint32_t nheaders;         /* in headers */
    const char *method;        /* static string from the parser */
    unsigned method_bit;       /* PH_METHOD_*, 0 for others */
    uint8_t http_major, http_minor;
    bool keep_alive;
    char client_addr[48];      /* the peer's IP as text, "" when unknown; dispatch replaces it with
                                * X-Forwarded-For's client from a trusted proxy (real_ip.c) before
                                * any handler runs */

    /* ---- the wire: written by the connection layer only ---- */
    struct ph_conn *conn;      /* the connection holding it; NULL once it let go */
    struct ph_request *next;   /* the connection's pipeline order */
    size_t written;            /* bytes of head+body already written */
    bool own;                  /* made by the connection itself, never handed up */
    bool final;                /* the response is complete: write it all */
    bool close_after;          /* the connection closes after this response */
    bool streaming;            /* stream_begin: head sent early, body in chunks */
    bool chunked;              /* HTTP/1.1 framing; 1.0 streams until close */
    bool drain_wanted;         /* stream_write returned 1 */
    bool holds_place;          /* one of its connection's max_inflight_per_connection places */
    bool no_body;              /* its body is not sent (HEAD, 1xx, 204, 304): set with resp_head */

    /* ---- the response: written by the plugin (through host_api, while
     * request_life allows it) or by the host answering instead (also
     * resp_headers and resp_body, at the end) ---- */
    int status;
    bool has_content_type;

    /* ---- caches of request.c (query parameters, decoded on first use)
     * and dispatch (path parameters of the matched route): query_decoded
     * and params, at the end ---- */
    bool query_ready;

    /* ---- the life: written by request_life.c only ---- */
    ph_life_state life;
    const struct ph_route *route;  /* the handler's route (RUNNING on) */
    struct ph_generation *gen;     /* generation that accepted it (ref held) */
    bool async;                /* the route's plugin is async */
    bool in_handler;           /* async handle() is on the stack */
    bool counted;              /* in the in-flight count (board, drain) */
    bool detached;             /* the client let go while it ran */
    bool timed_out;            /* answered 504; a sync handler still runs */
    bool holds_gate;           /* counted in its route's in-flight figure (route_gate.h) */
    uint64_t began_ns;         /* CLOCK_MONOTONIC when its life began (access log, latency) */
    ph_abort_cb abort_cb;
    void *abort_arg;
    ph_drain_cb drain_cb;
    void *drain_arg;

    /* ---- pending async work: each list written by its module ---- */
    ph_timer *timers;            /* request_timer.c */
    ph_fetch *fetches;           /* fetch.c */
    struct ph_offload *offloads; /* offload.c */
    struct ph_request *gate_next; /* route_gate.c: the route's queue of waiting requests */

    /* ---- memory a recycled request keeps (request.c): everything from
     * here on survives ph_request_recycle, the buffers emptied; each field
     * is written by the owner its comment names ---- */
    ph_buf arena;              /* parsed: URL at offset 0, then header names/values, NUL-terminated */
    ph_buf body;               /* parsed */
    ph_buf resp_headers;       /* response: "Name: value\r\n" lines */
    ph_buf resp_body;          /* response; a stream: chunks not yet written */
    ph_buf resp_head;          /* wire: status line + all headers, built to send (ph_request_lend_head,
                                * ph_request_return_head) */
    ph_buf query_decoded;      /* cache (request.c) */
    ph_buf params;             /* cache (dispatch): "name\0value\0..." */
    ph_header *headers;        /* parsed: nheaders of headers_cap */
    uint32_t headers_cap;
    struct event *deadline;    /* life: route timeout; allocated once per object */
    size_t kept_bytes;         /* request.c: the memory it holds on the free list */
};

/* A fresh request (PH_LIFE_PARSED, status 200) from the free list or the
 * heap, or NULL. Loop thread. */
struct ph_request *ph_request_new(void);

/* Put `req` back on the free list, keeping some of its buffers' memory (and its
 * deadline event), forgetting everything else. The caller has ended all
 * its async work and released its generation: request_life.c's release
 * is the only caller for a request a handler saw. Loop thread. */
void ph_request_recycle(struct ph_request *req);

/* Give `req` a spare response head buffer (one a recycled request gave
 * back) when it has none, so building its head allocates nothing; without
 * a spare one the head allocates its own. Call right before building the
 * head. Loop thread. */
void ph_request_lend_head(struct ph_request *req);

/* Take `req`'s response head buffer off it (when it has one): to the spare
 * ones, or freed. For a request that waits for its handler: it needs none
 * until its response is final. Loop thread. */
void ph_request_return_head(struct ph_request *req);

/* Free the whole free list and the spare head buffers (at exit). Loop
 * thread. */
void ph_request_free_cache(void);

/* The memory the free list and the spare head buffers hold now (bounded:
 * request.c). Loop thread. */
size_t ph_request_cache_bytes(void);

/* The client's IP as text, "" when unknown: the peer's, or the client a
 * trusted proxy named (real_ip.c). The one way to read it. */
static inline const char *ph_request_client_addr(const struct ph_request *req) { return req->client_addr; }

/* Set `req`'s client address to its own copy of `addr` (cut to what
 * fits: an IPv6 address as text always does). `addr` may be the current
 * one. Loop thread, or the thread that owns the request. */
void ph_request_set_client_addr(struct ph_request *req, const char *addr);

/* NUL-terminated path (no query), "" before the URL: at path_off, which
 * the parser sets once. Inline: dispatch reads it for every request. */
static inline const char *ph_request_path(const struct ph_request *req)
{
    if (!req->arena.len)
        return "";
    return req->arena.data + req->path_off;
}

/* NUL-terminated raw query, "" when absent. */
const char *ph_request_query(const struct ph_request *req);

/* Decoded path parameter `name`, or NULL (also on a route without
 * parameters). Reads only the params.len bytes of the list. */
const char *ph_request_path_param(const struct ph_request *req, const char *name);

/* First header `name` (case-insensitive) or NULL. */
const char *ph_request_header(const struct ph_request *req, const char *name);

/* Decoded first query parameter `name` or NULL; reads only the decoded
 * bytes of this request, never past them. Any thread that owns the
 * request. */
const char *ph_request_query_param(struct ph_request *req, const char *name);

/* Set `status` and the compact serialisation of `json` as the body, with
 * "Content-Type: application/json" unless a Content-Type was added
 * already. Returns 0 or -1 (no memory). */
int ph_request_set_json(struct ph_request *req, int status, const struct cJSON *json);

/* Replace the response with a host-generated error: status and a JSON body
 * {"error": message}. Extra header line ("Allow: GET\r\n") may be NULL. */
void ph_request_set_error(struct ph_request *req, int status, const char *message, const char *extra_header);

/* Percent-decode `len` bytes of `src` into `dst` (at least len+1 bytes),
 * '+' as space when `plus_space`. Returns the decoded length; the result
 * is NUL-terminated. Invalid escapes are kept as written, and so is "%00":
 * a decoded value never holds a NUL, so the "name\0value\0" lists built
 * from decoded text cannot be split by a client (the parser answers 400
 * to a target with %00 before any of this runs). "%2F" decodes to '/'.
 * Any thread. */
size_t ph_percent_decode(char *dst, const char *src, size_t len, bool plus_space);

#endif
