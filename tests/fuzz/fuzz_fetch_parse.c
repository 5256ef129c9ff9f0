/* fuzz_fetch_parse.c - libFuzzer harness for an upstream's response
 * (server/fetch_parse.c over llhttp in response mode), fed as the fetch
 * feeds it: in arrival pieces appended to the bytes not yet used.
 *
 * Input: one control byte (bit 0: the request was a HEAD; bit 1: the peer
 * closes after the bytes; bits 2-7: the arrival piece size, 1..64, 0 for
 * all at once), then the response bytes. Checks besides the sanitizers:
 *  - every BODY piece lies inside the bytes given, and no event uses more
 *    bytes than it was given;
 *  - exactly one head before any body, at most one END, nothing after END
 *    or ERROR;
 *  - the body is never longer than the input, and an END of a response
 *    with a declared length delivered exactly that many bytes;
 *  - a head's status is a final one (200..999): no 1xx ever comes out. */
#include "fetch_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A broken invariant is a crash libFuzzer keeps. */
#define FUZZ_CHECK(cond) \
    do {                 \
        if (!(cond))     \
            abort();     \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool head_request = data[0] & 1, eof = data[0] & 2;
    size_t step = data[0] >> 2;
    const char *wire = (const char *)data + 1;
    size_t len = size - 1;
    char *buf = malloc(len + 1);
    if (!buf)
        return 0;
    ph_resp_parser p;
    ph_resp_init(&p, head_request);
    size_t have = 0, start = 0, body = 0;
    int heads = 0, ends = 0;
    bool over = false, declared = false;
    uint64_t length = 0;
    while (!over && have < len) {
        size_t n = step ? (len - have < step ? len - have : step) : len - have;
        memcpy(buf + have, wire + have, n);
        have += n;
        while (!over && start < have) {
            size_t used;
            const char *piece;
            size_t plen;
            ph_resp_event ev = ph_resp_parse(&p, buf + start, have - start, &used, &piece, &plen);
            FUZZ_CHECK(used <= have - start);
            switch (ev) {
            case PH_RESP_HEAD:
                FUZZ_CHECK(heads == 0 && body == 0);
                heads++;
                FUZZ_CHECK(ph_resp_status(&p) >= 200);
                declared = ph_resp_declared_length(&p, &length);
                size_t nh;
                FUZZ_CHECK(ph_resp_headers(&p, &nh) != NULL);
                break;
            case PH_RESP_BODY:
                FUZZ_CHECK(heads == 1);
                FUZZ_CHECK(plen > 0 && piece >= buf + start && piece + plen <= buf + have);
                body += plen;
                break;
            case PH_RESP_END:
                FUZZ_CHECK(heads == 1);
                ends++;
                over = true;
                break;
            case PH_RESP_ERROR:
                over = true;
                break;
            case PH_RESP_MORE:
                FUZZ_CHECK(used == have - start);
                break;
            }
            start += used;
            if (ev == PH_RESP_MORE)
                break;
        }
    }
    if (!over && eof && ph_resp_parse_eof(&p) == PH_RESP_END) {
        FUZZ_CHECK(heads == 1);
        ends++;
    }
    FUZZ_CHECK(ends <= 1 && body <= len);
    if (ends && declared)
        FUZZ_CHECK(body == length);
    ph_resp_free(&p);
    free(buf);
    return 0;
}
