/* failoverctl audit: lists audit records, and `audit verify` checks the hash chain (from a file,
 * or the agent's own copy fetched over the API) and reports the first broken record. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/cli.h"

static void fo__audit_usage(FILE *f)
{
    fprintf(f, "usage: failoverctl audit [--from INDEX] [--limit N] [--json]\n"
               "       failoverctl audit verify [--file PATH]\n"
               "  verify without --file checks the agent's audit log (GET /v1/audit/raw) and that\n"
               "  its head matches the one the agent reports; exit 0 when the chain holds.\n");
}

static void fo__ts(int64_t ms, char *buf, size_t n)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int fo__verify_path(const char *path, const char *expect_head)
{
    uint64_t count = 0, bad = 0;
    char head[FO_AUDIT_HASH_HEX];
    struct fo_err err = {0};
    if (fo_audit_verify_file(path, &count, head, &bad, &err) < 0) {
        printf("audit chain BROKEN at record %llu: %s\n", (unsigned long long)bad, err.msg);
        return FO_CLI_EREQ;
    }
    if (expect_head && strcmp(expect_head, head) != 0) {
        printf("audit chain holds (%llu records) but its head %s differs from the agent's %s\n",
               (unsigned long long)count, head, expect_head);
        return FO_CLI_EREQ;
    }
    printf("audit chain ok: %llu records, head %s\n", (unsigned long long)count, head);
    return FO_CLI_OK;
}

static int fo__verify(struct fo_cli *cli, int argc, char **argv)
{
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--file") == 0 && i + 1 < argc)
            file = argv[++i];
        else {
            fo__audit_usage(stderr);
            return FO_CLI_EUSAGE;
        }
    }
    if (file)
        return fo__verify_path(file, NULL);
    struct json_object *st = NULL, *cl, *ah, *h;
    char *raw = NULL;
    int rc = fo_cli_get_json(cli, "/v1/status", &st, NULL);
    if (rc)
        return rc;
    char head[FO_AUDIT_HASH_HEX] = "";
    if (json_object_object_get_ex(st, "cluster", &cl) && cl &&
        json_object_object_get_ex(cl, "audit_head", &ah) &&
        json_object_object_get_ex(ah, "hash", &h))
        snprintf(head, sizeof(head), "%s", json_object_get_string(h));
    json_object_put(st);
    if ((rc = fo_cli_request(cli, "GET", "/v1/audit/raw", NULL, &raw)))
        return rc;
    char tmp[] = "/tmp/failoverctl-audit-XXXXXX";
    int fd = mkstemp(tmp);
    size_t n = strlen(raw);
    if (fd < 0 || write(fd, raw, n) != (ssize_t)n) {
        perror("failoverctl: temporary file");
        free(raw);
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return FO_CLI_EREQ;
    }
    close(fd);
    free(raw);
    rc = fo__verify_path(tmp, head[0] ? head : NULL);
    unlink(tmp);
    return rc;
}

int fo_cli_cmd_audit(struct fo_cli *cli, int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "verify") == 0)
        return fo__verify(cli, argc - 1, argv + 1);
    long long from = 0, limit = 100;
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            from = atoll(argv[++i]);
        else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
            limit = atoll(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else {
            fo__audit_usage(strcmp(argv[i], "help") == 0 ? stdout : stderr);
            return strcmp(argv[i], "help") == 0 ? FO_CLI_OK : FO_CLI_EUSAGE;
        }
    }
    char path[128];
    snprintf(path, sizeof(path), "/v1/audit?from=%lld&limit=%lld", from, limit);
    struct json_object *o = NULL, *recs;
    char *raw = NULL;
    int rc = fo_cli_get_json(cli, path, &o, &raw);
    if (rc)
        return rc;
    if (as_json) {
        puts(raw);
    } else if (json_object_object_get_ex(o, "records", &recs)) {
        printf("%-7s %-5s %-20s %-12s %-16s %s\n", "INDEX", "TERM", "TIME", "ACTOR", "ACTION",
               "DETAILS");
        for (size_t i = 0; i < json_object_array_length(recs); i++) {
            struct json_object *r = json_object_array_get_idx(recs, i), *v;
            char ts[32] = "-";
            if (json_object_object_get_ex(r, "ts", &v) && json_object_get_int64(v) > 0)
                fo__ts(json_object_get_int64(v), ts, sizeof(ts));
            printf("%-7lld %-5lld %-20s %-12.12s %-16.16s %.80s\n",
                   (long long)json_object_get_int64(json_object_object_get(r, "index")),
                   (long long)json_object_get_int64(json_object_object_get(r, "term")), ts,
                   json_object_get_string(json_object_object_get(r, "actor")),
                   json_object_get_string(json_object_object_get(r, "action")),
                   json_object_to_json_string_ext(json_object_object_get(r, "details"),
                                                  JSON_C_TO_STRING_PLAIN));
        }
    }
    json_object_put(o);
    free(raw);
    return FO_CLI_OK;
}
