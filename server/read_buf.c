/* read_buf.c - the shared read buffer and the per-connection remainders. */
#include "read_buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char shared[PH_READ_BUF_SIZE];
static const ph_read_buf *borrower; /* the one holding `shared`, or NULL */

/* `b` lends the shared buffer, holding `len` bytes from its start. */
static inline void lend_shared(ph_read_buf *b, size_t len)
{
    b->data = shared;
    b->len = len;
    b->pos = 0;
    borrower = b;
}

/* ph_read_buf_fill for a `b` that holds bytes of its own (unparsed, or
 * all parsed and not freed yet): the unparsed ones go first. Out of line:
 * the usual fill finds `b` empty, and then keeps fewer registers across
 * its read. */
static __attribute__((noinline)) ssize_t fill_after_own(ph_read_buf *b, int fd)
{
    size_t left = ph_read_buf_unparsed(b);
    if (left) {
        if (left >= sizeof shared) {
            errno = ENOBUFS;
            return -1;
        }
        memcpy(shared, b->data + b->pos, left);
    }
    ssize_t n = read(fd, shared + left, sizeof shared - left);
    if (n <= 0)
        return n; /* (`b` keeps its own bytes; the copy is forgotten) */
    free(b->data);
    lend_shared(b, left + (size_t)n);
    return n;
}

ssize_t ph_read_buf_fill(ph_read_buf *b, int fd)
{
    if (borrower) {
        errno = EBUSY;
        return -1;
    }
    if (b->data)
        return fill_after_own(b, fd);
    ssize_t n = read(fd, shared, sizeof shared); /* (no data: no bytes, len and pos 0) */
    if (n > 0)
        lend_shared(b, (size_t)n);
    return n;
}

/* `b`, just given the shared buffer back, keeps `left` unparsed bytes
 * from shared + `from` in memory of their own. Returns 0, or -1 (no
 * memory: `b` stays empty). Out of line: the usual settle keeps none. */
static __attribute__((noinline)) int keep_unparsed(ph_read_buf *b, size_t from, size_t left)
{
    char *own = malloc(left);
    if (!own)
        return -1;
    memcpy(own, shared + from, left);
    b->data = own;
    b->len = left;
    return 0;
}

int ph_read_buf_settle(ph_read_buf *b)
{
    size_t left = ph_read_buf_unparsed(b);
    if (b->data != shared) {
        if (b->data && !left)
            ph_read_buf_clear(b);
        return 0;
    }
    size_t from = b->pos;
    borrower = NULL;
    b->data = NULL;
    b->len = b->pos = 0;
    return left ? keep_unparsed(b, from, left) : 0; /* (the usual case: every byte parsed) */
}

void ph_read_buf_clear(ph_read_buf *b)
{
    if (b->data == shared)
        borrower = NULL;
    else
        free(b->data);
    b->data = NULL;
    b->len = b->pos = 0;
}

ssize_t ph_read_buf_discard(int fd)
{
    if (borrower) {
        errno = EBUSY;
        return -1;
    }
    return read(fd, shared, sizeof shared);
}
