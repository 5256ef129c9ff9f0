/* worker.h - a worker process: started by the supervisor (fork + exec of
 * the same binary) with the listening socket, its control channel, the
 * board and the config of the current good generation inherited as file
 * descriptors, named in the PLUGHOST_WORKER environment variable. It
 * serves until told to drain, answers reload steps, and asks to be
 * replaced when it reaches max_requests, max_stuck_sync or
 * max_worker_rss. */
#ifndef PH_WORKER_H
#define PH_WORKER_H

#include "config.h"

#include <signal.h>
#include <stddef.h>

/* The environment variable carrying the worker's start parameters. */
#define PH_WORKER_ENV "PLUGHOST_WORKER"

/* What the supervisor hands a worker it starts. */
typedef struct ph_worker_spec {
    int id;                   /* 1..workers */
    int record;               /* its board record */
    int listen_fd;
    int control_fd;
    int board_fd;
    int config_fd;            /* memfd with the good generation's server.ini */
    int map_fd;               /* memfd with its plugin map (plugin_map.h) */
    unsigned long generation; /* that generation's number */
} ph_worker_spec;

/* Signals a worker starts with blocked (the supervisor blocks them
 * before exec) and unblocks once its loop handles them. */
static const int ph_worker_held_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};

/* Exit status of a worker that could not build its first generation. */
#define PH_WORKER_EXIT_CONFIG 78

/* Format `spec` for PH_WORKER_ENV into out. */
void ph_worker_spec_format(const ph_worker_spec *spec, char *out, size_t outlen);

/* Run as the worker `env_value` describes; `config_path` names the file
 * the config came from. Returns the process exit status. Main thread. */
int ph_worker_main(const char *config_path, const char *env_value);

/* Read the config in memfd `fd` (from its start) as if it were
 * `config_path`. Returns the config or NULL with the reason in err. */
ph_config *ph_worker_read_config(int fd, const char *config_path, char *err, size_t errlen);

#endif
