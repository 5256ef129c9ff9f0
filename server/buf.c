/* buf.c - growable byte buffer. */
#include "buf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* `b` reallocated to `cap` bytes (at least its length). Returns 0 or -1
 * (no memory; the buffer is unchanged). */
static int set_capacity(ph_buf *b, size_t cap)
{
    char *data = realloc(b->data, cap);
    if (!data)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

/* Whether `extra` more bytes would take the buffer past half the address
 * space (a doubling must not overflow). */
static bool too_big(const ph_buf *b, size_t extra) { return extra > SIZE_MAX / 2 - b->len; }

/* Doubling from PH_BUF_MIN_CAP (or the current capacity) up to what is
 * needed, so capacities stay powers of two; 0 at once when the bytes fit
 * already. */
int ph_buf_grow(ph_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (too_big(b, extra))
        return -1;
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : PH_BUF_MIN_CAP;
    while (cap < want)
        cap *= 2;
    return set_capacity(b, cap);
}

int ph_buf_reserve_capped(ph_buf *b, size_t extra, size_t first, size_t most)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (too_big(b, extra))
        return -1;
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap * 2 : first;
    if (cap > most)
        cap = most;
    if (cap < want)
        cap = want;
    return set_capacity(b, cap);
}

int ph_buf_append_str(ph_buf *b, const char *s) { return ph_buf_append(b, s, strlen(s)); }

void ph_buf_trim(ph_buf *b, size_t keep)
{
    if (b->cap <= keep)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void ph_buf_free(ph_buf *b) { ph_buf_trim(b, 0); }
