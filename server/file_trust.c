/* file_trust.c - ownership and mode checks on plugin files and folders. */
#include "file_trust.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Owner and mode of one resolved path. Returns 0 or -1 with err set. */
static int check_one(const char *shown, const char *real, const struct stat *st, bool is_dir, uid_t trusted,
                     uid_t untrusted, char *err, size_t errlen)
{
    const char *what = is_dir ? "folder" : "file";
    const char *via = strcmp(shown, real) == 0 ? "" : " (resolved)";
    if (st->st_uid != 0 && st->st_uid != trusted) {
        snprintf(err, errlen, "%s: refused: %s %s%s is owned by uid %u, not by root or uid %u", shown, what, real, via,
                 (unsigned)st->st_uid, (unsigned)trusted);
        return -1;
    }
    if (untrusted != (uid_t)-1 && st->st_uid == untrusted && untrusted != 0) {
        snprintf(err, errlen, "%s: refused: %s %s%s is owned by uid %u, the user the workers run as", shown, what,
                 real, via, (unsigned)untrusted);
        return -1;
    }
    bool others_write = (st->st_mode & (S_IWGRP | S_IWOTH)) != 0;
    bool sticky_root = is_dir && (st->st_mode & S_ISVTX) && st->st_uid == 0;
    if (others_write && !sticky_root) {
        snprintf(err, errlen, "%s: refused: %s %s%s is writable by %s (mode %04o); chmod go-w it", shown, what, real,
                 via, (st->st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st->st_mode & 07777));
        return -1;
    }
    return 0;
}

/* Check every folder above `real` (an absolute resolved path). */
static int check_parents(const char *shown, const char *real, uid_t trusted, uid_t untrusted, char *err,
                         size_t errlen)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", real);
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (!slash)
            return 0;
        if (slash == dir)
            slash[1] = '\0'; /* "/" itself */
        else
            *slash = '\0';
        struct stat st;
        if (stat(dir, &st) < 0) {
            snprintf(err, errlen, "%s: %s: %s", shown, dir, strerror(errno));
            return -1;
        }
        if (check_one(shown, dir, &st, true, trusted, untrusted, err, errlen) < 0)
            return -1;
        if (strcmp(dir, "/") == 0)
            return 0;
    }
}

static int check_path(const char *path, bool want_dir, uid_t trusted, uid_t untrusted, char *err, size_t errlen)
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(path, real) || stat(real, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a %s", path, want_dir ? "folder" : "regular file");
        return -1;
    }
    if (check_one(path, real, &st, want_dir, trusted, untrusted, err, errlen) < 0)
        return -1;
    return check_parents(path, real, trusted, untrusted, err, errlen);
}

int ph_trust_check_file(const char *path, uid_t trusted, uid_t untrusted, char *err, size_t errlen)
{
    return check_path(path, false, trusted, untrusted, err, errlen);
}

int ph_trust_check_dir(const char *path, uid_t trusted, uid_t untrusted, char *err, size_t errlen)
{
    return check_path(path, true, trusted, untrusted, err, errlen);
}
