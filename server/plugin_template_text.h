/* plugin_template_text.h - the files `plughost new` writes, as text with
 * @NAME@ standing for the plugin name. */
#ifndef PH_PLUGIN_TEMPLATE_TEXT_H
#define PH_PLUGIN_TEMPLATE_TEXT_H

/* The sync plugin's source. */
extern const char ph_template_sync_c[];
/* The async plugin's source. */
extern const char ph_template_async_c[];
/* The sync plugin's cmocka test through the mock host. */
extern const char ph_template_test_sync_c[];
/* The async plugin's cmocka test, driving the mock's virtual clock. */
extern const char ph_template_test_async_c[];
/* CMakeLists.txt against the installed SDK (find_package(plughost)). */
extern const char ph_template_cmakelists[];
/* The route snippet for server.ini (sync). */
extern const char ph_template_route_sync_ini[];
/* The route snippet for server.ini (async). */
extern const char ph_template_route_async_ini[];

#endif
