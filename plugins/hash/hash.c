/*
 * hash - answers {"sha256": "<64 lowercase hex digits>"}, the SHA-256 digest
 * of the request body (of the empty string when there is none).
 *
 * Async with offload: hashing a large body is CPU work that must not hold
 * the event loop, so handle() puts the body in a job and hands it to the
 * host's pool with api->offload; the done callback, back on the loop,
 * answers and completes. When the pool's queue is full (offload returns -1)
 * the answer is 503 with Retry-After: 1, as the host answers for sync
 * handlers.
 *
 * Why the job holds a copy of the body, not a pointer into the request:
 * the body stays valid while the request lives, but when the client leaves
 * (or the route times out) the host frees the request at once, while
 * `work` may still be hashing on a pool thread; a pointer would then
 * dangle. The copy costs one memcpy, small next to the hashing itself.
 *
 * Job lifetime: `done` always runs once after `work`, with a NULL request
 * when the request ended meanwhile; it frees the job either way.
 *
 * SHA-256 comes from OpenSSL's libcrypto (EVP_Digest with EVP_sha256()):
 * Debian's maintained, security-supported build, with CPU-accelerated
 * implementations (SHA-NI, AVX2), rather than a hand-rolled one.
 *
 * No settings.
 */
#include <plughost.h>

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SHA256_HEX_LEN 64

typedef struct hash_state {
    const ph_host_api *api;
} hash_state;

typedef struct hash_job {
    const hash_state *st;
    int ok;                          /* written by work, read by done after it */
    char hex[SHA256_HEX_LEN + 1];
    size_t len;
    unsigned char data[];            /* the body, copied */
} hash_job;

/* Check the host. Returns 0, or -1 with the reason logged. Loop thread. */
static int hash_init(const ph_host_api *api, const ph_settings *settings, void **state)
{
    if (!PH_HOST_HAS(api, offload)) {
        api->log(NULL, PH_LOG_ERROR,
                 "hash: route %s: the host lacks offload (needs SDK ABI 1.1)",
                 api->route_path(settings));
        return -1;
    }
    if (!PH_HOST_HAS(api, add_header_n)) {
        api->log(NULL, PH_LOG_ERROR, "hash: route %s: the host lacks add_header_n (needs SDK ABI 1.5)",
                 api->route_path(settings));
        return -1;
    }
    hash_state *st = malloc(sizeof *st);
    if (!st) {
        api->log(NULL, PH_LOG_ERROR, "hash: out of memory for the instance state");
        return -1;
    }
    st->api = api;
    *state = st;
    return 0;
}

static void hash_fini(void *state) { free(state); }

/* Pool thread: hash the copied body into job->hex. Touches only the job. */
static void hash_work(void *arg)
{
    static const char digits[] = "0123456789abcdef";
    hash_job *job = arg;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    job->ok = EVP_Digest(job->data, job->len, md, &mdlen, EVP_sha256(), NULL) == 1 &&
              mdlen * 2 == SHA256_HEX_LEN;
    for (unsigned int i = 0; job->ok && i < mdlen; i++) {
        job->hex[2 * i] = digits[md[i] >> 4];
        job->hex[2 * i + 1] = digits[md[i] & 15];
    }
    job->hex[job->ok ? SHA256_HEX_LEN : 0] = '\0';
}

/* Loop thread, after hash_work: answer 200 {"sha256": ...} (500 if the
 * digest failed) and complete. */
static void hash_done(ph_request *req, void *arg)
{
    hash_job *job = arg;
    const ph_host_api *api = job->st->api;
    if (!req) { /* the client left (or the route timed out): only free */
        free(job);
        return;
    }
    char body[sizeof "{\"sha256\":\"\"}" + SHA256_HEX_LEN];
    int rc;
    if (job->ok) {
        memcpy(body, "{\"sha256\":\"", 11);
        memcpy(body + 11, job->hex, SHA256_HEX_LEN);
        memcpy(body + 11 + SHA256_HEX_LEN, "\"}", 2);
        rc = api->add_header_n(req, PH_LIT("Content-Type"), PH_LIT("application/json")) == 0 &&
                     api->set_body(req, body, sizeof body - 1) == 0
                 ? 0
                 : api->respond_error(req, 500, "out of memory");
    } else {
        api->log(req, PH_LOG_ERROR, "hash: EVP_Digest(SHA-256) failed");
        rc = api->respond_error(req, 500, "hashing failed");
    }
    if (rc != 0)
        api->set_status(req, 500);
    free(job);
    if (api->complete(req) != 0)
        api->log(req, PH_LOG_ERROR, "hash: complete() refused the request");
}

/* `status` {"error": message}: PH_OK, or PH_ERROR when even that fails. */
static int answer_now(const ph_host_api *api, ph_request *req, int status, const char *message)
{
    return api->respond_error(req, status, message) == 0 ? PH_OK : PH_ERROR;
}

/* Copy the body into a job and offload it: PH_PENDING; 503 when the pool
 * is full, 500 when out of memory (PH_OK). Loop thread. */
static int hash_handle(void *state, ph_request *req)
{
    const hash_state *st = state;
    const ph_host_api *api = st->api;
    size_t len;
    const void *body = api->body(req, &len);
    hash_job *job = len <= SIZE_MAX - sizeof *job ? malloc(sizeof *job + len) : NULL;
    if (!job) {
        api->log(req, PH_LOG_ERROR, "hash: no memory for a %zu-byte body", len);
        return answer_now(api, req, 500, "out of memory");
    }
    job->st = st;
    job->ok = 0;
    job->len = len;
    if (len)
        memcpy(job->data, body, len);
    if (api->offload(req, hash_work, hash_done, job) != 0) {
        free(job); /* never queued: done will not run */
        if (api->add_header_n(req, PH_LIT("Retry-After"), PH_LIT("1")) != 0)
            return PH_ERROR;
        return answer_now(api, req, 503, "the worker pool is busy, retry later");
    }
    return PH_PENDING;
}

/* No route settings: any key but the reserved ones is an error. */
static const char *const no_settings[] = {NULL};

PH_PLUGIN_DESCRIBE("hash", "1.0.0", PH_MODE_ASYNC, hash_init, hash_fini, hash_handle, no_settings,
                   "SHA-256 of the request body", NULL, "application/json")
