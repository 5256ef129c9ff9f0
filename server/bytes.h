/* bytes.h - short byte spans copied and compared a word at a time, inline
 * and without a libc call: the header names and values, targets and
 * bodies of one request, whose lengths are known. Any thread. */
#ifndef PH_BYTES_H
#define PH_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Copy `n` bytes from `src` to `dst` (not overlapping; both valid for
 * `n` bytes, which may be 0). Inline: the short spans of a request and a
 * response (a header name or value, "Hello, World!", a head's plugin
 * lines) take a few moves instead of a memcpy call: two overlapping
 * moves of 16, 8 or 4 bytes, or three single bytes; beyond 32 bytes,
 * memcpy. */
static inline void ph_copy_bytes(void *dst, const void *src, size_t n)
{
    char *d = dst;
    const char *s = src;
    if (n - 8 <= 8) {
        uint64_t head, tail;
        memcpy(&head, s, 8);
        memcpy(&tail, s + n - 8, 8);
        memcpy(d, &head, 8);
        memcpy(d + n - 8, &tail, 8);
    } else if (n - 17 <= 15) {
        struct { char b[16]; } head, tail;
        memcpy(&head, s, 16);
        memcpy(&tail, s + n - 16, 16);
        memcpy(d, &head, 16);
        memcpy(d + n - 16, &tail, 16);
    } else if (n > 32) {
        memcpy(d, s, n);
    } else if (n >= 4) {
        uint32_t head, tail;
        memcpy(&head, s, 4);
        memcpy(&tail, s + n - 4, 4);
        memcpy(d, &head, 4);
        memcpy(d + n - 4, &tail, 4);
    } else if (n) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

/* The 8 bytes at `p` as one word (any alignment). */
static inline uint64_t ph_load_word(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* Whether the 8 bytes at `name` are the 8 at `lower` (lower-case letters
 * and '-'), letters in any case. The OR sets the case bit (0x20) of the
 * letters only (taken from bit 0x40 of `lower`'s bytes, which only its
 * letters have), so '-' must match exactly and a letter matches only
 * itself or its upper case. */
static inline bool ph_word_is(const char *name, const char *lower)
{
    uint64_t w = ph_load_word(name), want = ph_load_word(lower);
    return (w | ((want >> 1) & 0x2020202020202020u)) == want;
}

/* ph_word_is for 4 bytes. */
static inline bool ph_word4_is(const char *name, const char *lower)
{
    uint32_t w, want;
    memcpy(&w, name, 4);
    memcpy(&want, lower, 4);
    return (w | ((want >> 1) & 0x20202020u)) == want;
}

/* Whether the `len` bytes at `name` (4 or more) are `lower`, a field name
 * of the same length in lower case, letters in any case: word compares,
 * the last one overlapping. */
static inline bool ph_name_is(const char *name, size_t len, const char *lower)
{
    if (len < 8)
        return ph_word4_is(name, lower) && ph_word4_is(name + len - 4, lower + len - 4);
    for (size_t i = 0; i + 8 < len; i += 8) {
        if (!ph_word_is(name + i, lower + i))
            return false;
    }
    return ph_word_is(name + len - 8, lower + len - 8);
}

#endif
