/* supervisor.h - the supervisor process: binds the listening socket once,
 * keeps `workers` worker processes alive (respawn, with back-off when one
 * keeps dying), reports each death with what the worker was running,
 * watches server.ini and the plugin folder, coordinates reloads so that
 * every worker switches generation or none does, recycles workers that
 * ask for it, drains on SIGTERM/SIGINT and hands over to a new binary on
 * SIGUSR2. It runs no plugin code itself. */
#ifndef PH_SUPERVISOR_H
#define PH_SUPERVISOR_H

/* Environment variable with which an old supervisor starts its
 * replacement binary: "<listen fd>,<ready fd>". */
#define PH_UPGRADE_ENV "PLUGHOST_UPGRADE"

/* Serve `config_path` until stopped, on `listen` ("host:port") instead
 * of the config's when not NULL. `argv` is the command line, re-used to
 * start a new binary on SIGUSR2. Returns the process exit status. Main
 * thread. */
int ph_supervisor_run(const char *config_path, const char *listen, char *const argv[]);

#endif
