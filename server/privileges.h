/* privileges.h - the optional `user` that every process running plugin
 * code (workers and the throwaway plugin check) switches to after the
 * supervisor has bound its sockets. */
#ifndef PH_PRIVILEGES_H
#define PH_PRIVILEGES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct ph_privileges {
    bool drop;   /* false: run as started */
    uid_t uid;
    gid_t gid;
    char name[64];
} ph_privileges;

/* Resolve `user` (NULL: no switch). Switching needs root; asking for it
 * otherwise is an error unless `user` is already this process's user.
 * Returns 0 or -1 with the reason in err. */
int ph_priv_resolve(const char *user, ph_privileges *out, char *err, size_t errlen);

/* Switch the calling process (after fork, before exec or plugin code):
 * supplementary groups to the user's primary group only, then gid, then
 * uid, then check that root cannot be regained. Async-signal-safe.
 * Returns 0 or -1. */
int ph_priv_drop(const ph_privileges *p);

#endif
