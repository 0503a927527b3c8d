/* The schema of the agent's configuration file as static tables (core/cfgfield.h), the checks that
 * span several keys (timeouts against intervals, Raft timing, quorum), and the canonical hash of
 * the services section that agents compare before they count each other's observations. */
#include "daemon/agentcfg.h"

#include <json-c/json.h>
#include <json-c/printbuf.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfgfield.h"
#include "core/config.h"

#ifndef FO_PLUGIN_DIR
#define FO_PLUGIN_DIR "/usr/local/lib/failoverd"
#endif

/* Raft lease bound (DESIGN.md rule 3): lease <= election_timeout_min x (1 - drift) - margin. */
#define FO__MAX_DRIFT_PERMILLE 100
#define FO__LEASE_MARGIN_MS    50
#define FO__STALE_MIN_MS       5000

#define FO__F(type_, name_) .name = #name_, .type = type_
#define FO__TABLE(name_, type_, fields_, finish_, free_)                                           \
    {                                                                                              \
        .name = name_, .size = sizeof(type_), .fields = fields_, .nfields = FO_ARRAY_LEN(fields_), \
        .finish = finish_, .free = free_                                                           \
    }

static const char *const fo__kinds[] = {"postgres", "redis", "http", "tcp", "rpc", "exec", NULL};
static const char *const fo__check_types[] = {"postgres", "redis", "http", "tcp",
                                              "jsonrpc",  "exec",  NULL};

static void fo__check_oneof(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const char *s,
                            const char *const *names)
{
    char list[128] = "";
    size_t used = 0;
    for (const char *const *n = names; *n; n++) {
        if (s && strcmp(s, *n) == 0)
            return;
        used +=
            (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", n == names ? "" : ", ", *n);
    }
    fo_cfg_err(c, loc, "expected one of: %s", list);
}

static void fo__check_kind(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const void *v)
{
    fo__check_oneof(c, loc, *(char *const *)v, fo__kinds);
}

static void fo__check_type(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const void *v)
{
    fo__check_oneof(c, loc, *(char *const *)v, fo__check_types);
}

static int fo__has(const struct json_object *map, const char *key)
{
    struct json_object *v = NULL;
    return map && json_object_object_get_ex((struct json_object *)map, key, &v) && v;
}

static struct json_object *fo__get(const struct json_object *map, const char *key)
{
    struct json_object *v = NULL;
    if (map && json_object_is_type(map, json_type_object))
        json_object_object_get_ex((struct json_object *)map, key, &v);
    return v;
}

/* ---- agent, log, api ---- */

static void fo__agent_finish(struct fo_cfg_ctx *c, const struct json_object *map, void *obj)
{
    struct fo_agentcfg *a = obj;
    if (!a->data_dir && a->id)
        a->data_dir = fo_xasprintf("/var/lib/failoverd/%s", a->id);
}

static const struct fo_cfg_field fo__agent_fields[] = {
    {FO__F(FO_CFG_STR, id), .off = offsetof(struct fo_agentcfg, id), .flags = FO_CFG_REQUIRED,
     .check = fo_cfg_check_id, .doc = "unique, stable: the agent's Raft identity ([a-z0-9_-])"},
    {FO__F(FO_CFG_STR, zone), .off = offsetof(struct fo_agentcfg, zone), .flags = FO_CFG_REQUIRED,
     .check = fo_cfg_check_name, .doc = "availability zone this agent checks from"},
    {FO__F(FO_CFG_STR, data_dir), .off = offsetof(struct fo_agentcfg, data_dir),
     .doc = "Raft log and snapshots (default /var/lib/failoverd/<id>)"},
};

static const struct fo_cfg_enum fo__levels[] = {{"debug", FO_LOG_DEBUG},
                                                {"info", FO_LOG_INFO},
                                                {"warn", FO_LOG_WARN},
                                                {"error", FO_LOG_ERROR},
                                                {NULL, 0}};
static const struct fo_cfg_enum fo__formats[] = {
    {"logfmt", FO_LOG_LOGFMT}, {"json", FO_LOG_JSON}, {NULL, 0}};

static const struct fo_cfg_field fo__log_fields[] = {
    {FO__F(FO_CFG_ENUM, level), .off = offsetof(struct fo_agentcfg, log_level), .def = "info",
     .enums = fo__levels, .doc = "lowest level written"},
    {FO__F(FO_CFG_ENUM, format), .off = offsetof(struct fo_agentcfg, log_format), .def = "logfmt",
     .enums = fo__formats, .doc = "log line format"},
    {FO__F(FO_CFG_STR, file), .off = offsetof(struct fo_agentcfg, log_file),
     .doc = "log file (default: stderr)"},
};

static const struct fo_cfg_enum fo__roles[] = {
    {"read", FO_ROLE_READ}, {"operator", FO_ROLE_OPERATOR}, {"admin", FO_ROLE_ADMIN}, {NULL, 0}};

static const struct fo_cfg_field fo__token_fields[] = {
    {FO__F(FO_CFG_STR, name), .off = offsetof(struct fo_token_cfg, name), .flags = FO_CFG_REQUIRED,
     .check = fo_cfg_check_name, .doc = "who holds the token (shown in the audit log)"},
    {FO__F(FO_CFG_ENUM, role), .off = offsetof(struct fo_token_cfg, role), .flags = FO_CFG_REQUIRED,
     .enums = fo__roles, .doc = "what the token may do"},
    {FO__F(FO_CFG_SECRET, secret), .off = offsetof(struct fo_token_cfg, secret),
     .flags = FO_CFG_REQUIRED, .doc = "the bearer token"},
};
static const struct fo_cfg_table fo__token_table =
    FO__TABLE("token", struct fo_token_cfg, fo__token_fields, NULL, NULL);

static void fo__sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        fprintf(stderr, "failoverd: SHA-256 failed\n");
        abort();
    }
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Index of an earlier element with the same key, or -1 (and this one is remembered): a json-c
 * object as a hash set keeps long lists linear. */
static int fo__seen(struct json_object *set, const char *key, int i)
{
    struct json_object *v = NULL;
    if (!key)
        return -1;
    if (json_object_object_get_ex(set, key, &v))
        return json_object_get_int(v);
    json_object_object_add(set, key, json_object_new_int(i));
    return -1;
}

static void fo__api_finish(struct fo_cfg_ctx *c, const struct json_object *map, void *obj)
{
    struct fo_agentcfg *a = obj;
    struct json_object *list = fo__get(map, "tokens");
    struct json_object *names = json_object_new_object(), *secrets = json_object_new_object();
    for (int i = 0; i < a->ntokens; i++) {
        const struct fo_token_cfg *t = &a->tokens[i];
        const char *what = "name";
        char digest[65];
        int j = fo__seen(names, t->name, i);
        if (j < 0 && t->secret) {
            /* Secrets are compared by digest so that no copy of them is left in the set. */
            fo__sha256_hex(t->secret, strlen(t->secret), digest);
            j = fo__seen(secrets, digest, i);
            what = "secret";
        }
        if (j < 0)
            continue;
        struct fo_cfg_loc loc = {0};
        fo_config_loc_entry(list, (size_t)i, NULL, 0, &loc);
        size_t mark = fo_cfg_path_push(c, "tokens");
        fo_cfg_path_push_index(c, (size_t)i);
        fo_cfg_err(c, &loc, "same %s as tokens[%d]", what, j);
        fo_cfg_path_pop(c, mark);
    }
    json_object_put(names);
    json_object_put(secrets);
}

static const struct fo_cfg_field fo__api_fields[] = {
    {FO__F(FO_CFG_STR, listen), .off = offsetof(struct fo_agentcfg, api_listen),
     .def = "127.0.0.1:8740", .check = fo_cfg_check_hostport, .doc = "host:port of the HTTP API"},
    {FO__F(FO_CFG_LIST, tokens), .off = offsetof(struct fo_agentcfg, tokens),
     .aux = offsetof(struct fo_agentcfg, ntokens), .sub = &fo__token_table,
     .doc = "bearer tokens for commands"},
};

/* ---- cluster ---- */

static const struct fo_cfg_field fo__peer_fields[] = {
    {FO__F(FO_CFG_STR, id), .off = offsetof(struct fo_peer_cfg, id), .flags = FO_CFG_REQUIRED,
     .check = fo_cfg_check_id, .doc = "the peer's agent.id"},
    {FO__F(FO_CFG_STR, zone), .off = offsetof(struct fo_peer_cfg, zone), .flags = FO_CFG_REQUIRED,
     .check = fo_cfg_check_name, .doc = "the peer's agent.zone"},
    {FO__F(FO_CFG_STR, address), .off = offsetof(struct fo_peer_cfg, address),
     .flags = FO_CFG_REQUIRED, .check = fo_cfg_check_hostport,
     .doc = "host:port of its peer listener (a dial hint)"},
};
static const struct fo_cfg_table fo__peer_table =
    FO__TABLE("peer", struct fo_peer_cfg, fo__peer_fields, NULL, NULL);

#define FO__CL(f) offsetof(struct fo_cluster_cfg, f)
static const struct fo_cfg_field fo__cluster_fields[] = {
    {FO__F(FO_CFG_STR, id), .off = FO__CL(id), .flags = FO_CFG_REQUIRED, .check = fo_cfg_check_id,
     .doc = "cluster id, the same on every agent"},
    {FO__F(FO_CFG_SECRET, key), .off = FO__CL(key), .aux = FO__CL(key_len),
     .flags = FO_CFG_REQUIRED | FO_CFG_HAS_AUX, .min = 32,
     .doc = "shared HMAC key for peer frames, at least 32 bytes (e.g. openssl rand -hex 32)"},
    {FO__F(FO_CFG_STR, listen), .off = FO__CL(listen), .flags = FO_CFG_REQUIRED,
     .check = fo_cfg_check_hostport, .doc = "host:port of the peer listener"},
    {FO__F(FO_CFG_LIST, peers), .off = FO__CL(peers), .aux = FO__CL(npeers), .sub = &fo__peer_table,
     .doc = "the other agents"},
    {FO__F(FO_CFG_DURATION, election_timeout_min), .off = FO__CL(election_timeout_min_ms),
     .def = "1000ms", .min = 100, .max = 60000, .doc = "Raft election timeout, lower bound"},
    {FO__F(FO_CFG_DURATION, election_timeout_max), .off = FO__CL(election_timeout_max_ms),
     .min = 100, .max = 120000, .doc = "upper bound; > min (default 2 x min = 2000ms)"},
    {FO__F(FO_CFG_DURATION, heartbeat_interval), .off = FO__CL(heartbeat_ms), .def = "100ms",
     .min = 1, .max = 10000, .doc = "leader heartbeat; < election_timeout_min / 5"},
    {FO__F(FO_CFG_DURATION, lease), .off = FO__CL(lease_ms), .min = 1, .max = 60000,
     .doc = "leader lease; <= min x 0.9 - 50ms (the default: 850ms at 1000ms)"},
    {FO__F(FO_CFG_INT, quorum), .off = FO__CL(detect_quorum), .def = "0", .min = 0, .max = 64,
     .doc = "zones that must agree a member is down (0: majority)"},
    {FO__F(FO_CFG_DURATION, stale_after), .off = FO__CL(stale_after_ms), .min = 1, .max = 86400000,
     .doc = "observations older than this never count (default max(5s, 3 x longest interval))"},
    {FO__F(FO_CFG_U64, snapshot_every), .off = FO__CL(snapshot_every), .def = "1000", .min = 1,
     .max = 100000000, .doc = "Raft entries between snapshots"},
};
static const struct fo_cfg_table fo__cluster_table =
    FO__TABLE("cluster", struct fo_cluster_cfg, fo__cluster_fields, NULL, NULL);

/* ---- services ---- */

static void fo__check_finish(struct fo_cfg_ctx *c, const struct json_object *map, void *obj)
{
    struct fo_check_def *k = obj;
    char d[32];

    if (k->interval_ms) {
        /* An unset timeout is 1s, but always below the interval (80% of it at most). */
        if (!fo__has(map, "timeout"))
            k->timeout_ms = k->interval_ms - k->interval_ms / 5 < 1000
                                ? k->interval_ms - k->interval_ms / 5
                                : 1000;
        if (!fo__has(map, "jitter"))
            k->jitter_ms = k->interval_ms / 10;
        if (k->timeout_ms && k->timeout_ms >= k->interval_ms)
            fo_cfg_err_key(c, map, "timeout", 0, "must be less than interval (%s)",
                           fo_cfg_fmt_duration(k->interval_ms, d, sizeof(d)));
        if (fo__has(map, "jitter") && k->jitter_ms >= k->interval_ms)
            fo_cfg_err_key(c, map, "jitter", 0, "must be less than interval (%s)",
                           fo_cfg_fmt_duration(k->interval_ms, d, sizeof(d)));
    }
    /* The plugin gets the password resolved and never sees where it came from. */
    if (k->params) {
        struct fo_cfg_loc ploc;
        fo_config_loc(k->params, &ploc);
        size_t mark = fo_cfg_path_push(c, "params");
        fo_cfg_read_secret(c, k->params, &ploc, "password", 0, 0, &k->secret, NULL);
        fo_cfg_path_pop(c, mark);
        fo_config_del_key(k->params, "password");
        fo_config_del_key(k->params, "password_file");
        fo_config_del_key(k->params, "password_env");
    }
    char where[256];
    if (fo_config_locate(k->params ? k->params : map, where, sizeof(where)) == 0)
        k->where = fo_xstrdup(where);
}

#define FO__CK(f) offsetof(struct fo_check_def, f)
static const struct fo_cfg_field fo__check_fields[] = {
    {FO__F(FO_CFG_STR, type), .off = FO__CK(type), .flags = FO_CFG_REQUIRED,
     .check = fo__check_type, .doc = "plugin: postgres|redis|http|tcp|jsonrpc|exec"},
    {FO__F(FO_CFG_DURATION, interval), .off = FO__CK(interval_ms), .def = "1s", .min = 10,
     .max = 3600000, .doc = "time between runs"},
    {FO__F(FO_CFG_DURATION, timeout), .off = FO__CK(timeout_ms), .min = 1, .max = 3600000,
     .doc = "hard timeout of one run; < interval (default 1s, at most 80% of interval)"},
    {FO__F(FO_CFG_DURATION, jitter), .off = FO__CK(jitter_ms), .min = 0, .max = 3600000,
     .doc = "random delay of each run; < interval (default 10% of interval)"},
    {FO__F(FO_CFG_INT, rise), .off = FO__CK(rise), .def = "2", .min = 1, .max = 100,
     .doc = "consecutive good results to go up"},
    {FO__F(FO_CFG_INT, fall), .off = FO__CK(fall), .def = "3", .min = 1, .max = 100,
     .doc = "consecutive critical results to go down"},
    {FO__F(FO_CFG_JSON, params), .off = FO__CK(params),
     .doc = "plugin parameters (password, password_file, password_env are resolved here)"},
};
static const struct fo_cfg_table fo__check_table =
    FO__TABLE("check", struct fo_check_def, fo__check_fields, fo__check_finish, NULL);

static void fo__member_finish(struct fo_cfg_ctx *c, const struct json_object *map, void *obj)
{
    struct fo_member_def *m = obj;
    char where[256];
    if (fo_config_locate(fo__get(map, fo__has(map, "address") ? "address" : "conninfo"), where,
                         sizeof(where)) == 0)
        m->where = fo_xstrdup(where);
    if (fo__has(map, "address") && fo__has(map, "conninfo")) {
        fo_cfg_err_key(c, map, "conninfo", 1, "give address or conninfo, not both");
    } else if (!fo__has(map, "address") && !fo__has(map, "conninfo")) {
        struct fo_cfg_loc loc;
        fo_config_loc(map, &loc);
        size_t mark = fo_cfg_path_push(c, "address");
        fo_cfg_err(c, &loc, "required key 'address' (or conninfo for postgres) is missing");
        fo_cfg_path_pop(c, mark);
    }
}

#define FO__MB(f) offsetof(struct fo_member_def, f)
static const struct fo_cfg_field fo__member_fields[] = {
    {FO__F(FO_CFG_STR, name), .off = FO__MB(name), .flags = FO_CFG_REQUIRED,
     .check = fo_cfg_check_name, .doc = "unique within the service"},
    {FO__F(FO_CFG_STR, zone), .off = FO__MB(zone), .flags = FO_CFG_REQUIRED,
     .check = fo_cfg_check_name, .doc = "availability zone of the member"},
    {FO__F(FO_CFG_STR, address), .off = FO__MB(address),
     .doc = "host:port or URL, as the check type wants"},
    {FO__F(FO_CFG_STR, conninfo), .off = FO__MB(address), .flags = FO_CFG_ALIAS,
     .doc = "postgres only: a libpq conninfo, in place of address"},
    {FO__F(FO_CFG_STRLIST, tags), .off = FO__MB(tags), .aux = FO__MB(ntags),
     .doc = "e.g. [replica, nofailover]"},
    {FO__F(FO_CFG_INT, priority), .off = FO__MB(priority), .def = "100", .min = 0, .max = 1000000,
     .doc = "higher is preferred as a new primary"},
};
static const struct fo_cfg_table fo__member_table =
    FO__TABLE("member", struct fo_member_def, fo__member_fields, fo__member_finish, NULL);

static void fo__failover_finish(struct fo_cfg_ctx *c, const struct json_object *map, void *obj)
{
    struct fo_failover_def *p = obj;
    if (p->max_failovers > 0 && p->window_ms < p->cooldown_ms)
        fo_cfg_err_key(c, map, "window", 0, "must not be shorter than cooldown");
}

#define FO__FO(f) offsetof(struct fo_failover_def, f)
static const struct fo_cfg_field fo__failover_fields[] = {
    {FO__F(FO_CFG_STR, runbook), .off = FO__FO(runbook), .flags = FO_CFG_REQUIRED,
     .check = fo_cfg_check_name, .doc = "runbook name (runbooks/NAME.yaml)"},
    {.name = "auto",
     .type = FO_CFG_BOOL,
     .off = FO__FO(automatic),
     .def = "true",
     .doc = "fail over on an objective verdict; false: only by an operator"},
    {FO__F(FO_CFG_SIZE, max_lag), .off = FO__FO(max_lag), .def = "0",
     .doc = "a candidate further behind the last primary position is not eligible (0: no limit)"},
    {FO__F(FO_CFG_DURATION, cooldown), .off = FO__FO(cooldown_ms), .def = "10m", .min = 0,
     .max = 7 * 24 * 3600 * 1000, .doc = "no automatic failover this soon after the last one"},
    {FO__F(FO_CFG_DURATION, deadline), .off = FO__FO(deadline_ms), .def = "5m", .min = 1000,
     .max = 24 * 3600 * 1000, .doc = "a failover not ended by then ends as timeout (needs_human)"},
    {FO__F(FO_CFG_DURATION, max_resume_age), .off = FO__FO(max_resume_age_ms), .def = "2m",
     .min = 0, .max = 24 * 3600 * 1000,
     .doc = "a new leader resumes only a plan younger than this"},
    {FO__F(FO_CFG_INT, max_failovers), .off = FO__FO(max_failovers), .def = "3", .min = 0,
     .max = 1000, .doc = "automatic failovers allowed per window (0: none)"},
    {FO__F(FO_CFG_DURATION, window), .off = FO__FO(window_ms), .def = "1h", .min = 1000,
     .max = 30u * 24 * 3600 * 1000, .doc = "the window of max_failovers"},
    {FO__F(FO_CFG_BOOL, allow_unfenced), .off = FO__FO(allow_unfenced),
     .doc = "promote after the self-fencing wait when the old primary cannot be fenced "
            "(default: true for redis, false otherwise)"},
};
static const struct fo_cfg_table fo__failover_table =
    FO__TABLE("failover", struct fo_failover_def, fo__failover_fields, fo__failover_finish, NULL);

static void fo__service_finish(struct fo_cfg_ctx *c, const struct json_object *map, void *obj)
{
    struct fo_service_def *s = obj;
    struct json_object *fmap = fo__get(map, "failover");
    if (s->policy.present) {
        s->failover = json_object_get(fmap);
        if (!fo__has(fmap, "allow_unfenced"))
            s->policy.allow_unfenced = s->kind && strcmp(s->kind, "redis") == 0;
    }
    struct json_object *list = fo__get(map, "members");
    struct json_object *names = json_object_new_object();

    for (int i = 0; i < s->nmembers; i++) {
        struct json_object *m = json_object_array_get_idx(list, (size_t)i);
        size_t mark = fo_cfg_path_push(c, "members");
        fo_cfg_path_push_index(c, (size_t)i);
        int j = fo__seen(names, s->members[i].name, i);
        if (j >= 0)
            fo_cfg_err_key(c, m, "name", 0, "duplicate member name '%s' (also members[%d])",
                           s->members[i].name, j);
        if (s->kind && strcmp(s->kind, "postgres") != 0 && fo__has(m, "conninfo"))
            fo_cfg_err_key(c, m, "conninfo", 1, "conninfo is only for kind postgres: use address");
        fo_cfg_path_pop(c, mark);
    }
    json_object_put(names);
}

static void fo__service_free(void *obj)
{
    fo_service_def_free(obj);
}

#define FO__SV(f) offsetof(struct fo_service_def, f)
static const struct fo_cfg_field fo__service_fields[] = {
    {FO__F(FO_CFG_STR, kind), .off = FO__SV(kind), .flags = FO_CFG_REQUIRED,
     .check = fo__check_kind, .doc = "postgres|redis|http|tcp|rpc|exec"},
    {FO__F(FO_CFG_LIST, members), .off = FO__SV(members), .aux = FO__SV(nmembers),
     .flags = FO_CFG_REQUIRED, .min = 1, .max = 100000, .sub = &fo__member_table,
     .doc = "at least one"},
    {FO__F(FO_CFG_SECTION, check), .off = FO__SV(check), .flags = FO_CFG_REQUIRED,
     .sub = &fo__check_table, .doc = "how every member is checked"},
    {FO__F(FO_CFG_SECTION, failover), .off = FO__SV(policy), .aux = FO__SV(policy.present),
     .flags = FO_CFG_ABSENT | FO_CFG_HAS_AUX, .sub = &fo__failover_table,
     .doc = "failover policy (omit to only watch the service)"},
};
static const struct fo_cfg_table fo__service_table = {
    .name = "service",
    .size = sizeof(struct fo_service_def),
    .named = 1,
    .name_off = offsetof(struct fo_service_def, name),
    .fields = fo__service_fields,
    .nfields = FO_ARRAY_LEN(fo__service_fields),
    .finish = fo__service_finish,
    .free = fo__service_free,
};

/* ---- the whole file ---- */

static void fo__cluster_finish(struct fo_cfg_ctx *c, const struct json_object *map,
                               struct fo_agentcfg *a)
{
    struct fo_cluster_cfg *k = &a->cluster;
    char d[32];
    uint32_t longest = 0;

    for (int i = 0; i < a->nservices; i++)
        if (a->services[i].check.interval_ms > longest)
            longest = a->services[i].check.interval_ms;
    if (!fo__has(map, "stale_after"))
        k->stale_after_ms = 3 * longest > FO__STALE_MIN_MS ? 3 * longest : FO__STALE_MIN_MS;

    struct json_object *ids = json_object_new_object();
    for (int i = 0; i < k->npeers; i++) {
        struct json_object *p = json_object_array_get_idx(fo__get(map, "peers"), (size_t)i);
        size_t mark = fo_cfg_path_push(c, "peers");
        fo_cfg_path_push_index(c, (size_t)i);
        int j = fo__seen(ids, k->peers[i].id, i);
        if (k->peers[i].id && a->id && strcmp(k->peers[i].id, a->id) == 0)
            fo_cfg_err_key(c, p, "id", 0, "is this agent's own id");
        else if (j >= 0)
            fo_cfg_err_key(c, p, "id", 0, "duplicate peer id (also peers[%d])", j);
        fo_cfg_path_pop(c, mark);
    }
    json_object_put(ids);

    uint32_t min = k->election_timeout_min_ms;
    if (!min)
        return; /* it was wrong and has been reported: nothing sound to compare with */
    if (!fo__has(map, "election_timeout_max"))
        k->election_timeout_max_ms = 2 * min;
    else if (k->election_timeout_max_ms && k->election_timeout_max_ms <= min)
        fo_cfg_err_key(c, map, "election_timeout_max", 0,
                       "must be greater than election_timeout_min (%s)",
                       fo_cfg_fmt_duration(min, d, sizeof(d)));
    if (k->heartbeat_ms && (uint64_t)k->heartbeat_ms * 5 >= min)
        fo_cfg_err_key(c, map, "heartbeat_interval", 0,
                       "must be less than election_timeout_min / 5 (%s)",
                       fo_cfg_fmt_duration(min / 5, d, sizeof(d)));
    uint32_t lease_max =
        (uint32_t)((uint64_t)min * (1000 - FO__MAX_DRIFT_PERMILLE) / 1000) - FO__LEASE_MARGIN_MS;
    if (!fo__has(map, "lease"))
        k->lease_ms = lease_max;
    else if (k->lease_ms > lease_max)
        fo_cfg_err_key(c, map, "lease", 0,
                       "must be at most election_timeout_min x 0.9 - 50ms (%s), or two leaders' "
                       "leases could overlap",
                       fo_cfg_fmt_duration(lease_max, d, sizeof(d)));
    int voters = 1 + k->npeers;
    int majority = voters / 2 + 1;
    if (k->detect_quorum && (k->detect_quorum < majority || k->detect_quorum > voters))
        fo_cfg_err_key(c, map, "quorum", 0,
                       "must be between %d (a majority of the %d agents) and %d, or 0 for the "
                       "majority",
                       majority, voters, voters);
}

static void fo__top_finish(struct fo_cfg_ctx *c, const struct json_object *map, void *obj)
{
    struct fo_agentcfg *a = obj;
    if (a->cluster.enabled) {
        size_t mark = fo_cfg_path_push(c, "cluster");
        fo__cluster_finish(c, fo__get(map, "cluster"), a);
        fo_cfg_path_pop(c, mark);
    }
}

#define FO__AC(f) offsetof(struct fo_agentcfg, f)
static const struct fo_cfg_table fo__agent_table =
    FO__TABLE("agent", struct fo_agentcfg, fo__agent_fields, fo__agent_finish, NULL);
static const struct fo_cfg_table fo__log_table =
    FO__TABLE("log", struct fo_agentcfg, fo__log_fields, NULL, NULL);
static const struct fo_cfg_table fo__api_table =
    FO__TABLE("api", struct fo_agentcfg, fo__api_fields, fo__api_finish, NULL);

/* agent, log and api fill fields of struct fo_agentcfg itself (offset 0). */
static const struct fo_cfg_field fo__top_fields[] = {
    {FO__F(FO_CFG_SECTION, agent), .off = 0, .flags = FO_CFG_REQUIRED, .sub = &fo__agent_table,
     .doc = "who this agent is"},
    {FO__F(FO_CFG_SECTION, log), .off = 0, .sub = &fo__log_table, .doc = "logging"},
    {FO__F(FO_CFG_STR, plugin_dir), .off = FO__AC(plugin_dir), .def = FO_PLUGIN_DIR,
     .doc = "where the check plugins (postgres.so, ...) are"},
    {FO__F(FO_CFG_SECTION, api), .off = 0, .sub = &fo__api_table, .doc = "HTTP API"},
    {FO__F(FO_CFG_MAP, services), .off = FO__AC(services), .aux = FO__AC(nservices),
     .sub = &fo__service_table, .check = fo_cfg_check_name, .doc = "monitored services by name"},
    {FO__F(FO_CFG_SECTION, cluster), .off = FO__AC(cluster), .aux = FO__AC(cluster.enabled),
     .flags = FO_CFG_ABSENT | FO_CFG_HAS_AUX, .sub = &fo__cluster_table,
     .doc = "Raft peers and timing (omit to run one agent on its own)"},
};
static const struct fo_cfg_table fo__top_table =
    FO__TABLE("failoverd", struct fo_agentcfg, fo__top_fields, fo__top_finish, NULL);

void fo_agentcfg_doc(FILE *out)
{
    fo_cfg_doc(out, &fo__top_table, "");
}

/* ---- canonical services and their hash ---- */

static int fo__strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* JSON with keys sorted at every level and no spaces, so equal content gives equal bytes. */
static void fo__canon(struct printbuf *pb, struct json_object *o)
{
    const int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
    if (json_object_is_type(o, json_type_object)) {
        size_t n = (size_t)json_object_object_length(o), i = 0;
        char **keys = fo_xcalloc(n ? n : 1, sizeof(*keys));
        json_object_object_foreach(o, key, val)
        {
            (void)val;
            keys[i++] = key;
        }
        qsort(keys, n, sizeof(*keys), fo__strcmp_p);
        printbuf_strappend(pb, "{");
        for (i = 0; i < n; i++) {
            struct json_object *k = json_object_new_string(keys[i]);
            if (i)
                printbuf_strappend(pb, ",");
            const char *ks = json_object_to_json_string_ext(k, flags);
            printbuf_memappend(pb, ks, (int)strlen(ks));
            printbuf_strappend(pb, ":");
            fo__canon(pb, json_object_object_get(o, keys[i]));
            json_object_put(k);
        }
        printbuf_strappend(pb, "}");
        free(keys);
    } else if (json_object_is_type(o, json_type_array)) {
        printbuf_strappend(pb, "[");
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            if (i)
                printbuf_strappend(pb, ",");
            fo__canon(pb, json_object_array_get_idx(o, i));
        }
        printbuf_strappend(pb, "]");
    } else {
        const char *s = o ? json_object_to_json_string_ext(o, flags) : "null";
        printbuf_memappend(pb, s, (int)strlen(s));
    }
}

char *fo_agentcfg_services_json(const struct fo_service_def *defs, int n)
{
    struct json_object *all = json_object_new_object();
    for (int i = 0; i < n; i++) {
        const struct fo_service_def *s = &defs[i];
        struct json_object *svc = json_object_new_object(), *members = json_object_new_array();
        struct json_object *chk = json_object_new_object();
        for (int m = 0; m < s->nmembers; m++) {
            const struct fo_member_def *md = &s->members[m];
            struct json_object *mo = json_object_new_object(), *tags = json_object_new_array();
            json_object_object_add(mo, "name", json_object_new_string(md->name ? md->name : ""));
            json_object_object_add(mo, "zone", json_object_new_string(md->zone ? md->zone : ""));
            json_object_object_add(mo, "address",
                                   json_object_new_string(md->address ? md->address : ""));
            for (int t = 0; t < md->ntags; t++)
                json_object_array_add(tags, json_object_new_string(md->tags[t]));
            json_object_object_add(mo, "tags", tags);
            json_object_object_add(mo, "priority", json_object_new_int(md->priority));
            json_object_array_add(members, mo);
        }
        json_object_object_add(chk, "type",
                               json_object_new_string(s->check.type ? s->check.type : ""));
        json_object_object_add(chk, "interval_ms", json_object_new_int64(s->check.interval_ms));
        json_object_object_add(chk, "timeout_ms", json_object_new_int64(s->check.timeout_ms));
        json_object_object_add(chk, "jitter_ms", json_object_new_int64(s->check.jitter_ms));
        json_object_object_add(chk, "rise", json_object_new_int(s->check.rise));
        json_object_object_add(chk, "fall", json_object_new_int(s->check.fall));
        json_object_object_add(chk, "params", json_object_get(s->check.params));
        json_object_object_add(svc, "kind", json_object_new_string(s->kind ? s->kind : ""));
        json_object_object_add(svc, "members", members);
        json_object_object_add(svc, "check", chk);
        json_object_object_add(svc, "failover", json_object_get(s->failover));
        json_object_object_add(all, s->name ? s->name : "", svc);
    }
    struct printbuf *pb = printbuf_new();
    if (!pb) {
        fprintf(stderr, "failoverd: out of memory\n");
        abort();
    }
    fo__canon(pb, all);
    char *out = fo_xstrdup(pb->buf);
    printbuf_free(pb);
    json_object_put(all);
    return out;
}

char *fo_agentcfg_services_hash(const struct fo_service_def *defs, int n)
{
    char *json = fo_agentcfg_services_json(defs, n);
    char *hex = fo_xmalloc(65);
    fo__sha256_hex(json, strlen(json), hex);
    free(json);
    return hex;
}

/* ---- loading ---- */

static void fo__give_errors(struct fo_cfg_errs *errs, char **errors)
{
    char *text = fo_cfg_errs_take(errs);
    if (!errors || !text) {
        free(text);
        return;
    }
    if (*errors && **errors) {
        char *joined = fo_xasprintf("%s\n%s", *errors, text);
        free(*errors);
        free(text);
        *errors = joined;
    } else {
        free(*errors);
        *errors = text;
    }
}

static struct fo_agentcfg *fo__load(const char *file, struct json_object *root,
                                    struct fo_cfg_errs *errs, char **errors)
{
    struct fo_agentcfg *a = fo_xcalloc(1, sizeof(*a));
    a->file = fo_xstrdup(file);
    if (root) {
        struct fo_cfg_ctx ctx;
        fo_cfg_ctx_init(&ctx, errs, file);
        fo_cfg_read(&ctx, root, &fo__top_table, a);
        fo_cfg_ctx_free(&ctx);
    }
    json_object_put(root);
    if (errs->n) {
        fo__give_errors(errs, errors);
        fo_agentcfg_free(a);
        return NULL;
    }
    a->hash = fo_agentcfg_services_hash(a->services, a->nservices);
    return a;
}

struct fo_agentcfg *fo_agentcfg_load(const char *file, char **errors)
{
    struct fo_cfg_errs errs;
    fo_cfg_errs_init(&errs);
    struct json_object *root = fo_config_parse_file(file, &errs);
    return fo__load(file, root, &errs, errors);
}

struct fo_agentcfg *fo_agentcfg_load_buffer(const char *name, const char *data, size_t len,
                                            char **errors)
{
    struct fo_cfg_errs errs;
    fo_cfg_errs_init(&errs);
    struct json_object *root = fo_config_parse(name, data, len, &errs);
    return fo__load(name, root, &errs, errors);
}

struct fo_service_def *fo_agentcfg_take_services(struct fo_agentcfg *c, int *n)
{
    struct fo_service_def *s = c->services;
    *n = c->nservices;
    c->services = NULL;
    c->nservices = 0;
    return s;
}

void fo_agentcfg_free(struct fo_agentcfg *c)
{
    if (!c)
        return;
    fo_cfg_free(&fo__top_table, c);
    free(c->file);
    free(c->hash);
    free(c);
}
