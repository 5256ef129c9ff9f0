/*
 * crashy.c - a test-only shared object for tests/unit/test_crash_handler.c:
 * one exported function that writes through a NULL pointer, so a crash
 * happens inside a dlopen'ed private copy at a known symbol.
 */
#include <stddef.h>

/* no_sanitize_undefined: under UBSan (the ASan build) the store must
 * fault, not be reported and exit. */
__attribute__((visibility("default"), noinline, no_sanitize_undefined)) void crashy_write_null(int value);

void crashy_write_null(int value)
{
    int *target = NULL;
    __asm__ volatile("" : "+r"(target)); /* hide the NULL: no trap, no dropped store */
    *target = value;
}
