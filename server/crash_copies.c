/* crash_copies.c - which private plugin copy came from which plugin file,
 * for the crash handler's frames. */
#include "crash_copies.h"

#include "log.h"

#include <stdatomic.h>
#include <string.h>

/* Bounded copy that always NUL-terminates (cap > 0). */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

#define COPIES 128

typedef struct crash_copy {
    atomic_int used;     /* 1: the strings are complete (release/acquire) */
    unsigned long seq;   /* registration order, to reuse the oldest */
    char copy[PH_CRASH_COPY_PATH_MAX];
    char plugin[PH_CRASH_COPY_PATH_MAX];
} crash_copy;

static crash_copy copies[COPIES];
static unsigned long copies_seq;

void ph_crash_register_copy(const char *copy_path, const char *plugin_path)
{
    if (!copy_path || !plugin_path)
        return;
    if (strlen(copy_path) >= PH_CRASH_COPY_PATH_MAX) {
        ph_log_warn("crash handler: copy path %s is too long; crash frames in it will name the copy", copy_path);
        return;
    }
    crash_copy *slot = NULL;
    for (int i = 0; i < COPIES && !slot; i++)
        if (atomic_load_explicit(&copies[i].used, memory_order_relaxed) && strcmp(copies[i].copy, copy_path) == 0)
            slot = &copies[i];
    for (int i = 0; i < COPIES && !slot; i++)
        if (!atomic_load_explicit(&copies[i].used, memory_order_relaxed))
            slot = &copies[i];
    if (!slot) {
        slot = &copies[0];
        for (int i = 1; i < COPIES; i++)
            if (copies[i].seq < slot->seq)
                slot = &copies[i];
    }
    /* A handler running meanwhile skips the slot while it is rewritten. */
    atomic_store_explicit(&slot->used, 0, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst);
    copy_str(slot->copy, sizeof slot->copy, copy_path);
    copy_str(slot->plugin, sizeof slot->plugin, plugin_path);
    slot->seq = ++copies_seq;
    atomic_store_explicit(&slot->used, 1, memory_order_release);
}

void ph_crash_unregister_copy(const char *copy_path)
{
    if (!copy_path)
        return;
    for (int i = 0; i < COPIES; i++)
        if (atomic_load_explicit(&copies[i].used, memory_order_relaxed) && strcmp(copies[i].copy, copy_path) == 0)
            atomic_store_explicit(&copies[i].used, 0, memory_order_release);
}

const char *ph_crash_copy_origin(const char *path, size_t len)
{
    if (len >= PH_CRASH_COPY_PATH_MAX)
        return NULL;
    for (int i = 0; i < COPIES; i++) {
        crash_copy *c = &copies[i];
        if (atomic_load_explicit(&c->used, memory_order_acquire) && memcmp(c->copy, path, len) == 0 &&
            c->copy[len] == '\0')
            return c->plugin;
    }
    return NULL;
}

