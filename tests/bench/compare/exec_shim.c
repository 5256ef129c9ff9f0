/*
 * exec_shim - LD_PRELOAD helper of tests/bench/compare.sh, for the callgrind
 * runs only. plughost's supervisor starts each worker with
 * execve("/proc/self/exe", ...); under valgrind /proc/self/exe is valgrind's
 * tool binary, which valgrind cannot load as a client, so the worker never
 * starts. This execve() replaces that path with $PH_BENCH_EXE (the real
 * plughost binary), so valgrind --trace-children=yes follows the worker into
 * the same binary. Any other execve() passes through unchanged.
 *
 *   cc -O2 -fPIC -shared exec_shim.c -o exec_shim.so -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int execve_fn(const char *, char *const[], char *const[]);

int execve(const char *path, char *const argv[], char *const envp[])
{
    execve_fn *real = (execve_fn *)dlsym(RTLD_NEXT, "execve");
    const char *exe = getenv("PH_BENCH_EXE");
    if (exe && *exe && strcmp(path, "/proc/self/exe") == 0)
        path = exe;
    return real(path, argv, envp);
}
