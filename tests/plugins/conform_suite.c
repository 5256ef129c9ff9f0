/* conform_suite.c - the cases of the conformance suite and their one
 * set of expectations (see conform_suite.h). */
#include "conform_suite.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#define ABORT_REFUSED                                                                                    \
    "abort complete=-1 set_status=-1 set_body=-1 add_header=-1 add_header_n=-1 respond_error=-1 "      \
    "timer_start=null on_abort=-1 stream_write=-1 read=ok"

static const conform_case cases[] = {
    {"ok", 0, CONFORM_ANSWER, 200, "ok", "handled"},
    {"error", 0, CONFORM_ANSWER, 500, NULL, "handled"},
    {"pending", 0, CONFORM_ANSWER, 200, "late", "complete=0"},
    /* a second complete() is refused */
    {"twice", 0, CONFORM_ANSWER, 200, "late", "first=0 second=-1"},
    /* a 1xx is no final status: refused, the response stays the plugin's */
    {"status_1xx", 0, CONFORM_ANSWER, 201, "ok", "s100=-1 s103=-1 s199=-1 respond_error103=-1 s201=0"},
    /* complete() inside handle() is refused; returning PH_OK answers */
    {"complete_in_handle", 0, CONFORM_ANSWER, 200, "ok", "complete=-1"},
    /* after stream_begin the builders are refused, stream_write is not */
    {"stream_builders", 0, CONFORM_ANSWER, 200, "x",
     "set_status=-1 add_header=-1 add_header_n=-1 set_body=-1 stream_write=0 complete=0"},
    /* inside the abort callback: reads and timer_cancel work, complete(),
     * the builders and every new piece of work are refused */
    {"abort", 0, CONFORM_ROUTE_TIMEOUT, 0, NULL, ABORT_REFUSED},
    {"abort_stream", 0, CONFORM_CLIENT_LEAVES, 0, NULL, ABORT_REFUSED},
    /* a sync handler gets no loop primitive; it builds its response */
    {"sync_primitives", 1, CONFORM_ANSWER, 200, "ok",
     "timer_start=null complete=-1 on_abort=-1 stream_begin=-1 set_body=0"},
};

void conform_run(const conform_host *host)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conform_case *c = &cases[i];
        unsigned long id = 1000 + i;
        conform_outcome out = {0};
        host->play(c, id, &out);
        char report[256] = "";
        host->report(c, id, report, sizeof report);
        if (out.status != c->status || (c->body && strcmp(out.body, c->body) != 0) ||
            strcmp(report, c->report) != 0)
            fail_msg("%s host, case %s: got status %d body \"%s\" report \"%s\"; want %d \"%s\" \"%s\"",
                     host->name, c->name, out.status, out.body, report, c->status, c->body ? c->body : "*",
                     c->report);
    }
}
