/* fuzz_util.h - helpers shared by the libFuzzer harnesses: ASan poisoning
 * of a buffer's spare capacity, so a read past the bytes a module wrote
 * (but inside what it allocated) is reported as an overflow too. */
#ifndef PH_FUZZ_UTIL_H
#define PH_FUZZ_UTIL_H

#include "buf.h"

#include <stddef.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PH_FUZZ_ASAN 1
#endif
#endif
#ifdef PH_FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* Make b's bytes past b->len unreadable (until fuzz_unpoison). */
static inline void fuzz_poison_spare(const ph_buf *b)
{
#ifdef PH_FUZZ_ASAN
    if (b->data && b->cap > b->len)
        ASAN_POISON_MEMORY_REGION(b->data + b->len, b->cap - b->len);
#else
    (void)b;
#endif
}

/* Undo fuzz_poison_spare before the owner writes to b again. */
static inline void fuzz_unpoison(const ph_buf *b)
{
#ifdef PH_FUZZ_ASAN
    if (b->data && b->cap)
        ASAN_UNPOISON_MEMORY_REGION(b->data, b->cap);
#else
    (void)b;
#endif
}

#endif
