/* fetch_parse.c - llhttp in response mode behind a pull interface (see
 * fetch_parse.h). The llhttp callbacks only record: the body and the end
 * of the message pause llhttp, so one execute yields at most a head and
 * one of (body piece, end), which ph_resp_parse hands out in order. */
#include "fetch_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P(l) ((ph_resp_parser *)(l)->data)

static llhttp_settings_t settings;
static bool settings_ready;

/* Record why the response is refused; the callback returns this. */
static int refuse(ph_resp_parser *p, const char *fmt, int arg)
{
    snprintf(p->why_buf, sizeof p->why_buf, fmt, arg);
    p->why = p->why_buf;
    return HPE_USER;
}

static int count_head(ph_resp_parser *p, size_t len)
{
    p->head_bytes += len;
    if (p->head_bytes > PH_RESP_MAX_HEAD)
        return refuse(p, "response head larger than %d KiB", (int)(PH_RESP_MAX_HEAD / 1024));
    return 0;
}

static int no_memory(ph_resp_parser *p)
{
    p->why = "no memory for the response head";
    return HPE_USER;
}

/* Terminate the value being received (an empty one gets no callback). */
static int close_value(ph_resp_parser *p)
{
    if (!p->value_open)
        return 0;
    p->value_open = false;
    return ph_buf_append(&p->arena, "", 1) < 0 ? no_memory(p) : 0;
}

static int on_message_begin(llhttp_t *l)
{
    ph_resp_parser *p = P(l);
    /* a fresh head: the first response, or the one after a 100 */
    p->arena.len = 0;
    p->nfields = 0;
    p->head_bytes = 0;
    p->in_field = p->value_open = false;
    p->status = 0;
    return 0;
}

static int on_status(llhttp_t *l, const char *at, size_t len)
{
    (void)at;
    return count_head(P(l), len);
}

static int on_header_field(llhttp_t *l, const char *at, size_t len)
{
    ph_resp_parser *p = P(l);
    if (p->head_done)
        return 0; /* a trailer: dropped */
    if (!p->in_field) {
        if (close_value(p) != 0)
            return HPE_USER;
        if (p->nfields == p->fields_cap) {
            size_t cap = p->fields_cap ? p->fields_cap * 2 : 16;
            ph_resp_field *f = realloc(p->fields, cap * sizeof *f);
            if (!f)
                return no_memory(p);
            p->fields = f;
            p->fields_cap = cap;
        }
        p->fields[p->nfields++] = (ph_resp_field){.name_off = (uint32_t)p->arena.len, .value_off = 0};
        p->in_field = true;
    }
    if (count_head(p, len) != 0)
        return HPE_USER;
    return ph_buf_append(&p->arena, at, len) < 0 ? no_memory(p) : 0;
}

static int on_header_field_complete(llhttp_t *l)
{
    ph_resp_parser *p = P(l);
    if (p->head_done)
        return 0;
    if (ph_buf_append(&p->arena, "", 1) < 0)
        return no_memory(p);
    p->in_field = false;
    p->value_open = true;
    p->fields[p->nfields - 1].value_off = (uint32_t)p->arena.len;
    return 0;
}

static int on_header_value(llhttp_t *l, const char *at, size_t len)
{
    ph_resp_parser *p = P(l);
    if (p->head_done)
        return 0;
    if (count_head(p, len) != 0)
        return HPE_USER;
    size_t start = p->arena.len;
    if (ph_buf_append(&p->arena, at, len) < 0)
        return no_memory(p);
    for (size_t i = start; i < p->arena.len; i++) { /* obs-fold: its CRLF becomes spaces */
        if (p->arena.data[i] == '\r' || p->arena.data[i] == '\n')
            p->arena.data[i] = ' ';
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *l)
{
    ph_resp_parser *p = P(l);
    return p->head_done ? 0 : close_value(p);
}

static int on_headers_complete(llhttp_t *l)
{
    ph_resp_parser *p = P(l);
    if (close_value(p) != 0)
        return HPE_USER;
    int status = l->status_code;
    if (status == 100) {
        if (++p->interim > PH_RESP_MAX_INTERIM)
            return refuse(p, "more than %d interim 100 Continue responses", (int)PH_RESP_MAX_INTERIM);
        p->skip_interim = true;
        return 1; /* no body; the final response follows */
    }
    if (status < 200)
        return refuse(p, "interim %d response (only 100 Continue is understood)", status);
    p->status = status;
    p->head_done = true;
    p->ev_head = true;
    if (p->head_request || status == 204 || status == 304)
        return 1; /* no body, whatever Content-Length says */
    p->has_length = (l->flags & F_CONTENT_LENGTH) && !(l->flags & F_CHUNKED);
    p->length = l->content_length;
    return 0;
}

static int on_body(llhttp_t *l, const char *at, size_t len)
{
    ph_resp_parser *p = P(l);
    if (!len)
        return 0;
    p->ev_body = true;
    p->body_off = (size_t)(at - p->data);
    p->body_len = len;
    return HPE_PAUSED; /* one piece per pull */
}

static int on_message_complete(llhttp_t *l)
{
    ph_resp_parser *p = P(l);
    if (p->skip_interim) {
        p->skip_interim = false;
        return 0; /* parse on: the next message is the answer */
    }
    p->ended = true;
    p->ev_end = true;
    p->keep_alive = llhttp_should_keep_alive(l);
    return HPE_PAUSED;
}

static void init_settings(void)
{
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_status = on_status;
    settings.on_header_field = on_header_field;
    settings.on_header_field_complete = on_header_field_complete;
    settings.on_header_value = on_header_value;
    settings.on_header_value_complete = on_header_value_complete;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    settings_ready = true;
}

void ph_resp_init(ph_resp_parser *p, bool head_request)
{
    if (!settings_ready)
        init_settings();
    memset(p, 0, sizeof *p);
    llhttp_init(&p->llhttp, HTTP_RESPONSE, &settings);
    p->llhttp.data = p;
    p->head_request = head_request;
}

void ph_resp_free(ph_resp_parser *p)
{
    ph_buf_free(&p->arena);
    free(p->fields);
    free(p->pairs);
    p->fields = NULL;
    p->pairs = NULL;
    p->nfields = p->fields_cap = 0;
}

/* The next recorded event; the last one of an execute releases its bytes. */
static ph_resp_event next_event(ph_resp_parser *p, const char *data, size_t *used, const char **piece,
                                size_t *piece_len)
{
    ph_resp_event ev;
    if (p->ev_head) {
        p->ev_head = false;
        ev = PH_RESP_HEAD;
    } else if (p->ev_body) {
        p->ev_body = false;
        *piece = data + p->body_off;
        *piece_len = p->body_len;
        ev = PH_RESP_BODY;
    } else if (p->ev_end) {
        p->ev_end = false;
        ev = PH_RESP_END;
    } else {
        ev = PH_RESP_MORE;
    }
    bool last = !p->ev_head && !p->ev_body && !p->ev_end;
    *used = last ? p->used : 0;
    if (last)
        p->used = 0;
    return ev;
}

/* Failed: name the reason. */
static ph_resp_event failed(ph_resp_parser *p)
{
    if (!p->why) {
        const char *reason = llhttp_get_error_reason(&p->llhttp);
        snprintf(p->why_buf, sizeof p->why_buf, "malformed response (%s)",
                 reason ? reason : llhttp_errno_name(llhttp_get_errno(&p->llhttp)));
        p->why = p->why_buf;
    }
    return PH_RESP_ERROR;
}

ph_resp_event ph_resp_parse(ph_resp_parser *p, const char *data, size_t len, size_t *used, const char **piece,
                            size_t *piece_len)
{
    *used = 0;
    *piece = NULL;
    *piece_len = 0;
    if (p->why)
        return PH_RESP_ERROR;
    if (!p->ev_head && !p->ev_body && !p->ev_end) {
        if (p->ended)
            return failed(p); /* (the caller pulls no more after END) */
        if (llhttp_get_errno(&p->llhttp) == HPE_PAUSED)
            llhttp_resume(&p->llhttp);
        p->data = data;
        llhttp_errno_t err = llhttp_execute(&p->llhttp, data, len);
        p->data = NULL;
        if (err == HPE_OK)
            p->used = len;
        else if (err == HPE_PAUSED)
            p->used = (size_t)(llhttp_get_error_pos(&p->llhttp) - data);
        else
            return failed(p);
        if (err == HPE_PAUSED && p->ev_body && p->used == len) {
            /* The piece ends the bytes: the message may end right there,
             * which llhttp tells only on its next run. Run it on no bytes
             * now, or the END would wait for bytes that never come. */
            llhttp_resume(&p->llhttp);
            p->data = data;
            err = llhttp_execute(&p->llhttp, data + len, 0);
            p->data = NULL;
            if (err != HPE_OK && err != HPE_PAUSED)
                return failed(p);
        }
    }
    return next_event(p, data, used, piece, piece_len);
}

ph_resp_event ph_resp_parse_eof(ph_resp_parser *p)
{
    if (p->why)
        return PH_RESP_ERROR;
    if (!p->ended) {
        if (llhttp_get_errno(&p->llhttp) == HPE_PAUSED)
            llhttp_resume(&p->llhttp);
        llhttp_errno_t err = llhttp_finish(&p->llhttp);
        if ((err == HPE_OK || err == HPE_PAUSED) && p->ev_end) {
            p->ev_end = false;
            return PH_RESP_END;
        }
    }
    if (!p->why)
        p->why = "the connection closed before the response was complete";
    return PH_RESP_ERROR;
}

int ph_resp_status(const ph_resp_parser *p) { return p->status; }

const char *const *ph_resp_headers(ph_resp_parser *p, size_t *n)
{
    *n = p->nfields;
    if (!p->pairs) {
        p->pairs = malloc((2 * p->nfields + 1) * sizeof *p->pairs);
        if (!p->pairs) {
            *n = 0;
            return NULL;
        }
        for (size_t i = 0; i < p->nfields; i++) {
            p->pairs[2 * i] = p->arena.data + p->fields[i].name_off;
            p->pairs[2 * i + 1] = p->arena.data + p->fields[i].value_off;
        }
        p->pairs[2 * p->nfields] = NULL;
    }
    return p->pairs;
}

bool ph_resp_declared_length(const ph_resp_parser *p, uint64_t *len)
{
    if (!p->has_length)
        return false;
    *len = p->length;
    return true;
}

bool ph_resp_keep_alive(const ph_resp_parser *p) { return p->keep_alive; }

const char *ph_resp_why(const ph_resp_parser *p) { return p->why ? p->why : ""; }
