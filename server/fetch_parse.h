/* fetch_parse.h - an upstream's HTTP/1.1 response, parsed by llhttp in
 * response mode, handed out as a sequence of events the caller pulls:
 *
 *     HEAD  status and headers are complete (any 100 Continue before
 *           them was skipped)
 *     BODY  one piece of body, decoded (chunked framing removed)
 *     END   the response is complete
 *     ERROR malformed, over a limit, or an interim 1xx other than 100
 *
 * The caller feeds bytes and learns how many it may drop: a BODY piece
 * points into the bytes it was given, so the caller drains them only
 * after using the piece. Nothing here calls out (no callbacks reach the
 * caller from inside llhttp): the caller runs plugin code between pulls
 * with no parser on the stack. No sockets here.
 *
 * Rules: a 100 Continue is skipped, as many as arrive (up to 32), also in
 * the same bytes as the final response; any other 1xx (101, 102, 103...)
 * is an ERROR. HEAD answers, 204 and 304 have no body whatever their
 * Content-Length says. A body without Content-Length or chunked framing
 * runs until the peer closes (ph_resp_parse_eof ends it); a peer closing
 * before a declared length or the last chunk is an ERROR from
 * ph_resp_parse_eof, never a short END. The head (status line and
 * headers) is bounded by PH_RESP_MAX_HEAD bytes; trailers are read and
 * dropped. obs-fold in a header value becomes spaces (RFC 9112 5.2). One
 * response per parser: bytes after END are the caller's to refuse.
 * Loop thread (one parser per fetch). */
#ifndef PH_FETCH_PARSE_H
#define PH_FETCH_PARSE_H

#include "buf.h"

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PH_RESP_MAX_HEAD (64u * 1024u) /* status line + header fields of one response */
#define PH_RESP_MAX_INTERIM 32u        /* 100 Continue responses skipped at most */

typedef enum ph_resp_event {
    PH_RESP_MORE = 0, /* every byte given is used; feed more */
    PH_RESP_HEAD,     /* status and headers are ready */
    PH_RESP_BODY,     /* a piece of body in *piece, *piece_len */
    PH_RESP_END,      /* the response is complete */
    PH_RESP_ERROR,    /* see ph_resp_why(); feed no more */
} ph_resp_event;

typedef struct ph_resp_field {
    uint32_t name_off, value_off; /* NUL-terminated, in the arena */
} ph_resp_field;

/* One response being parsed. The fields are this module's. */
typedef struct ph_resp_parser {
    llhttp_t llhttp;
    bool head_request;     /* it answers a HEAD: no body */
    const char *data;      /* the bytes of the llhttp_execute running */
    /* the head */
    int status;
    ph_buf arena;          /* header names and values */
    ph_resp_field *fields;
    size_t nfields, fields_cap;
    const char **pairs;    /* name, value, ..., NULL (built on request) */
    size_t head_bytes;
    unsigned interim;      /* 100 Continue skipped so far */
    bool in_field, value_open;
    bool head_done;        /* the final response's headers are complete */
    bool skip_interim;     /* the message being parsed is a 100 */
    bool has_length;       /* Content-Length given (and no chunked) */
    uint64_t length;       /* ... its value */
    bool keep_alive;       /* at END */
    bool ended;
    /* events of the last llhttp_execute, not yet pulled */
    bool ev_head, ev_body, ev_end;
    size_t body_off, body_len; /* ev_body: the piece, relative to the bytes */
    size_t used;               /* bytes that execute consumed */
    const char *why;           /* ERROR */
    char why_buf[96];
} ph_resp_parser;

/* Start a parser for the response to a request; `head_request` when that
 * request was a HEAD. */
void ph_resp_init(ph_resp_parser *p, bool head_request);

/* Free its memory (the struct itself is the caller's). */
void ph_resp_free(ph_resp_parser *p);

/* Pull the next event from the `len` bytes at `data` (the caller's bytes
 * not yet drained). Stores in *used how many of them the caller may drain
 * now (0 when another event of the same bytes follows: call again with
 * the same bytes). BODY points *piece into `data`. After END or ERROR,
 * pull no more. */
ph_resp_event ph_resp_parse(ph_resp_parser *p, const char *data, size_t len, size_t *used, const char **piece,
                            size_t *piece_len);

/* The peer closed and every byte it sent was pulled: END when that ends
 * the response (a body that runs until close), else ERROR (it closed
 * before the response was complete). Call at most once. */
ph_resp_event ph_resp_parse_eof(ph_resp_parser *p);

/* After HEAD: the status, the headers as name, value, ..., NULL (owned by
 * the parser; NULL when out of memory), and their count. */
int ph_resp_status(const ph_resp_parser *p);
const char *const *ph_resp_headers(ph_resp_parser *p, size_t *n);

/* After HEAD: the declared Content-Length in *len, when there is one
 * (not for chunked, HEAD, 204 or 304). */
bool ph_resp_declared_length(const ph_resp_parser *p, uint64_t *len);

/* After END: whether the connection may carry another exchange (HTTP/1.1
 * without "Connection: close", or 1.0 with keep-alive). */
bool ph_resp_keep_alive(const ph_resp_parser *p);

/* Why the parse failed (ERROR), for an error text. */
const char *ph_resp_why(const ph_resp_parser *p);

#endif
