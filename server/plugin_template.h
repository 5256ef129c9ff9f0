/* plugin_template.h - `plughost new NAME [--async] [--dir DIR]`: start a
 * plugin folder that builds against the installed SDK and passes its own
 * test. */
#ifndef PH_PLUGIN_TEMPLATE_H
#define PH_PLUGIN_TEMPLATE_H

/* Run the `new` command; argv[0] is "new". Writes DIR/NAME/ (DIR defaults
 * to the current folder) holding NAME.c, test_NAME.c, CMakeLists.txt and
 * route.ini, then prints what was written and the commands to build and
 * test it. NAME must be a C identifier in lower case (a-z, 0-9, _; at most
 * 64 characters, starting with a letter): it names the .so, the symbols and
 * the route. Refuses an existing folder; on an error leaves nothing behind.
 * Returns the process exit status: 0, 1 (error, reason on stderr) or 2
 * (usage). Main thread, before anything else runs. */
int ph_plugin_template_main(int argc, char **argv);

/* True when `name` is acceptable as NAME (see above). */
int ph_plugin_template_name_ok(const char *name);

/* `text` with every "@NAME@" replaced by `name`, malloc'ed (caller frees),
 * or NULL when out of memory. */
char *ph_plugin_template_expand(const char *text, const char *name);

#endif
