/*
 * it_rules.c - the plugin of tests/integration/test_http_rules.c (issue
 * 10). GET ?code=N tries set_status(N) and answers "set_status(N)=rc
 * path=<path> role=<query role> id=<path param id or ->", so a test sees
 * what the host refused and which parameters a handler got. Async;
 * declares its settings ("note").
 */
#include <plughost.h>

#include <stdio.h>
#include <stdlib.h>

static const ph_host_api *api;

static int rules_init(const ph_host_api *host, const ph_settings *settings, void **state)
{
    (void)settings;
    api = host;
    *state = NULL;
    return 0;
}

static int rules_handle(void *state, ph_request *req)
{
    (void)state;
    const char *code = api->query_param(req, "code");
    int rc = code ? api->set_status(req, atoi(code)) : 0;
    const char *role = api->query_param(req, "role");
    const char *id = api->path_param(req, "id");
    char body[512];
    int n = snprintf(body, sizeof body, "set_status(%s)=%d path=%s role=%s id=%s", code ? code : "-", rc,
                     api->path(req), role ? role : "-", id ? id : "-");
    if (n < 0)
        return PH_ERROR;
    return api->set_body(req, body, (size_t)n < sizeof body ? (size_t)n : sizeof body - 1) == 0 ? PH_OK : PH_ERROR;
}

/* Declares its one setting (ABI 1.3): any other non-reserved key of its
 * route is an error. */
static const char *const rules_settings[] = {"note", NULL};
PH_PLUGIN_DECLARE_SETTINGS("it_rules", "1.0.0", PH_MODE_ASYNC, rules_init, NULL, rules_handle, rules_settings)
