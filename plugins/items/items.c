/*
 * items - a small in-memory JSON resource store, served at a route with an
 * {id} path parameter, e.g. [route /items/{id}]:
 *
 *   GET    200 with the stored JSON value, or 404
 *   HEAD   as GET (the host sends no body)
 *   PUT    the body must be exactly one JSON value: 201 Created (with a
 *          Location header) for a new id, 200 when it replaced one, the
 *          stored value as body either way; 400 for invalid JSON; 507
 *          Insufficient Storage when a new id would pass `max_items`
 *          (replacing an existing id always works)
 *   DELETE 204, or 404
 *   other  405 with Allow: GET, HEAD, PUT, DELETE
 *
 * Errors are {"error": "..."}. Values are stored in their compact form
 * (cJSON_PrintUnformatted), so GET returns the canonical spelling of what
 * was PUT. Ids are the path parameter as the host decoded it, 1 to 256
 * bytes (longer: 400).
 *
 * Why 507 and not 409 when full: 409 Conflict says the request clashes
 * with the current state of *this* resource and could succeed if the
 * client changed it; here the resource is fine and the server is out of
 * room, which is what 507 says (RFC 4918 11.5).
 *
 * Sync: handle() runs on the host's pool, on many threads at once. The
 * store is one hash table under a pthread rwlock: GETs share it, PUT and
 * DELETE hold it alone, and JSON parsing and printing happen outside it.
 *
 * Settings
 *   max_items  a whole number from 1 to 10000000; default 10000.
 * init refuses a route without {id}.
 *
 * The store lives in this route instance's memory: each worker process
 * has its own, and it is lost when the instance is reloaded or the worker
 * restarts.
 */
#define _POSIX_C_SOURCE 200809L

#include <plughost.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_json_body.h"

#define ITEMS_DEFAULT_MAX 10000.0
#define ITEMS_LIMIT_MAX 10000000.0
#define ITEMS_MAX_ID_LEN 256u
#define ITEMS_INITIAL_BUCKETS 64u

typedef struct item {
    struct item *next; /* bucket chain */
    uint64_t hash;
    char *json;        /* compact serialisation, from cJSON (free with cJSON_free) */
    size_t json_len;
    char id[];
} item;

typedef struct items_state {
    const ph_host_api *api;
    size_t max_items;
    pthread_rwlock_t lock; /* guards everything below */
    item **buckets;
    size_t nbuckets;       /* a power of two */
    size_t count;
} items_state;

/* FNV-1a, 64 bits. */
static uint64_t hash_id(const char *id)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

/* The link that points at item `id` (or at the NULL ending its chain when
 * absent). Caller holds the lock. */
static item **find_link(const items_state *st, const char *id, uint64_t hash)
{
    item **link = &st->buckets[hash & (st->nbuckets - 1)];
    while (*link && ((*link)->hash != hash || strcmp((*link)->id, id) != 0))
        link = &(*link)->next;
    return link;
}

/* Double the bucket array when the table is fuller than one item per
 * bucket; keeps the old one if there is no memory. Caller holds the write
 * lock. */
static void maybe_grow(items_state *st)
{
    if (st->count < st->nbuckets)
        return;
    size_t n = st->nbuckets * 2;
    item **b = calloc(n, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < st->nbuckets; i++) {
        for (item *it = st->buckets[i], *next; it; it = next) {
            next = it->next;
            it->next = b[it->hash & (n - 1)];
            b[it->hash & (n - 1)] = it;
        }
    }
    free(st->buckets);
    st->buckets = b;
    st->nbuckets = n;
}

static void item_free(item *it)
{
    if (it) {
        cJSON_free(it->json);
        free(it);
    }
}

/* Read `max_items`. Returns 0, or -1 after logging why. Loop thread. */
static int read_max_items(const ph_host_api *api, const ph_settings *settings, size_t *out)
{
    const char *raw = api->setting(settings, "max_items");
    double v;
    if (api->setting_double(settings, "max_items", ITEMS_DEFAULT_MAX, &v) != 0 || v < 1.0 ||
        v > ITEMS_LIMIT_MAX || v != (double)(size_t)v) {
        api->log(NULL, PH_LOG_ERROR,
                 "items: route %s: max_items = \"%s\" is not a whole number from 1 to %.0f",
                 api->route_path(settings), raw ? raw : "", ITEMS_LIMIT_MAX);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

/* Check the host, the route and the settings; set up an empty store.
 * Returns 0, or -1 with the reason logged. Loop thread. */
static int items_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    const char *route = api->route_path(settings);
    if (!PH_HOST_HAS(api, path_param)) {
        api->log(NULL, PH_LOG_ERROR,
                 "items: route %s: the host lacks path_param (needs SDK ABI 1.1)", route);
        return -1;
    }
    if (!PH_HOST_HAS(api, add_header_n)) {
        api->log(NULL, PH_LOG_ERROR, "items: route %s: the host lacks add_header_n (needs SDK ABI 1.5)", route);
        return -1;
    }
    if (!strstr(route, "{id}")) {
        api->log(NULL, PH_LOG_ERROR,
                 "items: route %s has no {id} path parameter (use e.g. [route /items/{id}])",
                 route);
        return -1;
    }
    size_t max_items;
    if (read_max_items(api, settings, &max_items) != 0)
        return -1;
    items_state *st = calloc(1, sizeof *st);
    if (!st || !(st->buckets = calloc(ITEMS_INITIAL_BUCKETS, sizeof *st->buckets)) ||
        pthread_rwlock_init(&st->lock, NULL) != 0) {
        api->log(NULL, PH_LOG_ERROR, "items: route %s: cannot set up the store", route);
        if (st)
            free(st->buckets);
        free(st);
        return -1;
    }
    st->api = api;
    st->max_items = max_items;
    st->nbuckets = ITEMS_INITIAL_BUCKETS;
    *state = st;
    return 0;
}

/* Free every item and the store. Loop thread, no request in flight. */
static void items_fini(void *state)
{
    items_state *st = state;
    for (size_t i = 0; i < st->nbuckets; i++) {
        for (item *it = st->buckets[i], *next; it; it = next) {
            next = it->next;
            item_free(it);
        }
    }
    free(st->buckets);
    pthread_rwlock_destroy(&st->lock);
    free(st);
}

/* `status` {"error": message}. Returns PH_OK, or PH_ERROR (no memory). */
static int answer_error(const ph_host_api *api, ph_request *req, int status, const char *message)
{
    return api->respond_error(req, status, message) == 0 ? PH_OK : PH_ERROR;
}

/* 404 naming the id. */
static int answer_not_found(const ph_host_api *api, ph_request *req, const char *id)
{
    char message[ITEMS_MAX_ID_LEN + 32];
    snprintf(message, sizeof message, "no item with id \"%s\"", id);
    return answer_error(api, req, 404, message);
}

/* GET/HEAD: 200 with the stored value, or 404. Pool thread. */
static int get_item(items_state *st, ph_request *req, const char *id)
{
    const ph_host_api *api = st->api;
    uint64_t hash = hash_id(id);
    int rc = -1, found;
    pthread_rwlock_rdlock(&st->lock);
    const item *it = *find_link(st, id, hash);
    found = it != NULL;
    if (found) /* set_body copies: the item may go once the lock is released */
        rc = api->set_body(req, it->json, it->json_len);
    pthread_rwlock_unlock(&st->lock);
    if (!found)
        return answer_not_found(api, req, id);
    if (rc != 0 || api->add_header_n(req, PH_LIT("Content-Type"), PH_LIT("application/json")) != 0)
        return PH_ERROR;
    return PH_OK;
}

/* A new item for `id` holding `json` (taken on success), or NULL. */
static item *item_new(const char *id, uint64_t hash, char *json)
{
    size_t idlen = strlen(id);
    item *it = malloc(sizeof *it + idlen + 1);
    if (!it)
        return NULL;
    memcpy(it->id, id, idlen + 1);
    it->hash = hash;
    it->json = json;
    it->json_len = strlen(json);
    it->next = NULL;
    return it;
}

/* PUT: store the body. 201/200 with the stored value, 400, or 507.
 * Pool thread. */
static int put_item(items_state *st, ph_request *req, const char *id)
{
    const ph_host_api *api = st->api;
    size_t len;
    const char *body = api->body(req, &len);
    char why[96];
    cJSON *json = plugin_json_parse_body(body, len, why, sizeof why);
    if (!json)
        return answer_error(api, req, 400, why);
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    uint64_t hash = hash_id(id);
    item *fresh = text ? item_new(id, hash, text) : NULL;
    /* the response body is the stored text: set it while we own it */
    if (!fresh || api->add_header_n(req, PH_LIT("Content-Type"), PH_LIT("application/json")) != 0 ||
        api->set_body(req, text, fresh->json_len) != 0) {
        if (fresh)
            item_free(fresh);
        else
            cJSON_free(text);
        return PH_ERROR;
    }

    int status;
    item *old = NULL;
    pthread_rwlock_wrlock(&st->lock);
    item **link = find_link(st, id, hash);
    if (*link) { /* replace in place */
        old = *link;
        fresh->next = old->next;
        *link = fresh;
        status = 200;
    } else if (st->count >= st->max_items) {
        old = fresh; /* not stored */
        status = 507;
    } else {
        *link = fresh;
        st->count++;
        maybe_grow(st);
        status = 201;
    }
    size_t max_items = st->max_items;
    pthread_rwlock_unlock(&st->lock);
    item_free(old);

    if (status == 507) {
        char message[96];
        snprintf(message, sizeof message, "the store is full (max_items = %zu)", max_items);
        return answer_error(api, req, 507, message);
    }
    if (status == 201 && api->add_header(req, "Location", api->path(req)) != 0)
        return PH_ERROR;
    return api->set_status(req, status) == 0 ? PH_OK : PH_ERROR;
}

/* DELETE: 204, or 404. Pool thread. */
static int delete_item(items_state *st, ph_request *req, const char *id)
{
    uint64_t hash = hash_id(id);
    pthread_rwlock_wrlock(&st->lock);
    item **link = find_link(st, id, hash);
    item *gone = *link;
    if (gone) {
        *link = gone->next;
        st->count--;
    }
    pthread_rwlock_unlock(&st->lock);
    if (!gone)
        return answer_not_found(st->api, req, id);
    item_free(gone);
    return st->api->set_status(req, 204) == 0 ? PH_OK : PH_ERROR;
}

/* Dispatch on the method. Returns PH_OK, or PH_ERROR (no memory: the host
 * answers 500). Pool thread. */
static int items_handle(void *state, ph_request *req)
{
    items_state *st = state;
    const ph_host_api *api = st->api;
    const char *id = api->path_param(req, "id");
    const char *method = api->method(req);
    if (!id || !*id)
        return answer_error(api, req, 400, "missing item id");
    if (strlen(id) > ITEMS_MAX_ID_LEN)
        return answer_error(api, req, 400, "item id longer than 256 bytes");
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return get_item(st, req, id);
    if (strcmp(method, "PUT") == 0)
        return put_item(st, req, id);
    if (strcmp(method, "DELETE") == 0)
        return delete_item(st, req, id);
    if (api->add_header_n(req, PH_LIT("Allow"), PH_LIT("GET, HEAD, PUT, DELETE")) != 0)
        return PH_ERROR;
    return answer_error(api, req, 405, "method not allowed (GET, HEAD, PUT, DELETE)");
}

/* The route settings read at init: any other non-reserved key is an error. */
static const char *const items_settings[] = {"max_items", NULL};

PH_PLUGIN_DESCRIBE("items", "1.0.0", PH_MODE_SYNC, items_init, items_fini, items_handle, items_settings,
                   "A small in-memory JSON store by id", "application/json", "application/json")
