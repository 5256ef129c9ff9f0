/* config_value.h - typed values of server.ini: sizes, durations, booleans,
 * bounded integers, listen addresses, method lists. Pure functions. */
#ifndef PH_CONFIG_VALUE_H
#define PH_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "1048576", "64k", "1m", "1g" (binary multiples). Returns 0 or -1. */
int ph_value_size(const char *text, size_t *out);

/* "500ms", "10s", "1.5s", "2" (bare = seconds) into milliseconds.
 * Returns 0 or -1 (negative, malformed, or above 30 days). */
int ph_value_duration_ms(const char *text, uint64_t *out);

/* true/false, yes/no, on/off, 1/0. Returns 0 or -1. */
int ph_value_bool(const char *text, bool *out);

/* Decimal integer within [min, max]. Returns 0 or -1. */
int ph_value_int(const char *text, long min, long max, long *out);

/* "host:port" or "[v6]:port" into a malloc'ed host (caller frees) and a
 * port 0..65535. Returns 0 or -1. */
int ph_value_listen(const char *text, char **host, uint16_t *port);

/* HTTP methods a route may accept, as a bitmask. */
enum {
    PH_METHOD_GET = 1u << 0,
    PH_METHOD_HEAD = 1u << 1,
    PH_METHOD_POST = 1u << 2,
    PH_METHOD_PUT = 1u << 3,
    PH_METHOD_DELETE = 1u << 4,
    PH_METHOD_PATCH = 1u << 5,
    PH_METHOD_OPTIONS = 1u << 6,
};
#define PH_METHOD_COUNT 7

/* Bit of the method named by the `len` bytes at `name` (exact, upper
 * case), or 0 when it is not one of the above. */
unsigned ph_method_bit(const char *name, size_t len);

/* Name of a single method bit ("GET"), or NULL. */
const char *ph_method_name(unsigned bit);

/* "GET, POST" or "GET POST" into a bitmask. Returns 0 or -1 naming the
 * first unknown method in `bad` (up to badlen bytes). */
int ph_value_methods(const char *text, unsigned *out, char *bad, size_t badlen);

#endif
