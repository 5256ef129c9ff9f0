/* test_file_copy.c - server/file_copy.c: whole-file copies that ignore and
 * keep the source's offset, complete, with the given mode, and leave
 * nothing behind when they fail. */
#include "file_copy.h"

#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/mman.h>

/* A memfd holding `len` bytes of a pattern, its offset left at the end. */
static int pattern_file(size_t len)
{
    int fd = memfd_create("src", 0);
    assert_true(fd >= 0);
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)(i * 7 + 3);
        assert_int_equal(write(fd, &b, 1), 1);
    }
    return fd;
}

static void copy_fd_takes_every_byte_from_the_start_and_keeps_the_offset(void **state)
{
    (void)state;
    size_t len = 200000; /* several buffers */
    int src = pattern_file(len);
    off_t before = lseek(src, 0, SEEK_CUR);
    int dst = memfd_create("dst", 0);
    assert_int_equal(ph_file_copy_fd(src, dst), 0);
    assert_int_equal(lseek(src, 0, SEEK_CUR), before);
    struct stat st;
    assert_int_equal(fstat(dst, &st), 0);
    assert_int_equal(st.st_size, (off_t)len);
    unsigned char b;
    assert_int_equal(pread(dst, &b, 1, 123457), 1);
    assert_int_equal(b, (unsigned char)(123457 * 7 + 3));
    close(src);
    close(dst);
}

static void copy_new_creates_the_file_with_its_mode_and_refuses_an_existing_one(void **state)
{
    (void)state;
    char *dir = ut_mkdtemp("ph-unit-copy");
    char path[4200];
    snprintf(path, sizeof path, "%s/copy", dir);
    int src = pattern_file(1000);
    assert_int_equal(ph_file_copy_new(src, path, 0444), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0444);
    assert_int_equal(st.st_size, 1000);
    assert_int_equal(ph_file_copy_new(src, path, 0444), -1); /* exclusive */
    assert_int_equal(errno, EEXIST);
    assert_int_equal(stat(path, &st), 0); /* the existing one stays */
    close(src);
    unlink(path);
    ut_rmtree(dir);
    free(dir);
}

static void a_failed_copy_leaves_nothing(void **state)
{
    (void)state;
    char *dir = ut_mkdtemp("ph-unit-copy");
    char path[4200];
    snprintf(path, sizeof path, "%s/copy", dir);
    int not_readable = open(dir, O_RDONLY | O_DIRECTORY); /* pread fails: EISDIR */
    assert_true(not_readable >= 0);
    assert_int_equal(ph_file_copy_new(not_readable, path, 0600), -1);
    assert_int_equal(errno, EISDIR);
    assert_int_equal(access(path, F_OK), -1);
    close(not_readable);
    ut_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copy_fd_takes_every_byte_from_the_start_and_keeps_the_offset),
        cmocka_unit_test(copy_new_creates_the_file_with_its_mode_and_refuses_an_existing_one),
        cmocka_unit_test(a_failed_copy_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
