/* test_plugin_template.c - server/plugin_template.c: `plughost new`
 * accepts only names that make a valid .so, symbol and route, expands the
 * placeholder everywhere, writes the four files, and refuses an existing
 * folder without touching it. (That the files build and their tests pass
 * against the installed SDK: integration.install.) */
#include "plugin_template.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void names_must_be_lower_case_c_identifiers(void **state)
{
    (void)state;
    assert_true(ph_plugin_template_name_ok("greet"));
    assert_true(ph_plugin_template_name_ok("a1_b2"));
    assert_false(ph_plugin_template_name_ok(""));
    assert_false(ph_plugin_template_name_ok("Greet"));
    assert_false(ph_plugin_template_name_ok("1up"));
    assert_false(ph_plugin_template_name_ok("_x"));
    assert_false(ph_plugin_template_name_ok("my-plugin"));
    assert_false(ph_plugin_template_name_ok("../x"));
    char longest[66];
    memset(longest, 'a', 64);
    longest[64] = '\0';
    assert_true(ph_plugin_template_name_ok(longest));
    longest[64] = 'a';
    longest[65] = '\0';
    assert_false(ph_plugin_template_name_ok(longest));
}

static void expand_replaces_every_placeholder(void **state)
{
    (void)state;
    char *s = ph_plugin_template_expand("@NAME@.c: @NAME@_init @NAME@", "greet");
    assert_string_equal(s, "greet.c: greet_init greet");
    free(s);
    s = ph_plugin_template_expand("no placeholder", "x");
    assert_string_equal(s, "no placeholder");
    free(s);
}

/* Run `plughost new` with argv. */
static int run_new(const char *a1, const char *a2, const char *a3, const char *a4)
{
    char *argv[] = {(char *)"new", (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
    int argc = 1;
    while (argv[argc])
        argc++;
    return ph_plugin_template_main(argc, argv);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

static void new_writes_four_files_and_refuses_an_existing_folder(void **state)
{
    (void)state;
    char parent[] = "/tmp/ph-template-XXXXXX";
    assert_non_null(mkdtemp(parent));
    assert_int_equal(run_new("tick", "--async", "--dir", parent), 0);
    const char *names[] = {"tick.c", "test_tick.c", "CMakeLists.txt", "route.ini"};
    char path[512];
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/tick/%s", parent, names[i]);
        char *text = read_all(path);
        assert_non_null(text);
        assert_null(strstr(text, "@NAME@"));
        free(text);
    }
    snprintf(path, sizeof path, "%s/tick/tick.c", parent);
    char *src = read_all(path);
    assert_non_null(strstr(src, "PH_PLUGIN_DECLARE(\"tick\", \"0.1.0\", PH_MODE_ASYNC"));
    free(src);
    snprintf(path, sizeof path, "%s/tick/route.ini", parent);
    char *route = read_all(path);
    assert_non_null(strstr(route, "[route /tick]\nplugin = tick\n"));
    free(route);

    /* an existing folder is refused and left as it was */
    assert_int_equal(run_new("tick", "--dir", parent, NULL), 1);
    snprintf(path, sizeof path, "%s/tick/tick.c", parent);
    src = read_all(path);
    assert_non_null(strstr(src, "PH_MODE_ASYNC"));
    free(src);

    /* a bad name or usage writes nothing */
    assert_int_equal(run_new("Bad", "--dir", parent, NULL), 1);
    snprintf(path, sizeof path, "%s/Bad", parent);
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0);
    assert_int_equal(run_new("--bogus", NULL, NULL, NULL), 2);
    assert_int_equal(run_new(NULL, NULL, NULL, NULL), 2);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", parent);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_must_be_lower_case_c_identifiers),
        cmocka_unit_test(expand_replaces_every_placeholder),
        cmocka_unit_test(new_writes_four_files_and_refuses_an_existing_folder),
    };
    return cmocka_run_group_tests_name("plugin_template", tests, NULL, NULL);
}
