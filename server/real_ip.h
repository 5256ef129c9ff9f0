/* real_ip.h - the client's address behind a reverse proxy: taken from
 * X-Forwarded-For only when the connection's peer is one of the
 * `trusted_proxies` (nginx's set_real_ip_from with real_ip_recursive on).
 * An address in the header is never believed from anyone else. */
#ifndef PH_REAL_IP_H
#define PH_REAL_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ph_request;

#define PH_REAL_IP_MAX 64

/* One trusted network. */
typedef struct ph_real_ip_net {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t addr[16];  /* network address, host bits cleared */
    int prefix;        /* bits */
} ph_real_ip_net;

typedef struct ph_real_ip_set {
    ph_real_ip_net nets[PH_REAL_IP_MAX];
    int count;
} ph_real_ip_set;

/* Parse "127.0.0.1, 10.0.0.0/8, ::1" (commas or spaces; a bare address
 * is a /32 or /128). Returns 0, or -1 with the offending entry named in
 * err. NULL or "" gives an empty set. Any thread. */
int ph_real_ip_parse(const char *list, ph_real_ip_set *set, char *err, size_t errlen);

/* True when the textual address `ip` is inside `set`. */
bool ph_real_ip_trusted(const ph_real_ip_set *set, const char *ip);

/* The worker's set from now on (the generation that goes live). Loop
 * thread. A list that does not parse (the config checked it) empties it. */
void ph_real_ip_configure(const char *list);

/* Whether the worker's set has a proxy (ph_real_ip_configure). */
extern bool ph_real_ip_proxies;

/* ph_real_ip_apply's work, for a worker with trusted proxies. */
void ph_real_ip_replace(struct ph_request *req);

/* When `req`'s peer is trusted and it carries X-Forwarded-For, replace
 * its client address (ph_request_set_client_addr) by the rightmost
 * address in that header that is not itself trusted (the leftmost when
 * all are). Called by dispatch before any handler sees the request; loop
 * thread. Inline: without trusted proxies (the usual worker) it is one
 * test. */
static inline void ph_real_ip_apply(struct ph_request *req)
{
    if (ph_real_ip_proxies)
        ph_real_ip_replace(req);
}

#endif
