/* config_value.c - typed values of server.ini. */
#include "config_value.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int ph_value_size(const char *text, size_t *out)
{
    if (!isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno)
        return -1;
    unsigned long long mult = 1;
    if (*end) {
        switch (tolower((unsigned char)*end)) {
        case 'k': mult = 1ull << 10; break;
        case 'm': mult = 1ull << 20; break;
        case 'g': mult = 1ull << 30; break;
        default: return -1;
        }
        end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (*end)
            return -1;
    }
    if (v > (unsigned long long)SIZE_MAX / mult)
        return -1;
    *out = (size_t)(v * mult);
    return 0;
}

int ph_value_duration_ms(const char *text, uint64_t *out)
{
    if (!isdigit((unsigned char)text[0]) && text[0] != '.')
        return -1;
    errno = 0;
    char *end;
    double v = strtod(text, &end);
    if (errno || end == text || !isfinite(v) || v < 0)
        return -1;
    double ms;
    if (*end == '\0' || strcmp(end, "s") == 0)
        ms = v * 1000.0;
    else if (strcmp(end, "ms") == 0)
        ms = v;
    else
        return -1;
    if (ms > 30.0 * 86400.0 * 1000.0)
        return -1;
    *out = (uint64_t)llround(ms);
    return 0;
}

int ph_value_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

int ph_value_int(const char *text, long min, long max, long *out)
{
    if (!isdigit((unsigned char)text[0]) && text[0] != '-')
        return -1;
    errno = 0;
    char *end;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int ph_value_listen(const char *text, char **host, uint16_t *port)
{
    const char *colon;
    const char *hbeg = text;
    size_t hlen;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return -1;
        hbeg = text + 1;
        hlen = (size_t)(close - hbeg);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon || strchr(text, ':') != colon)
            return -1;
        hlen = (size_t)(colon - text);
    }
    long p;
    if (hlen == 0 || ph_value_int(colon + 1, 0, 65535, &p) < 0)
        return -1;
    char *h = strndup(hbeg, hlen);
    if (!h)
        return -1;
    *host = h;
    *port = (uint16_t)p;
    return 0;
}

static const char *const method_names[PH_METHOD_COUNT] = {"GET",    "HEAD",  "POST",   "PUT",
                                                          "DELETE", "PATCH", "OPTIONS"};

unsigned ph_method_bit(const char *name, size_t len)
{
    for (unsigned i = 0; i < PH_METHOD_COUNT; i++) {
        if (strlen(method_names[i]) == len && memcmp(method_names[i], name, len) == 0)
            return 1u << i;
    }
    return 0;
}

const char *ph_method_name(unsigned bit)
{
    for (unsigned i = 0; i < PH_METHOD_COUNT; i++) {
        if (bit == 1u << i)
            return method_names[i];
    }
    return NULL;
}

int ph_value_methods(const char *text, unsigned *out, char *bad, size_t badlen)
{
    unsigned mask = 0;
    const char *p = text;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        const char *start = p;
        while (*p && *p != ',' && !isspace((unsigned char)*p))
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0)
            break;
        unsigned bit = ph_method_bit(start, len);
        if (!bit) {
            snprintf(bad, badlen, "%.*s", (int)len, start);
            return -1;
        }
        mask |= bit;
    }
    if (!mask) {
        snprintf(bad, badlen, "(empty)");
        return -1;
    }
    *out = mask;
    return 0;
}
