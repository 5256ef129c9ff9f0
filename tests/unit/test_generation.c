/* test_generation.c - server/generation.c: building a serving generation
 * from server.ini, carrying unchanged instances over, all-or-nothing
 * failure.
 *
 * Each test writes an ini into a private folder. Most use the bundled
 * plugins in PLUGHOST_PLUGIN_DIR directly; tests that mix in test-only
 * plugins or rewrite a plugin file use a private plugin folder of
 * symlinks and copies. TMPDIR points at a private folder so the loader's
 * mapped copies can be counted in /proc/self/maps. */
#include "generation.h"

#include "config_value.h"
#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>

static char *tmp_root;    /* TMPDIR: the loader's copy folder is in here */
static char copies[PATH_MAX]; /* "<tmp_root>/plughost-" prefix of mapped copies */

typedef struct fixture {
    char *dir;      /* ini folder */
    char *plugins;  /* private plugin folder */
    char ini[PATH_MAX];
    char err[2048];
    int maps;       /* mapped plugin copies when the test began */
} fixture;

static int group_setup(void **state)
{
    (void)state;
    tmp_root = ut_mkdtemp("ph-unit-generation");
    snprintf(copies, sizeof copies, "%s/plughost-", tmp_root);
    return setenv("TMPDIR", tmp_root, 1);
}

static int group_teardown(void **state)
{
    (void)state;
    ph_loader_cleanup();
    ut_rmtree(tmp_root);
    free(tmp_root);
    return 0;
}

static void link_plugin(fixture *f, const char *target, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.so", f->plugins, name);
    assert_int_equal(symlink(target, path), 0);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->dir = ut_mkdtemp("conf");
    f->plugins = ut_mkdtemp("plugins");
    snprintf(f->ini, sizeof f->ini, "%s/server.ini", f->dir);
    link_plugin(f, PLUGHOST_PLUGIN_DIR "/hello.so", "hello");
    link_plugin(f, PLUGHOST_PLUGIN_DIR "/sleep_async.so", "sleep_async");
    link_plugin(f, PLUGHOST_TEST_PLUGIN_DIR "/it_init_fail.so", "it_init_fail");
    link_plugin(f, PLUGHOST_TEST_PLUGIN_DIR "/it_wrong_abi.so", "it_wrong_abi");
    f->maps = ut_count_maps(copies);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ut_rmtree(f->dir);
    ut_rmtree(f->plugins);
    free(f->dir);
    free(f->plugins);
    free(f);
    return 0;
}

/* Write the ini (plugin_dir as given) and parse it. */
static ph_config *config(fixture *f, const char *plugin_dir, const char *routes)
{
    char text[4096];
    snprintf(text, sizeof text, "[server]\nplugin_dir = %s\n%s", plugin_dir, routes);
    assert_int_equal(ut_write_file(f->ini, text, strlen(text)), 0);
    ph_config *c = ph_config_load(f->ini, f->err, sizeof f->err);
    if (!c)
        fail_msg("%s", f->err);
    return c;
}

static ph_generation *build(fixture *f, const char *plugin_dir, const char *routes, const ph_generation *previous)
{
    ph_generation *gen = ph_generation_build(config(f, plugin_dir, routes), previous, 1, f->err, sizeof f->err);
    if (!gen)
        fail_msg("%s", f->err);
    return gen;
}

static ph_instance *instance_at(const ph_generation *gen, const char *path)
{
    const ph_route *route = NULL;
    ph_route_match m = ph_router_match(gen->router, path, strlen(path), PH_METHOD_GET | PH_METHOD_POST, &route, NULL);
    if (m == PH_ROUTE_NOT_FOUND)
        fail_msg("no route %s", path);
    return route->instance;
}

static const char *const bundled_routes = "[route /hello]\nplugin = hello\n"
                                          "[route /echo]\nplugin = echo\nmethods = POST\n"
                                          "[route /sync]\nplugin = sleep_sync\nseconds = 0.01\n"
                                          "[route /async]\nplugin = sleep_async\nseconds = 0.01\n";

static void generation_builds_routes_from_ini_with_bundled_plugins(void **state)
{
    fixture *f = *state;
    ph_config *c = config(f, PLUGHOST_PLUGIN_DIR, bundled_routes);
    ph_generation *gen = ph_generation_build(c, NULL, 7, f->err, sizeof f->err);
    if (!gen)
        fail_msg("%s", f->err);
    assert_int_equal(gen->number, 7);
    assert_int_equal(gen->refs, 1);
    assert_ptr_equal(gen->config, c);
    assert_int_equal(ph_router_count(gen->router), 4);
    const ph_route *route = NULL;
    assert_int_equal(ph_router_match(gen->router, "/echo", 5, PH_METHOD_POST, &route, NULL), PH_ROUTE_FOUND);
    assert_string_equal(ph_instance_name(route->instance), "echo");
    assert_int_equal(ph_instance_mode(route->instance), PH_MODE_SYNC);
    assert_int_equal(ph_router_match(gen->router, "/echo", 5, PH_METHOD_GET, &route, NULL),
                     PH_ROUTE_METHOD_NOT_ALLOWED);
    assert_int_equal(ph_router_match(gen->router, "/hello", 6, PH_METHOD_HEAD, &route, NULL), PH_ROUTE_FOUND);
    assert_string_equal(ph_instance_name(route->instance), "hello");
    assert_int_equal(ph_instance_mode(route->instance), PH_MODE_ASYNC);
    assert_string_equal(ph_instance_name(instance_at(gen, "/sync")), "sleep_sync");
    assert_string_equal(ph_instance_name(instance_at(gen, "/async")), "sleep_async");
    assert_string_equal(instance_at(gen, "/async")->settings.route_path, "/async");
    assert_int_equal(ph_router_match(gen->router, "/nope", 5, PH_METHOD_GET, &route, NULL), PH_ROUTE_NOT_FOUND);
    ph_generation_unref(gen);
    assert_int_equal(ut_count_maps(copies), f->maps);
}

static void generation_routes_naming_one_file_share_one_library(void **state)
{
    fixture *f = *state;
    ph_generation *gen = build(f, PLUGHOST_PLUGIN_DIR, "[route /a]\nplugin = hello\n[route /b]\nplugin = hello\n", NULL);
    ph_instance *a = instance_at(gen, "/a"), *b = instance_at(gen, "/b");
    assert_ptr_not_equal(a, b);
    assert_ptr_equal(a->lib, b->lib);
    assert_int_equal(a->lib->refs, 2);
    ph_generation_unref(gen);
}

static void generation_ref_keeps_it_alive_until_last_unref(void **state)
{
    fixture *f = *state;
    ph_generation *gen = build(f, PLUGHOST_PLUGIN_DIR, "[route /a]\nplugin = hello\n", NULL);
    ph_generation_ref(gen);
    assert_int_equal(gen->refs, 2);
    ph_generation_unref(gen);
    assert_int_equal(gen->refs, 1);
    assert_true(ut_count_maps(copies) > f->maps);
    assert_string_equal(ph_instance_name(instance_at(gen, "/a")), "hello");
    ph_generation_unref(gen);
    assert_int_equal(ut_count_maps(copies), f->maps);
    ph_generation_unref(NULL);
}

/* ph_generation_drop says which drop was the last, and the generation
 * lives until it is buried then. */
static void generation_drop_tells_the_last_and_bury_frees_it(void **state)
{
    fixture *f = *state;
    ph_generation *gen = build(f, PLUGHOST_PLUGIN_DIR, "[route /a]\nplugin = hello\n", NULL);
    ph_generation_ref(gen);
    assert_false(ph_generation_drop(gen));
    assert_int_equal(gen->refs, 1);
    assert_true(ph_generation_drop(gen));
    assert_true(ut_count_maps(copies) > f->maps);
    assert_string_equal(ph_instance_name(instance_at(gen, "/a")), "hello");
    ph_generation_bury(gen);
    assert_int_equal(ut_count_maps(copies), f->maps);
    assert_false(ph_generation_drop(NULL));
}

static void generation_rebuilt_with_unchanged_settings_reuses_each_instance(void **state)
{
    fixture *f = *state;
    ph_generation *gen1 = build(f, PLUGHOST_PLUGIN_DIR, bundled_routes, NULL);
    ph_instance *hello = instance_at(gen1, "/hello"), *echo = instance_at(gen1, "/echo");
    ph_instance *sync = instance_at(gen1, "/sync"), *async = instance_at(gen1, "/async");
    void *async_state = async->state;
    int maps = ut_count_maps(copies);
    ph_generation *gen2 = build(f, PLUGHOST_PLUGIN_DIR, bundled_routes, gen1);
    assert_ptr_equal(instance_at(gen2, "/hello"), hello);
    assert_ptr_equal(instance_at(gen2, "/echo"), echo);
    assert_ptr_equal(instance_at(gen2, "/sync"), sync);
    assert_ptr_equal(instance_at(gen2, "/async"), async);
    assert_ptr_equal(async->state, async_state);
    assert_int_equal(hello->refs, 2);
    assert_int_equal(ut_count_maps(copies), maps); /* nothing loaded again */
    ph_generation_unref(gen1);
    assert_int_equal(hello->refs, 1);
    assert_string_equal(ph_instance_name(instance_at(gen2, "/hello")), "hello");
    ph_generation_unref(gen2);
}

static void generation_changed_settings_give_new_instance_on_same_library(void **state)
{
    fixture *f = *state;
    ph_generation *gen1 = build(f, PLUGHOST_PLUGIN_DIR,
                                "[route /hello]\nplugin = hello\n[route /async]\nplugin = sleep_async\nseconds = 1\n",
                                NULL);
    ph_instance *hello1 = instance_at(gen1, "/hello"), *async1 = instance_at(gen1, "/async");
    int maps = ut_count_maps(copies);
    ph_generation *gen2 = build(f, PLUGHOST_PLUGIN_DIR,
                                "[route /hello]\nplugin = hello\n[route /async]\nplugin = sleep_async\nseconds = 2\n",
                                gen1);
    ph_instance *async2 = instance_at(gen2, "/async");
    assert_ptr_equal(instance_at(gen2, "/hello"), hello1);
    assert_ptr_not_equal(async2, async1);
    assert_ptr_equal(async2->lib, async1->lib); /* the unchanged file is not loaded again */
    assert_int_equal(ut_count_maps(copies), maps);
    assert_int_equal(async1->refs, 1);
    assert_int_equal(async2->refs, 1);
    assert_int_equal(async1->lib->refs, 2);
    ph_generation_unref(gen1);
    assert_int_equal(async2->lib->refs, 1);
    ph_generation_unref(gen2);
}

static void generation_changed_route_path_gives_new_instance(void **state)
{
    fixture *f = *state;
    ph_generation *gen1 = build(f, PLUGHOST_PLUGIN_DIR, "[route /hello]\nplugin = hello\n", NULL);
    ph_generation *gen2 = build(f, PLUGHOST_PLUGIN_DIR, "[route /hi]\nplugin = hello\n", gen1);
    ph_instance *a = instance_at(gen1, "/hello"), *b = instance_at(gen2, "/hi");
    assert_ptr_not_equal(a, b);
    assert_ptr_equal(a->lib, b->lib);
    assert_string_equal(b->settings.route_path, "/hi");
    ph_generation_unref(gen2);
    ph_generation_unref(gen1);
}

static void generation_changed_methods_alone_keep_the_instance(void **state)
{
    fixture *f = *state;
    ph_generation *gen1 = build(f, PLUGHOST_PLUGIN_DIR, "[route /e]\nplugin = echo\nmethods = POST\n", NULL);
    ph_generation *gen2 = build(f, PLUGHOST_PLUGIN_DIR, "[route /e]\nplugin = echo\nmethods = POST, PUT\n", gen1);
    assert_ptr_equal(instance_at(gen1, "/e"), instance_at(gen2, "/e"));
    const ph_route *route = NULL;
    assert_int_equal(ph_router_match(gen2->router, "/e", 2, PH_METHOD_PUT, &route, NULL), PH_ROUTE_FOUND);
    assert_int_equal(ph_router_match(gen1->router, "/e", 2, PH_METHOD_PUT, &route, NULL), PH_ROUTE_METHOD_NOT_ALLOWED);
    ph_generation_unref(gen1);
    ph_generation_unref(gen2);
}

static void generation_replaced_plugin_file_gives_new_library_and_instance(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/copied.so", f->plugins);
    assert_int_equal(ut_copy_file(PLUGHOST_PLUGIN_DIR "/hello.so", path), 0);
    ph_generation *gen1 = build(f, f->plugins, "[route /c]\nplugin = copied\n", NULL);
    ph_instance *old = instance_at(gen1, "/c");
    assert_int_equal(ut_copy_file(PLUGHOST_PLUGIN_DIR "/hello.so", path), 0); /* new inode */
    ph_generation *gen2 = build(f, f->plugins, "[route /c]\nplugin = copied\n", gen1);
    ph_instance *fresh = instance_at(gen2, "/c");
    assert_ptr_not_equal(fresh, old);
    assert_ptr_not_equal(fresh->lib, old->lib);
    assert_ptr_not_equal(fresh->lib->desc, old->lib->desc); /* a second mapping */
    assert_false(ph_file_id_equal(&fresh->lib->id, &old->lib->id));
    ph_generation_unref(gen1);
    ph_generation_unref(gen2);
    assert_int_equal(ut_count_maps(copies), f->maps);
}

/* A failing route makes the whole build fail: instances carried over from
 * the previous generation get their references back, and whatever the
 * build loaded is unloaded again. */
static void generation_failing_init_fails_build_and_releases_everything(void **state)
{
    fixture *f = *state;
    ph_generation *gen1 = build(f, f->plugins, "[route /a]\nplugin = hello\n", NULL);
    ph_instance *a = instance_at(gen1, "/a");
    int maps = ut_count_maps(copies);
    ph_config *c = config(f, f->plugins,
                          "[route /a]\nplugin = hello\n"
                          "[route /s]\nplugin = sleep_async\nseconds = 1\n"
                          "[route /b]\nplugin = it_init_fail\n");
    assert_null(ph_generation_build(c, gen1, 2, f->err, sizeof f->err));
    char want[3 * PATH_MAX];
    snprintf(want, sizeof want,
             "%s:8: route /b: %s/it_init_fail.so: init failed (plugin 'it_init_fail' returned -1 for route /b; "
             "see its log lines above)",
             f->ini, f->plugins);
    assert_string_equal(f->err, want);
    assert_int_equal(a->refs, 1);
    assert_int_equal(a->lib->refs, 1);
    assert_int_equal(ut_count_maps(copies), maps); /* sleep_async and it_init_fail unloaded */
    assert_ptr_equal(instance_at(gen1, "/a"), a);
    ph_generation_unref(gen1);
    assert_int_equal(ut_count_maps(copies), f->maps);
}

static void generation_missing_plugin_file_fails_naming_ini_line_route_and_file(void **state)
{
    fixture *f = *state;
    ph_config *c = config(f, f->plugins, "[route /a]\nplugin = hello\n\n[route /m]\nplugin = missing\n");
    assert_null(ph_generation_build(c, NULL, 1, f->err, sizeof f->err));
    char want[3 * PATH_MAX];
    snprintf(want, sizeof want, "%s:6: route /m: %s/missing.so: No such file or directory", f->ini, f->plugins);
    assert_string_equal(f->err, want);
    assert_int_equal(ut_count_maps(copies), f->maps); /* hello, loaded first, is gone again */
}

static void generation_wrong_abi_plugin_fails_build_naming_versions(void **state)
{
    fixture *f = *state;
    ph_config *c = config(f, f->plugins, "[route /w]\nplugin = it_wrong_abi\n");
    assert_null(ph_generation_build(c, NULL, 1, f->err, sizeof f->err));
    char want[3 * PATH_MAX];
    snprintf(want, sizeof want, "%s:3: route /w: %s/it_wrong_abi.so: built for plugin ABI 2.0, host speaks %u.%u", f->ini,
             f->plugins, PH_ABI_MAJOR, PH_ABI_MINOR);
    if (strncmp(f->err, want, strlen(want)) != 0)
        fail_msg("error: '%s'", f->err);
    assert_int_equal(ut_count_maps(copies), f->maps);
}

static void generation_route_timeout_defaults_to_the_server_timeout(void **state)
{
    fixture *f = *state;
    char text[512];
    snprintf(text, sizeof text,
             "[server]\nplugin_dir = %s\ntimeout = 7s\n"
             "[route /own]\nplugin = hello\ntimeout = 250ms\n"
             "[route /default]\nplugin = hello\n",
             PLUGHOST_PLUGIN_DIR);
    assert_int_equal(ut_write_file(f->ini, text, strlen(text)), 0);
    ph_config *c = ph_config_load(f->ini, f->err, sizeof f->err);
    assert_non_null(c);
    ph_generation *gen = ph_generation_build(c, NULL, 1, f->err, sizeof f->err);
    if (!gen)
        fail_msg("%s", f->err);
    const ph_route *route = NULL;
    assert_int_equal(ph_router_match(gen->router, "/own", 4, PH_METHOD_GET, &route, NULL), PH_ROUTE_FOUND);
    assert_int_equal(route->timeout_ms, 250);
    assert_int_equal(ph_router_match(gen->router, "/default", 8, PH_METHOD_GET, &route, NULL), PH_ROUTE_FOUND);
    assert_int_equal(route->timeout_ms, 7000);
    ph_generation_unref(gen);
}

static void generation_serves_parameter_routes(void **state)
{
    fixture *f = *state;
    ph_generation *gen = build(f, PLUGHOST_PLUGIN_DIR, "[route /items/{id}]\nplugin = hello\n", NULL);
    ph_buf params = {0};
    const ph_route *route = NULL;
    assert_int_equal(ph_router_match(gen->router, "/items/5", 8, PH_METHOD_GET, &route, &params), PH_ROUTE_FOUND);
    assert_string_equal(route->instance->settings.route_path, "/items/{id}");
    assert_memory_equal(params.data, "id\0" "5", 5);
    ph_buf_free(&params);
    ph_generation_unref(gen);
}

static void generation_ambiguous_routes_fail_build_naming_ini_line(void **state)
{
    fixture *f = *state;
    ph_config *c = config(f, PLUGHOST_PLUGIN_DIR,
                          "[route /items/{id}]\nplugin = hello\n"
                          "[route /items/{name}]\nplugin = hello\n");
    assert_null(ph_generation_build(c, NULL, 1, f->err, sizeof f->err));
    char want[3 * PATH_MAX];
    snprintf(want, sizeof want, "%s:5: route /items/{name} is ambiguous with route /items/{id} (they match the same paths)",
             f->ini);
    assert_string_equal(f->err, want);
    assert_int_equal(ut_count_maps(copies), f->maps);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(generation_builds_routes_from_ini_with_bundled_plugins),
        T(generation_routes_naming_one_file_share_one_library),
        T(generation_ref_keeps_it_alive_until_last_unref),
        T(generation_drop_tells_the_last_and_bury_frees_it),
        T(generation_rebuilt_with_unchanged_settings_reuses_each_instance),
        T(generation_changed_settings_give_new_instance_on_same_library),
        T(generation_changed_route_path_gives_new_instance),
        T(generation_changed_methods_alone_keep_the_instance),
        T(generation_replaced_plugin_file_gives_new_library_and_instance),
        T(generation_failing_init_fails_build_and_releases_everything),
        T(generation_missing_plugin_file_fails_naming_ini_line_route_and_file),
        T(generation_wrong_abi_plugin_fails_build_naming_versions),
        T(generation_route_timeout_defaults_to_the_server_timeout),
        T(generation_serves_parameter_routes),
        T(generation_ambiguous_routes_fail_build_naming_ini_line),
    };
#undef T
    return cmocka_run_group_tests_name("generation", tests, group_setup, group_teardown);
}
