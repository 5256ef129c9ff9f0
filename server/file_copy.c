/* file_copy.c - whole-file copies with pread and complete writes. */
#include "file_copy.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int ph_file_copy_fd(int src, int dst)
{
    char buf[65536];
    off_t at = 0;
    for (;;) {
        ssize_t n = pread(src, buf, sizeof buf, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -1 : 0;
        at += n;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(dst, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                if (w == 0)
                    errno = EIO;
                return -1;
            }
            off += w;
        }
    }
}

int ph_file_copy_new(int src, const char *dst, mode_t mode)
{
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0)
        return -1;
    if (ph_file_copy_fd(src, out) == 0 && close(out) == 0)
        return 0;
    int saved = errno;
    close(out); /* EBADF after a failed close: harmless */
    unlink(dst);
    errno = saved;
    return -1;
}
