/* plugin_loader.c - plugin shared objects: private copy, dlopen, ABI check. */
#include "plugin_loader.h"

#include "crash_copies.h"
#include "elf_check.h"
#include "file_copy.h"
#include "log.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char copy_dir[4096];
static unsigned long copy_counter;

int ph_loader_init(void)
{
    if (copy_dir[0])
        return 0;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !tmp[0])
        tmp = "/tmp";
    snprintf(copy_dir, sizeof copy_dir, "%s/plughost-XXXXXX", tmp);
    if (!mkdtemp(copy_dir)) {
        ph_log_error("cannot create a private folder for plugin copies in %s: %s", tmp, strerror(errno));
        copy_dir[0] = '\0';
        return -1;
    }
    return 0;
}

int ph_loader_init_at(const char *dir)
{
    if (snprintf(copy_dir, sizeof copy_dir, "%s", dir) >= (int)sizeof copy_dir) {
        copy_dir[0] = '\0';
        return -1;
    }
    return 0;
}

const char *ph_loader_copy_dir(void) { return copy_dir; }

void ph_loader_remove_dir(const char *dir)
{
    if (!dir || !dir[0])
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
    rmdir(dir);
}

void ph_loader_cleanup(void)
{
    if (copy_dir[0] && rmdir(copy_dir) < 0)
        ph_log_warn("cannot remove %s: %s", copy_dir, strerror(errno));
    copy_dir[0] = '\0';
}

void ph_file_id_from_stat(const struct stat *st, ph_file_id *out)
{
    out->dev = st->st_dev;
    out->ino = st->st_ino;
    out->size = st->st_size;
    out->mtime = st->st_mtim;
}

int ph_file_id_of(const char *path, ph_file_id *out)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    ph_file_id_from_stat(&st, out);
    return 0;
}

bool ph_file_id_equal(const ph_file_id *a, const ph_file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* dlerror() names the private copy; keep only the reason after it. */
static const char *dl_reason(const char *copy_path)
{
    const char *msg = dlerror();
    if (!msg)
        return "unknown dlopen error";
    size_t n = strlen(copy_path);
    if (strncmp(msg, copy_path, n) == 0 && strncmp(msg + n, ": ", 2) == 0)
        return msg + n + 2;
    return msg;
}

/* Check the descriptor. Returns 0 or -1 with err set. */
static int check_descriptor(const char *path, const ph_plugin *d, char *err, size_t errlen)
{
    if (!d) {
        snprintf(err, errlen, "%s: %s() returned NULL", path, PH_PLUGIN_ENTRY_SYMBOL);
        return -1;
    }
    if (PH_ABI_VERSION_MAJOR(d->abi_version) != PH_ABI_MAJOR) {
        snprintf(err, errlen, "%s: built for plugin ABI %u.%u, host speaks %u.%u (rebuild it against this plughost.h)",
                 path, PH_ABI_VERSION_MAJOR(d->abi_version), PH_ABI_VERSION_MINOR(d->abi_version), PH_ABI_MAJOR,
                 PH_ABI_MINOR);
        return -1;
    }
    if (d->struct_size < offsetof(ph_plugin, handle) + sizeof d->handle) {
        snprintf(err, errlen, "%s: plugin descriptor of %u bytes is smaller than ABI 1.0's", path, d->struct_size);
        return -1;
    }
    if (!d->name || !d->name[0] || !d->handle) {
        snprintf(err, errlen, "%s: plugin descriptor lacks a name or a handle function", path);
        return -1;
    }
    if (d->mode != PH_MODE_SYNC && d->mode != PH_MODE_ASYNC) {
        snprintf(err, errlen, "%s: plugin mode %d is neither PH_MODE_SYNC nor PH_MODE_ASYNC", path, (int)d->mode);
        return -1;
    }
    return 0;
}

/* dlopen one $ORIGIN dependency of a plugin before the plugin's private
 * copy (which has lost its $ORIGIN): the copy then finds it loaded. */
static void preload_dep(const char *dep, void *arg)
{
    ph_plugin_lib *lib = arg;
    if (lib->ndeps >= PH_LIB_MAX_DEPS)
        return;
    void *h = dlopen(dep, RTLD_NOW | RTLD_LOCAL);
    if (h)
        lib->deps[lib->ndeps++] = h;
}

static void close_deps(ph_plugin_lib *lib)
{
    while (lib->ndeps > 0)
        dlclose(lib->deps[--lib->ndeps]);
}

/* Copy `path` (read from `source`) privately and dlopen the copy, after
 * the libraries its $ORIGIN run path finds beside `path` (into
 * deps->deps). Returns the handle or NULL with err set; fills *id from
 * the copied file and *copy_path (malloc'd) with the copy's name. */
static void *open_private_copy(const char *path, const char *source, ph_file_id *id, char **copy_path,
                               ph_plugin_lib *deps, char *err, size_t errlen)
{
    int src = open(source, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (src < 0 || fstat(src, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (src >= 0)
            close(src);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(src);
        return NULL;
    }
    char why[512];
    if (ph_elf_check_fd(src, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: not a loadable shared object: %s", path, why);
        close(src);
        return NULL;
    }
    ph_file_id_from_stat(&st, id);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char copy[4096 + 64];
    snprintf(copy, sizeof copy, "%s/%lu-%s", copy_dir, ++copy_counter, base);
    if (ph_file_copy_new(src, copy, 0700) < 0) {
        snprintf(err, errlen, "%s: cannot copy to %s: %s", path, copy, strerror(errno));
        close(src);
        return NULL;
    }
    char origin[4096];
    snprintf(origin, sizeof origin, "%.*s", base == path ? 1 : (int)(base - path - 1), base == path ? "." : path);
    ph_elf_origin_deps(src, origin, preload_dep, deps);
    close(src);
    void *dl = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        snprintf(err, errlen, "%s: not a loadable shared object (%s)", path, dl_reason(copy));
    else if (!(*copy_path = strdup(copy)))
        snprintf(err, errlen, "%s: out of memory", path);
    unlink(copy);
    if (dl && !*copy_path) {
        dlclose(dl);
        return NULL;
    }
    return dl;
}

ph_plugin_lib *ph_plugin_lib_load(const char *path, const char *source, char *err, size_t errlen)
{
    if (!copy_dir[0] && ph_loader_init() < 0) {
        snprintf(err, errlen, "%s: no private folder for plugin copies", path);
        return NULL;
    }
    ph_file_id id;
    char *copy_path = NULL;
    ph_plugin_lib deps = {.ndeps = 0};
    void *dl = open_private_copy(path, source ? source : path, &id, &copy_path, &deps, err, errlen);
    if (!dl) {
        close_deps(&deps);
        return NULL;
    }
    ph_crash_register_copy(copy_path, path); /* a crash in it names `path` */
    dlerror();
    ph_plugin_entry_fn entry = (ph_plugin_entry_fn)dlsym(dl, PH_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(err, errlen, "%s: does not export %s (declare it with PH_PLUGIN_DECLARE)", path,
                 PH_PLUGIN_ENTRY_SYMBOL);
        goto fail;
    }
    const ph_plugin *desc = entry();
    if (check_descriptor(path, desc, err, errlen) < 0)
        goto fail;
    ph_plugin_lib *lib = calloc(1, sizeof *lib);
    if (!lib || !(lib->path = strdup(path))) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(lib);
        goto fail;
    }
    lib->id = id;
    lib->dl = dl;
    lib->copy_path = copy_path;
    memcpy(lib->deps, deps.deps, sizeof deps.deps);
    lib->ndeps = deps.ndeps;
    lib->desc = desc;
    lib->refs = 1;
    return lib;
fail:
    dlclose(dl);
    close_deps(&deps);
    ph_crash_unregister_copy(copy_path);
    free(copy_path);
    return NULL;
}

ph_plugin_lib *ph_plugin_lib_placeholder(const char *path, const ph_plugin *desc)
{
    ph_plugin_lib *lib = calloc(1, sizeof *lib);
    if (!lib || !(lib->path = strdup(path))) {
        free(lib);
        return NULL;
    }
    lib->desc = desc;
    lib->refs = 1;
    return lib;
}

void ph_plugin_lib_ref(ph_plugin_lib *lib) { lib->refs++; }

void ph_plugin_lib_unref(ph_plugin_lib *lib)
{
    if (!lib || --lib->refs > 0)
        return;
    if (lib->dl && dlclose(lib->dl) != 0)
        ph_log_warn("%s: dlclose failed: %s", lib->path, dlerror());
    close_deps(lib);
    ph_crash_unregister_copy(lib->copy_path);
    free(lib->copy_path);
    free(lib->path);
    free(lib);
}
