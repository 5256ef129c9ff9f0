/* crash_copies.h - the names of private plugin copies. The loader dlopens
 * a private copy of each plugin file (see plugin_loader.h); a crash frame
 * in such a copy should name the configured file instead, which this
 * table tells the crash handler. Its own module so that the loader and
 * the crash handler need not include each other. */
#ifndef PH_CRASH_COPIES_H
#define PH_CRASH_COPIES_H

#include <stddef.h>

/* Longest copy path registered (longer ones keep their own name). */
#define PH_CRASH_COPY_PATH_MAX 1024

/* The loader tells which private copy (as dlopened, e.g.
 * "/tmp/plughost-Ab12Cd/3-hello.so") came from which configured plugin
 * file, so frames in the copy are named by the configured file. Loop
 * thread; a fixed table of 128 entries, the oldest reused when full; a
 * copy path of 1024 bytes or more is not registered (logged). */
void ph_crash_register_copy(const char *copy_path, const char *plugin_path);

/* Forget a copy (after its dlclose). Loop thread. */
void ph_crash_unregister_copy(const char *copy_path);

/* The configured plugin file of the copy named by path[0..len), or NULL.
 * Async-signal-safe. A slot the loop thread rewrites at that very moment
 * may be missed or misread: the frame then names the copy, nothing worse. */
const char *ph_crash_copy_origin(const char *path, size_t len);

#endif
