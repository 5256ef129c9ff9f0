/* elf_check.c - ELF sanity of a plugin file before anything maps it. */
#include "elf_check.h"

#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if UINTPTR_MAX == 0xffffffffffffffffu
typedef Elf64_Ehdr host_ehdr;
typedef Elf64_Phdr host_phdr;
#define HOST_CLASS ELFCLASS64
#else
typedef Elf32_Ehdr host_ehdr;
typedef Elf32_Phdr host_phdr;
#define HOST_CLASS ELFCLASS32
#endif

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#elif defined(__i386__)
#define HOST_MACHINE EM_386
#elif defined(__arm__)
#define HOST_MACHINE EM_ARM
#elif defined(__riscv)
#define HOST_MACHINE EM_RISCV
#elif defined(__powerpc64__)
#define HOST_MACHINE EM_PPC64
#elif defined(__s390x__)
#define HOST_MACHINE EM_S390
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_DATA ELFDATA2LSB
#else
#define HOST_DATA ELFDATA2MSB
#endif

static int full_pread(int fd, void *buf, size_t len, off_t off)
{
    ssize_t n = pread(fd, buf, len, off);
    return n == (ssize_t)len ? 0 : -1;
}

int ph_elf_check_fd(int fd, char *err, size_t errlen)
{
    struct stat st;
    host_ehdr eh;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < sizeof eh || full_pread(fd, &eh, sizeof eh, 0) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        snprintf(err, errlen, "not an ELF file%s", size < sizeof eh ? " (too short; truncated?)" : "");
        return -1;
    }
    if (eh.e_ident[EI_CLASS] != HOST_CLASS || eh.e_ident[EI_DATA] != HOST_DATA) {
        snprintf(err, errlen, "built for another word size or byte order (ELF class %d, data %d)",
                 eh.e_ident[EI_CLASS], eh.e_ident[EI_DATA]);
        return -1;
    }
#ifdef HOST_MACHINE
    if (eh.e_machine != HOST_MACHINE) {
        snprintf(err, errlen, "built for another machine (ELF machine %u, this host is %u)", (unsigned)eh.e_machine,
                 (unsigned)HOST_MACHINE);
        return -1;
    }
#endif
    if (eh.e_type != ET_DYN) {
        snprintf(err, errlen, "not a shared object (ELF type %u; build it with -shared -fPIC)", (unsigned)eh.e_type);
        return -1;
    }
    if (eh.e_phentsize != sizeof(host_phdr) || eh.e_phnum == 0 ||
        (uint64_t)eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(host_phdr) > size) {
        snprintf(err, errlen, "program headers missing or beyond the end of the file (truncated?)");
        return -1;
    }
    int loads = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        host_phdr ph;
        if (full_pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) < 0) {
            snprintf(err, errlen, "cannot read program header %u", i);
            return -1;
        }
        if (ph.p_type != PT_LOAD && ph.p_type != PT_DYNAMIC)
            continue;
        loads += ph.p_type == PT_LOAD;
        if ((uint64_t)ph.p_offset + (uint64_t)ph.p_filesz > size || (uint64_t)ph.p_offset + ph.p_filesz < ph.p_offset) {
            snprintf(err, errlen,
                     "%s segment %u ends at byte %llu, past the end of the %llu-byte file (truncated? still "
                     "being written?)",
                     ph.p_type == PT_LOAD ? "loadable" : "dynamic", i,
                     (unsigned long long)((uint64_t)ph.p_offset + ph.p_filesz), (unsigned long long)size);
            return -1;
        }
    }
    if (loads == 0) {
        snprintf(err, errlen, "no loadable segment");
        return -1;
    }
    return 0;
}

#if UINTPTR_MAX == 0xffffffffffffffffu
typedef Elf64_Dyn host_dyn;
#else
typedef Elf32_Dyn host_dyn;
#endif

/* File offset of virtual address `addr` through the PT_LOAD segments, or
 * -1. */
static int64_t vaddr_to_offset(const host_phdr *ph, unsigned n, uint64_t addr)
{
    for (unsigned i = 0; i < n; i++) {
        if (ph[i].p_type == PT_LOAD && addr >= ph[i].p_vaddr && addr < ph[i].p_vaddr + ph[i].p_filesz)
            return (int64_t)(addr - ph[i].p_vaddr + ph[i].p_offset);
    }
    return -1;
}

/* Report `needed` in each $ORIGIN entry of run path `runpath`. */
static int report_in_runpath(const char *runpath, const char *needed, const char *origin_dir, ph_elf_dep_fn fn,
                             void *arg)
{
    int found = 0;
    const char *p = runpath;
    while (*p) {
        size_t len = strcspn(p, ":");
        const char *tail = NULL;
        if (len >= 7 && strncmp(p, "$ORIGIN", 7) == 0)
            tail = p + 7;
        else if (len >= 9 && strncmp(p, "${ORIGIN}", 9) == 0)
            tail = p + 9;
        if (tail) {
            char path[4096];
            int n = snprintf(path, sizeof path, "%s%.*s/%s", origin_dir, (int)(len - (size_t)(tail - p)), tail, needed);
            if (n > 0 && (size_t)n < sizeof path && access(path, R_OK) == 0) {
                fn(path, arg);
                return 1;
            }
        }
        p += len;
        if (*p == ':')
            p++;
    }
    return found;
}

int ph_elf_origin_deps(int fd, const char *origin_dir, ph_elf_dep_fn fn, void *arg)
{
    host_ehdr eh;
    if (full_pread(fd, &eh, sizeof eh, 0) < 0 || eh.e_phnum == 0 || eh.e_phnum > 256)
        return -1;
    host_phdr ph[256];
    if (full_pread(fd, ph, sizeof(host_phdr) * eh.e_phnum, (off_t)eh.e_phoff) < 0)
        return -1;
    const host_phdr *dynamic = NULL;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type == PT_DYNAMIC)
            dynamic = &ph[i];
    }
    if (!dynamic)
        return 0;
    size_t ndyn = dynamic->p_filesz / sizeof(host_dyn);
    if (ndyn == 0 || ndyn > 4096)
        return -1;
    host_dyn dyn[4096];
    if (full_pread(fd, dyn, ndyn * sizeof(host_dyn), (off_t)dynamic->p_offset) < 0)
        return -1;
    uint64_t strtab = 0, strsz = 0, runpath = UINT64_MAX;
    for (size_t i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++) {
        if (dyn[i].d_tag == DT_STRTAB)
            strtab = dyn[i].d_un.d_ptr;
        else if (dyn[i].d_tag == DT_STRSZ)
            strsz = dyn[i].d_un.d_val;
        else if (dyn[i].d_tag == DT_RUNPATH || (dyn[i].d_tag == DT_RPATH && runpath == UINT64_MAX))
            runpath = dyn[i].d_un.d_val;
    }
    if (runpath == UINT64_MAX)
        return 0; /* no run path: nothing relies on $ORIGIN */
    int64_t stroff = vaddr_to_offset(ph, eh.e_phnum, strtab);
    if (stroff < 0 || strsz == 0 || strsz > (1u << 20) || runpath >= strsz)
        return -1;
    char *strs = malloc(strsz + 1);
    if (!strs || full_pread(fd, strs, strsz, (off_t)stroff) < 0) {
        free(strs);
        return -1;
    }
    strs[strsz] = '\0';
    int found = 0;
    if (strstr(strs + runpath, "ORIGIN")) {
        for (size_t i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++) {
            if (dyn[i].d_tag == DT_NEEDED && dyn[i].d_un.d_val < strsz)
                found += report_in_runpath(strs + runpath, strs + dyn[i].d_un.d_val, origin_dir, fn, arg);
        }
    }
    free(strs);
    return found;
}
