/* fetch_url.h - the URL of an outbound fetch: http://host[:port][/path][?query].
 * Pure functions, any thread. */
#ifndef PH_FETCH_URL_H
#define PH_FETCH_URL_H

#define PH_FETCH_MAX_URL 8192u

/* The parts of a URL the outbound client needs (all malloc'ed). */
typedef struct ph_fetch_url {
    char *host;        /* to connect to: a name or an address, IPv6 without brackets */
    unsigned port;     /* 80 when the URL has none */
    char *host_header; /* the Host value: host as written (brackets kept), ":port" unless 80 */
    char *target;      /* request-target: /path[?query], "/" when the path is empty */
} ph_fetch_url;

/* Parse `url`: scheme http (any case), no user info, a host (a name of
 * letters, digits, '-', '.', '_', '~' and %-escapes, or [IPv6]), an
 * optional port 1..65535, a path starting with '/', an optional query; a
 * fragment is dropped (never sent). At most PH_FETCH_MAX_URL bytes, no
 * space, control or non-ASCII byte anywhere. Returns 0 and fills *out
 * (free with ph_fetch_url_free), or -1 with a static reason in *why. */
int ph_fetch_url_parse(const char *url, ph_fetch_url *out, const char **why);

/* Free what ph_fetch_url_parse filled (a zeroed struct is fine). */
void ph_fetch_url_free(ph_fetch_url *u);

#endif
