/* status.h - the built-in status document (GET <status_path>): loop lag,
 * slow callbacks, connections, requests in flight, stuck sync handlers,
 * generation. JSON, for graphing. Loop thread only. */
#ifndef PH_STATUS_H
#define PH_STATUS_H

#include "request.h"

struct ph_server;

/* Fill `req`'s response with the status of `srv`. */
void ph_status_respond(const struct ph_server *srv, ph_request *req);

#endif
