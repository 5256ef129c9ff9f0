/*
 * plugin_json_body.h - parse a request body as exactly one JSON value, for
 * bundled plugins that take JSON (echo, items). Header-only, so each plugin
 * .so stays self-contained.
 */
#ifndef PLUGIN_JSON_BODY_H
#define PLUGIN_JSON_BODY_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

static inline int plugin_json_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Parse `len` bytes as exactly one JSON value. Returns the tree (the caller
 * frees it with cJSON_Delete), or NULL with a reason in `why`, starting with
 * "invalid JSON: ". Any thread.
 *
 * cJSON_ParseWithLengthOpts is cJSON_ParseWithLength plus the end position,
 * read from our own variable rather than cJSON_GetErrorPtr()'s global, and
 * lets us refuse trailing bytes, which cJSON accepts when not asked for a
 * NUL terminator (and a length-bounded body has none). */
static inline cJSON *plugin_json_parse_body(const char *body, size_t len, char *why,
                                            size_t why_size)
{
    if (len == 0) {
        snprintf(why, why_size, "invalid JSON: empty body");
        return NULL;
    }
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!json) {
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        snprintf(why, why_size, "invalid JSON: syntax error at byte %zu", at);
        return NULL;
    }
    while (end < body + len && plugin_json_is_space(*end))
        end++;
    if (end != body + len) {
        snprintf(why, why_size, "invalid JSON: unexpected data after the value at byte %zu",
                 (size_t)(end - body));
        cJSON_Delete(json);
        return NULL;
    }
    return json;
}

#endif
