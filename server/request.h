/* request.h - one HTTP request and the response being built for it.
 *
 * Owned by the loop thread, except while a sync handler runs: then the pool
 * thread running it has the request to itself (the loop only reads `conn`
 * pointers it owns). Requests are recycled through a free list so a
 * keep-alive connection allocates nothing per request in steady state. */
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

typedef enum ph_request_state {
    PH_REQ_PARSING, /* headers/body still arriving */
    PH_REQ_RUNNING, /* handed to a handler (loop or pool) */
    PH_REQ_DONE,    /* response ready to be written */
} ph_request_state;

/* The pool job a sync request becomes (see pool.h). */
typedef struct ph_job {
    void (*run)(struct ph_job *job);  /* on a pool thread */
    void (*done)(struct ph_job *job); /* on the loop thread, after run */
    struct ph_job *next;
} ph_job;

struct ph_request {
    ph_job job;                 /* first: a job is a request */
    struct ph_conn *conn;       /* NULL once the client is gone */
    struct ph_request *next;    /* the connection's pipeline order */
    struct ph_generation *gen;  /* generation that accepted it (ref held) */
    const struct ph_route *route;

    /* request, parsed: arena holds the URL and header names/values, each
     * NUL-terminated; offsets stay valid when the arena grows */
    ph_buf arena;
    uint32_t url_len;          /* URL is at arena offset 0 */
    uint32_t path_len;         /* path = URL up to '?' */
    ph_header *headers;
    uint32_t nheaders, headers_cap;
    uint32_t header_bytes;     /* names + values, for max_header_size */
    ph_buf body;
    const char *method;        /* static string from the parser */
    unsigned method_bit;       /* PH_METHOD_*, 0 for others */
    uint8_t http_major, http_minor;
    bool keep_alive;
    char client_addr[48];      /* the peer's IP as text, "" when unknown */

    /* query parameters, decoded on first use into one buffer */
    ph_buf query_decoded;
    bool query_ready;

    /* response */
    int status;
    ph_buf resp_headers;       /* "Name: value\r\n" lines from the plugin */
    ph_buf resp_body;
    ph_buf resp_head;          /* status line + all headers, built to send */
    bool has_content_type;
    bool close_after;          /* the connection closes after this response */
    size_t written;            /* bytes of head+body already written */

    /* lifecycle */
    ph_request_state state;
    bool in_handler;           /* async handle() is on the stack */
    int handler_result;        /* what a sync handle() returned */
    bool completed;            /* complete() was called */
    ph_timer *timers;          /* pending plugin timers (request_timer.c) */
    ph_fetch *fetches;         /* outbound requests in flight (fetch.c) */
    struct ph_offload *offloads; /* offloaded work not yet done (offload.c) */
    ph_abort_cb abort_cb;      /* async: client gone or timeout */
    void *abort_arg;
    struct event *deadline;    /* handler timeout; allocated once per object */
    bool timed_out;            /* a sync handler outlived its timeout */

    /* streaming (async): head sent early, body = chunks queued in resp_body */
    bool streaming;
    bool chunked;              /* HTTP/1.1 framing; 1.0 streams until close */
    bool drain_wanted;         /* stream_write returned 1 */
    ph_drain_cb drain_cb;
    void *drain_arg;

    /* path parameters of the matched route: "name\0value\0..." */
    ph_buf params;
};

/* Decoded path parameter `name`, or NULL. */
const char *ph_request_path_param(const struct ph_request *req, const char *name);

/* A fresh request from the free list or the heap, or NULL. Loop thread. */
struct ph_request *ph_request_new(void);

/* The request's answer is final: cancel its timers and fetches, and let
 * its pending offloads call done with a NULL request. Idempotent. Loop
 * thread. */
void ph_request_end_async(struct ph_request *req);

/* Return a request to the free list (ending its async work, releasing its
 * generation and oversized buffers). Loop thread. */
void ph_request_release(struct ph_request *req);

/* Free the whole free list (at exit). Loop thread. */
void ph_request_free_cache(void);

/* NUL-terminated path (no query) and raw query ("" when absent). */
const char *ph_request_path(const struct ph_request *req);
const char *ph_request_query(const struct ph_request *req);

/* First header `name` (case-insensitive) or NULL. */
const char *ph_request_header(const struct ph_request *req, const char *name);

/* Decoded first query parameter `name` or NULL. Any thread that owns the
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
 * is NUL-terminated. Invalid escapes are kept as written. */
size_t ph_percent_decode(char *dst, const char *src, size_t len, bool plus_space);

#endif
