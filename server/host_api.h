/* host_api.h - the ph_host_api table the host hands to plugins. */
#ifndef PH_HOST_API_H
#define PH_HOST_API_H

#include "plughost.h"

#include <pthread.h>

/* The table (static, lives for the process). Any thread. */
const ph_host_api *ph_host_api_table(void);

/* Name the loop thread, so loop-only calls made elsewhere are refused.
 * Call once from the loop thread before serving. */
void ph_host_api_set_loop_thread(pthread_t loop);

/* True on the loop thread. */
int ph_host_api_on_loop_thread(void);

#endif
