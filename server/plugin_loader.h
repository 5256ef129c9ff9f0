/* plugin_loader.h - opening plugin shared objects and checking their ABI.
 *
 * Each load copies the file into a private mkdtemp folder, dlopens the copy
 * (RTLD_NOW | RTLD_LOCAL) and unlinks it, so every load is a distinct
 * mapping even when the path is still open (glibc would hand back the
 * cached handle). A library is reference-counted by the plugin instances
 * that use it; the last release dlcloses it. Loop thread only. */
#ifndef PH_PLUGIN_LOADER_H
#define PH_PLUGIN_LOADER_H

#include "plughost.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

/* What tells two versions of a plugin file apart. */
typedef struct ph_file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} ph_file_id;

#define PH_LIB_MAX_DEPS 8

typedef struct ph_plugin_lib {
    char *path;               /* the file named by the config */
    ph_file_id id;            /* of the file when it was copied */
    void *dl;                 /* dlopen handle of the private copy; NULL for a placeholder */
    char *copy_path;          /* the copy's name (unlinked), for crash reports */
    void *deps[PH_LIB_MAX_DEPS]; /* $ORIGIN libraries beside the plugin, loaded before it */
    int ndeps;
    const ph_plugin *desc;    /* the plugin's descriptor */
    int refs;
} ph_plugin_lib;

/* Text field `field` of descriptor `d` (one added after 1.0, such as
 * summary): NULL when the plugin was built with an older, shorter
 * ph_plugin that lacks it, as the loader accepts those by struct_size. */
#define PH_DESC_FIELD(d, field) \
    ((d)->struct_size >= offsetof(ph_plugin, field) + sizeof(d)->field ? (d)->field : NULL)

/* Create the private copy folder. Returns 0 or -1 (logged). */
int ph_loader_init(void);

/* Use the existing folder `dir` for private copies (a throwaway check
 * process whose parent creates and removes it). Returns 0 or -1. */
int ph_loader_init_at(const char *dir);

/* The private copy folder ("" before ph_loader_init). */
const char *ph_loader_copy_dir(void);

/* Remove folder `dir` and the files in it (a dead process's copies). */
void ph_loader_remove_dir(const char *dir);

/* Remove the private copy folder. */
void ph_loader_cleanup(void);

/* Load and check plugin `path` from the file `source` (a checked snapshot
 * of it; NULL: `path` itself): ELF checks, private copy, dlopen, ABI.
 * Returns a library with one reference, or NULL with "<path>: <reason>"
 * in err. */
ph_plugin_lib *ph_plugin_lib_load(const char *path, const char *source, char *err, size_t errlen);

/* A library with no code behind it, serving `desc` (a host-internal
 * descriptor, e.g. the one that answers 503 for a disabled plugin).
 * Returns it with one reference, or NULL (no memory). */
ph_plugin_lib *ph_plugin_lib_placeholder(const char *path, const ph_plugin *desc);

/* Identity of the file at `path` now. Returns 0 or -1 (errno set). */
int ph_file_id_of(const char *path, ph_file_id *out);
bool ph_file_id_equal(const ph_file_id *a, const ph_file_id *b);
/* The identity of the file `st` describes. */
void ph_file_id_from_stat(const struct stat *st, ph_file_id *out);

void ph_plugin_lib_ref(ph_plugin_lib *lib);

/* Drop a reference; the last one dlcloses (logging a failed dlclose). */
void ph_plugin_lib_unref(ph_plugin_lib *lib);

#endif
