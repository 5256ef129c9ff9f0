/* test_plugin_instance.c - server/plugin_instance.c: a plugin serving one
 * route, its settings copy, init() and reference counting. */
#include "plugin_instance.h"

#include "host_api.h"
#include "unit_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <limits.h>
#include <string.h>

#define HELLO_SO PLUGHOST_PLUGIN_DIR "/hello.so"
#define SLEEP_SYNC_SO PLUGHOST_PLUGIN_DIR "/sleep_sync.so"
/* declares no setting names, so any key reaches it */
#define IT_COUNTER_SO PLUGHOST_TEST_PLUGIN_DIR "/it_counter.so"
#define INIT_FAIL_SO PLUGHOST_TEST_PLUGIN_DIR "/it_init_fail.so"

static char *tmp_root;
static char err[2048];

static int group_setup(void **state)
{
    (void)state;
    tmp_root = ut_mkdtemp("ph-unit-instance");
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

/* A route conf owning malloc'ed copies, like config.c builds them. */
static ph_route_conf *route_conf(const char *path, const char *plugin_path, int nsettings, ...)
{
    ph_route_conf *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->path = strdup(path);
    r->plugin = strdup("x");
    r->plugin_path = strdup(plugin_path);
    r->methods = 1;
    r->settings = calloc((size_t)nsettings + 1, sizeof *r->settings);
    va_list ap;
    va_start(ap, nsettings);
    for (int i = 0; i < nsettings; i++) {
        r->settings[i].key = strdup(va_arg(ap, const char *));
        r->settings[i].value = strdup(va_arg(ap, const char *));
    }
    va_end(ap);
    r->nsettings = (size_t)nsettings;
    return r;
}

static void route_conf_free(ph_route_conf *r)
{
    for (size_t i = 0; i < r->nsettings; i++) {
        free(r->settings[i].key);
        free(r->settings[i].value);
    }
    free(r->settings);
    free(r->path);
    free(r->plugin);
    free(r->plugin_path);
    free(r);
}

static ph_plugin_lib *load(const char *path)
{
    ph_plugin_lib *lib = ph_plugin_lib_load(path, NULL, err, sizeof err);
    if (!lib)
        fail_msg("%s", err);
    return lib;
}

static void instance_create_runs_init_with_its_own_copy_of_the_settings(void **state)
{
    (void)state;
    ph_plugin_lib *lib = load(IT_COUNTER_SO);
    ph_route_conf *rc = route_conf("/s", IT_COUNTER_SO, 2, "seconds", "0.5", "label", "x");
    ph_instance *inst = ph_instance_create(lib, rc, err, sizeof err);
    if (!inst)
        fail_msg("%s", err);
    assert_int_equal(inst->refs, 1);
    assert_ptr_equal(inst->lib, lib);
    assert_int_equal(lib->refs, 2);
    assert_non_null(inst->state); /* it_counter's init stored its state */
    assert_string_equal(ph_instance_name(inst), "it_counter");
    assert_int_equal(ph_instance_mode(inst), PH_MODE_ASYNC);
    assert_string_equal(inst->settings.route_path, "/s");
    assert_int_equal(inst->settings.count, 2);
    /* a deep copy: the config can go away */
    strcpy(rc->settings[0].value, "9.9");
    rc->path[1] = 'z';
    const ph_host_api *api = ph_host_api_table();
    assert_string_equal(api->setting(&inst->settings, "seconds"), "0.5");
    assert_string_equal(api->setting(&inst->settings, "label"), "x");
    assert_string_equal(api->route_path(&inst->settings), "/s");
    route_conf_free(rc);
    ph_instance_unref(inst);
    assert_int_equal(lib->refs, 1);
    ph_plugin_lib_unref(lib);
}

static void instance_create_reports_failed_init_naming_file_plugin_and_route(void **state)
{
    (void)state;
    ph_plugin_lib *lib = load(INIT_FAIL_SO);
    ph_route_conf *rc = route_conf("/f", INIT_FAIL_SO, 0);
    assert_null(ph_instance_create(lib, rc, err, sizeof err));
    char want[4096];
    snprintf(want, sizeof want,
             "%s: init failed (plugin 'it_init_fail' returned -1 for route /f; see its log lines above)", INIT_FAIL_SO);
    assert_string_equal(err, want);
    assert_int_equal(lib->refs, 1); /* no reference kept on failure */
    route_conf_free(rc);
    ph_plugin_lib_unref(lib);
}

static void instance_create_fails_when_plugin_refuses_its_settings(void **state)
{
    (void)state;
    ph_plugin_lib *lib = load(SLEEP_SYNC_SO);
    ph_route_conf *rc = route_conf("/s", SLEEP_SYNC_SO, 1, "seconds", "soon");
    assert_null(ph_instance_create(lib, rc, err, sizeof err));
    char want[4096];
    snprintf(want, sizeof want, "%s: init failed (plugin 'sleep_sync' returned -1 for route /s;", SLEEP_SYNC_SO);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("error: '%s'", err);
    assert_int_equal(lib->refs, 1);
    route_conf_free(rc);
    ph_plugin_lib_unref(lib);
}

static void instance_matches_only_same_file_route_and_settings(void **state)
{
    (void)state;
    ph_plugin_lib *lib = load(IT_COUNTER_SO);
    ph_route_conf *rc = route_conf("/h", IT_COUNTER_SO, 2, "a", "1", "b", "2");
    ph_instance *inst = ph_instance_create(lib, rc, err, sizeof err);
    assert_non_null(inst);
    ph_file_id id = lib->id;
    assert_true(ph_instance_matches(inst, rc, &id));

    ph_route_conf *other_value = route_conf("/h", IT_COUNTER_SO, 2, "a", "1", "b", "3");
    ph_route_conf *other_key = route_conf("/h", IT_COUNTER_SO, 2, "a", "1", "c", "2");
    ph_route_conf *fewer = route_conf("/h", IT_COUNTER_SO, 1, "a", "1");
    ph_route_conf *more = route_conf("/h", IT_COUNTER_SO, 3, "a", "1", "b", "2", "c", "3");
    ph_route_conf *other_path = route_conf("/h2", IT_COUNTER_SO, 2, "a", "1", "b", "2");
    ph_route_conf *other_file = route_conf("/h", PLUGHOST_PLUGIN_DIR "/./hello.so", 2, "a", "1", "b", "2");
    assert_false(ph_instance_matches(inst, other_value, &id));
    assert_false(ph_instance_matches(inst, other_key, &id));
    assert_false(ph_instance_matches(inst, fewer, &id));
    assert_false(ph_instance_matches(inst, more, &id));
    assert_false(ph_instance_matches(inst, other_path, &id));
    assert_false(ph_instance_matches(inst, other_file, &id));
    ph_file_id newer = id;
    newer.mtime.tv_nsec ^= 1;
    assert_false(ph_instance_matches(inst, rc, &newer));
    ph_file_id moved = id;
    moved.ino += 1;
    assert_false(ph_instance_matches(inst, rc, &moved));

    route_conf_free(other_value);
    route_conf_free(other_key);
    route_conf_free(fewer);
    route_conf_free(more);
    route_conf_free(other_path);
    route_conf_free(other_file);
    route_conf_free(rc);
    ph_instance_unref(inst);
    ph_plugin_lib_unref(lib);
}

static void instance_stays_until_last_reference_and_keeps_library_loaded(void **state)
{
    (void)state;
    ph_plugin_lib *lib = load(HELLO_SO);
    ph_route_conf *rc = route_conf("/h", HELLO_SO, 0);
    ph_instance *inst = ph_instance_create(lib, rc, err, sizeof err);
    assert_non_null(inst);
    ph_plugin_lib_unref(lib); /* the instance alone holds the library now */
    assert_int_equal(lib->refs, 1);
    ph_instance_ref(inst);
    assert_int_equal(inst->refs, 2);
    ph_instance_unref(inst);
    assert_int_equal(inst->refs, 1);
    assert_string_equal(ph_instance_name(inst), "hello"); /* still mapped */
    Dl_info info;
    assert_int_not_equal(dladdr(inst->lib->desc, &info), 0);
    char *mapped = strdup(info.dli_fname);
    assert_true(ut_count_maps(mapped) > 0);
    ph_instance_unref(inst); /* fini, then the library's last reference */
    assert_int_equal(ut_count_maps(mapped), 0);
    free(mapped);
    route_conf_free(rc);
    ph_instance_unref(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(instance_create_runs_init_with_its_own_copy_of_the_settings),
        cmocka_unit_test(instance_create_reports_failed_init_naming_file_plugin_and_route),
        cmocka_unit_test(instance_create_fails_when_plugin_refuses_its_settings),
        cmocka_unit_test(instance_matches_only_same_file_route_and_settings),
        cmocka_unit_test(instance_stays_until_last_reference_and_keeps_library_loaded),
    };
    return cmocka_run_group_tests_name("plugin_instance", tests, group_setup, group_teardown);
}
