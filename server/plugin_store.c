/* plugin_store.c - snapshots of checked plugin files. */
#include "plugin_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ph_plugin_store {
    char dir[PATH_MAX];
    ph_plugin_version *versions;
    unsigned long seq;
};

ph_plugin_store *ph_store_create(char *err, size_t errlen)
{
    ph_plugin_store *store = calloc(1, sizeof *store);
    const char *tmp = getenv("TMPDIR");
    if (!store) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(store->dir, sizeof store->dir, "%s/plughost-store-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(store->dir) || chmod(store->dir, 0755) < 0) {
        snprintf(err, errlen, "cannot create the plugin store in %s: %s", tmp && tmp[0] ? tmp : "/tmp",
                 strerror(errno));
        free(store);
        return NULL;
    }
    return store;
}

static void free_version(ph_plugin_version *v)
{
    unlink(v->snapshot);
    free(v->path);
    free(v->snapshot);
    free(v);
}

void ph_store_destroy(ph_plugin_store *store)
{
    if (!store)
        return;
    while (store->versions) {
        ph_plugin_version *v = store->versions;
        store->versions = v->next;
        free_version(v);
    }
    rmdir(store->dir);
    free(store);
}

/* Copy open file `in` to new file `out_path` (0444). Returns 0 or -1
 * with errno set. */
static int copy_to(int in, const char *out_path)
{
    int out = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (out < 0)
        return -1;
    char buf[65536];
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(in, buf, sizeof buf, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = errno;
            if (close(out) < 0 || n < 0) {
                unlink(out_path);
                errno = n < 0 ? saved : errno;
                return -1;
            }
            return 0;
        }
        if (write(out, buf, (size_t)n) != n) {
            int saved = errno;
            close(out);
            unlink(out_path);
            errno = saved ? saved : EIO;
            return -1;
        }
        off += n;
    }
}

static bool same_id(const struct stat *a, const ph_file_id *b)
{
    return a->st_dev == b->dev && a->st_ino == b->ino && a->st_size == b->size &&
           a->st_mtim.tv_sec == b->mtime.tv_sec && a->st_mtim.tv_nsec == b->mtime.tv_nsec;
}

ph_plugin_version *ph_store_take(ph_plugin_store *store, const char *path, char *err, size_t errlen)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    struct stat before, after;
    if (in < 0 || fstat(in, &before) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (in >= 0)
            close(in);
        return NULL;
    }
    for (ph_plugin_version *v = store->versions; v; v = v->next) {
        if (strcmp(v->path, path) == 0 && same_id(&before, &v->id)) {
            close(in);
            return v;
        }
    }
    ph_plugin_version *v = calloc(1, sizeof *v);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!v || !(v->path = strdup(path)) || asprintf(&v->snapshot, "%s/%lu-%s", store->dir, ++store->seq, base) < 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        if (v)
            free(v->path);
        free(v);
        close(in);
        return NULL;
    }
    int rc = copy_to(in, v->snapshot);
    int saved = errno;
    bool changed = rc == 0 && (fstat(in, &after) < 0 || after.st_size != before.st_size ||
                               after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
                               after.st_mtim.tv_nsec != before.st_mtim.tv_nsec);
    close(in);
    if (rc < 0 || changed) {
        if (rc < 0)
            snprintf(err, errlen, "%s: cannot copy into the plugin store: %s", path, strerror(saved));
        else
            snprintf(err, errlen, "%s: changed while being read (still being written?); it is tried again at its "
                                  "next change", path);
        free_version(v);
        return NULL;
    }
    v->id = (ph_file_id){.dev = before.st_dev, .ino = before.st_ino, .size = before.st_size,
                         .mtime = before.st_mtim};
    v->next = store->versions;
    store->versions = v;
    return v;
}

bool ph_store_keeps(const ph_plugin_store *store, const char *snapshot)
{
    for (const ph_plugin_version *v = store->versions; v; v = v->next) {
        if (strcmp(v->snapshot, snapshot) == 0)
            return true;
    }
    return false;
}

void ph_store_prune(ph_plugin_store *store, ph_plugin_version *const *keep, size_t n)
{
    for (ph_plugin_version **p = &store->versions; *p;) {
        bool kept = false;
        for (size_t i = 0; i < n && !kept; i++)
            kept = keep[i] == *p;
        if (kept) {
            p = &(*p)->next;
            continue;
        }
        ph_plugin_version *dead = *p;
        *p = dead->next;
        free_version(dead);
    }
}
