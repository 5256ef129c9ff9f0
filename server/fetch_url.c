/* fetch_url.c - parse the URL of an outbound fetch (see fetch_url.h). */
#include "fetch_url.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void ph_fetch_url_free(ph_fetch_url *u)
{
    free(u->host);
    free(u->host_header);
    free(u->target);
    memset(u, 0, sizeof *u);
}

static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* A reg-name (RFC 3986 3.2.2) as DNS names use it: letters, digits and
 * "-._~", plus %-escapes. */
static bool reg_name_ok(const char *h, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = h[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c))
            continue;
        if (c == '%' && i + 2 < len && is_hex(h[i + 1]) && is_hex(h[i + 2])) {
            i += 2;
            continue;
        }
        return false;
    }
    return true;
}

/* The inside of "[...]": hex digits, ':' and '.' (an embedded IPv4). */
static bool ipv6_ok(const char *h, size_t len)
{
    if (len < 2)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_hex(h[i]) && h[i] != ':' && h[i] != '.')
            return false;
    }
    return memchr(h, ':', len) != NULL;
}

/* 1..65535 from the `len` digits at `p`; 0 when invalid. */
static unsigned parse_port(const char *p, size_t len)
{
    unsigned long v = 0;
    if (len == 0 || len > 5)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    return v >= 1 && v <= 65535 ? (unsigned)v : 0;
}

int ph_fetch_url_parse(const char *url, ph_fetch_url *out, const char **why)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(url);
    if (len == 0 || len > PH_FETCH_MAX_URL) {
        *why = "URL is empty or longer than 8192 bytes";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)url[i];
        if (ch <= 0x20 || ch >= 0x7f) {
            *why = "URL has a space, control or non-ASCII byte (percent-encode it)";
            return -1;
        }
    }
    const char *colon = strchr(url, ':');
    if (!colon || strcspn(url, "/?#") < (size_t)(colon - url)) {
        *why = "not a valid URL (http://host[:port]/path)";
        return -1;
    }
    if ((size_t)(colon - url) != 4 || strncasecmp(url, "http", 4) != 0) {
        *why = "only http:// URLs are supported";
        return -1;
    }
    if (strncmp(colon, "://", 3) != 0) {
        *why = "not a valid URL (http://host[:port]/path)";
        return -1;
    }
    const char *auth = colon + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *rest = auth + alen;
    if (memchr(auth, '@', alen)) {
        *why = "user info in the URL is not supported";
        return -1;
    }
    /* host and port */
    const char *host = auth, *port_text = NULL;
    size_t hlen = alen, plen = 0;
    if (alen && auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (!close || !ipv6_ok(auth + 1, (size_t)(close - auth - 1))) {
            *why = "URL has a malformed [IPv6] host";
            return -1;
        }
        hlen = (size_t)(close - auth) + 1;
        if (hlen < alen) {
            if (auth[hlen] != ':') {
                *why = "URL has a malformed [IPv6] host";
                return -1;
            }
            port_text = auth + hlen + 1;
            plen = alen - hlen - 1;
        }
    } else {
        const char *pc = memchr(auth, ':', alen);
        if (pc) {
            hlen = (size_t)(pc - auth);
            port_text = pc + 1;
            plen = alen - hlen - 1;
        }
        if (hlen == 0) {
            *why = "URL has no host";
            return -1;
        }
        if (!reg_name_ok(host, hlen)) {
            *why = "URL host has a character a host name cannot hold";
            return -1;
        }
    }
    unsigned port = 80;
    if (port_text && (port = parse_port(port_text, plen)) == 0) {
        *why = "URL has an invalid port";
        return -1;
    }
    /* path and query, without the fragment */
    if (*rest && *rest != '/' && *rest != '?' && *rest != '#') {
        *why = "URL path must start with '/'";
        return -1;
    }
    size_t tlen = strcspn(rest, "#");
    bool bracketed = host[0] == '[';
    out->port = port;
    out->host = bracketed ? strndup(host + 1, hlen - 2) : strndup(host, hlen);
    out->host_header = port != 80 ? NULL : strndup(host, hlen);
    if (port != 80 && asprintf(&out->host_header, "%.*s:%u", (int)hlen, host, port) < 0)
        out->host_header = NULL;
    if (tlen == 0 || rest[0] == '?') {
        if (asprintf(&out->target, "/%.*s", (int)tlen, rest) < 0)
            out->target = NULL;
    } else {
        out->target = strndup(rest, tlen);
    }
    if (!out->host || !out->host_header || !out->target) {
        ph_fetch_url_free(out);
        *why = "no memory";
        return -1;
    }
    return 0;
}
