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
 * Threads tell the handler what they run with ph_crash_enter/leave around
 * every call into plugin code: a thread-local mark, a few plain stores.
 * Everything the handler does is async-signal-safe: no malloc, no stdio,
 * no dladdr, no lock plugin code could hold. */
#ifndef PH_CRASH_HANDLER_H
#define PH_CRASH_HANDLER_H

#include <stdatomic.h>
#include <stddef.h>

struct ph_plugin_lib;

/* What the calling thread runs; all NULL outside plugin code. The strings
 * and the library must outlive the mark. */
typedef struct ph_crash_mark {
    const char *route;               /* route pattern, e.g. "/items/{id}" */
    const struct ph_plugin_lib *lib; /* set: the thread is inside plugin code */
    const char *what;                /* "handle()", "timer callback", "init()", ... */
} ph_crash_mark;

/* This thread's mark (initial-exec TLS: reading it in the signal handler
 * never allocates). Written only through ph_crash_enter/leave. */
extern _Thread_local ph_crash_mark ph_crash_current __attribute__((tls_model("initial-exec")));

/* Mark the calling thread as running plugin code of `lib` for route
 * `route` (what: "handle()", "timer callback", "init()", ...). Returns the
 * previous mark, to hand to ph_crash_leave. Any thread; a few plain stores
 * and compiler barriers (lib is cleared first and set last, so a signal
 * in between never pairs one mark's lib with another's route). */
static inline ph_crash_mark ph_crash_enter(const char *route, const struct ph_plugin_lib *lib, const char *what)
{
    ph_crash_mark previous = ph_crash_current;
    ph_crash_current.lib = NULL;
    atomic_signal_fence(memory_order_seq_cst);
    ph_crash_current.route = route;
    ph_crash_current.what = what;
    atomic_signal_fence(memory_order_seq_cst);
    ph_crash_current.lib = lib;
    atomic_signal_fence(memory_order_seq_cst);
    return previous;
}

/* Restore the mark ph_crash_enter returned. Any thread; same cost. */
static inline void ph_crash_leave(ph_crash_mark previous)
{
    atomic_signal_fence(memory_order_seq_cst);
    ph_crash_current.lib = NULL;
    atomic_signal_fence(memory_order_seq_cst);
    ph_crash_current.route = previous.route;
    ph_crash_current.what = previous.what;
    atomic_signal_fence(memory_order_seq_cst);
    ph_crash_current.lib = previous.lib;
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
