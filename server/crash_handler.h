/* crash_handler.h - a worker's fatal-signal handler. When a thread dies of
 * SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS or SIGTRAP, the handler
 * records in this process's board record (board.h) which plugin code the
 * thread was running (route, plugin file, version, mode, what callback,
 * thread kind) and a short backtrace whose frames read "file+0xoffset",
 * so `addr2line -e plugins/x.so 0x1a2b` names the line. Without a board
 * (plughost -t, unit tests) the same report goes to stderr. Then the
 * process dies by that very signal, so the supervisor reads it with
 * WTERMSIG. Frame #0 is the faulting instruction; later frames are return
 * addresses (addr2line at offset - 1 names the line of the call).
 *
 * Threads tell the handler what they run with ph_crash_enter/leave (or
 * ph_crash_enter_site/leave_site, at a site kept by its caller) around
 * every call into plugin code: a thread-local pointer to the call's site,
 * a store to publish and one to restore. Everything the handler does is
 * async-signal-safe: no malloc, no stdio, no dladdr, no lock plugin code
 * could hold. */
#ifndef PH_CRASH_HANDLER_H
#define PH_CRASH_HANDLER_H

#include <stdatomic.h>
#include <stddef.h>

struct ph_plugin_lib;

/* A place in plugin code a thread runs. The strings and the library must
 * outlive every call marked with it. */
typedef struct ph_crash_site {
    const char *route;               /* route pattern, e.g. "/items/{id}" */
    const struct ph_plugin_lib *lib; /* NULL: not plugin code (a request made by hand in a unit test) */
    const char *what;                /* "handle()", "timer callback", "init()", ... */
} ph_crash_site;

/* This thread's site, NULL outside plugin code (initial-exec TLS: reading
 * it in the signal handler never allocates). Written only through
 * ph_crash_enter/leave and ph_crash_enter_site/leave_site. */
extern _Thread_local const ph_crash_site *ph_crash_current __attribute__((tls_model("initial-exec")));

/* The sites ph_crash_enter fills, one per nested call, and how many are in
 * use. Written only through ph_crash_enter/leave. */
#define PH_CRASH_NESTING 8
extern _Thread_local ph_crash_site ph_crash_nested[PH_CRASH_NESTING] __attribute__((tls_model("initial-exec")));
extern _Thread_local unsigned ph_crash_depth __attribute__((tls_model("initial-exec")));

/* What ph_crash_leave restores. */
typedef struct ph_crash_mark {
    const ph_crash_site *site;
    unsigned depth;
} ph_crash_mark;

/* Mark the calling thread as running plugin code at `site` (which lives
 * as long as the call). Returns the previous site, to hand to
 * ph_crash_leave_site. The nesting depth is left as it is: the calls
 * nested in this one restore it as they leave. Any thread; a load and a
 * store (the site is published by one pointer store, so a signal sees the
 * old site or the new one, never a mix). */
static inline const ph_crash_site *ph_crash_enter_site(const ph_crash_site *site)
{
    const ph_crash_site *previous = ph_crash_current;
    atomic_signal_fence(memory_order_seq_cst);
    ph_crash_current = site;
    atomic_signal_fence(memory_order_seq_cst);
    return previous;
}

/* Restore the site ph_crash_enter_site returned. Any thread; a store. */
static inline void ph_crash_leave_site(const ph_crash_site *previous)
{
    atomic_signal_fence(memory_order_seq_cst);
    ph_crash_current = previous;
    atomic_signal_fence(memory_order_seq_cst);
}

/* Mark the calling thread as running plugin code at a site made here:
 * plugin code of `lib` for route `route` (what: "handle()", "timer callback", "init()", ...), in this
 * thread's next nested site. Returns the previous mark, to hand to
 * ph_crash_leave. Past PH_CRASH_NESTING nested calls the thread stays
 * marked with the outermost of them. Any thread. */
static inline ph_crash_mark ph_crash_enter(const char *route, const struct ph_plugin_lib *lib, const char *what)
{
    unsigned depth = ph_crash_depth;
    ph_crash_mark previous = {ph_crash_current, depth};
    if (depth == PH_CRASH_NESTING)
        return previous;
    ph_crash_site *site = &ph_crash_nested[depth]; /* never the published one: that is below `depth` */
    site->route = route;
    site->lib = lib;
    site->what = what;
    ph_crash_depth = depth + 1;
    atomic_signal_fence(memory_order_seq_cst);
    ph_crash_current = site;
    atomic_signal_fence(memory_order_seq_cst);
    return previous;
}

/* Restore the mark ph_crash_enter returned. Any thread; two stores. */
static inline void ph_crash_leave(ph_crash_mark previous)
{
    atomic_signal_fence(memory_order_seq_cst);
    ph_crash_current = previous.site;
    ph_crash_depth = previous.depth;
    atomic_signal_fence(memory_order_seq_cst);
}

/* Install the handler process-wide for SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGABRT, SIGSYS and SIGTRAP (SA_SIGINFO | SA_ONSTACK; the handler itself
 * restores SIG_DFL once its report is written, see crash_handler.c), give
 * the calling thread an alternate signal stack (so a stack overflow is
 * reported too) and name it `thread_kind` ("loop"; at most 15 characters
 * are kept), and warm up backtrace() (its first call may dlopen libgcc_s,
 * which is not signal-safe). Call once, early, before other threads start.
 * Returns 0 or -1 (logged). */
int ph_crash_handler_install(const char *thread_kind);

/* For a thread started later (pool threads: "pool"): its own alternate
 * signal stack and its kind for the report. Returns 0 or -1 (logged). */
int ph_crash_thread_init(const char *thread_kind);

/* Free the calling thread's alternate stack (call before the thread
 * exits) and restore whatever alternate stack it had before. */
void ph_crash_thread_exit(void);

#endif
