/* read_buf.h - a connection's read buffer, shared while it is in use.
 *
 * Every connection reads into one per-process buffer of PH_READ_BUF_SIZE
 * bytes and parses the bytes there; only what it could not parse yet (a
 * pipelined request waiting behind another) is copied out, into heap
 * memory of its size that the connection keeps until it is parsed. An
 * idle connection, or a busy one with nothing unparsed, holds no read
 * memory at all.
 *
 * The shared buffer is borrowed by one ph_read_buf at a time, from
 * ph_read_buf_fill to ph_read_buf_settle (or ph_read_buf_clear); another
 * fill meanwhile fails with EBUSY, so one connection's bytes can never be
 * read by another. Loop thread only. */
#ifndef PH_READ_BUF_H
#define PH_READ_BUF_H

#include <stddef.h>
#include <sys/types.h>

#define PH_READ_BUF_SIZE (16u << 10) /* the most unparsed bytes a connection holds */

typedef struct ph_read_buf {
    char *data; /* NULL, the kept bytes (own), or the shared buffer while borrowed */
    size_t len; /* bytes at data */
    size_t pos; /* of them, parsed */
} ph_read_buf;

/* Bytes not parsed yet. */
static inline size_t ph_read_buf_unparsed(const ph_read_buf *b) { return b->len - b->pos; }

/* The bytes not parsed yet begin here (valid while unparsed > 0). */
static inline const char *ph_read_buf_next(const ph_read_buf *b) { return b->data + b->pos; }

/* read(2) from `fd` into the shared buffer, after a copy of `b`'s
 * unparsed bytes. Returns the bytes read (> 0: `b` now borrows the shared
 * buffer and holds the unparsed bytes and the new ones, from pos 0), or
 * 0 (EOF) or -1 (errno set; EBUSY when the shared buffer is borrowed,
 * ENOBUFS when `b` already holds PH_READ_BUF_SIZE unparsed bytes): then
 * `b` is unchanged. */
ssize_t ph_read_buf_fill(ph_read_buf *b, int fd);

/* Parsing paused: when `b` borrows the shared buffer, copy its unparsed
 * bytes into memory of their size and give the shared buffer back; when
 * it owns its bytes and all are parsed, free them. Returns 0, or -1 (no
 * memory: the unparsed bytes are dropped and the buffer given back). */
int ph_read_buf_settle(ph_read_buf *b);

/* Forget every byte: free what `b` owns, give back what it borrows. */
void ph_read_buf_clear(ph_read_buf *b);

/* read(2) from `fd` and throw the bytes away (a lingering close), through
 * the shared buffer. Returns what read(2) returned (-1 with EBUSY while
 * the shared buffer is borrowed). */
ssize_t ph_read_buf_discard(int fd);

#endif
