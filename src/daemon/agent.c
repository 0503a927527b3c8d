/* The agent's wiring: config -> scheduler -> API on one loop; signals; reload that keeps check
 * state; the cluster (Raft, peers, detection) when configured. Nothing here decides anything:
 * it only connects the parts. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "api/http.h"
#include "api/metrics.h"
#include "api/status.h"
#include "check/check.h"
#include "check/http_host.h"
#include "core/clock.h"
#include "core/log.h"
#include "daemon/agent.h"
#include "daemon/agentcfg.h"
#include "daemon/cluster.h"

struct fo_agent {
    uv_loop_t loop;
    char *file;
    const char *plugin_dir;  /* --plugin-dir, kept across reloads */
    struct fo_agentcfg *cfg; /* current; services moved into the scheduler */
    struct fo_sched *sched;
    struct fo_api *api;
    struct fo_cluster *cluster;
    struct fo_agent_info info;
    struct fo_status_src status;
    uv_signal_t sig_hup, sig_term, sig_int;
    int exit_code;
};

static void fo__print_errors(const char *errors)
{
    fputs(errors, stderr);
    if (*errors && errors[strlen(errors) - 1] != '\n')
        fputc('\n', stderr);
}

/* Logs each line of a multi-line error text as one event. */
static void fo__log_errors(const char *kind, const char *errors)
{
    char *copy = fo_xstrdup(errors), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        fo_event(FO_LOG_ERROR, kind, "error", line, NULL);
    free(copy);
}

static void fo__walk_close(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* The command line's --plugin-dir wins over the file's plugin_dir. */
static void fo__override_plugin_dir(struct fo_agentcfg *cfg, const char *dir)
{
    if (!dir)
        return;
    free(cfg->plugin_dir);
    cfg->plugin_dir = fo_xstrdup(dir);
}

int fo_agent_check_config(const char *file, const char *plugin_dir)
{
    char *errors = NULL;
    struct fo_agentcfg *cfg = fo_agentcfg_load(file, &errors);
    if (!cfg) {
        fo__print_errors(errors ? errors : "unknown error\n");
        free(errors);
        return -FO_ECONFIG;
    }
    fo__override_plugin_dir(cfg, plugin_dir);
    fo_log_setup(FO_LOG_WARN, FO_LOG_LOGFMT, NULL); /* errors only: the result is the output */
    /* Plugins validate their own params: load them without running anything. */
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fo_sched *s = fo_sched_new(&loop, cfg->plugin_dir);
    struct fo_err err = {0};
    int rc = fo_sched_validate(s, cfg->services, cfg->nservices, &err);
    if (rc < 0) {
        const char *all = fo_sched_errors(s);
        fo__print_errors(all && *all ? all : err.msg);
    }
    fo_sched_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_walk(&loop, fo__walk_close, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (rc == 0)
        printf("%s: ok (%d services)\n", file, cfg->nservices);
    fo_agentcfg_free(cfg);
    return rc;
}

static int fo__mkdirs(const char *path)
{
    char *p = fo_xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            rc = -errno;
        *s = '/';
    }
    if (rc == 0 && mkdir(p, 0700) < 0 && errno != EEXIST)
        rc = -errno;
    free(p);
    return rc;
}

/* A reload never changes what the agent is: identity, listeners and the cluster need a restart. */
static void fo__warn_restart_only(const struct fo_agentcfg *old, const struct fo_agentcfg *new)
{
    if (strcmp(old->id, new->id) != 0 || strcmp(old->zone, new->zone) != 0 ||
        strcmp(old->data_dir, new->data_dir) != 0)
        fo_event(FO_LOG_WARN, "config.reload_ignored", "what", "agent identity", "hint",
                 "agent.id, zone and data_dir change only on restart", NULL);
    if (strcmp(old->api_listen, new->api_listen) != 0)
        fo_event(FO_LOG_WARN, "config.reload_ignored", "what", "api.listen", "hint",
                 "the API listener changes only on restart", NULL);
    if (old->cluster.enabled != new->cluster.enabled ||
        (old->cluster.enabled && strcmp(old->cluster.listen, new->cluster.listen) != 0))
        fo_event(FO_LOG_WARN, "config.reload_ignored", "what", "cluster", "hint",
                 "peers and voters change through the log, not a reload", NULL);
}

static void fo__reload(struct fo_agent *a)
{
    char *errors = NULL;
    struct fo_agentcfg *cfg = fo_agentcfg_load(a->file, &errors);
    if (!cfg) {
        fo__log_errors("config.reload_failed", errors ? errors : "unknown error");
        fo_event(FO_LOG_ERROR, "config.reload", "result", "rejected", "file", a->file, "hint",
                 "the previous configuration keeps running", NULL);
        free(errors);
        return;
    }
    fo__override_plugin_dir(cfg, a->plugin_dir);
    /* everything that can fail comes before anything changes: the log file, then the checks */
    FILE *logf;
    int rc = fo_log_open(cfg->log_file, &logf);
    if (rc < 0) {
        char *why = fo_xasprintf("log.file %s: %s", cfg->log_file, strerror(-rc));
        fo_event(FO_LOG_ERROR, "config.reload", "result", "rejected", "file", a->file, "error", why,
                 "hint", "the previous configuration keeps running", NULL);
        free(why);
        fo_agentcfg_free(cfg);
        return;
    }
    int n = 0;
    struct fo_service_def *defs = fo_agentcfg_take_services(cfg, &n);
    struct fo_err err = {0};
    if (fo_sched_apply(a->sched, defs, n, &err) < 0) {
        const char *all = fo_sched_errors(a->sched);
        fo__log_errors("config.reload_failed", all && *all ? all : err.msg);
        fo_event(FO_LOG_ERROR, "config.reload", "result", "rejected", "file", a->file, "hint",
                 "the previous configuration keeps running", NULL);
        /* apply left the scheduler running the old checks, and freed defs */
        if (logf)
            fclose(logf);
        fo_agentcfg_free(cfg);
        return;
    }
    fo__warn_restart_only(a->cfg, cfg);
    fo_log_use(cfg->log_level, cfg->log_format, logf);
    fo_api_set_tokens(a->api, cfg->tokens, cfg->ntokens);
    if (a->cluster)
        fo_cluster_reload(a->cluster, cfg);
    /* Identity stays: keep the old id/zone strings by keeping the old config for them. */
    free(a->cfg->hash);
    a->cfg->hash = cfg->hash;
    cfg->hash = NULL;
    a->info.config_hash = a->cfg->hash;
    fo_agentcfg_free(cfg);
    fo_event(FO_LOG_INFO, "config.reload", "result", "applied", "file", a->file, "hash",
             a->cfg->hash, NULL);
}

static void fo__on_signal(uv_signal_t *h, int signum)
{
    struct fo_agent *a = h->data;
    if (signum == SIGHUP) {
        fo__reload(a);
        return;
    }
    fo_event(FO_LOG_INFO, "agent.stopping", "signal", signum == SIGTERM ? "SIGTERM" : "SIGINT",
             NULL);
    uv_signal_stop(&a->sig_hup);
    uv_signal_stop(&a->sig_term);
    uv_signal_stop(&a->sig_int);
    if (a->cluster && signum == SIGTERM) {
        /* A leader hands leadership over before it goes; the cluster calls uv_stop. */
        fo_cluster_shutdown(a->cluster, &a->loop);
        return;
    }
    uv_stop(&a->loop);
}

static void fo__result_to_cluster(const struct fo_sched_member *m, int changed, void *arg)
{
    struct fo_agent *a = arg;
    if (a->cluster)
        fo_cluster_observe(a->cluster, m, changed);
}

static int fo__start_api(struct fo_agent *a, struct fo_err *err)
{
    struct fo_api_cfg acfg = {
        .listen = a->cfg->api_listen,
        .tokens = a->cfg->tokens,
        .ntokens = a->cfg->ntokens,
    };
    a->api = fo_api_new(&a->loop, &acfg, err);
    if (!a->api)
        return err->code ? err->code : -FO_EINVAL;
    fo_api_route(a->api, "GET", "/v1/status", FO_ROLE_READ, fo_status_handler, &a->status);
    fo_api_route(a->api, "GET", "/metrics", FO_ROLE_READ, fo_metrics_handler, &a->status);
    if (a->cluster)
        fo_cluster_routes(a->cluster, a->api);
    return fo_api_start(a->api, err);
}

int fo_agent_run(const char *file, int bootstrap, const char *plugin_dir)
{
    struct fo_agent a;
    struct fo_err err = {0};
    char *errors = NULL;
    int rc = -FO_ECONFIG;

    memset(&a, 0, sizeof(a));
    a.file = fo_xstrdup(file);
    a.cfg = fo_agentcfg_load(file, &errors);
    if (!a.cfg) {
        fo__print_errors(errors ? errors : "unknown error\n");
        free(errors);
        free(a.file);
        return rc;
    }
    fo__override_plugin_dir(a.cfg, plugin_dir);
    a.plugin_dir = plugin_dir;
    if ((rc = fo_log_setup(a.cfg->log_level, a.cfg->log_format, a.cfg->log_file)) < 0) {
        fprintf(stderr, "failoverd: %s: cannot open log file: %s\n", a.cfg->log_file,
                strerror(-rc));
        goto out_cfg;
    }
    if ((rc = fo__mkdirs(a.cfg->data_dir)) < 0) {
        fo_error("cannot create data_dir %s: %s", a.cfg->data_dir, strerror(-rc));
        goto out_cfg;
    }
    uv_loop_init(&a.loop);
    fo_http_host_init(&a.loop);

    a.info = (struct fo_agent_info){
        .id = a.cfg->id,
        .zone = a.cfg->zone,
        .version = PACKAGE_VERSION,
        .pid = (long)getpid(),
        .started_wall_ms = fo_clock_wall_ms(),
        .started_mono_ms = fo_clock_mono_ms(),
        .config_file = a.file,
        .config_hash = a.cfg->hash,
    };
    a.sched = fo_sched_new(&a.loop, a.cfg->plugin_dir);
    fo_checks_src_sched(&a.status.checks, a.sched);
    a.status.agent = &a.info;

    int n = 0;
    struct fo_service_def *defs = fo_agentcfg_take_services(a.cfg, &n);
    if ((rc = fo_sched_apply(a.sched, defs, n, &err)) < 0) {
        const char *all = fo_sched_errors(a.sched);
        fo__print_errors(all && *all ? all : err.msg);
        goto out_loop; /* apply freed defs */
    }
    fo_sched_on_result(a.sched, fo__result_to_cluster, &a);

    if (a.cfg->cluster.enabled) {
        a.cluster = fo_cluster_new(&a.loop, a.cfg, a.sched, bootstrap, &err);
        if (!a.cluster) {
            rc = err.code ? err.code : -FO_EINVAL;
            fo_error("cluster: %s", err.msg);
            goto out_loop;
        }
        a.status.cluster_json = fo_cluster_status_json;
        a.status.cluster_arg = a.cluster;
    }
    if ((rc = fo__start_api(&a, &err)) < 0) {
        fo_error("api: %s", err.msg);
        goto out_loop;
    }
    if (a.cluster && (rc = fo_cluster_start(a.cluster, &err)) < 0) {
        fo_error("cluster: %s", err.msg);
        goto out_loop;
    }

    uv_signal_init(&a.loop, &a.sig_hup);
    uv_signal_init(&a.loop, &a.sig_term);
    uv_signal_init(&a.loop, &a.sig_int);
    a.sig_hup.data = a.sig_term.data = a.sig_int.data = &a;
    uv_signal_start(&a.sig_hup, fo__on_signal, SIGHUP);
    uv_signal_start(&a.sig_term, fo__on_signal, SIGTERM);
    uv_signal_start(&a.sig_int, fo__on_signal, SIGINT);

    fo_event(FO_LOG_INFO, "agent.started", "id", a.cfg->id, "zone", a.cfg->zone, "version",
             PACKAGE_VERSION, "api", a.cfg->api_listen, "config", a.file, NULL);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    rc = a.cluster ? fo_cluster_exit_code(a.cluster) : 0;
    fo_event(FO_LOG_INFO, "agent.stopped", "id", a.cfg->id, NULL);

out_loop:
    if (a.cluster)
        fo_cluster_free(a.cluster);
    if (a.api)
        fo_api_close(a.api);
    fo_sched_close(a.sched);
    fo_http_host_close();
    if (a.sig_hup.loop) {
        uv_close((uv_handle_t *)&a.sig_hup, NULL);
        uv_close((uv_handle_t *)&a.sig_term, NULL);
        uv_close((uv_handle_t *)&a.sig_int, NULL);
    }
    /* Each part closes its own handles (some from close callbacks): let them, then sweep. */
    uv_run(&a.loop, UV_RUN_DEFAULT);
    uv_walk(&a.loop, fo__walk_close, NULL);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    uv_loop_close(&a.loop);
out_cfg:
    fo_agentcfg_free(a.cfg);
    free(a.file);
    fo_log_close();
    return rc;
}
