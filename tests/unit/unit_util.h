/* unit_util.h - small helpers shared by the unit tests: temporary folders
 * and files, and filling a ph_request the way http_conn.c's parser
 * callbacks do (URL, NUL, path, NUL, then header names and values, each
 * NUL-terminated, in the arena). Header-only, static functions. */
#ifndef PH_UNIT_UTIL_H
#define PH_UNIT_UTIL_H

#include "request.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A new folder under $TMPDIR (or /tmp); aborts on failure. Caller frees
 * the string and removes the folder with ut_rmtree. */
static inline char *ut_mkdtemp(const char *stem)
{
    const char *tmp = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", stem) < 0 || !mkdtemp(path)) {
        fprintf(stderr, "ut_mkdtemp: %s\n", strerror(errno));
        abort();
    }
    return path;
}

static inline int ut_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* rm -rf `path` (no symlinks followed). */
static inline void ut_rmtree(const char *path)
{
    if (path)
        nftw(path, ut_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write `len` bytes to `path` (created or truncated). Returns 0 or -1. */
static inline int ut_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && n == len) ? 0 : -1;
}

/* Read a whole file into a malloc'ed buffer (NUL-terminated). */
static inline char *ut_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *data = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *grown = realloc(data, cap);
            if (!grown) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = grown;
        }
        size_t got = fread(data + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    data[n] = '\0';
    if (len)
        *len = n;
    return data;
}

/* Copy file `src` to `dst` via a temporary name and rename(), so `dst`
 * gets a new inode. Returns 0 or -1. */
static inline int ut_copy_file(const char *src, const char *dst)
{
    size_t len;
    char *data = ut_read_file(src, &len);
    if (!data)
        return -1;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    int rc = ut_write_file(tmp, data, len);
    free(data);
    if (rc == 0)
        rc = rename(tmp, dst);
    return rc;
}

/* mkstemp a "<dir>/<stem>-XXXXXX" file holding `text`; returns its
 * malloc'ed path (aborts on failure). */
static inline char *ut_temp_file_in(const char *dir, const char *stem, const char *text)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s-XXXXXX", dir, stem) < 0)
        abort();
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len)
        abort();
    close(fd);
    return path;
}

/* Set the request's URL as the parser would (path copy after the URL). */
static inline void ut_request_set_url(ph_request *req, const char *url)
{
    size_t n = strlen(url);
    const char *q = memchr(url, '?', n);
    size_t path_len = q ? (size_t)(q - url) : n;
    ph_buf_reset(&req->arena);
    if (ph_buf_append(&req->arena, url, n) < 0 || ph_buf_append(&req->arena, "", 1) < 0 ||
        ph_buf_append(&req->arena, url, path_len) < 0 || ph_buf_append(&req->arena, "", 1) < 0)
        abort();
    req->url_len = (uint32_t)n;
    req->path_len = (uint32_t)path_len;
    req->path_off = (uint32_t)n + 1;
}

/* Append one request header as the parser would. URL first. */
static inline void ut_request_add_header(ph_request *req, const char *name, const char *value)
{
    if (req->nheaders == req->headers_cap) {
        uint32_t cap = req->headers_cap ? req->headers_cap * 2 : 4;
        ph_header *h = realloc(req->headers, cap * sizeof *h);
        if (!h)
            abort();
        req->headers = h;
        req->headers_cap = cap;
    }
    ph_header *h = &req->headers[req->nheaders++];
    h->name_off = (uint32_t)req->arena.len;
    h->name_len = (uint32_t)strlen(name);
    if (ph_buf_append(&req->arena, name, h->name_len + 1) < 0)
        abort();
    h->value_off = (uint32_t)req->arena.len;
    h->value_len = (uint32_t)strlen(value);
    if (ph_buf_append(&req->arena, value, h->value_len + 1) < 0)
        abort();
}

/* The response buffer as a NUL-terminated string (static storage per
 * call site is not needed: returns a malloc'ed copy the caller frees). */
static inline char *ut_buf_string(const ph_buf *b)
{
    char *s = malloc(b->len + 1);
    if (!s)
        abort();
    if (b->len)
        memcpy(s, b->data, b->len);
    s[b->len] = '\0';
    return s;
}

/* Lines of /proc/self/maps that contain `needle` (mappings of a file). */
static inline int ut_count_maps(const char *needle)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[4600];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, needle))
            n++;
    }
    fclose(f);
    return n;
}

#endif
