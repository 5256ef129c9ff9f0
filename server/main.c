/* main.c - command line: run, -t (test config and plugins), --version. */
#include "config.h"
#include "file_trust.h"
#include "log.h"
#include "plugin_check.h"
#include "plugin_template.h"
#include "privileges.h"
#include "supervisor.h"
#include "worker.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PLUGHOST_VERSION
#define PLUGHOST_VERSION "0.0.0"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: plughost [-c FILE] [-l ADDR:PORT] [-t]\n"
            "       plughost new NAME [--async] [--dir DIR]   start a plugin folder\n"
            "  -c, --config FILE  server.ini to use (default conf/server.ini)\n"
            "  -l, --listen ADDR:PORT  listen there instead of the config's `listen`\n"
            "  -t, --test         check the config and load every plugin, then exit 0/1\n"
            "  -v, --version      print the version\n"
            "  -h, --help         this help\n"
            "signals to the supervisor: SIGHUP reloads, SIGTERM/SIGINT drain and exit,\n"
            "  SIGUSR2 starts the binary at the same path again and hands over to it\n");
}

/* plughost -t: the same trust checks and throwaway-process check of
 * every plugin as a reload, without serving. Returns 0, or 1 with the
 * reason in err. */
static int check_config(ph_config *config, char *err, size_t errlen)
{
    ph_privileges privileges;
    if (ph_priv_resolve(config->server.user, &privileges, err, errlen) < 0)
        return 1;
    uid_t untrusted = privileges.drop ? privileges.uid : (uid_t)-1;
    char why[1536];
    if (config->nroutes > 0 &&
        ph_trust_check_dir(config->server.plugin_dir, geteuid(), untrusted, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: plugin_dir %s", config->path, why);
        return 1;
    }
    size_t *routes = calloc(config->nroutes + 1, sizeof *routes);
    if (!routes) {
        snprintf(err, errlen, "out of memory");
        return 1;
    }
    for (size_t i = 0; i < config->nroutes; i++) {
        const ph_route_conf *rc = &config->routes[i];
        routes[i] = i;
        if (ph_trust_check_file(rc->plugin_path, geteuid(), untrusted, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s:%d: route %s: %s", config->path, rc->line, rc->path, why);
            free(routes);
            return 1;
        }
    }
    int rc = ph_check_run(config, routes, config->nroutes, true, &privileges, NULL, NULL, err, errlen);
    free(routes);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *worker_env = getenv(PH_WORKER_ENV);
    if (argc > 1 && strcmp(argv[1], "new") == 0)
        return ph_plugin_template_main(argc - 1, argv + 1);
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"test", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = "conf/server.ini";
    const char *listen = NULL;
    int test_only = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:l:tvh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'l': listen = optarg; break;
        case 't': test_only = 1; break;
        case 'v': printf("plughost %s (plugin ABI %d.%d)\n", PLUGHOST_VERSION, PH_ABI_MAJOR, PH_ABI_MINOR); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "plughost: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 1;
    }

    if (worker_env)
        return ph_worker_main(path, worker_env);
    if (!test_only)
        return ph_supervisor_run(path, listen, argv);

    char err[2048];
    ph_config *config = ph_config_load(path, err, sizeof err);
    if (!config) {
        fprintf(stderr, "plughost: %s\n", err);
        return 1;
    }
    ph_log_set_level(config->server.log_level);
    if (listen && ph_config_override_listen(config, listen, err, sizeof err) < 0) {
        fprintf(stderr, "plughost: %s\n", err);
        ph_config_free(config);
        return 1;
    }
    int status = check_config(config, err, sizeof err);
    if (status != 0)
        fprintf(stderr, "plughost: %s\n", err);
    else
        fprintf(stderr, "plughost: %s: configuration ok (%zu routes, plugins loaded)\n", path, config->nroutes);
    ph_config_free(config);
    return status;
}
