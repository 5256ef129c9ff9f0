/* http_response.h - serialising a response head without printf: status
 * line, cached Date, Content-Length, Connection, plugin headers. Loop
 * thread only (the Date cache). */
#ifndef PH_HTTP_RESPONSE_H
#define PH_HTTP_RESPONSE_H

#include "config_value.h"
#include "request.h"

#include <stdbool.h>
#include <stddef.h>

/* Reason phrase for `status` ("Not Found"), "Unknown" for others. */
const char *ph_http_reason(int status);

/* True when a response with this status has no body (1xx, 204, 304).
 * Inline: the writer asks per response. */
static inline bool ph_http_status_has_no_body(int status) { return status < 200 || status == 204 || status == 304; }

/* Build req->resp_head for the response in req (status, resp_headers,
 * resp_body) and set req->no_body. `keep_alive` says whether the
 * connection stays open after it. Returns 0 or -1 (no memory). */
int ph_http_build_head(ph_request *req, bool keep_alive);

/* Bytes of the body to send: 0 for HEAD and bodiless statuses (decided
 * when the head is built: call after ph_http_build_head). Inline: the
 * writer asks twice per response. */
static inline size_t ph_http_body_to_send(const ph_request *req) { return req->no_body ? 0 : req->resp_body.len; }

/* The "Date: ...\r\n" line for the current second (cached). With
 * ph_http_date_setup's timer it is the line of the second the loop last
 * saw turn, as nginx's cached time: no clock read per response; a loop
 * blocked across a second's turn carries the older line until it runs
 * again. Without it, each call reads the clock. Loop thread. */
const char *ph_http_date_line(size_t *len);

struct event_base;

/* Keep the Date line with a timer on `base` that fires at each new second
 * of the wall clock. Returns 0, or -1 (no memory). Loop thread, once. */
int ph_http_date_setup(struct event_base *base);

/* Free the timer (at exit); the Date line reads the clock again. */
void ph_http_date_shutdown(void);

#endif
