/* test_crash_handler.c - server/crash_handler.c: what a crashing worker
 * leaves on the board. Every crash happens in a forked child (the test
 * process stays clean) that attaches record 0 of a board the parent
 * created; the mapping is shared, so the parent reads the record after
 * waitpid. Children never return into cmocka: they die or _exit. */
#include "crash_handler.h"
#include "crash_copies.h"

#include "board.h"
#include "plugin_loader.h"
#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>

static ph_board *board;
static int board_fd = -1;
static char *dir;
static char exe[4096];

static const ph_plugin boom_desc = {PH_ABI_VERSION, sizeof(ph_plugin), "boom", "1.2.3", PH_MODE_SYNC, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
static const ph_plugin_lib boom_lib = {.path = (char *)"/plugins/boom.so", .desc = &boom_desc, .refs = 1};
static const ph_plugin crashy_desc = {PH_ABI_VERSION, sizeof(ph_plugin), "crashy", "0.9", PH_MODE_ASYNC, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
static const ph_plugin_lib crashy_lib = {.path = (char *)"/configured/crashy.so", .desc = &crashy_desc, .refs = 1};

static int group_setup(void **state)
{
    (void)state;
    board_fd = ph_board_create(&board);
    if (board_fd < 0)
        return -1;
    dir = ut_mkdtemp("ph-unit-crash");
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    close(board_fd);
    ut_rmtree(dir);
    free(dir);
    return 0;
}

static ph_crash_record *record(void) { return &board->records[0].crash; }

/* ---- children ---- */

typedef void (*child_fn)(void *arg);

/* Fork a child that attaches board record 0 (when with_board), installs
 * the handler as the "loop" thread and runs fn, which should not return.
 * The child gives up after 20 s (SIGALRM). */
static pid_t start_child(bool with_board, child_fn fn, void *arg)
{
    ph_board_reset(&board->records[0]);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20);
        if (with_board && ph_board_attach(board_fd, 0) < 0)
            _exit(90);
        if (ph_crash_handler_install("loop") < 0)
            _exit(91);
        fn(arg);
        _exit(92);
    }
    return pid;
}

/* waitpid with a 30 s bound; returns the status. */
static int wait_child(pid_t pid)
{
    for (int i = 0; i < 3000; i++) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        assert_true(r == 0);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("child %d did not end within 30 s", (int)pid);
    return -1;
}

static void assert_killed_by(int status, int sig)
{
    if (!WIFSIGNALED(status))
        fail_msg("child exited with %d instead of dying by signal %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                 sig);
    if (WTERMSIG(status) != sig)
        fail_msg("child died by signal %d instead of %d", WTERMSIG(status), sig);
}

/* Read exactly len bytes from fd within 20 s. */
static void read_exactly(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 20000) <= 0)
            fail_msg("no data from the child");
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            fail_msg("the child closed the pipe early");
        got += (size_t)n;
    }
}

/* The hex offset after the first occurrence of "<file>+0x" in text, or
 * UINTPTR_MAX when file is not named. */
static uintptr_t frame_offset(const char *text, const char *file)
{
    char needle[8400];
    snprintf(needle, sizeof needle, " %s+0x", file);
    const char *hit = strstr(text, needle);
    return hit ? (uintptr_t)strtoull(hit + strlen(needle), NULL, 16) : UINTPTR_MAX;
}

static void assert_written(int sig, bool external, bool marked)
{
    ph_crash_record *r = record();
    assert_int_equal(atomic_load(&r->written), 1);
    assert_int_equal(r->signal, sig);
    assert_int_equal(r->external, external);
    assert_int_equal(r->marked, marked);
}

static void assert_boom_mark(void)
{
    ph_crash_record *r = record();
    assert_string_equal(r->route, "/boom");
    assert_string_equal(r->plugin, "/plugins/boom.so");
    assert_string_equal(r->version, "1.2.3");
    assert_string_equal(r->mode, "sync");
    assert_string_equal(r->what, "handle()");
}

/* A frame names the test executable, with an offset. */
static void assert_frame_in_exe(const char *text)
{
    if (frame_offset(text, exe) == UINTPTR_MAX)
        fail_msg("no frame in %s:\n%s", exe, text);
}

/* A real NULL store: the empty asm hides the pointer's value, so the
 * optimiser neither traps nor drops the store (it does both with a plain
 * or a volatile NULL pointer at -O3); no_sanitize_undefined keeps UBSan
 * (ASan build) from reporting it and exiting before the fault. */
__attribute__((noinline, no_sanitize_undefined)) static void write_null(void)
{
    int *target = NULL;
    __asm__ volatile("" : "+r"(target));
    *target = 1;
}

static void crash_in_boom(void *arg)
{
    (void)arg;
    ph_crash_enter("/boom", &boom_lib, "handle()");
    write_null();
}

/* ---- cases ---- */

static void null_write_in_plugin_code_is_recorded_with_mark_and_backtrace(void **state)
{
    (void)state;
    int status = wait_child(start_child(true, crash_in_boom, NULL));
    assert_killed_by(status, SIGSEGV);
    assert_written(SIGSEGV, false, true);
    assert_boom_mark();
    assert_string_equal(record()->thread, "loop");
    const char *bt = record()->backtrace;
    assert_true(strncmp(bt, "  #0 ", 5) == 0);
    /* The handler's own frames are left out: #0 is the faulting function. */
    char first[4200];
    snprintf(first, sizeof first, "  #0 %s+0x", exe);
    if (strncmp(bt, first, strlen(first)) != 0)
        fail_msg("frame #0 is not in %s:\n%s", exe, bt);
    assert_frame_in_exe(bt);
}

static void abort_in_boom(void *arg)
{
    (void)arg;
    ph_crash_enter("/boom", &boom_lib, "handle()");
    abort();
}

static void abort_in_plugin_code_is_marked_not_external(void **state)
{
    (void)state;
    int status = wait_child(start_child(true, abort_in_boom, NULL));
    assert_killed_by(status, SIGABRT);
    assert_written(SIGABRT, false, true);
    assert_boom_mark();
    assert_true(strstr(record()->backtrace, "  #0 ") != NULL);
    assert_frame_in_exe(record()->backtrace);
}

static void wait_marked(void *arg)
{
    int ready = *(int *)arg;
    ph_crash_enter("/boom", &boom_lib, "handle()");
    if (write(ready, "r", 1) != 1)
        _exit(93);
    for (;;)
        pause();
}

static void kill_from_outside_is_external_and_counts_against_no_plugin(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = start_child(true, wait_marked, &p[1]);
    close(p[1]);
    char c;
    read_exactly(p[0], &c, 1);
    close(p[0]);
    assert_int_equal(kill(pid, SIGSEGV), 0);
    int status = wait_child(pid);
    assert_killed_by(status, SIGSEGV);
    assert_written(SIGSEGV, true, false);
    assert_string_equal(record()->route, "");
    assert_string_equal(record()->plugin, "");
}

typedef struct copy_case {
    int report;      /* pipe: the child sends the function's offset */
    bool registered; /* register the copy (else register and unregister) */
} copy_case;

/* Copy unit_crashy.so privately as the loader does (dlopen the copy,
 * unlink it), tell the handler where it came from and crash in it. */
static void crash_in_private_copy(void *arg)
{
    copy_case *cc = arg;
    char copy[4096];
    snprintf(copy, sizeof copy, "%s/%d-crashy.so", dir, (int)getpid());
    if (ut_copy_file(PLUGHOST_TEST_PLUGIN_DIR "/unit_crashy.so", copy) < 0)
        _exit(94);
    void *dl = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        _exit(95);
    unlink(copy);
    ph_crash_register_copy(copy, "/configured/crashy.so");
    if (!cc->registered)
        ph_crash_unregister_copy(copy);
    void (*fn)(int) = (void (*)(int))dlsym(dl, "crashy_write_null");
    Dl_info info;
    if (!fn || !dladdr((void *)fn, &info) || !info.dli_fbase)
        _exit(96);
    uintptr_t off = (uintptr_t)fn - (uintptr_t)info.dli_fbase;
    if (write(cc->report, &off, sizeof off) != (ssize_t)sizeof off)
        _exit(97);
    ph_crash_enter("/crashy", &crashy_lib, "timer callback");
    fn(7);
}

/* Run crash_in_private_copy; returns the symbol's offset in the file. */
static uintptr_t run_copy_case(bool registered, pid_t *pid_out)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    copy_case cc = {.report = p[1], .registered = registered};
    pid_t pid = start_child(true, crash_in_private_copy, &cc);
    close(p[1]);
    uintptr_t fn_off;
    read_exactly(p[0], &fn_off, sizeof fn_off);
    close(p[0]);
    int status = wait_child(pid);
    assert_killed_by(status, SIGSEGV);
    assert_written(SIGSEGV, false, true);
    *pid_out = pid;
    return fn_off;
}

static void frame_in_private_copy_is_named_by_configured_file_with_symbol_offset(void **state)
{
    (void)state;
    pid_t pid;
    uintptr_t fn_off = run_copy_case(true, &pid);
    ph_crash_record *r = record();
    assert_string_equal(r->route, "/crashy");
    assert_string_equal(r->plugin, "/configured/crashy.so");
    assert_string_equal(r->version, "0.9");
    assert_string_equal(r->mode, "async");
    assert_string_equal(r->what, "timer callback");
    uintptr_t off = frame_offset(r->backtrace, "/configured/crashy.so");
    if (off == UINTPTR_MAX)
        fail_msg("no frame names /configured/crashy.so:\n%s", r->backtrace);
    if (off < fn_off || off >= fn_off + 0x100)
        fail_msg("frame offset %#lx is not within crashy_write_null at %#lx:\n%s", (unsigned long)off,
                 (unsigned long)fn_off, r->backtrace);
    assert_true(strstr(r->backtrace, "(deleted)") == NULL);
    assert_frame_in_exe(r->backtrace); /* the caller, below the plugin frame */
}

static void frame_in_unregistered_copy_names_the_copy_without_deleted(void **state)
{
    (void)state;
    pid_t pid;
    uintptr_t fn_off = run_copy_case(false, &pid);
    char copy[4096];
    snprintf(copy, sizeof copy, "%s/%d-crashy.so", dir, (int)pid);
    const char *bt = record()->backtrace;
    uintptr_t off = frame_offset(bt, copy);
    if (off == UINTPTR_MAX)
        fail_msg("no frame names %s:\n%s", copy, bt);
    assert_true(off >= fn_off && off < fn_off + 0x100);
    assert_true(strstr(bt, "/configured/crashy.so") == NULL);
    assert_true(strstr(bt, "(deleted)") == NULL);
}

static volatile int recursion_limit = INT_MAX;

/* Not a tail call: the volatile read after the call keeps every frame. */
static int recurse(int depth)
{
    volatile char pad[512];
    pad[0] = (char)depth;
    if (depth == recursion_limit)
        return 0;
    return recurse(depth + 1) + pad[0];
}

static void overflow_in_boom(void *arg)
{
    (void)arg;
    ph_crash_enter("/boom", &boom_lib, "handle()");
    _exit(recurse(0));
}

static void stack_overflow_in_plugin_code_is_reported_from_the_alternate_stack(void **state)
{
    (void)state;
    int status = wait_child(start_child(true, overflow_in_boom, NULL));
    assert_killed_by(status, SIGSEGV);
    assert_written(SIGSEGV, false, true);
    assert_boom_mark();
    assert_frame_in_exe(record()->backtrace);
}

static void crash_in_boom_to_stderr(void *arg)
{
    int err = *(int *)arg;
    if (dup2(err, STDERR_FILENO) < 0)
        _exit(98);
    crash_in_boom(NULL);
}

static void without_board_report_goes_to_stderr(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = start_child(false, crash_in_boom_to_stderr, &p[1]);
    close(p[1]);
    int status = wait_child(pid);
    assert_killed_by(status, SIGSEGV);
    char text[16384];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(p[0], text + len, sizeof text - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(p[0]);
    text[len] = '\0';
    assert_int_equal(atomic_load(&record()->written), 0);
    if (!strstr(text, "plughost: fatal signal SIGSEGV in route /boom (plugin /plugins/boom.so version 1.2.3, sync, "
                      "in handle()), loop thread\n"))
        fail_msg("unexpected stderr report:\n%s", text);
    assert_true(strstr(text, "\n  #0 ") != NULL);
    assert_frame_in_exe(text);
}

static void crash_unmarked(void *arg)
{
    (void)arg;
    write_null();
}

static void crash_outside_plugin_code_has_backtrace_but_no_mark(void **state)
{
    (void)state;
    int status = wait_child(start_child(true, crash_unmarked, NULL));
    assert_killed_by(status, SIGSEGV);
    assert_written(SIGSEGV, false, false);
    assert_string_equal(record()->route, "");
    assert_string_equal(record()->thread, "loop");
    assert_frame_in_exe(record()->backtrace);
}

static void call_null_in_boom(void *arg)
{
    (void)arg;
    void (*volatile fn)(void) = NULL;
    ph_crash_enter("/boom", &boom_lib, "handle()");
    fn();
}

static void call_through_null_pointer_shows_pc_and_caller(void **state)
{
    (void)state;
    int status = wait_child(start_child(true, call_null_in_boom, NULL));
    assert_killed_by(status, SIGSEGV);
    assert_written(SIGSEGV, false, true);
    const char *bt = record()->backtrace;
    if (strncmp(bt, "  #0 0x0\n", 9) != 0)
        fail_msg("frame #0 is not the NULL pc:\n%s", bt);
#if defined(__x86_64__) || defined(__aarch64__)
    assert_frame_in_exe(bt);
#endif
}

typedef struct pool_crash {
    const char *route;
    pthread_barrier_t *start; /* NULL: crash at once */
} pool_crash;

static void *pool_thread(void *arg)
{
    pool_crash *pc = arg;
    if (ph_crash_thread_init("pool") < 0)
        _exit(99);
    ph_crash_enter(pc->route, &boom_lib, "handle()");
    if (pc->start)
        pthread_barrier_wait(pc->start);
    write_null();
    return NULL;
}

static void crash_in_pool_thread(void *arg)
{
    (void)arg;
    pool_crash pc = {"/pool", NULL};
    pthread_t t;
    if (pthread_create(&t, NULL, pool_thread, &pc) != 0)
        _exit(100);
    pthread_join(t, NULL);
}

static void crash_on_a_pool_thread_names_the_pool(void **state)
{
    (void)state;
    int status = wait_child(start_child(true, crash_in_pool_thread, NULL));
    assert_killed_by(status, SIGSEGV);
    assert_written(SIGSEGV, false, true);
    assert_string_equal(record()->route, "/pool");
    assert_string_equal(record()->thread, "pool");
    assert_frame_in_exe(record()->backtrace);
}

static void crash_in_two_threads(void *arg)
{
    (void)arg;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    pool_crash a = {"/a", &start}, b = {"/b", &start};
    pthread_t ta, tb;
    if (pthread_create(&ta, NULL, pool_thread, &a) != 0 || pthread_create(&tb, NULL, pool_thread, &b) != 0)
        _exit(100);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
}

static void two_threads_faulting_at_once_leave_one_whole_report(void **state)
{
    (void)state;
    for (int round = 0; round < 5; round++) {
        int status = wait_child(start_child(true, crash_in_two_threads, NULL));
        assert_killed_by(status, SIGSEGV);
        assert_written(SIGSEGV, false, true);
        const char *route = record()->route;
        assert_true(strcmp(route, "/a") == 0 || strcmp(route, "/b") == 0);
        assert_string_equal(record()->thread, "pool");
        assert_frame_in_exe(record()->backtrace);
    }
}

static void enter_and_leave_nest(void **state)
{
    (void)state;
    ph_crash_mark outer = ph_crash_enter("/a", &boom_lib, "init()");
    assert_null(outer.site);
    const ph_crash_site *a = ph_crash_current;
    ph_crash_mark inner = ph_crash_enter("/b", &crashy_lib, "handle()");
    assert_ptr_equal(inner.site, a);
    assert_ptr_equal(ph_crash_current->lib, &crashy_lib);
    assert_string_equal(ph_crash_current->route, "/b");
    ph_crash_site route_site = {.route = "/c", .lib = &boom_lib, .what = "handle()"};
    const ph_crash_site *at_site = ph_crash_enter_site(&route_site); /* a route's own site, between them */
    assert_ptr_equal(at_site, &ph_crash_nested[1]); /* inner's */
    assert_ptr_equal(ph_crash_current, &route_site);
    assert_int_equal(ph_crash_depth, 2); /* (a site of its own: no nested one taken) */
    ph_crash_mark innermost = ph_crash_enter("/d", &crashy_lib, "timer callback");
    assert_string_equal(ph_crash_current->route, "/d");
    ph_crash_leave(innermost);
    assert_ptr_equal(ph_crash_current, &route_site);
    ph_crash_leave_site(at_site);
    assert_int_equal(ph_crash_depth, 2);
    assert_string_equal(ph_crash_current->route, "/b"); /* not overwritten by "/d" */
    ph_crash_leave(inner);
    assert_ptr_equal(ph_crash_current->lib, &boom_lib);
    assert_string_equal(ph_crash_current->route, "/a");
    assert_string_equal(ph_crash_current->what, "init()");
    ph_crash_leave(outer);
    assert_null(ph_crash_current);
}

/* Nested past PH_CRASH_NESTING, a thread stays marked with the outermost
 * call it has a site for, and every leave restores its own enter. */
static void enter_past_the_nesting_limit_keeps_the_outermost_site(void **state)
{
    (void)state;
    enum { N = PH_CRASH_NESTING + 3 };
    static char routes[N][8];
    ph_crash_mark marks[N];
    for (int i = 0; i < N; i++) {
        snprintf(routes[i], sizeof routes[i], "/%d", i);
        marks[i] = ph_crash_enter(routes[i], &boom_lib, "handle()");
        int shown = i < PH_CRASH_NESTING ? i : PH_CRASH_NESTING - 1;
        assert_string_equal(ph_crash_current->route, routes[shown]);
    }
    for (int i = N - 1; i >= 0; i--) {
        ph_crash_leave(marks[i]);
        int shown = i - 1 < PH_CRASH_NESTING ? i - 1 : PH_CRASH_NESTING - 1;
        if (i)
            assert_string_equal(ph_crash_current->route, routes[shown]);
    }
    assert_null(ph_crash_current);
    assert_int_equal(ph_crash_depth, 0);
}

typedef struct altstack_seen {
    stack_t before, during, after;
    int init_rc;
} altstack_seen;

static void *altstack_thread(void *arg)
{
    altstack_seen *s = arg;
    sigaltstack(NULL, &s->before);
    s->init_rc = ph_crash_thread_init("pool");
    sigaltstack(NULL, &s->during);
    ph_crash_thread_exit();
    sigaltstack(NULL, &s->after);
    return NULL;
}

static void thread_exit_restores_the_previous_alternate_stack(void **state)
{
    (void)state;
    altstack_seen s;
    memset(&s, 0, sizeof s);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, altstack_thread, &s), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(s.init_rc, 0);
    assert_false(s.during.ss_flags & SS_DISABLE);
    assert_true(s.during.ss_size >= 64 * 1024);
    assert_int_equal(s.after.ss_flags & SS_DISABLE, s.before.ss_flags & SS_DISABLE);
    if (!(s.before.ss_flags & SS_DISABLE)) {
        assert_ptr_equal(s.after.ss_sp, s.before.ss_sp);
        assert_int_equal(s.after.ss_size, s.before.ss_size);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(null_write_in_plugin_code_is_recorded_with_mark_and_backtrace),
        cmocka_unit_test(abort_in_plugin_code_is_marked_not_external),
        cmocka_unit_test(kill_from_outside_is_external_and_counts_against_no_plugin),
        cmocka_unit_test(frame_in_private_copy_is_named_by_configured_file_with_symbol_offset),
        cmocka_unit_test(frame_in_unregistered_copy_names_the_copy_without_deleted),
        cmocka_unit_test(stack_overflow_in_plugin_code_is_reported_from_the_alternate_stack),
        cmocka_unit_test(without_board_report_goes_to_stderr),
        cmocka_unit_test(crash_outside_plugin_code_has_backtrace_but_no_mark),
        cmocka_unit_test(call_through_null_pointer_shows_pc_and_caller),
        cmocka_unit_test(crash_on_a_pool_thread_names_the_pool),
        cmocka_unit_test(two_threads_faulting_at_once_leave_one_whole_report),
        cmocka_unit_test(enter_and_leave_nest),
        cmocka_unit_test(enter_past_the_nesting_limit_keeps_the_outermost_site),
        cmocka_unit_test(thread_exit_restores_the_previous_alternate_stack),
    };
    return cmocka_run_group_tests_name("crash_handler", tests, group_setup, group_teardown);
}
