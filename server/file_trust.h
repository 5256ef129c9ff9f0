/* file_trust.h - may this plugin file be loaded? As sshd's StrictModes:
 * the file, and every directory on the way to it, must be owned by root
 * or by this process's user and not writable by group or others (a
 * root-owned directory with the sticky bit, such as /tmp, is fine: nobody
 * else can rename or remove what is in it). A symlink is followed and the
 * checks apply to what it resolves to. Any thread. */
#ifndef PH_FILE_TRUST_H
#define PH_FILE_TRUST_H

#include <stddef.h>
#include <sys/types.h>

/* Check regular file `path` (and its folders). `trusted` is the one
 * non-root owner allowed (the supervisor's user); `untrusted` (-1 for
 * none) is a user that may never own them (the `user` workers run as).
 * Returns 0, or -1 with the reason in err ("<path>: ..."). */
int ph_trust_check_file(const char *path, uid_t trusted, uid_t untrusted, char *err, size_t errlen);

/* The same for directory `path` and the folders above it. */
int ph_trust_check_dir(const char *path, uid_t trusted, uid_t untrusted, char *err, size_t errlen);

#endif
