/* route_settings.h - what the SDK calls ph_settings: a route's own copy
 * of its keys, made by plugin_instance.c for the plugin's init and read
 * by the host API's setting slots. */
#ifndef PH_ROUTE_SETTINGS_H
#define PH_ROUTE_SETTINGS_H

#include "config.h"

#include <stddef.h>

struct ph_settings {
    char *route_path;
    ph_setting *items;
    size_t count;
};

#endif
