/* disabled_plugin.h - the host's stand-in for a plugin that was rolled
 * back with no earlier version to go back to: its routes answer 503 with
 * Retry-After until the plugin file or the config changes. */
#ifndef PH_DISABLED_PLUGIN_H
#define PH_DISABLED_PLUGIN_H

#include "plughost.h"

/* The stand-in's descriptor (async, no state). */
const ph_plugin *ph_disabled_plugin(void);

#endif
