/* fetch_request.h - the bytes of an outbound HTTP/1.1 request: the
 * plugin's method, headers and body checked and written out with the
 * host's own Host and Content-Length. Pure, any thread. */
#ifndef PH_FETCH_REQUEST_H
#define PH_FETCH_REQUEST_H

#include "fetch_url.h"
#include "plughost.h"

#include <stdbool.h>

struct evbuffer;

/* Write the request `freq` for `u` into `out`: the request line
 * ("METHOD target HTTP/1.1"), the plugin's headers (each name a token,
 * each value without CR, LF, NUL or other control bytes but tab;
 * Content-Length, Transfer-Encoding and Expect dropped: the host frames
 * the body), Host (unless the plugin gave one), Content-Length for a body
 * or a POST, PUT or PATCH, and the body. The method is one of GET HEAD
 * POST PUT DELETE PATCH OPTIONS (NULL = GET). Stores in *head whether it
 * is a HEAD. Returns 0, or -1 with a static reason in *why (`out` may hold
 * part of it then). */
int ph_fetch_request_write(struct evbuffer *out, const ph_fetch_request *freq, const ph_fetch_url *u, bool *head,
                           const char **why);

#endif
