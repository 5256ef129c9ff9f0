/* buf.c - growable byte buffer. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

/* Doubling from PH_BUF_MIN_CAP (or the current capacity) up to what is
 * needed; 0 at once when the bytes fit already. */
int ph_buf_grow(ph_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > ((size_t)-1) / 2 - b->len)
        return -1;
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : PH_BUF_MIN_CAP;
    while (cap < want)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

int ph_buf_reserve_capped(ph_buf *b, size_t extra, size_t first, size_t most)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > ((size_t)-1) / 2 - b->len)
        return -1;
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap * 2 : first;
    if (cap > most)
        cap = most;
    if (cap < want)
        cap = want;
    char *data = realloc(b->data, cap);
    if (!data)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
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
