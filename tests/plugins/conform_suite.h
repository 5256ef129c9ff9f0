/*
 * conform_suite.h - one conformance suite of plugin-visible behaviour, run
 * against both hosts: the SDK's mock host (test_conform_mock.c) and the
 * real server binary (tests/integration/test_conform_server.c). The cases
 * and their expectations live in conform_suite.c, once; a driver only
 * says how to play a request on its host. The plugin is it_conform.
 */
#ifndef CONFORM_SUITE_H
#define CONFORM_SUITE_H

#include <stddef.h>

/* How a case's request ends. */
typedef enum conform_end {
    CONFORM_ANSWER,        /* the plugin answers; read the response */
    CONFORM_ROUTE_TIMEOUT, /* the route's timeout passes first */
    CONFORM_CLIENT_LEAVES, /* the client leaves once the stream began */
} conform_end;

typedef struct conform_case {
    const char *name;   /* it_conform's case */
    int sync;           /* 1: played by it_conform_sync (a sync plugin) */
    conform_end end;
    int status;         /* the status the plugin's answer has (0: none, aborted) */
    const char *body;   /* its body (NULL: not compared, the host's error body) */
    const char *report; /* what the plugin recorded its SDK calls returned */
} conform_case;

/* What a host produced for a case. */
typedef struct conform_outcome {
    int status;      /* 0 when the request was aborted */
    char body[256];
} conform_outcome;

/* A host: play case `c` as request `id` and fill `out`; put the plugin's
 * record for `id` into buf (waiting for it, bounded). */
typedef struct conform_host {
    const char *name;
    void (*play)(const conform_case *c, unsigned long id, conform_outcome *out);
    void (*report)(const conform_case *c, unsigned long id, char *buf, size_t len);
} conform_host;

/* Run every case on `host` (cmocka assertions). */
void conform_run(const conform_host *host);

#endif
