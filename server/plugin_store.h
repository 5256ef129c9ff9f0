/* plugin_store.h - the supervisor's snapshots of plugin files. Each
 * version of a plugin file that a reload names is copied once into a
 * private folder (read-only, owned by the supervisor); the check, then
 * every worker, loads that copy, so what was checked is exactly what
 * serves even when the file in plugin_dir is overwritten meanwhile, and
 * the previous version's bytes stay at hand for a rollback. Supervisor
 * (main thread) only. */
#ifndef PH_PLUGIN_STORE_H
#define PH_PLUGIN_STORE_H

#include "plugin_loader.h" /* ph_file_id */

#include <stdbool.h>
#include <stddef.h>

/* One kept version of one plugin file. */
typedef struct ph_plugin_version {
    char *path;                     /* the plugin file as configured */
    ph_file_id id;                  /* the original's identity when copied */
    char *snapshot;                 /* the copy: <store>/<n>-<name> */
    struct ph_plugin_version *next;
} ph_plugin_version;

typedef struct ph_plugin_store ph_plugin_store;

/* Create the store's folder under $TMPDIR (mode 0755: workers running as
 * another user read the snapshots, nobody else writes them). Returns the
 * store or NULL with the reason in err. */
ph_plugin_store *ph_store_create(char *err, size_t errlen);

/* Remove every snapshot and the folder. NULL is fine. */
void ph_store_destroy(ph_plugin_store *store);

/* The version of plugin file `path` as it is now: the kept one when the
 * file is unchanged (device, inode, size, mtime), else a new snapshot.
 * Returns it (owned by the store), or NULL with "<path>: <reason>" in
 * err (unreadable, changed while being copied). */
ph_plugin_version *ph_store_take(ph_plugin_store *store, const char *path, char *err, size_t errlen);

/* True when `snapshot` is the path of a version the store still keeps. */
bool ph_store_keeps(const ph_plugin_store *store, const char *snapshot);

/* Forget (and delete) every version not in keep[0..n). */
void ph_store_prune(ph_plugin_store *store, ph_plugin_version *const *keep, size_t n);

#endif
