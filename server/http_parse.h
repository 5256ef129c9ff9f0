/* http_parse.h - request bytes to ph_request: llhttp's callbacks copy the
 * URL (and a NUL-terminated path), the headers and the body into the
 * request's buffers, within the server's limits (400, 413, 414, 431, and
 * 503 when out of memory). A body's buffer grows as its bytes arrive
 * (doubling, never past its Content-Length or max_body_size): a declared
 * length alone reserves nothing. llhttp is built with LLHTTP_STRICT_MODE (bad
 * chunk endings, a space in a field name: 400); on top of it this file
 * answers 400 to obs-fold (RFC 9112 5.2), a second Host (3.2), "%00" in
 * the target, and a target that is neither origin-form nor absolute-form;
 * an absolute-form target ("http://host/p?q") is served as its origin
 * form ("/p?q") with the target's authority as Host (3.2.2). One message per call: the parser pauses after
 * each, so pipelined requests come out one by one. No sockets here: the
 * connection layer feeds it bytes. Loop thread. */
#ifndef PH_HTTP_PARSE_H
#define PH_HTTP_PARSE_H

#include "config.h"
#include "request.h"

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>

/* What the parser tells its owner while a message arrives. */
typedef struct ph_http_parse_hooks {
    /* A message has begun: a fresh request to fill, or NULL (answered
     * 503). Called once per message, before its head is complete: at its
     * URL's first byte, or at the end of a ph_http_parse call that stops
     * (or fails) inside the message before that. */
    ph_request *(*begin)(void *owner);
    /* Its headers are complete and a body follows (the body timeout
     * starts; "Expect: 100-continue" may be answered now). */
    void (*body_follows)(void *owner, ph_request *req);
} ph_http_parse_hooks;

/* What of a message is being received: its request line (the URL is
 * finished when a span of it ends before a call's bytes do), a header's
 * name or value (not yet NUL-terminated), or nothing open (after the
 * URL, and after the headers). */
enum { PH_PART_LINE, PH_PART_NAME, PH_PART_VALUE, PH_PART_NONE };

/* ph_http_parser.host after a second Host header. */
#define PH_HOST_TWICE UINT32_MAX

/* One connection's parser. The fields are this module's; the owner only
 * reads `req`. */
typedef struct ph_http_parser {
    llhttp_t llhttp;
    const ph_http_parse_hooks *hooks;
    void *owner;
    const ph_server_conf *limits; /* during ph_http_parse */
    ph_request *req;              /* being received; NULL between messages */
    ph_request *complete;         /* the message just completed */
    int error_status;             /* set by a callback that fails */
    uint8_t part;                 /* PH_PART_*: what of `req` is being received */
    ph_header *header;            /* the header being received (in req->headers; NAME, VALUE) */
    uint32_t host;                /* 1 + the index of its Host header in req->headers, 0 for none,
                                     PH_HOST_TWICE after a second (400 once the headers are complete) */
    size_t head_bound;            /* the arena length a header span may reach before bound_then checks
                                     max_header_size and the arena's room (set as the URL ends) */
    const char *chunk;            /* the bytes of the current ph_http_parse call */
    const char *chunk_end;        /* and their end */
    bool tail_line_start;         /* the bytes used so far end in LF + SP/HT*: a
                                     value span starting here is an obs-fold */
    uint32_t authority_off;       /* absolute-form: its authority in the arena */
    uint32_t authority_len;       /* 0 for origin-form */
    size_t body_most;             /* the body can hold no more: its Content-Length, else max_body_size
                                     (set when the head declares a body) */
} ph_http_parser;

typedef enum ph_parse_status {
    PH_PARSE_MORE,    /* every byte used; the message (if any) goes on */
    PH_PARSE_MESSAGE, /* one message is complete */
    PH_PARSE_UPGRADE, /* one message asking for an upgrade: serve no more */
    PH_PARSE_ERROR,   /* malformed or over a limit: answer *status, serve no more */
} ph_parse_status;

void ph_http_parser_init(ph_http_parser *p, const ph_http_parse_hooks *hooks, void *owner);

/* Parse `len` bytes of `data` under `limits`, up to the end of one
 * message. Stores the bytes used in *used. MESSAGE and UPGRADE hand the
 * complete request (keep_alive set) to the caller in *msg (NULL for an
 * upgrade without one); ERROR stores the status to answer in *status,
 * the request being received stays in p->req. */
ph_parse_status ph_http_parse(ph_http_parser *p, const ph_server_conf *limits, const char *data, size_t len,
                              size_t *used, ph_request **msg, int *status);

/* Take the request being received (NULL between messages): the caller
 * answers or drops it; parse no more after it. */
ph_request *ph_http_parse_take(ph_http_parser *p);

/* Why the last parse failed, for a debug log line. */
const char *ph_http_parse_why(const ph_http_parser *p);

#endif
