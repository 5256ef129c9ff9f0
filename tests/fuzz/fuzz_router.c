/* fuzz_router.c - libFuzzer harness for the router (server/router.c) and
 * path parameters (request.c's path_param over the router's list).
 *
 * Input: first byte picks the method, the rest is the path (any bytes but
 * NUL, which llhttp never lets into a target).
 * A fixed table of exact and parameter routes is matched against it.
 * Checks besides the sanitizers (the list's spare capacity is poisoned):
 *  - a FOUND parameter route's list holds exactly one entry per
 *    parameter, named as in the pattern, valued as the reference decoding
 *    of that path segment (nothing smuggled, nothing left over);
 *  - path_param(name) returns that value, and NULL for names not in the
 *    pattern; a route without parameters gets an empty list. */
#include "router.h"

#include "config_value.h"
#include "fuzz_util.h"
#include "log.h"
#include "plugin_loader.h"
#include "request.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int fake_handle(void *state, ph_request *req)
{
    (void)state;
    (void)req;
    return PH_OK;
}

static const ph_plugin fake_desc = {PH_ABI_VERSION, sizeof(ph_plugin), "fake", "1", PH_MODE_ASYNC,
                                    NULL,           NULL,              fake_handle, NULL, NULL, NULL, NULL};
/* Never reaches zero references, so nothing is dlclosed. */
static ph_plugin_lib fake_lib = {.path = (char *)"/fake.so", .desc = &fake_desc, .refs = 1 << 30};

static const struct {
    const char *path;
    unsigned methods;
} table[] = {
    {"/", PH_METHOD_GET},
    {"/items", PH_METHOD_GET | PH_METHOD_POST},
    {"/items/{id}", PH_METHOD_GET | PH_METHOD_PUT | PH_METHOD_DELETE},
    {"/items/special", PH_METHOD_GET},
    {"/p/{a}/{b}/real", PH_METHOD_GET},
    {"/p/{a}/x", PH_METHOD_GET},
    {"/users/{user}/posts/{post}", PH_METHOD_GET},
    {"/files/{name}", PH_METHOD_GET},
    {"/a/b/c", PH_METHOD_POST},
};

static ph_router *router;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ph_log_set_level(PH_LOG_ERROR + 1);
    router = ph_router_create();
    if (!router)
        abort();
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        ph_instance *inst = calloc(1, sizeof *inst);
        char err[256];
        if (!inst)
            abort();
        inst->lib = &fake_lib;
        inst->refs = 1;
        if (ph_router_add(router, table[i].path, table[i].methods, 0, inst, err, sizeof err) < 0)
            abort();
    }
    if (ph_router_seal(router) < 0)
        abort();
    return 0;
}

/* Check the list against the pattern and the path, segment by segment. */
static void check_params(const ph_route *r, const char *path, size_t len, ph_request *req)
{
    static char want[4096 + 1];
    const ph_buf *list = &req->params;
    size_t off = 0;
    const char *p = path + 1, *end = path + len;
    for (size_t i = 0; i < r->nsegments; i++) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t seg = (size_t)((slash ? slash : end) - p);
        const ph_route_segment *s = &r->segments[i];
        if (s->param) {
            size_t wlen = ph_percent_decode(want, p, seg, false);
            /* name\0 */
            if (off + s->len + 1 > list->len || memcmp(list->data + off, s->text, s->len) != 0 ||
                list->data[off + s->len] != '\0')
                abort();
            off += s->len + 1;
            /* value\0 */
            if (off + wlen + 1 > list->len || memcmp(list->data + off, want, wlen) != 0 ||
                list->data[off + wlen] != '\0')
                abort();
            char name[64];
            memcpy(name, s->text, s->len);
            name[s->len] = '\0';
            const char *got = ph_request_path_param(req, name);
            /* (a raw NUL in the segment cuts the C string short; the
             * router is handed no such path by the parser) */
            if (!got || (!memchr(want, '\0', wlen) && strcmp(got, want) != 0))
                abort();
            off += wlen + 1;
        }
        p = slash ? slash + 1 : end;
    }
    if (off != list->len)
        abort(); /* something beyond the parameters */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[4096 + 2];
    if (size < 1 || size > 4096 || memchr(data + 1, '\0', size - 1))
        return 0;
    static const unsigned methods[] = {PH_METHOD_GET, PH_METHOD_POST, PH_METHOD_PUT, PH_METHOD_DELETE,
                                       PH_METHOD_HEAD, 0};
    unsigned method = methods[data[0] % (sizeof methods / sizeof *methods)];
    size_t len = 0;
    if (size < 2 || data[1] != '/')
        path[len++] = '/'; /* the parser hands on "/..." only */
    memcpy(path + len, data + 1, size - 1);
    len += size - 1;
    path[len] = '\0';

    ph_request *req = ph_request_new();
    if (!req)
        abort();
    const ph_route *route = NULL;
    ph_route_match m = ph_router_match(router, path, len, method, &route, &req->params);
    fuzz_poison_spare(&req->params);
    if (m == PH_ROUTE_FOUND) {
        if (!route)
            abort();
        if (route->nsegments)
            check_params(route, path, len, req);
        else if (req->params.len != 0)
            abort();
    }
    if (ph_request_path_param(req, "no-such-parameter"))
        abort();
    unsigned allowed = ph_router_allowed(router, path, len);
    if (m == PH_ROUTE_METHOD_NOT_ALLOWED && (allowed == 0 || (allowed & method)))
        abort();
    fuzz_unpoison(&req->params);
    ph_request_recycle(req);
    return 0;
}
