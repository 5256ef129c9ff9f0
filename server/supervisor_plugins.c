/* supervisor_plugins.c - which version of each plugin a generation
 * serves: file trust, snapshots of checked bytes (plugin_store.c), the
 * map handed to workers, crash counting and automatic rollback. */
#include "file_trust.h"
#include "log.h"
#include "plugin_store.h"
#include "supervisor_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* What the supervisor remembers about one plugin file. */
struct ph_plugin_history {
    char *path;
    ph_plugin_version *current;   /* serving in the good generation */
    ph_plugin_version *previous;  /* served before it: the rollback target */
    unsigned long since;          /* the generation from which `current` serves */
    double crashes[64];           /* monotonic times of recent crashes */
    int ncrashes;
    bool pinned;                  /* rolled back: serve `pin` until the file or config changes */
    ph_plugin_version *pin;       /* NULL while pinned: disabled (503) */
    ph_plugin_version *crashed;   /* the version that crashed */
    uint64_t pin_config_hash;
    struct ph_plugin_history *next;
};

int ph_sup_plugins_setup(ph_supervisor *sv, char *err, size_t errlen)
{
    if (ph_priv_resolve(sv->good_config->server.user, &sv->privileges, err, errlen) < 0)
        return -1;
    sv->store = ph_store_create(err, errlen);
    return sv->store ? 0 : -1;
}

void ph_sup_plugins_teardown(ph_supervisor *sv)
{
    while (sv->history) {
        ph_plugin_history *h = sv->history;
        sv->history = h->next;
        free(h->path);
        free(h);
    }
    for (size_t i = 0; i < sv->nchecked; i++)
        free(sv->checked[i]);
    free(sv->checked);
    sv->checked = NULL;
    sv->nchecked = 0;
    for (size_t i = 0; i < sv->ndeclared; i++)
        free(sv->declared[i].snapshot);
    free(sv->declared);
    sv->declared = NULL;
    sv->ndeclared = 0;
    free(sv->good_versions);
    sv->good_versions = NULL;
    ph_store_destroy(sv->store);
    sv->store = NULL;
}

static ph_plugin_history *history_of(ph_supervisor *sv, const char *path, bool create)
{
    for (ph_plugin_history *h = sv->history; h; h = h->next) {
        if (strcmp(h->path, path) == 0)
            return h;
    }
    if (!create)
        return NULL;
    ph_plugin_history *h = calloc(1, sizeof *h);
    if (!h || !(h->path = strdup(path))) {
        free(h);
        return NULL;
    }
    h->next = sv->history;
    sv->history = h;
    return h;
}

uint64_t ph_sup_fd_hash(int fd)
{
    uint64_t hash = 1469598103934665603ull; /* FNV-1a */
    char buf[4096];
    off_t off = 0;
    ssize_t n;
    while ((n = pread(fd, buf, sizeof buf, off)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            hash = (hash ^ (unsigned char)buf[i]) * 1099511628211ull;
        off += n;
    }
    return hash;
}

/* The check key of a route with version `v`: what init() would see. */
static char *check_key(const ph_route_conf *rc, const ph_plugin_version *v)
{
    size_t len = strlen(v->snapshot) + strlen(rc->path) + 4;
    for (size_t i = 0; i < rc->nsettings; i++)
        len += strlen(rc->settings[i].key) + strlen(rc->settings[i].value) + 2;
    char *key = malloc(len);
    if (!key)
        return NULL;
    int n = snprintf(key, len, "%s\n%s\n", v->snapshot, rc->path);
    for (size_t i = 0; i < rc->nsettings; i++)
        n += snprintf(key + n, len - (size_t)n, "%s=%s\n", rc->settings[i].key, rc->settings[i].value);
    return key;
}

static bool was_checked(const ph_supervisor *sv, const char *key)
{
    for (size_t i = 0; i < sv->nchecked; i++) {
        if (strcmp(sv->checked[i], key) == 0)
            return true;
    }
    return false;
}

void ph_sup_plugins_checked(ph_supervisor *sv, const ph_config *config, ph_plugin_version *const *versions)
{
    for (size_t i = 0; i < config->nroutes; i++) {
        if (!versions[i])
            continue;
        char *key = check_key(&config->routes[i], versions[i]);
        char **grown = key && !was_checked(sv, key) ? realloc(sv->checked, (sv->nchecked + 1) * sizeof *grown) : NULL;
        if (!grown) {
            free(key);
            continue;
        }
        sv->checked = grown;
        sv->checked[sv->nchecked++] = key;
    }
}

static ph_sup_declared *declared_of(const ph_supervisor *sv, const char *snapshot)
{
    for (size_t i = 0; i < sv->ndeclared; i++) {
        if (strcmp(sv->declared[i].snapshot, snapshot) == 0)
            return &sv->declared[i];
    }
    return NULL;
}

void ph_sup_plugins_described(size_t route, const ph_check_describe *d, void *arg)
{
    ph_sup_describing *ctx = arg;
    ph_supervisor *sv = ctx->sv;
    const ph_plugin_version *v = ctx->versions[route];
    if (!v)
        return;
    ph_sup_declared *found = declared_of(sv, v->snapshot);
    if (found) {
        found->text = *d;
        return;
    }
    char *snapshot = strdup(v->snapshot);
    ph_sup_declared *grown = snapshot ? realloc(sv->declared, (sv->ndeclared + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(snapshot); /* the document then shows the generated text */
        return;
    }
    sv->declared = grown;
    sv->declared[sv->ndeclared++] = (ph_sup_declared){.snapshot = snapshot, .text = *d};
}

const ph_check_describe *ph_sup_plugins_declared(const ph_supervisor *sv, size_t route)
{
    if (!sv->good_versions || route >= sv->good_config->nroutes || !sv->good_versions[route])
        return NULL;
    const ph_sup_declared *found = declared_of(sv, sv->good_versions[route]->snapshot);
    return found ? &found->text : NULL;
}

/* Clear the pin of `h` when its file or the config changed since. */
static void maybe_unpin(ph_plugin_history *h, const ph_plugin_version *now, uint64_t config_hash)
{
    if (!h->pinned)
        return;
    if (now != h->crashed)
        ph_log_info("%s changed since it was rolled back: trying the new version", h->path);
    else if (config_hash != h->pin_config_hash)
        ph_log_info("the config changed since %s was rolled back: trying its current version again", h->path);
    else
        return;
    h->pinned = false;
    h->pin = NULL;
    h->ncrashes = 0;
}

/* Trust checks and the version of route `rc` (pins applied); NULL in
 * *out for a disabled plugin. Returns 0 or -1 with err set. */
static int choose_version(ph_supervisor *sv, const ph_route_conf *rc, uint64_t config_hash, ph_plugin_version **out,
                          char *err, size_t errlen)
{
    uid_t untrusted = sv->privileges.drop ? sv->privileges.uid : (uid_t)-1;
    if (ph_trust_check_file(rc->plugin_path, geteuid(), untrusted, err, errlen) < 0)
        return -1;
    ph_plugin_version *now = ph_store_take(sv->store, rc->plugin_path, err, errlen);
    if (!now)
        return -1;
    ph_plugin_history *h = history_of(sv, rc->plugin_path, false);
    if (h)
        maybe_unpin(h, now, config_hash);
    *out = h && h->pinned ? h->pin : now;
    return 0;
}

int ph_sup_plugins_resolve(ph_supervisor *sv, ph_config *config, uint64_t config_hash, ph_plugin_version ***versions,
                           size_t **unchecked, size_t *nunchecked, char *err, size_t errlen)
{
    uid_t untrusted = sv->privileges.drop ? sv->privileges.uid : (uid_t)-1;
    char why[1536];
    *versions = calloc(config->nroutes + 1, sizeof **versions);
    *unchecked = calloc(config->nroutes + 1, sizeof **unchecked);
    *nunchecked = 0;
    char *map = NULL;
    size_t maplen = 0;
    FILE *mapf = open_memstream(&map, &maplen);
    if (!*versions || !*unchecked || !mapf) {
        snprintf(err, errlen, "%s: out of memory", config->path);
        goto fail;
    }
    if (config->nroutes > 0 && ph_trust_check_dir(config->server.plugin_dir, geteuid(), untrusted, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: plugin_dir %s", config->path, why);
        goto fail;
    }
    for (size_t i = 0; i < config->nroutes; i++) {
        ph_route_conf *rc = &config->routes[i];
        if (choose_version(sv, rc, config_hash, &(*versions)[i], why, sizeof why) < 0) {
            snprintf(err, errlen, "%s:%d: route %s: %s", config->path, rc->line, rc->path, why);
            goto fail;
        }
        ph_plugin_version *v = (*versions)[i];
        fprintf(mapf, "%s\t%s\n", rc->plugin_path, v ? v->snapshot : "-");
        rc->plugin_disabled = !v;
        free(rc->plugin_source);
        rc->plugin_source = v ? strdup(v->snapshot) : NULL;
        char *key = v ? check_key(rc, v) : NULL;
        if (v && (!rc->plugin_source || !key)) {
            free(key);
            snprintf(err, errlen, "%s: out of memory", config->path);
            goto fail;
        }
        if (key && !was_checked(sv, key))
            (*unchecked)[(*nunchecked)++] = i;
        free(key);
    }
    if (fclose(mapf) != 0) {
        mapf = NULL;
        snprintf(err, errlen, "%s: out of memory", config->path);
        goto fail;
    }
    mapf = NULL;
    int fd = memfd_create("plugin-map", MFD_CLOEXEC);
    if (fd < 0 || write(fd, map, maplen) != (ssize_t)maplen) {
        snprintf(err, errlen, "plugin map: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        goto fail;
    }
    free(map);
    return fd;
fail:
    if (mapf)
        fclose(mapf);
    free(map);
    free(*versions);
    free(*unchecked);
    *versions = NULL;
    *unchecked = NULL;
    return -1;
}

void ph_sup_plugins_committed(ph_supervisor *sv, const ph_config *config, ph_plugin_version **versions,
                              unsigned long number)
{
    free(sv->good_versions);
    sv->good_versions = versions;
    for (size_t i = 0; i < config->nroutes; i++) {
        ph_plugin_history *h = history_of(sv, config->routes[i].plugin_path, true);
        ph_plugin_version *v = versions[i];
        if (!h || !v || v == h->current)
            continue;
        if (!h->pinned) /* a rollback keeps the previous version as it was */
            h->previous = h->current;
        h->current = v;
        h->since = number;
        h->ncrashes = 0;
    }
    /* keep what serves, what a rollback could need, and pins */
    size_t cap = config->nroutes * 2 + 1, n = 0;
    for (ph_plugin_history *h = sv->history; h; h = h->next)
        cap += 4;
    ph_plugin_version **keep = calloc(cap, sizeof *keep);
    if (!keep)
        return; /* prune next time */
    for (size_t i = 0; i < config->nroutes; i++)
        keep[n++] = versions[i];
    for (ph_plugin_history *h = sv->history; h; h = h->next) {
        keep[n++] = h->current;
        keep[n++] = h->previous;
        keep[n++] = h->pin;
        keep[n++] = h->crashed;
    }
    if (sv->reload.versions && sv->reload.versions != versions) {
        free(keep);
        return; /* another reload holds versions: prune after it */
    }
    ph_store_prune(sv->store, keep, n);
    free(keep);
    /* forget checks of versions the store no longer keeps */
    size_t kept = 0;
    for (size_t i = 0; i < sv->nchecked; i++) {
        char *key = sv->checked[i];
        size_t len = strcspn(key, "\n");
        char snapshot[4096];
        snprintf(snapshot, sizeof snapshot, "%.*s", (int)len, key);
        if (ph_store_keeps(sv->store, snapshot))
            sv->checked[kept++] = key;
        else
            free(key);
    }
    sv->nchecked = kept;
    kept = 0;
    for (size_t i = 0; i < sv->ndeclared; i++) {
        if (ph_store_keeps(sv->store, sv->declared[i].snapshot))
            sv->declared[kept++] = sv->declared[i];
        else
            free(sv->declared[i].snapshot);
    }
    sv->ndeclared = kept;
}

bool ph_sup_plugins_crashed(ph_supervisor *sv, const char *path, uint64_t config_hash, unsigned long generation)
{
    const ph_server_conf *sc = &sv->good_config->server;
    ph_plugin_history *h = history_of(sv, path, false);
    if (!h || sc->crash_limit <= 0)
        return false;
    if (h->pinned && (!h->pin || h->current != h->pin))
        return false; /* its rollback is under way (or it is disabled): late crashes of the bad version */
    if (generation < h->since)
        return false; /* a worker still on an older version of it */
    double now = ph_sup_now(), window = (double)sc->crash_window_ms / 1000.0;
    int kept = 0;
    for (int i = 0; i < h->ncrashes; i++) {
        if (now - h->crashes[i] <= window)
            h->crashes[kept++] = h->crashes[i];
    }
    h->ncrashes = kept;
    if (h->ncrashes < (int)(sizeof h->crashes / sizeof h->crashes[0]))
        h->crashes[h->ncrashes++] = now;
    if (h->ncrashes < sc->crash_limit)
        return false;
    bool again = h->pinned; /* the version rolled back to crashes too */
    h->crashed = h->pinned ? h->crashed : h->current;
    h->pin = !again && h->previous && h->previous != h->current ? h->previous : NULL;
    h->pinned = true;
    h->pin_config_hash = config_hash;
    h->ncrashes = 0;
    sv->stats.rollbacks++;
    if (h->pin)
        ph_log_error("rollback: %s crashed workers %d times within %llu ms; serving its previous version again "
                     "until the file or the config changes",
                     path, sc->crash_limit, (unsigned long long)sc->crash_window_ms);
    else
        ph_log_error("rollback: %s crashed workers %d times within %llu ms and %s; its routes answer 503 until the "
                     "file or the config changes",
                     path, sc->crash_limit, (unsigned long long)sc->crash_window_ms,
                     again ? "so did its previous version" : "it has no previous version");
    return true;
}
