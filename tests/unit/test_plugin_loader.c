/* test_plugin_loader.c - server/plugin_loader.c: private copies, dlopen,
 * ABI checks, file identities.
 *
 * Loads the bundled hello.so (PLUGHOST_PLUGIN_DIR) and the test-only
 * plugins built by tests/integration (PLUGHOST_TEST_PLUGIN_DIR). TMPDIR
 * is pointed at a private folder first, so the loader's copy folder can be
 * inspected and is known to be removed at the end. */
#include "plugin_loader.h"

#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#define HELLO_SO PLUGHOST_PLUGIN_DIR "/hello.so"
#define WRONG_ABI_SO PLUGHOST_TEST_PLUGIN_DIR "/it_wrong_abi.so"
#define NO_ENTRY_SO PLUGHOST_TEST_PLUGIN_DIR "/it_no_entry.so"
#define INIT_FAIL_SO PLUGHOST_TEST_PLUGIN_DIR "/it_init_fail.so"

static char *tmp_root; /* TMPDIR for the loader */
static char *work;     /* files the tests write */
static char err[2048];

static int group_setup(void **state)
{
    (void)state;
    tmp_root = ut_mkdtemp("ph-unit-loader");
    if (setenv("TMPDIR", tmp_root, 1) != 0)
        return -1;
    work = ut_mkdtemp("work");
    return ph_loader_init();
}

static int group_teardown(void **state)
{
    (void)state;
    ph_loader_cleanup();
    ut_rmtree(tmp_root);
    free(tmp_root);
    free(work);
    return 0;
}

/* The private copy a library was mapped from (malloc'ed). */
static char *mapped_file_of(const ph_plugin_lib *lib)
{
    Dl_info info;
    assert_int_not_equal(dladdr(lib->desc, &info), 0);
    assert_non_null(info.dli_fname);
    return strdup(info.dli_fname);
}

static void loader_loads_bundled_hello_with_descriptor_and_file_id(void **state)
{
    (void)state;
    ph_plugin_lib *lib = ph_plugin_lib_load(HELLO_SO, NULL, err, sizeof err);
    if (!lib)
        fail_msg("%s", err);
    assert_string_equal(lib->path, HELLO_SO);
    assert_int_equal(lib->refs, 1);
    assert_non_null(lib->dl);
    assert_non_null(lib->desc);
    assert_string_equal(lib->desc->name, "hello");
    assert_int_equal(lib->desc->mode, PH_MODE_ASYNC);
    assert_int_equal(PH_ABI_VERSION_MAJOR(lib->desc->abi_version), PH_ABI_MAJOR);
    assert_non_null(lib->desc->handle);
    ph_file_id now;
    assert_int_equal(ph_file_id_of(HELLO_SO, &now), 0);
    assert_true(ph_file_id_equal(&lib->id, &now));
    ph_plugin_lib_unref(lib);
}

static void loader_refuses_wrong_abi_naming_path_and_both_versions(void **state)
{
    (void)state;
    assert_null(ph_plugin_lib_load(WRONG_ABI_SO, NULL, err, sizeof err));
    char want[4096];
    snprintf(want, sizeof want,
             "%s: built for plugin ABI 2.0, host speaks %u.%u (rebuild it against this plughost.h)", WRONG_ABI_SO,
             PH_ABI_MAJOR, PH_ABI_MINOR);
    assert_string_equal(err, want);
}

static void loader_refuses_library_without_entry_symbol(void **state)
{
    (void)state;
    assert_null(ph_plugin_lib_load(NO_ENTRY_SO, NULL, err, sizeof err));
    char want[4096];
    snprintf(want, sizeof want, "%s: does not export ph_plugin_entry (declare it with PH_PLUGIN_DECLARE)",
             NO_ENTRY_SO);
    assert_string_equal(err, want);
}

static void loader_loads_plugin_whose_init_would_fail_without_running_init(void **state)
{
    (void)state;
    ph_plugin_lib *lib = ph_plugin_lib_load(INIT_FAIL_SO, NULL, err, sizeof err);
    if (!lib)
        fail_msg("%s", err);
    assert_string_equal(lib->desc->name, "it_init_fail");
    assert_non_null(lib->desc->init);
    ph_plugin_lib_unref(lib);
}

static void loader_refuses_missing_file_naming_path_and_reason(void **state)
{
    (void)state;
    char path[PATH_MAX], want[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/absent.so", work);
    assert_null(ph_plugin_lib_load(path, NULL, err, sizeof err));
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    assert_string_equal(err, want);
}

static void loader_refuses_non_elf_file_naming_original_path_not_copy(void **state)
{
    (void)state;
    char path[PATH_MAX], want[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/text.so", work);
    char text[512];
    memset(text, '#', sizeof text); /* longer than an ELF header */
    assert_int_equal(ut_write_file(path, text, sizeof text), 0);
    assert_null(ph_plugin_lib_load(path, NULL, err, sizeof err));
    snprintf(want, sizeof want, "%s: not a loadable shared object: not an ELF file", path);
    assert_string_equal(err, want);
}

/* The first `len` bytes of hello.so at `path`. */
static void write_truncated_hello(const char *path, size_t len)
{
    FILE *in = fopen(HELLO_SO, "rb");
    assert_non_null(in);
    char *buf = malloc(len);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, len, in), len);
    fclose(in);
    assert_int_equal(ut_write_file(path, buf, len), 0);
    free(buf);
}

static void loader_refuses_a_truncated_shared_object_before_mapping_it(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/truncated.so", work);
    write_truncated_hello(path, 1000); /* header and program headers, no segments */
    assert_null(ph_plugin_lib_load(path, NULL, err, sizeof err));
    if (!strstr(err, "truncated.so: not a loadable shared object: loadable segment") ||
        !strstr(err, "past the end of the 1000-byte file (truncated?"))
        fail_msg("error: '%s'", err);
    write_truncated_hello(path, 40); /* not even a whole ELF header */
    assert_null(ph_plugin_lib_load(path, NULL, err, sizeof err));
    assert_non_null(strstr(err, "not an ELF file (too short; truncated?)"));
}

static void loader_loads_from_the_source_and_names_the_configured_path(void **state)
{
    (void)state;
    ph_plugin_lib *lib = ph_plugin_lib_load("/configured/name.so", HELLO_SO, err, sizeof err);
    if (!lib)
        fail_msg("%s", err);
    assert_string_equal(lib->path, "/configured/name.so");
    ph_file_id id;
    assert_int_equal(ph_file_id_of(HELLO_SO, &id), 0);
    assert_true(ph_file_id_equal(&lib->id, &id)); /* the source's identity */
    ph_plugin_lib_unref(lib);
    assert_null(ph_plugin_lib_load("/configured/name.so", "/nonexistent/source.so", err, sizeof err));
    assert_string_equal(err, "/configured/name.so: No such file or directory");
}

static void a_placeholder_library_has_the_descriptor_and_no_code(void **state)
{
    (void)state;
    static const ph_plugin desc = {PH_ABI_VERSION, sizeof(ph_plugin), "stand-in", "0", PH_MODE_ASYNC,
                                   NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    ph_plugin_lib *lib = ph_plugin_lib_placeholder("/p/x.so", &desc);
    assert_non_null(lib);
    assert_null(lib->dl);
    assert_ptr_equal(lib->desc, &desc);
    assert_string_equal(lib->path, "/p/x.so");
    ph_plugin_lib_unref(lib); /* no dlclose of a NULL handle */
}

static void loader_refuses_directory_as_not_regular_file(void **state)
{
    (void)state;
    char want[PATH_MAX + 64];
    assert_null(ph_plugin_lib_load(work, NULL, err, sizeof err));
    snprintf(want, sizeof want, "%s: not a regular file", work);
    assert_string_equal(err, want);
}

/* glibc would hand back the cached handle for a path that is still open;
 * the private copy makes every load a new mapping. */
static void loader_same_path_twice_gives_two_distinct_mappings(void **state)
{
    (void)state;
    ph_plugin_lib *a = ph_plugin_lib_load(HELLO_SO, NULL, err, sizeof err);
    ph_plugin_lib *b = ph_plugin_lib_load(HELLO_SO, NULL, err, sizeof err);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(a->dl, b->dl);
    assert_ptr_not_equal(a->desc, b->desc);
    assert_ptr_not_equal((void *)a->desc->handle, (void *)b->desc->handle);
    assert_true(ph_file_id_equal(&a->id, &b->id));
    char *fa = mapped_file_of(a), *fb = mapped_file_of(b);
    assert_string_not_equal(fa, fb);
    free(fa);
    free(fb);
    ph_plugin_lib_unref(a);
    ph_plugin_lib_unref(b);
}

static void loader_maps_a_private_copy_that_is_already_unlinked(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/own.so", work);
    assert_int_equal(ut_copy_file(HELLO_SO, path), 0);
    ph_plugin_lib *lib = ph_plugin_lib_load(path, NULL, err, sizeof err);
    if (!lib)
        fail_msg("%s", err);
    char *mapped = mapped_file_of(lib);
    assert_string_not_equal(mapped, path);
    assert_int_equal(strncmp(mapped, tmp_root, strlen(tmp_root)), 0);
    assert_non_null(strstr(mapped, "/plughost-"));
    struct stat st;
    assert_int_equal(stat(mapped, &st), -1); /* the copy is gone from the folder */
    /* the original can go too: the library keeps working */
    assert_int_equal(unlink(path), 0);
    assert_string_equal(lib->desc->name, "hello");
    free(mapped);
    ph_plugin_lib_unref(lib);
}

static void loader_last_unref_unmaps_the_copy(void **state)
{
    (void)state;
    ph_plugin_lib *lib = ph_plugin_lib_load(HELLO_SO, NULL, err, sizeof err);
    assert_non_null(lib);
    char *mapped = mapped_file_of(lib);
    assert_true(ut_count_maps(mapped) > 0);
    ph_plugin_lib_ref(lib);
    assert_int_equal(lib->refs, 2);
    ph_plugin_lib_unref(lib);
    assert_int_equal(lib->refs, 1);
    assert_true(ut_count_maps(mapped) > 0);
    ph_plugin_lib_unref(lib);
    assert_int_equal(ut_count_maps(mapped), 0);
    free(mapped);
    ph_plugin_lib_unref(NULL);
}

static void file_id_differs_after_the_file_is_replaced_or_rewritten(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/versioned.so", work);
    assert_int_equal(ut_copy_file(HELLO_SO, path), 0);
    ph_plugin_lib *lib = ph_plugin_lib_load(path, NULL, err, sizeof err);
    assert_non_null(lib);
    ph_file_id v1, v2, v3, v4, again;
    assert_int_equal(ph_file_id_of(path, &v1), 0);
    assert_true(ph_file_id_equal(&lib->id, &v1));
    assert_int_equal(ph_file_id_of(path, &again), 0);
    assert_true(ph_file_id_equal(&v1, &again));

    /* replaced by rename (a build or cp to a new inode) */
    assert_int_equal(ut_copy_file(HELLO_SO, path), 0);
    assert_int_equal(ph_file_id_of(path, &v2), 0);
    assert_false(ph_file_id_equal(&v1, &v2));
    assert_false(ph_file_id_equal(&lib->id, &v2));

    /* rewritten in place, same inode, other size */
    size_t len = 0;
    char *data = ut_read_file(HELLO_SO, &len);
    assert_non_null(data);
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite("pad", 1, 3, f), 3);
    fclose(f);
    assert_int_equal(ph_file_id_of(path, &v3), 0);
    assert_int_equal(v3.ino, v2.ino);
    assert_false(ph_file_id_equal(&v2, &v3));

    /* rewritten in place, same inode and size, only the mtime moves */
    assert_int_equal(ut_write_file(path, data, len), 0);
    struct timespec times[2] = {{0, UTIME_OMIT}, {1000000000, 123}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    assert_int_equal(ph_file_id_of(path, &v4), 0);
    assert_int_equal(v4.ino, v2.ino);
    assert_int_equal(v4.size, v2.size);
    assert_false(ph_file_id_equal(&v2, &v4));
    free(data);
    ph_plugin_lib_unref(lib);
}

static void file_id_of_missing_file_fails_with_enoent(void **state)
{
    (void)state;
    ph_file_id id;
    errno = 0;
    assert_int_equal(ph_file_id_of("/nonexistent/plughost/x.so", &id), -1);
    assert_int_equal(errno, ENOENT);
}

/* Runs last: every copy was unlinked, so the private folder can go. */
static void loader_cleanup_removes_the_private_folder(void **state)
{
    (void)state;
    ph_loader_cleanup();
    DIR *d = opendir(tmp_root);
    assert_non_null(d);
    int copies = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "plughost-", 9) == 0)
            copies++;
    }
    closedir(d);
    assert_int_equal(copies, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loader_loads_bundled_hello_with_descriptor_and_file_id),
        cmocka_unit_test(loader_refuses_wrong_abi_naming_path_and_both_versions),
        cmocka_unit_test(loader_refuses_library_without_entry_symbol),
        cmocka_unit_test(loader_loads_plugin_whose_init_would_fail_without_running_init),
        cmocka_unit_test(loader_refuses_missing_file_naming_path_and_reason),
        cmocka_unit_test(loader_refuses_non_elf_file_naming_original_path_not_copy),
        cmocka_unit_test(loader_refuses_a_truncated_shared_object_before_mapping_it),
        cmocka_unit_test(loader_loads_from_the_source_and_names_the_configured_path),
        cmocka_unit_test(a_placeholder_library_has_the_descriptor_and_no_code),
        cmocka_unit_test(loader_refuses_directory_as_not_regular_file),
        cmocka_unit_test(loader_same_path_twice_gives_two_distinct_mappings),
        cmocka_unit_test(loader_maps_a_private_copy_that_is_already_unlinked),
        cmocka_unit_test(loader_last_unref_unmaps_the_copy),
        cmocka_unit_test(file_id_differs_after_the_file_is_replaced_or_rewritten),
        cmocka_unit_test(file_id_of_missing_file_fails_with_enoent),
        cmocka_unit_test(loader_cleanup_removes_the_private_folder),
    };
    return cmocka_run_group_tests_name("plugin_loader", tests, group_setup, group_teardown);
}
