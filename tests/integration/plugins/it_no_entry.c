/*
 * it_no_entry.c - a valid shared object that does not export
 * ph_plugin_entry (it exports something else). The host must refuse it.
 */
#include <plughost.h>

PH_EXPORT int it_not_the_entry(void);
PH_EXPORT int it_not_the_entry(void)
{
    return 42;
}
