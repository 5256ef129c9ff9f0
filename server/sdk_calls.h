/* sdk_calls.h - the SDK calls that act on a request's life: each asks
 * request_life whether the request's state allows it, then acts (timers,
 * fetch, offload, streams, complete, abort and drain callbacks). Installed
 * into the host API table at start. */
#ifndef PH_SDK_CALLS_H
#define PH_SDK_CALLS_H

/* Install the hooks into the host API table (host_api.h). Loop thread,
 * before serving. */
void ph_sdk_calls_install(void);

#endif
