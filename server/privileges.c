/* privileges.c - resolving and switching to the configured `user`. */
#include "privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int ph_priv_resolve(const char *user, ph_privileges *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!user)
        return 0;
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        snprintf(err, errlen, "user = %s: %s", user, errno ? strerror(errno) : "no such user");
        return -1;
    }
    if (pw->pw_uid == geteuid() && pw->pw_gid == getegid())
        return 0; /* already that user */
    if (geteuid() != 0) {
        snprintf(err, errlen, "user = %s: switching users needs root (running as uid %u)", user,
                 (unsigned)geteuid());
        return -1;
    }
    out->drop = true;
    out->uid = pw->pw_uid;
    out->gid = pw->pw_gid;
    snprintf(out->name, sizeof out->name, "%s", user);
    return 0;
}

int ph_priv_drop(const ph_privileges *p)
{
    if (!p->drop)
        return 0;
    if (setgroups(1, &p->gid) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0)
        return -1;
    if (p->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        return -1; /* root could be regained: refuse to go on */
    return 0;
}
