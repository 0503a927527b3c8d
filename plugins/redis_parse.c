/* The redis check's pure part: INFO "server" + "replication" text to typed facts (role mapped to
 * primary/replica, run_id, replication ids and offsets, link state) and a status. */
#include "redis_parse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int fo_redis_info_get(const char *info, const char *key, char *buf, size_t n)
{
    size_t klen = strlen(key);
    for (const char *line = info; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (len > klen && memcmp(line, key, klen) == 0 && line[klen] == ':') {
            size_t vlen = len - klen - 1;
            if (vlen >= n)
                return -1;
            memcpy(buf, line + klen + 1, vlen);
            buf[vlen] = '\0';
            return 1;
        }
        line = end ? end + 1 : NULL;
    }
    return 0;
}

struct fill {
    const char *info;
    const char *bad; /* first missing or malformed key */
};

/* Required keys: missing or malformed marks the result unknown. */
static int get_str(struct fill *f, const char *key, char *buf, size_t n, int required)
{
    int rc = fo_redis_info_get(f->info, key, buf, n);
    if (rc == 1 && buf[0])
        return 1;
    if ((rc < 0 || required) && !f->bad)
        f->bad = key;
    return 0;
}

static int get_int(struct fill *f, const char *key, int64_t *out, int required)
{
    char buf[32], *end;
    if (!get_str(f, key, buf, sizeof(buf), required))
        return 0;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end) {
        if (!f->bad)
            f->bad = key;
        return 0;
    }
    *out = v;
    return 1;
}

/* Replicas of a primary appear as "slaveN:ip=..,port=..,state=online,offset=..,lag=..". */
static int64_t online_replicas(const char *info, int64_t connected)
{
    int64_t online = 0;
    char key[24], buf[256];
    for (int i = 0; i < connected && i < 1000; i++) {
        snprintf(key, sizeof(key), "slave%d", i);
        if (fo_redis_info_get(info, key, buf, sizeof(buf)) == 1 && strstr(buf, "state=online"))
            online++;
    }
    return online;
}

enum fo_status fo_redis_info_fill(struct fo_result *r, const char *info, enum fo_redis_role expect)
{
    struct fill f = {.info = info ? info : ""};
    char role[16], run_id[FO_FACT_STR_MAX], replid[FO_FACT_STR_MAX], replid2[FO_FACT_STR_MAX];
    char host[FO_FACT_STR_MAX], link[16], summary[FO_MESSAGE_MAX];
    int64_t offset = 0, second = 0, connected = 0, uptime = 0, port = 0, io_ago = 0, down = 0;
    int64_t sync = 0, prio = 0;
    int replica;

    r->nfacts = 0;
    get_str(&f, "role", role, sizeof(role), 1);
    if (f.bad)
        goto bad;
    if (strcmp(role, "master") == 0) {
        replica = 0;
    } else if (strcmp(role, "slave") == 0) {
        replica = 1;
    } else {
        f.bad = "role";
        goto bad;
    }
    get_str(&f, "run_id", run_id, sizeof(run_id), 1);
    get_str(&f, "master_replid", replid, sizeof(replid), 1);
    get_str(&f, "master_replid2", replid2, sizeof(replid2), 1);
    get_int(&f, replica ? "slave_repl_offset" : "master_repl_offset", &offset, 1);
    get_int(&f, "connected_slaves", &connected, 1);
    int has_second = get_int(&f, "second_repl_offset", &second, 0);
    int has_uptime = get_int(&f, "uptime_in_seconds", &uptime, 0);
    if (f.bad)
        goto bad;

    fo_result_str(r, "role", replica ? "replica" : "primary");
    fo_result_str(r, "run_id", run_id);
    fo_result_str(r, "master_replid", replid);
    fo_result_str(r, "master_replid2", replid2);
    fo_result_int(r, "repl_offset", offset);
    if (has_second)
        fo_result_int(r, "second_repl_offset", second);
    fo_result_int(r, "connected_replicas", connected);
    if (has_uptime)
        fo_result_int(r, "uptime_s", uptime);

    if (!replica) {
        fo_result_int(r, "online_replicas", online_replicas(f.info, connected));
        snprintf(summary, sizeof(summary), "primary, offset %" PRId64 ", %" PRId64 " replica(s)",
                 offset, connected);
    } else {
        get_str(&f, "master_host", host, sizeof(host), 1);
        get_int(&f, "master_port", &port, 1);
        get_str(&f, "master_link_status", link, sizeof(link), 1);
        int has_io = get_int(&f, "master_last_io_seconds_ago", &io_ago, 0);
        int has_down = get_int(&f, "master_link_down_since_seconds", &down, 0);
        int has_sync = get_int(&f, "master_sync_in_progress", &sync, 0);
        int has_prio = get_int(&f, "slave_priority", &prio, 0);
        if (f.bad)
            goto bad;
        if (strcmp(link, "up") != 0 && strcmp(link, "down") != 0) {
            f.bad = "master_link_status";
            goto bad;
        }
        fo_result_str(r, "master_host", host);
        fo_result_int(r, "master_port", port);
        fo_result_str(r, "master_link_status", link);
        if (has_io)
            fo_result_int(r, "master_last_io_seconds_ago", io_ago);
        if (has_down) /* Redis prints it only while the link is down; -1: never connected */
            fo_result_int(r, "master_link_down_since_s", down);
        if (has_sync)
            fo_result_bool(r, "master_sync_in_progress", sync != 0);
        if (has_prio)
            fo_result_int(r, "replica_priority", prio);
        snprintf(summary, sizeof(summary), "replica of %s:%" PRId64 ", link %s, offset %" PRId64,
                 host, port, link, offset);
    }

    if (expect != FO_REDIS_ROLE_ANY && (expect == FO_REDIS_ROLE_REPLICA) != (replica != 0)) {
        fo_result_set(r, FO_STATUS_CRITICAL, "role %s, expected %s (%s)",
                      replica ? "replica" : "primary", replica ? "primary" : "replica", summary);
    } else if (replica && strcmp(link, "down") == 0) {
        char since[40] = "";
        if (down >= 0 && fo_result_get(r, "master_link_down_since_s"))
            snprintf(since, sizeof(since), " for %" PRId64 "s", down);
        fo_result_set(r, FO_STATUS_WARNING,
                      "replica of %s:%" PRId64 ", link down%s%s, offset %" PRId64, host, port,
                      since, sync ? " (sync in progress)" : "", offset);
    } else {
        fo_result_set(r, FO_STATUS_OK, "%s", summary);
    }
    return r->status;

bad:
    r->nfacts = 0;
    fo_result_set(r, FO_STATUS_UNKNOWN, "unexpected INFO output: %s missing or malformed", f.bad);
    return r->status;
}
