/* buf.h - a growable byte buffer that keeps its capacity when reset, so a
 * recycled request allocates nothing in steady state. Not thread-safe. */
#ifndef PH_BUF_H
#define PH_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A buffer's first allocation, unless more is asked for; then it doubles.
 * Small: a request that waits (a 2 s sleep on 10,000 connections) keeps
 * its buffers the whole time, sized to what they hold. */
#define PH_BUF_MIN_CAP 64

/* A request's or a fetched response's body: its first allocation (unless
 * it is declared smaller), then ph_buf_reserve_capped doubles it. */
#define PH_BUF_BODY_FIRST (16u << 10)

typedef struct ph_buf {
    char *data;
    size_t len;
    size_t cap;
} ph_buf;

/* Grow `b` so `extra` more bytes fit: ph_buf_reserve's slow path, for
 * when they do not fit yet. Returns 0 or -1 (no memory; the buffer is
 * unchanged). */
int ph_buf_grow(ph_buf *b, size_t extra);

/* Make room for `extra` more bytes. Returns 0 or -1 (no memory; the
 * buffer is unchanged). Inline: nearly always the room is there. */
static inline int ph_buf_reserve(ph_buf *b, size_t extra)
{
    return extra <= b->cap - b->len ? 0 : ph_buf_grow(b, extra);
}

/* Make room for `extra` more bytes of a body that arrives in pieces and
 * can never exceed `most` bytes: the capacity doubles from `first` (or
 * the current one) but never past `most` (nor below what is needed), so a
 * declared length costs nothing before its bytes come, and each byte is
 * copied O(1) times. Returns 0 or -1 (no memory; the buffer is unchanged). */
int ph_buf_reserve_capped(ph_buf *b, size_t extra, size_t first, size_t most);

/* Append bytes. Returns 0 or -1 (no memory). Inline: the request parser
 * and the response builder call it a dozen times per request. */
static inline int ph_buf_append(ph_buf *b, const void *data, size_t len)
{
    if (len > PTRDIFF_MAX || (len > b->cap - b->len && ph_buf_grow(b, len) < 0))
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

/* Append a NUL-terminated string (without its NUL). Returns 0 or -1. */
int ph_buf_append_str(ph_buf *b, const char *s);

/* Forget the contents, keep the memory. */
static inline void ph_buf_reset(ph_buf *b) { b->len = 0; }

/* Free the memory when its capacity exceeds `keep` bytes (always when 0). */
void ph_buf_trim(ph_buf *b, size_t keep);

void ph_buf_free(ph_buf *b);

#endif
