/* fetch_request.c - write an outbound request (see fetch_request.h). */
#include "fetch_request.h"

#include <event2/buffer.h>
#include <event2/util.h>

#include <string.h>

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool header_name_ok(const char *name)
{
    if (!name[0])
        return false;
    for (const char *p = name; *p; p++) {
        if (!is_tchar((unsigned char)*p))
            return false;
    }
    return true;
}

static bool header_value_ok(const char *value)
{
    for (const char *p = value; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return false;
    }
    return true;
}

/* Headers the host writes itself: the plugin's copy is dropped. */
static bool header_managed(const char *name)
{
    return evutil_ascii_strcasecmp(name, "Content-Length") == 0 ||
           evutil_ascii_strcasecmp(name, "Transfer-Encoding") == 0 || evutil_ascii_strcasecmp(name, "Expect") == 0;
}

int ph_fetch_request_write(struct evbuffer *out, const ph_fetch_request *freq, const ph_fetch_url *u, bool *head,
                           const char **why)
{
    const char *method = freq->method ? freq->method : "GET";
    size_t m = 0;
    while (m < sizeof methods / sizeof *methods && strcmp(method, methods[m]) != 0)
        m++;
    if (m == sizeof methods / sizeof *methods) {
        *why = "unsupported method (GET HEAD POST PUT DELETE PATCH OPTIONS)";
        return -1;
    }
    if (freq->body_len > 0 && !freq->body) {
        *why = "body_len without a body";
        return -1;
    }
    *head = strcmp(method, "HEAD") == 0;
    *why = "no memory";
    if (evbuffer_add_printf(out, "%s %s HTTP/1.1\r\n", method, u->target) < 0)
        return -1;
    bool has_host = false;
    for (size_t i = 0; freq->headers && freq->headers[i]; i += 2) {
        const char *name = freq->headers[i], *value = freq->headers[i + 1];
        if (!value) {
            *why = "header list has a name without a value";
            return -1;
        }
        if (!header_name_ok(name) || !header_value_ok(value)) {
            *why = "invalid header name or value";
            return -1;
        }
        if (header_managed(name))
            continue;
        has_host |= evutil_ascii_strcasecmp(name, "Host") == 0;
        if (evbuffer_add_printf(out, "%s: %s\r\n", name, value) < 0) {
            *why = "no memory";
            return -1;
        }
    }
    *why = "no memory";
    if (!has_host && evbuffer_add_printf(out, "Host: %s\r\n", u->host_header) < 0)
        return -1;
    bool body_method = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
    if ((freq->body_len > 0 || body_method) && evbuffer_add_printf(out, "Content-Length: %zu\r\n", freq->body_len) < 0)
        return -1;
    if (evbuffer_add(out, "\r\n", 2) < 0)
        return -1;
    if (freq->body_len > 0 && evbuffer_add(out, freq->body, freq->body_len) < 0) {
        *why = "no memory for the body";
        return -1;
    }
    return 0;
}
