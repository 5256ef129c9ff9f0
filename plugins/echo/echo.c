/*
 * echo - parses the request body as JSON and answers it re-serialised.
 *
 * Sync: parsing a large body is CPU work, so it runs on the host's pool.
 * A body that is empty, is not JSON, or has anything but whitespace after
 * the JSON value gets 400 {"error": "invalid JSON: ..."}.
 */
#include <plughost.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct echo_state {
    const ph_host_api *api;
} echo_state;

/* Store the host table. No settings. Returns 0, or -1 (no memory).
 * Loop thread. */
static int echo_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    (void)settings;
    echo_state *st = malloc(sizeof *st);
    if (!st) {
        api->log(NULL, PH_LOG_ERROR, "echo: out of memory for the instance state");
        return -1;
    }
    st->api = api;
    *state = st;
    return 0;
}

static void echo_fini(void *state) { free(state); }

static int is_json_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Parse `len` bytes as exactly one JSON value. Returns the tree, or NULL
 * with a reason in `why`. Any thread.
 *
 * cJSON_ParseWithLengthOpts is cJSON_ParseWithLength plus the end position,
 * read from our own variable rather than cJSON_GetErrorPtr()'s global, and
 * lets us refuse trailing bytes, which cJSON accepts when not asked for a
 * NUL terminator (and a length-bounded body has none). */
static cJSON *parse_body(const char *body, size_t len, char *why, size_t why_size)
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
    while (end < body + len && is_json_space(*end))
        end++;
    if (end != body + len) {
        snprintf(why, why_size, "invalid JSON: unexpected data after the value at byte %zu",
                 (size_t)(end - body));
        cJSON_Delete(json);
        return NULL;
    }
    return json;
}

/* 200 with the body re-serialised, or 400 {"error": ...}. Returns PH_OK, or
 * PH_ERROR when the host is out of memory. Pool thread. */
static int echo_handle(void *state, ph_request *req)
{
    const ph_host_api *api = ((const echo_state *)state)->api;
    size_t len;
    const char *body = api->body(req, &len);
    char why[96];
    cJSON *json = parse_body(body, len, why, sizeof why);
    if (!json)
        return api->respond_error(req, 400, why) == 0 ? PH_OK : PH_ERROR;
    int rc = api->respond_json(req, 200, json);
    cJSON_Delete(json);
    return rc == 0 ? PH_OK : PH_ERROR;
}

PH_PLUGIN_DECLARE("echo", "1.0.0", PH_MODE_SYNC, echo_init, echo_fini, echo_handle)
