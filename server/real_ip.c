/* real_ip.c - X-Forwarded-For from trusted proxies only. */
#include "real_ip.h"

#include "request.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static ph_real_ip_set current;

/* Parse one address (optionally "/prefix") into `net`. Returns 0 or -1. */
static int parse_net(const char *text, ph_real_ip_net *net)
{
    char buf[64];
    if (strlen(text) >= sizeof buf)
        return -1;
    strcpy(buf, text);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash++ = '\0';
    memset(net, 0, sizeof *net);
    int max;
    if (inet_pton(AF_INET, buf, net->addr) == 1) {
        net->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, net->addr) == 1) {
        net->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    net->prefix = max;
    if (slash) {
        char *end;
        long p = strtol(slash, &end, 10);
        if (!*slash || *end || p < 0 || p > max)
            return -1;
        net->prefix = (int)p;
    }
    for (int bit = net->prefix; bit < max; bit++)
        net->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    return 0;
}

int ph_real_ip_parse(const char *list, ph_real_ip_set *set, char *err, size_t errlen)
{
    set->count = 0;
    if (!list)
        return 0;
    const char *p = list;
    while (*p) {
        size_t skip = strspn(p, ", \t");
        p += skip;
        size_t len = strcspn(p, ", \t");
        if (!len)
            break;
        char entry[80];
        snprintf(entry, sizeof entry, "%.*s", (int)(len < 79 ? len : 79), p);
        if (set->count == PH_REAL_IP_MAX) {
            snprintf(err, errlen, "more than %d networks", PH_REAL_IP_MAX);
            return -1;
        }
        if (len >= sizeof entry - 1 || parse_net(entry, &set->nets[set->count]) < 0) {
            snprintf(err, errlen, "'%s' is not an address or address/prefix", entry);
            return -1;
        }
        set->count++;
        p += len;
    }
    return 0;
}

static bool in_net(const ph_real_ip_net *net, int family, const uint8_t *addr)
{
    if (net->family != family)
        return false;
    int full = net->prefix / 8, rest = net->prefix % 8;
    if (memcmp(net->addr, addr, (size_t)full) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (addr[full] & mask) == net->addr[full];
}

bool ph_real_ip_trusted(const ph_real_ip_set *set, const char *ip)
{
    uint8_t addr[16];
    int family = AF_INET;
    if (inet_pton(AF_INET, ip, addr) != 1) {
        family = AF_INET6;
        if (inet_pton(AF_INET6, ip, addr) != 1)
            return false;
        /* an IPv4 peer on a dual-stack socket: ::ffff:a.b.c.d */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(addr, mapped, 12) == 0) {
            memmove(addr, addr + 12, 4);
            family = AF_INET;
        }
    }
    for (int i = 0; i < set->count; i++) {
        if (in_net(&set->nets[i], family, addr))
            return true;
    }
    return false;
}

bool ph_real_ip_proxies;

void ph_real_ip_configure(const char *list)
{
    char err[128];
    if (ph_real_ip_parse(list, &current, err, sizeof err) < 0)
        current.count = 0;
    ph_real_ip_proxies = current.count > 0;
}

/* Copy the entry [start, end) of the header, trimmed, into `out`.
 * Returns false when it is empty or too long. */
static bool take_entry(const char *start, const char *end, char *out, size_t size)
{
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t len = (size_t)(end - start);
    if (!len || len >= size)
        return false;
    memcpy(out, start, len);
    out[len] = '\0';
    return true;
}

void ph_real_ip_replace(ph_request *req)
{
    const char *peer = ph_request_client_addr(req);
    if (!peer[0] || !ph_real_ip_trusted(&current, peer))
        return;
    const char *xff = ph_request_header(req, "X-Forwarded-For");
    if (!xff)
        return;
    char chosen[INET6_ADDRSTRLEN] = "";
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        char entry[INET6_ADDRSTRLEN];
        uint8_t probe[16];
        if (!take_entry(start, end, entry, sizeof entry) ||
            (inet_pton(AF_INET, entry, probe) != 1 && inet_pton(AF_INET6, entry, probe) != 1))
            break; /* garbage: believe nothing further left */
        memcpy(chosen, entry, sizeof chosen);
        if (!ph_real_ip_trusted(&current, entry))
            break;
        end = start > xff ? start - 1 : xff;
    }
    if (chosen[0])
        ph_request_set_client_addr(req, chosen);
}
