/* failoverd-sim: runs the deterministic Raft simulation over many seeds and reports every
 * violated property with its seed and a trace; exits non-zero if any seed fails. */
#include "sim/sim.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_SEEDS 500

static void usage(FILE *f)
{
    fprintf(f,
            "usage: failoverd-sim [--nodes N] [--seeds N] [--seed S] [--steps N] [--verbose]\n"
            "                     [--stop-on-violation]\n"
            "  --seeds N   run N seeds (default %d), from S if --seed is given, else from 1\n"
            "  --seed S    run seed S (alone unless --seeds is given): replays a failure\n"
            "  --nodes N   cluster size 1..%d (default: 3 for odd seeds, 5 for even)\n"
            "  --steps N   chaos steps before the network heals (default 60)\n"
            "  --verbose   print every event\n",
            DEFAULT_SEEDS, FO_SIM_MAX_NODES);
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (!*s || *end || s[0] == '-')
        return -1;
    *v = x;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"nodes", required_argument, NULL, 'n'}, {"seeds", required_argument, NULL, 'N'},
        {"seed", required_argument, NULL, 's'},  {"steps", required_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'v'},     {"stop-on-violation", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    uint64_t nodes = 0, seeds = 0, seed = 1, steps = 60, v;
    bool have_seed = false, have_seeds = false, verbose = false, stop = false;
    int c;
    while ((c = getopt_long(argc, argv, "n:N:s:t:vxh", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (parse_u64(optarg, &nodes) < 0 || nodes < 1 || nodes > FO_SIM_MAX_NODES)
                goto bad;
            break;
        case 'N':
            if (parse_u64(optarg, &seeds) < 0 || seeds < 1)
                goto bad;
            have_seeds = true;
            break;
        case 's':
            if (parse_u64(optarg, &seed) < 0)
                goto bad;
            have_seed = true;
            break;
        case 't':
            if (parse_u64(optarg, &v) < 0 || v > 100000)
                goto bad;
            steps = v;
            break;
        case 'v':
            verbose = true;
            break;
        case 'x':
            stop = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            goto bad;
        }
    }
    if (optind != argc)
        goto bad;
    if (!have_seeds)
        seeds = have_seed ? 1 : DEFAULT_SEEDS;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t violations = 0, ran = 0, events = 0, elections = 0;
    int64_t sim_ms = 0, live_max = 0;
    for (uint64_t i = 0; i < seeds; i++) {
        struct fo_sim_opts o;
        fo_sim_opts_defaults(&o);
        o.seed = seed + i;
        o.nodes = nodes ? (int)nodes : (o.seed % 2 ? 3 : 5);
        o.steps = (int)steps;
        o.verbose = verbose;
        o.out = stdout;
        struct fo_sim_result res;
        if (fo_sim_run(&o, &res) < 0)
            goto bad;
        ran++;
        events += res.events;
        elections += res.elections;
        sim_ms += res.sim_ms;
        if (res.live_ms > live_max)
            live_max = res.live_ms;
        if (verbose)
            printf("seed=%" PRIu64 " nodes=%d events=%" PRIu64 " elections=%" PRIu64
                   " commit=%" PRIu64 " crashes=%" PRIu64 " lease_ms=%" PRIu64
                   " heal_to_commit_ms=%" PRId64 " sim_ms=%" PRId64 "%s\n",
                   o.seed, o.nodes, res.events, res.elections, res.max_commit, res.crashes,
                   res.lease_ms, res.live_ms, res.sim_ms, res.violation ? " VIOLATION" : "");
        if (res.violation) {
            violations++;
            fflush(stdout);
            if (stop)
                break;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr,
            "events=%" PRIu64 " elections=%" PRIu64 " simulated=%" PRId64 "s wall=%.2fs "
            "(%.1f seeds/s) slowest heal-to-commit=%" PRId64 "ms\n",
            events, elections, sim_ms / 1000, wall, wall > 0 ? (double)ran / wall : 0.0, live_max);
    printf("seeds=%" PRIu64 " violations=%" PRIu64 "\n", ran, violations);
    return violations ? 1 : 0;
bad:
    usage(stderr);
    return 2;
}
