/* status_page.h - the admin listener's live HTML status page: one
 * self-contained document (no external assets) that reads /status.json
 * every second and renders routes, plugins, workers, pool and loop
 * figures and the last reloads. */
#ifndef PH_STATUS_PAGE_H
#define PH_STATUS_PAGE_H

extern const char ph_status_page_html[];

#endif
