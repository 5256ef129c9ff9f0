/* http_response.c - response heads without printf, and the Date line they
 * carry (refreshed at each second by a timer on the worker's loop). */
#include "http_response.h"

#include "bytes.h"
#include "config_value.h"

#include <event2/event.h>
#include <string.h>
#include <time.h>

typedef struct status_line {
    int code;
    const char *reason;
} status_line;

static const status_line reasons[] = {
    {100, "Continue"}, {101, "Switching Protocols"}, {200, "OK"}, {201, "Created"}, {202, "Accepted"},
    {204, "No Content"}, {206, "Partial Content"}, {301, "Moved Permanently"}, {302, "Found"},
    {303, "See Other"}, {304, "Not Modified"}, {307, "Temporary Redirect"}, {308, "Permanent Redirect"},
    {400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
    {405, "Method Not Allowed"}, {406, "Not Acceptable"}, {408, "Request Timeout"}, {409, "Conflict"},
    {410, "Gone"}, {411, "Length Required"}, {412, "Precondition Failed"}, {413, "Content Too Large"},
    {414, "URI Too Long"}, {415, "Unsupported Media Type"}, {417, "Expectation Failed"},
    {422, "Unprocessable Content"}, {429, "Too Many Requests"}, {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"}, {501, "Not Implemented"}, {502, "Bad Gateway"},
    {503, "Service Unavailable"}, {504, "Gateway Timeout"}, {505, "HTTP Version Not Supported"},
};

const char *ph_http_reason(int status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        if (reasons[i].code == status)
            return reasons[i].reason;
    }
    return "Unknown";
}

/* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", 37 bytes; 44 with the
 * longest year an int holds (-2147481748), 45 with the NUL. */
static char date_line[45];
static size_t date_len;
static time_t date_second = -1;
/* "HTTP/1.1 200 OK\r\nServer: plughost\r\nDate: ...\r\n": the start of
 * nearly every head, rebuilt with the Date line once a second. Sized to
 * hold the longest (copied whole: the fewer bytes, the fewer moves). */
static char ok_prefix[80];
static size_t ok_prefix_len;

#define OK_STATUS_SERVER "HTTP/1.1 200 OK\r\nServer: plughost\r\n"
_Static_assert(sizeof OK_STATUS_SERVER - 1 + sizeof date_line - 1 <= sizeof ok_prefix, "ok_prefix holds any Date");

/* Rebuild the Date line and ok_prefix for the second `now` (no Date line
 * for a time whose year an int cannot hold). Out of line: once a second. */
__attribute__((noinline)) static void new_second(time_t now)
{
    struct tm tm;
    date_len = !gmtime_r(&now, &tm) ? 0
                                    : strftime(date_line, sizeof date_line, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    date_second = now;
    memcpy(ok_prefix, OK_STATUS_SERVER, sizeof OK_STATUS_SERVER - 1);
    memcpy(ok_prefix + sizeof OK_STATUS_SERVER - 1, date_line, date_len);
    ok_prefix_len = sizeof OK_STATUS_SERVER - 1 + date_len;
}

/* The timer that brings the Date line to each new second of the loop that
 * set it up (ph_http_date_setup), or NULL: then each use reads the clock. */
static struct event *date_timer;

/* Fire again just past the next second of the wall clock, `now`. A
 * firing a little early (the loop's monotonic clock against the wall
 * clock) finds the same second and arms again for its end. */
static void arm_date_timer(const struct timespec *now)
{
    long us = 1000000L - now->tv_nsec / 1000 + 1000; /* (1 ms past the turn) */
    struct timeval tv = {us / 1000000L, us % 1000000L};
    event_add(date_timer, &tv);
}

/* Bring the Date line to the wall clock's second now (the precise clock:
 * time() follows the clock tick, which may turn a few ms after the second
 * does, and would leave the line a whole second behind), and arm again. */
static void on_date_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec != date_second)
        new_second(now.tv_sec);
    arm_date_timer(&now);
}

int ph_http_date_setup(struct event_base *base)
{
    date_timer = evtimer_new(base, on_date_timer, NULL);
    if (!date_timer)
        return -1;
    on_date_timer(-1, 0, NULL);
    return 0;
}

void ph_http_date_shutdown(void)
{
    if (date_timer)
        event_free(date_timer);
    date_timer = NULL;
}

const char *ph_http_date_line(size_t *len)
{
    if (!date_timer) { /* (no loop keeps it: read the clock) */
        time_t now = time(NULL);
        if (now != date_second)
            new_second(now);
    }
    *len = date_len;
    return date_line;
}

/* "00" to "99": two digits a step when writing a number. */
static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                     "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                     "8081828384858687888990919293949596979899";

/* Write the decimal digits of `v` at `p` (at most 20, no NUL); returns
 * the end. Counts the digits first so they go straight to their place,
 * then writes them two at a time from the right. */
static char *put_uint(char *p, size_t v)
{
    size_t n = 1, t = v;
    for (; t >= 100; t /= 100)
        n += 2;
    n += t >= 10;
    char *q = p + n;
    while (v >= 100) {
        q -= 2;
        memcpy(q, digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10)
        memcpy(q - 2, digit_pairs + 2 * v, 2);
    else
        q[-1] = (char)('0' + v);
    return p + n;
}

/* Copy a string literal to p and advance it (a fixed-size memcpy the
 * compiler turns into a few moves). */
#define PUT_LIT(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) += sizeof(s) - 1)

/* Longest head without the plugin's headers: status line with the longest
 * reason, Server, Date, Content-Length of a size_t, Content-Type,
 * Connection, the blank line. */
#define HEAD_FIXED_MAX 256
_Static_assert(HEAD_FIXED_MAX >= sizeof ok_prefix, "the 200 prefix is copied whole");

/* Start the head in `h` (empty, with room for HEAD_FIXED_MAX + date_len +
 * `extra` bytes) with the status line, Server and Date of a response that
 * does not start with ok_prefix (a status other than 200, or HTTP/1.0),
 * first making room for its reason phrase too. Returns the end, or NULL
 * (no memory). Out of line: the 200 path stays small. */
__attribute__((noinline)) static char *put_status_lines(ph_buf *h, int status, bool http10, size_t extra)
{
    const char *reason = ph_http_reason(status);
    size_t reason_n = strlen(reason);
    if (ph_buf_reserve(h, HEAD_FIXED_MAX + date_len + reason_n + extra) < 0)
        return NULL;
    char *p = h->data;
    if (http10)
        PUT_LIT(p, "HTTP/1.0 ");
    else
        PUT_LIT(p, "HTTP/1.1 ");
    p = put_uint(p, (size_t)status);
    *p++ = ' ';
    memcpy(p, reason, reason_n);
    p += reason_n;
    PUT_LIT(p, "\r\nServer: plughost\r\n");
    memcpy(p, date_line, date_len);
    return p + date_len;
}

/* (Always inline: into the writer, its one hot caller; GCC's size limit
 * would keep it apart otherwise, for a call costing more than it saves.) */
inline __attribute__((always_inline)) int ph_http_build_head(ph_request *req, bool keep_alive)
{
    ph_buf *h = &req->resp_head;
    ph_buf_reset(h);
    size_t date_n;
    ph_http_date_line(&date_n); /* brings date_line and ok_prefix to this second */
    bool http10 = req->http_major == 1 && req->http_minor == 0;
    int status = req->status;
    bool bodiless = status != 200 && ph_http_status_has_no_body(status); /* (200 first: the usual one) */
    req->no_body = bodiless || req->method_bit == PH_METHOD_HEAD;
    if (ph_buf_reserve(h, HEAD_FIXED_MAX + date_n + req->resp_headers.len) < 0)
        return -1;
    char *p;
    if (status == 200 && !http10) {
        /* All of ok_prefix, a fixed size the compiler copies in a few
         * moves; the bytes past its length are overwritten below (the
         * buffer holds HEAD_FIXED_MAX > sizeof ok_prefix). */
        p = h->data;
        memcpy(p, ok_prefix, sizeof ok_prefix);
        p += ok_prefix_len;
    } else if (!(p = put_status_lines(h, status, http10, req->resp_headers.len))) {
        return -1;
    }
    if (req->streaming) {
        if (req->chunked)
            PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    } else if (!bodiless) {
        PUT_LIT(p, "Content-Length: ");
        p = put_uint(p, req->resp_body.len);
        PUT_LIT(p, "\r\n");
        if (req->resp_body.len && !req->has_content_type)
            PUT_LIT(p, "Content-Type: application/octet-stream\r\n");
    }
    if (!keep_alive)
        PUT_LIT(p, "Connection: close\r\n");
    else if (http10)
        PUT_LIT(p, "Connection: keep-alive\r\n");
    ph_copy_bytes(p, req->resp_headers.data, req->resp_headers.len);
    p += req->resp_headers.len;
    PUT_LIT(p, "\r\n");
    h->len = (size_t)(p - h->data);
    return 0;
}
