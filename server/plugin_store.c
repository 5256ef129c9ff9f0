/* plugin_store.c - snapshots of checked plugin files. */
#include "plugin_store.h"

#include "file_copy.h"

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
    ph_file_id id;
    ph_file_id_from_stat(&before, &id);
    for (ph_plugin_version *v = store->versions; v; v = v->next) {
        if (strcmp(v->path, path) == 0 && ph_file_id_equal(&id, &v->id)) {
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
    int rc = ph_file_copy_new(in, v->snapshot, 0444);
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
    v->id = id;
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
