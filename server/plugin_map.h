/* plugin_map.h - which file each plugin of a config is loaded from. The
 * supervisor checks every new or changed plugin file in a throwaway
 * process and keeps the checked bytes as a snapshot; it hands workers the
 * config together with this map, so a worker loads exactly the checked
 * bytes (the file in plugin_dir may have been overwritten since), or a
 * stand-in for a plugin that was disabled.
 *
 * Text form, one line per plugin file: "<plugin path>\t<source>\n", where
 * source is the snapshot's path or "-" for disabled. */
#ifndef PH_PLUGIN_MAP_H
#define PH_PLUGIN_MAP_H

#include "config.h"

#include <stddef.h>

/* Set plugin_source / plugin_disabled of every route of `config` whose
 * plugin_path the map names. Returns 0, or -1 with the reason in err (a
 * malformed line, no memory). */
int ph_plugin_map_apply(ph_config *config, const char *text, size_t len, char *err, size_t errlen);

/* Read the map in memfd `fd` (pread from its start: the offset is shared
 * between processes) and apply it. Returns 0 or -1 with err set. */
int ph_plugin_map_apply_fd(ph_config *config, int fd, char *err, size_t errlen);

#endif
