/* failoverd: the agent's entry point. Parses the command line, then either checks a
 * configuration (--check-config) or runs the agent (agent.c) until SIGTERM/SIGINT. */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/agent.h"
#include "daemon/agentcfg.h"

static void fo__usage(FILE *f)
{
    fprintf(f,
            "usage: failoverd [-c FILE] [--check-config] [--bootstrap] [--version]\n"
            "  -c, --config FILE   configuration (YAML or JSON; default "
            "/etc/failoverd/failoverd.yaml)\n"
            "      --check-config  validate the configuration, print every error, exit 0 or 1\n"
            "      --bootstrap     create the cluster's first voters if the log is empty\n"
            "      --plugin-dir DIR  load plugins from DIR instead of the configured plugin_dir\n"
            "      --config-keys   print every configuration key with its type, default and "
            "meaning\n"
            "  -V, --version       print the version\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'k'},
        {"bootstrap", no_argument, NULL, 'b'},    {"plugin-dir", required_argument, NULL, 'p'},
        {"config-keys", no_argument, NULL, 'K'},  {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *file = "/etc/failoverd/failoverd.yaml", *plugin_dir = NULL;
    int check_only = 0, bootstrap = 0, c;

    while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            file = optarg;
            break;
        case 'k':
            check_only = 1;
            break;
        case 'b':
            bootstrap = 1;
            break;
        case 'p':
            plugin_dir = optarg;
            break;
        case 'K':
            fo_agentcfg_doc(stdout);
            return 0;
        case 'V':
            printf("failoverd %s\n", PACKAGE_VERSION);
            return 0;
        case 'h':
            fo__usage(stdout);
            return 0;
        default:
            fo__usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "failoverd: unexpected argument '%s'\n", argv[optind]);
        fo__usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (check_only)
        return fo_agent_check_config(file, plugin_dir) == 0 ? 0 : 1;
    return fo_agent_run(file, bootstrap, plugin_dir) == 0 ? 0 : 1;
}
