/* file_copy.h - copying a whole file's bytes, for the plugin loader's
 * private copies, the supervisor's plugin store and its config snapshots.
 * Any thread. */
#ifndef PH_FILE_COPY_H
#define PH_FILE_COPY_H

#include <sys/types.h>

/* Append every byte of open file `src` (read with pread from its start:
 * its offset is neither used nor moved) to `dst`. Returns 0, or -1 with
 * errno set. */
int ph_file_copy_fd(int src, int dst);

/* Copy open file `src` into a new file `dst` (created exclusively with
 * `mode`); on failure nothing is left at `dst`. Returns 0, or -1 with
 * errno set. */
int ph_file_copy_new(int src, const char *dst, mode_t mode);

#endif
