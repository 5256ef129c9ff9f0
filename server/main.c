/* main.c - command line: run, -t (test config and plugins), --version. */
#include "config.h"
#include "generation.h"
#include "host_api.h"
#include "log.h"
#include "plugin_loader.h"
#include "supervisor.h"
#include "worker.h"

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PLUGHOST_VERSION
#define PLUGHOST_VERSION "0.0.0"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: plughost [-c FILE] [-t]\n"
            "  -c, --config FILE  server.ini to use (default conf/server.ini)\n"
            "  -t, --test         check the config and load every plugin, then exit 0/1\n"
            "  -v, --version      print the version\n"
            "  -h, --help         this help\n"
            "signals to the supervisor: SIGHUP reloads, SIGTERM/SIGINT drain and exit,\n"
            "  SIGUSR2 starts the binary at the same path again and hands over to it\n");
}

int main(int argc, char **argv)
{
    const char *worker_env = getenv(PH_WORKER_ENV);
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = "conf/server.ini";
    int test_only = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:tvh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
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
        return ph_supervisor_run(path, argv);

    char err[2048];
    ph_config *config = ph_config_load(path, err, sizeof err);
    if (!config) {
        fprintf(stderr, "plughost: %s\n", err);
        return 1;
    }
    ph_log_set_level(config->server.log_level);
    ph_host_api_set_loop_thread(pthread_self());
    if (ph_loader_init() < 0)
        return 1;
    ph_generation *gen = ph_generation_build(config, NULL, 1, err, sizeof err);
    int status = 0;
    if (!gen) {
        fprintf(stderr, "plughost: %s\n", err);
        status = 1;
    } else {
        fprintf(stderr, "plughost: %s: configuration ok (%zu routes, plugins loaded)\n", path,
                ph_router_count(gen->router));
        ph_generation_unref(gen);
    }
    ph_loader_cleanup();
    return status;
}
