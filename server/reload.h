/* reload.h - building a new generation from server.ini and swapping it in
 * atomically, or keeping the old one when anything fails. Loop thread. */
#ifndef PH_RELOAD_H
#define PH_RELOAD_H

struct ph_server;

/* Re-read the server's config file and its plugins. On success the new
 * generation serves every request parsed from now on; requests in flight
 * finish on the one that accepted them. On failure the running generation
 * is untouched and one line names the file, line and reason. Returns 0 or
 * -1. `trigger` names the cause for the log ("SIGHUP"). */
int ph_reload(struct ph_server *srv, const char *trigger);

#endif
