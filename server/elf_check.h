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

#endif
