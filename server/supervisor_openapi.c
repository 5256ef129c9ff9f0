/* supervisor_openapi.c - an OpenAPI 3.0 document of the public routes
 * the good generation serves: each route pattern a path ("{name}"
 * segments become path parameters), each configured method an operation
 * naming the plugin that answers it. */
#include "config_value.h"
#include "listen_socket.h"
#include "supervisor_internal.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#ifndef PLUGHOST_VERSION
#define PLUGHOST_VERSION "0.0.0"
#endif

/* One path parameter object per "{name}" segment of `pattern`. */
static cJSON *path_parameters(const char *pattern)
{
    cJSON *params = cJSON_CreateArray();
    for (const char *p = strchr(pattern, '{'); params && p; p = strchr(p + 1, '{')) {
        const char *end = strchr(p, '}');
        if (!end)
            break;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(end - p - 1), p + 1);
        cJSON *param = cJSON_CreateObject();
        if (!param)
            break;
        cJSON_AddItemToArray(params, param);
        cJSON_AddStringToObject(param, "name", name);
        cJSON_AddStringToObject(param, "in", "path");
        cJSON_AddBoolToObject(param, "required", true);
        cJSON *schema = cJSON_AddObjectToObject(param, "schema");
        if (schema)
            cJSON_AddStringToObject(schema, "type", "string");
    }
    return params;
}

/* An operationId: method and pattern with anything but letters and digits
 * as '_' ("get__items__id_"). */
static void operation_id(char *out, size_t size, const char *method, const char *pattern)
{
    size_t n = (size_t)snprintf(out, size, "%s_%s", method, pattern);
    for (size_t i = 0; i < n && i < size; i++)
        out[i] = isalnum((unsigned char)out[i]) ? (char)tolower((unsigned char)out[i]) : '_';
}

/* The operation `method` of route `rc`, with what its plugin declares
 * (`d`, may be NULL): its summary instead of the generated one, its
 * request type for the body of POST, PUT and PATCH instead of any, and
 * its response type as a "200" response beside "default". */
static cJSON *operation(const ph_route_conf *rc, const char *method, unsigned bit, const ph_check_describe *d)
{
    cJSON *op = cJSON_CreateObject();
    if (!op)
        return NULL;
    char text[700];
    snprintf(text, sizeof text, "%s %s (plugin %s)", method, rc->path, rc->plugin);
    cJSON_AddStringToObject(op, "summary", d && d->summary[0] ? d->summary : text);
    snprintf(text, sizeof text, "Answered by the plugin file %s.", rc->plugin_path);
    cJSON_AddStringToObject(op, "description", text);
    operation_id(text, sizeof text, method, rc->path);
    cJSON_AddStringToObject(op, "operationId", text);
    cJSON *params = path_parameters(rc->path);
    if (params && cJSON_GetArraySize(params) > 0)
        cJSON_AddItemToObject(op, "parameters", params);
    else
        cJSON_Delete(params);
    if (bit & (PH_METHOD_POST | PH_METHOD_PUT | PH_METHOD_PATCH)) {
        cJSON *body = cJSON_AddObjectToObject(op, "requestBody");
        cJSON *content = body ? cJSON_AddObjectToObject(body, "content") : NULL;
        const char *type = d && d->request_type[0] ? d->request_type : "*/*";
        cJSON *any = content ? cJSON_AddObjectToObject(content, type) : NULL;
        if (any)
            cJSON_AddObjectToObject(any, "schema");
    }
    cJSON *responses = cJSON_AddObjectToObject(op, "responses");
    if (responses && d && d->response_type[0]) {
        cJSON *ok = cJSON_AddObjectToObject(responses, "200");
        if (ok)
            cJSON_AddStringToObject(ok, "description", "the plugin's answer");
        cJSON *content = ok ? cJSON_AddObjectToObject(ok, "content") : NULL;
        cJSON *media = content ? cJSON_AddObjectToObject(content, d->response_type) : NULL;
        if (media)
            cJSON_AddObjectToObject(media, "schema");
    }
    cJSON *def = responses ? cJSON_AddObjectToObject(responses, "default") : NULL;
    if (def)
        cJSON_AddStringToObject(def, "description", "whatever the plugin answers");
    return op;
}

char *ph_sup_openapi_json(const ph_supervisor *sv)
{
    cJSON *doc = cJSON_CreateObject();
    if (!doc)
        return NULL;
    cJSON_AddStringToObject(doc, "openapi", "3.0.3");
    cJSON *info = cJSON_AddObjectToObject(doc, "info");
    if (info) {
        cJSON_AddStringToObject(info, "title", "plughost routes");
        char version[64];
        snprintf(version, sizeof version, "%s (generation %lu)", PLUGHOST_VERSION, sv->good_number);
        cJSON_AddStringToObject(info, "version", version);
    }
    cJSON *servers = cJSON_AddArrayToObject(doc, "servers");
    cJSON *server = servers ? cJSON_CreateObject() : NULL;
    if (server) {
        char url[320], where[128];
        snprintf(url, sizeof url, "http://%s", ph_listen_describe(sv->listen_fd, where, sizeof where));
        cJSON_AddStringToObject(server, "url", url);
        cJSON_AddItemToArray(servers, server);
    }
    cJSON *paths = cJSON_AddObjectToObject(doc, "paths");
    const ph_config *cfg = sv->good_config;
    for (size_t i = 0; paths && i < cfg->nroutes; i++) {
        const ph_route_conf *rc = &cfg->routes[i];
        cJSON *item = cJSON_AddObjectToObject(paths, rc->path);
        for (unsigned bit = 1; item && bit < (1u << PH_METHOD_COUNT); bit <<= 1) {
            if (!(rc->methods & bit))
                continue;
            char lower[16];
            const char *name = ph_method_name(bit);
            size_t n = 0;
            for (; name[n] && n < sizeof lower - 1; n++)
                lower[n] = (char)tolower((unsigned char)name[n]);
            lower[n] = '\0';
            cJSON *op = operation(rc, lower, bit, ph_sup_plugins_declared(sv, i));
            if (op)
                cJSON_AddItemToObject(item, lower, op);
        }
    }
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return text;
}
