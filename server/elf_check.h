/* elf_check.h - is this file a shared object this process can map? Reads
 * the ELF header and program headers only (never maps the file): right
 * class, byte order and machine, ET_DYN, and every loadable segment
 * inside the file. A truncated .so fails here instead of killing the
 * loader with SIGBUS. Any thread. */
#ifndef PH_ELF_CHECK_H
#define PH_ELF_CHECK_H

#include <stddef.h>

/* Check the open file `fd` (read with pread). Returns 0, or -1 with the
 * reason (without the file's name) in err. */
int ph_elf_check_fd(int fd, char *err, size_t errlen);

/* Called for each library the file needs (DT_NEEDED) that a run path
 * with $ORIGIN would find beside it: `path` is "<origin_dir>/<lib>". */
typedef void (*ph_elf_dep_fn)(const char *path, void *arg);

/* Find the $ORIGIN dependencies of the (already checked) shared object
 * `fd`, resolving $ORIGIN as `origin_dir`, and report each that exists.
 * A private copy loses its $ORIGIN, so the loader preloads these first.
 * Returns the number found, or -1 when the dynamic section is unreadable. */
int ph_elf_origin_deps(int fd, const char *origin_dir, ph_elf_dep_fn fn, void *arg);

#endif
