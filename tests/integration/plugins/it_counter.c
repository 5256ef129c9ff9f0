/*
 * it_counter.c - an async plugin with state: answers how many requests
 * this instance has served ("1", "2", ...). A reload that leaves its file
 * and settings unchanged must keep the instance, so the count goes on.
 */
#include <plughost.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct counter_state {
    const ph_host_api *api;
    unsigned long served;
} counter_state;

static int counter_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    (void)settings;
    counter_state *st = calloc(1, sizeof *st);
    if (!st)
        return -1;
    st->api = api;
    *state = st;
    return 0;
}

static int counter_handle(void *state, ph_request *req)
{
    counter_state *st = state;
    char body[32];
    int n = snprintf(body, sizeof body, "%lu", ++st->served);
    st->api->add_header(req, "Content-Type", "text/plain");
    st->api->set_body(req, body, (size_t)n);
    return PH_OK;
}

PH_PLUGIN_DECLARE("it_counter", "1.0.0", PH_MODE_ASYNC, counter_init, free, counter_handle)
