/* crash_handler.c - the fatal-signal handler: which plugin code crashed
 * the worker, written to the board (or stderr) async-signal-safely.
 *
 * Disposition: the handler is installed without SA_RESETHAND and restores
 * SIG_DFL itself once the report is written. SA_RESETHAND would reset the
 * disposition process-wide at the first delivery, so a second thread
 * faulting a moment later (the same plugin bug hit by two pool threads)
 * would kill the process with SIG_DFL while the first is still writing.
 * This way the second thread enters the handler, loses the race for the
 * report and waits for the first to end the process. A fault inside the
 * handler cannot recurse: every handled signal is in sa_mask, and the
 * kernel delivers a blocked synchronous fault with SIG_DFL. */
#include "crash_handler.h"

#include "board.h"
#include "crash_copies.h"
#include "log.h"
#include "plugin_loader.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

_Thread_local const ph_crash_site *ph_crash_current __attribute__((tls_model("initial-exec")));
_Thread_local ph_crash_site ph_crash_nested[PH_CRASH_NESTING] __attribute__((tls_model("initial-exec")));
_Thread_local unsigned ph_crash_depth __attribute__((tls_model("initial-exec")));

/* ---- per thread: kind and alternate stack ---- */

#define ALT_STACK_MIN (64 * 1024)

static _Thread_local char thread_kind[16] __attribute__((tls_model("initial-exec")));
static _Thread_local void *alt_map __attribute__((tls_model("initial-exec")));
static _Thread_local size_t alt_map_size __attribute__((tls_model("initial-exec")));
static _Thread_local stack_t alt_previous __attribute__((tls_model("initial-exec")));

/* Bounded copy that always NUL-terminates (cap > 0). NULL copies as "".
 * Async-signal-safe. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    if (src)
        while (n + 1 < cap && src[n])
            n++;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

int ph_crash_thread_init(const char *kind)
{
    copy_str(thread_kind, sizeof thread_kind, kind);
    if (alt_map)
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    long sig_min = sysconf(_SC_SIGSTKSZ);
    if (page <= 0)
        page = 4096;
    size_t size = ALT_STACK_MIN;
    if (sig_min > 0 && (size_t)sig_min * 4 > size)
        size = (size_t)sig_min * 4;
    size = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
    /* One guard page below the stack: a handler that overflows it faults
     * (and dies by SIG_DFL) instead of scribbling over other memory. */
    size_t total = size + (size_t)page;
    void *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) {
        ph_log_error("crash handler: cannot map an alternate signal stack: %s", strerror(errno));
        return -1;
    }
    if (mprotect(map, (size_t)page, PROT_NONE) < 0) {
        ph_log_error("crash handler: cannot protect the alternate stack's guard page: %s", strerror(errno));
        munmap(map, total);
        return -1;
    }
    stack_t ss = {.ss_sp = (char *)map + page, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, &alt_previous) < 0) {
        ph_log_error("crash handler: sigaltstack: %s", strerror(errno));
        munmap(map, total);
        return -1;
    }
    alt_map = map;
    alt_map_size = total;
    return 0;
}

void ph_crash_thread_exit(void)
{
    if (!alt_map)
        return;
    stack_t restore = alt_previous;
    if (restore.ss_flags & SS_DISABLE) {
        restore.ss_sp = NULL;
        restore.ss_size = 0;
        restore.ss_flags = SS_DISABLE;
    } else {
        restore.ss_flags = 0;
    }
    if (sigaltstack(&restore, NULL) < 0) {
        /* Never unmap a stack the kernel may still deliver on. */
        ph_log_error("crash handler: cannot release the alternate signal stack: %s", strerror(errno));
        return;
    }
    munmap(alt_map, alt_map_size);
    alt_map = NULL;
    alt_map_size = 0;
}

/* ---- async-signal-safe text output ---- */

/* Text appended into a fixed buffer, always NUL-terminated, cut short
 * when full. */
typedef struct crash_out {
    char *buf;
    size_t cap;
    size_t len;
} crash_out;

static void out_mem(crash_out *o, const char *s, size_t n)
{
    if (o->len + 1 >= o->cap)
        return;
    if (n > o->cap - 1 - o->len)
        n = o->cap - 1 - o->len;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_str(crash_out *o, const char *s) { out_mem(o, s ? s : "", s ? strlen(s) : 0); }

static void out_hex(crash_out *o, uintptr_t v)
{
    char tmp[2 * sizeof v];
    size_t n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = "0123456789abcdef"[v & 0xf];
        v >>= 4;
    } while (v);
    out_mem(o, "0x", 2);
    out_mem(o, tmp + sizeof tmp - n, n);
}

static void out_dec(crash_out *o, long v)
{
    char tmp[24];
    size_t n = 0;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[sizeof tmp - 1 - n++] = '-';
    out_mem(o, tmp + sizeof tmp - n, n);
}

/* Write all of buf to fd, retrying short writes and EINTR. */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        buf += w;
        len -= (size_t)w;
    }
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    case SIGSYS: return "SIGSYS";
    case SIGTRAP: return "SIGTRAP";
    default: return NULL;
    }
}

/* ---- /proc/self/maps ---- */

static char maps_buf[256 * 1024];
static size_t maps_len;

/* Read /proc/self/maps into maps_buf (cut at the last whole line when it
 * does not fit). Async-signal-safe. */
static void maps_read(void)
{
    maps_len = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    while (maps_len < sizeof maps_buf) {
        ssize_t n = read(fd, maps_buf + maps_len, sizeof maps_buf - maps_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        maps_len += (size_t)n;
    }
    close(fd);
    while (maps_len > 0 && maps_buf[maps_len - 1] != '\n')
        maps_len--;
}

static bool parse_hex(const char **p, const char *end, uintptr_t *out)
{
    uintptr_t v = 0;
    const char *s = *p;
    for (; s < end; s++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else
            break;
        v = v << 4 | (uintptr_t)d;
    }
    if (s == *p)
        return false;
    *p = s;
    *out = v;
    return true;
}

/* One line of /proc/self/maps. */
typedef struct crash_map {
    uintptr_t start, end, offset;
    bool readable;
    const char *dev_inode; /* "fd:01 1234", compared as text */
    size_t dev_inode_len;
    const char *path;      /* without " (deleted)"; empty when anonymous */
    size_t path_len;
} crash_map;

/* Parse the line [line, nl). Returns false when it is malformed. */
static bool parse_map_line(const char *line, const char *nl, crash_map *m)
{
    const char *p = line;
    if (!parse_hex(&p, nl, &m->start) || p >= nl || *p++ != '-' || !parse_hex(&p, nl, &m->end))
        return false;
    while (p < nl && *p == ' ')
        p++;
    m->readable = p < nl && *p == 'r';
    while (p < nl && *p != ' ') /* perms */
        p++;
    while (p < nl && *p == ' ')
        p++;
    if (!parse_hex(&p, nl, &m->offset))
        return false;
    while (p < nl && *p == ' ')
        p++;
    m->dev_inode = p;
    while (p < nl && *p != ' ') /* dev */
        p++;
    while (p < nl && *p == ' ')
        p++;
    while (p < nl && *p != ' ') /* inode */
        p++;
    m->dev_inode_len = (size_t)(p - m->dev_inode);
    while (p < nl && *p == ' ')
        p++;
    m->path = p;
    m->path_len = (size_t)(nl - p);
    static const char deleted[] = " (deleted)";
    if (m->path_len >= sizeof deleted - 1 &&
        memcmp(m->path + m->path_len - (sizeof deleted - 1), deleted, sizeof deleted - 1) == 0)
        m->path_len -= sizeof deleted - 1;
    return true;
}

static bool same_file(const crash_map *a, const crash_map *b)
{
    return a->path_len == b->path_len && a->dev_inode_len == b->dev_inode_len &&
           memcmp(a->path, b->path, a->path_len) == 0 && memcmp(a->dev_inode, b->dev_inode, a->dev_inode_len) == 0;
}

/* Find the file mapping that holds `addr`: its path and the address's
 * offset from the file's load base (the start of its offset-0 mapping),
 * which is what addr2line takes. Returns false for an address in no file
 * mapping. Async-signal-safe. */
static bool maps_find(uintptr_t addr, const char **path, size_t *path_len, uintptr_t *rel)
{
    crash_map base = {0};
    bool have_base = false;
    const char *p = maps_buf, *end = maps_buf + maps_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        crash_map m;
        if (parse_map_line(p, nl, &m) && m.path_len > 0 && m.path[0] == '/') {
            if (m.offset == 0) {
                base = m;
                have_base = true;
            }
            if (addr >= m.start && addr < m.end) {
                *path = m.path;
                *path_len = m.path_len;
                *rel = have_base && same_file(&base, &m) ? addr - base.start : addr - m.start + m.offset;
                return true;
            }
        }
        p = nl + 1;
    }
    return false;
}

/* ---- the handler ---- */

#define FRAMES_MAX 32
#define FRAMES_CAPTURED 64

static void *frames[FRAMES_CAPTURED];
static atomic_int crash_owner; /* tid of the thread writing the report */
static char stderr_text[8192];

/* The interrupted program counter into *pc; false when unknown. */
static bool context_pc(const void *uctx, uintptr_t *pc)
{
    *pc = 0;
    if (!uctx)
        return false;
#if defined(__x86_64__)
    *pc = (uintptr_t)((const ucontext_t *)uctx)->uc_mcontext.gregs[REG_RIP];
    return true;
#elif defined(__aarch64__)
    *pc = (uintptr_t)((const ucontext_t *)uctx)->uc_mcontext.pc;
    return true;
#else
    return false;
#endif
}

/* Whether [addr, addr + len) lies in one readable mapping. */
static bool maps_readable(uintptr_t addr, size_t len)
{
    const char *p = maps_buf, *end = maps_buf + maps_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        crash_map m;
        if (parse_map_line(p, nl, &m) && addr >= m.start && addr + len <= m.end)
            return m.readable;
        p = nl + 1;
    }
    return false;
}

/* For a jump to a bad address (a NULL function pointer, say), the return
 * address the call left: x86_64 pushed it at the stack pointer, aarch64
 * keeps it in the link register. 0 when unknown or unreadable. */
static uintptr_t context_return_address(const void *uctx)
{
    if (!uctx)
        return 0;
#if defined(__x86_64__)
    uintptr_t sp = (uintptr_t)((const ucontext_t *)uctx)->uc_mcontext.gregs[REG_RSP];
    if (!sp || sp % sizeof(uintptr_t) || !maps_readable(sp, sizeof(uintptr_t)))
        return 0;
    return *(const uintptr_t *)sp;
#elif defined(__aarch64__)
    return (uintptr_t)((const ucontext_t *)uctx)->uc_mcontext.regs[30];
#else
    return 0;
#endif
}

/* Append "  #n <file>+0x<off>\n" (or "  #n 0x<addr>\n") when the whole
 * line fits. */
static void out_frame(crash_out *o, int n, uintptr_t addr)
{
    char line[PH_CRASH_COPY_PATH_MAX + 64];
    crash_out l = {line, sizeof line, 0};
    out_str(&l, "  #");
    out_dec(&l, n);
    out_str(&l, " ");
    const char *path;
    size_t path_len;
    uintptr_t rel;
    if (maps_len && maps_find(addr, &path, &path_len, &rel)) {
        const char *origin = ph_crash_copy_origin(path, path_len);
        if (origin)
            out_str(&l, origin);
        else
            out_mem(&l, path, path_len);
        out_str(&l, "+");
        out_hex(&l, rel);
    } else {
        out_hex(&l, addr);
    }
    out_str(&l, "\n");
    if (o->len + l.len < o->cap)
        out_mem(o, line, l.len);
}

/* The backtrace of the faulting thread, the handler's own frames left
 * out when the interrupted pc is found among the frames. */
static void out_backtrace(crash_out *o, void *uctx)
{
    int n = backtrace(frames, FRAMES_CAPTURED);
    maps_read();
    uintptr_t pc;
    bool pc_known = context_pc(uctx, &pc);
    int first = -1;
    for (int i = 0; i < n && pc_known; i++)
        if ((uintptr_t)frames[i] == pc) {
            first = i;
            break;
        }
    int printed = 0;
    if (first >= 0) {
        for (int i = first; i < n && printed < FRAMES_MAX; i++)
            out_frame(o, printed++, (uintptr_t)frames[i]);
        return;
    }
    /* The unwinder stopped at the signal frame (a jump to a bad address,
     * say a NULL function pointer): show the pc and the caller's return
     * address when it lies in a file. */
    const char *path;
    size_t path_len;
    uintptr_t rel;
    if (pc_known && !(maps_len && maps_find(pc, &path, &path_len, &rel))) {
        out_frame(o, printed++, pc);
        uintptr_t ret = context_return_address(uctx);
        if (ret && maps_len && maps_find(ret, &path, &path_len, &rel))
            out_frame(o, printed++, ret);
        return;
    }
    for (int i = 0; i < n && printed < FRAMES_MAX; i++)
        out_frame(o, printed++, (uintptr_t)frames[i]);
}

static bool hardware_fault(int sig, const siginfo_t *info)
{
    return (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL) && info && info->si_code > 0;
}

/* Let the default action end the process by `sig`: a hardware fault
 * re-executes the faulting instruction once the handler returns; a sent
 * signal (kill, abort's SI_TKILL) is raised again, delivered on return. */
static void die_by(int sig, const siginfo_t *info)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    if (!hardware_fault(sig, info))
        raise(sig);
}

/* Header line of the stderr report. */
static void out_stderr_header(crash_out *o, int sig, bool external, pid_t sender, const ph_crash_site *mark)
{
    const char *name = signal_name(sig);
    out_str(o, "plughost: fatal signal ");
    if (name) {
        out_str(o, name);
    } else {
        out_str(o, "signal ");
        out_dec(o, sig);
    }
    if (external) {
        out_str(o, " sent by process ");
        out_dec(o, sender);
        out_str(o, "\n");
        return;
    }
    if (mark->lib) {
        const ph_plugin *d = mark->lib->desc;
        out_str(o, " in route ");
        out_str(o, mark->route);
        out_str(o, " (plugin ");
        out_str(o, mark->lib->path);
        out_str(o, " version ");
        out_str(o, d ? d->version : "?");
        out_str(o, ", ");
        out_str(o, d ? (d->mode == PH_MODE_ASYNC ? "async" : "sync") : "?");
        out_str(o, ", in ");
        out_str(o, mark->what);
        out_str(o, ")");
    } else {
        out_str(o, " outside plugin code");
    }
    out_str(o, ", ");
    out_str(o, thread_kind[0] ? thread_kind : "unnamed");
    out_str(o, " thread\n");
}

/* Fill this process's board record. */
static void report_to_board(ph_crash_record *r, int sig, bool external, const ph_crash_site *mark, void *uctx)
{
    r->route[0] = r->plugin[0] = r->version[0] = r->mode[0] = r->what[0] = r->backtrace[0] = '\0';
    r->signal = sig;
    r->external = external;
    r->marked = !external && mark->lib;
    copy_str(r->thread, sizeof r->thread, thread_kind);
    if (r->marked) {
        const ph_plugin *d = mark->lib->desc;
        copy_str(r->route, sizeof r->route, mark->route);
        copy_str(r->plugin, sizeof r->plugin, mark->lib->path);
        copy_str(r->version, sizeof r->version, d ? d->version : NULL);
        copy_str(r->mode, sizeof r->mode, d ? (d->mode == PH_MODE_ASYNC ? "async" : "sync") : NULL);
        copy_str(r->what, sizeof r->what, mark->what);
    }
    if (!external) {
        crash_out o = {r->backtrace, sizeof r->backtrace, 0};
        out_backtrace(&o, uctx);
    }
    atomic_store_explicit(&r->written, 1, memory_order_release);
}

static void crash_handler(int sig, siginfo_t *info, void *uctx)
{
    int saved_errno = errno;
    int me = (int)gettid();
    int owner = 0;
    if (!atomic_compare_exchange_strong(&crash_owner, &owner, me)) {
        /* Another thread is writing its report and will end the process;
         * wait for it (bounded, should it never get there). The same
         * thread again (cannot happen with the mask): just die. */
        struct timespec nap = {0, 10 * 1000 * 1000};
        for (int i = 0; i < 1000 && owner != me; i++)
            nanosleep(&nap, NULL);
        die_by(sig, info);
        errno = saved_errno;
        return;
    }
    bool external = info && info->si_code <= 0 && info->si_pid != getpid();
    /* A snapshot, so the report is of one site. */
    const ph_crash_site *site = ph_crash_current;
    ph_crash_site mark = site ? *site : (ph_crash_site){0};
    if (external)
        mark.lib = NULL;
    ph_board_record *self = ph_board_self();
    if (self) {
        report_to_board(&self->crash, sig, external, &mark, uctx);
    } else {
        crash_out o = {stderr_text, sizeof stderr_text, 0};
        out_stderr_header(&o, sig, external, info ? info->si_pid : 0, &mark);
        if (!external)
            out_backtrace(&o, uctx);
        write_all(STDERR_FILENO, o.buf, o.len);
    }
    die_by(sig, info);
    errno = saved_errno;
}

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGTRAP};

int ph_crash_handler_install(const char *kind)
{
    if (ph_crash_thread_init(kind) < 0)
        return -1;
    void *warm[4];
    (void)backtrace(warm, 4); /* loads libgcc_s now, not inside the handler */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
        sigaddset(&sa.sa_mask, crash_signals[i]);
    for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
        if (sigaction(crash_signals[i], &sa, NULL) < 0) {
            ph_log_error("crash handler: cannot handle %s: %s", signal_name(crash_signals[i]), strerror(errno));
            return -1;
        }
    return 0;
}
