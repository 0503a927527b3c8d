/* Hash-chained audit log: append, recover, verify. One record per applied entry. */
#include "audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FO_AUDIT_LINE_MAX (1 << 20)

struct fo_audit {
    char *path;
    int fd;
    uint64_t head_index;
    char head_hash[FO_AUDIT_HASH_HEX];
};

static void fo__sha256_hex(const void *data, size_t len, char out[FO_AUDIT_HASH_HEX])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

char *fo_audit_record(uint64_t index, uint64_t term, int64_t ts, const char *actor,
                      const char *action, struct json_object *details, const char *prev,
                      char hash[FO_AUDIT_HASH_HEX])
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "index", json_object_new_int64((int64_t)index));
    json_object_object_add(o, "term", json_object_new_int64((int64_t)term));
    json_object_object_add(o, "ts", json_object_new_int64(ts));
    json_object_object_add(o, "actor", json_object_new_string(actor));
    json_object_object_add(o, "action", json_object_new_string(action));
    json_object_object_add(o, "details",
                           details ? json_object_get(details) : json_object_new_object());
    json_object_object_add(o, "prev", json_object_new_string(prev));
    size_t n;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *out = fo_xmalloc(n + 1);
    memcpy(out, s, n + 1);
    json_object_put(o);
    fo__sha256_hex(out, n, hash);
    return out;
}

/* Splits a stored line into the hashed bytes (returned, malloc'd) and the stored hash. */
static char *fo__split_line(const char *line, size_t n, char hash[FO_AUDIT_HASH_HEX])
{
    static const char key[] = ",\"hash\":\"";
    size_t tail = sizeof(key) - 1 + 64 + 2; /* key + hex + "} */
    if (n < tail + 2 || line[n - 1] != '}' || line[n - 2] != '"' ||
        memcmp(line + n - tail, key, sizeof(key) - 1) != 0)
        return NULL;
    memcpy(hash, line + n - 66, 64);
    hash[64] = '\0';
    for (int i = 0; i < 64; i++)
        if (!strchr("0123456789abcdef", hash[i]))
            return NULL;
    char *rec = fo_xmalloc(n - tail + 2);
    memcpy(rec, line, n - tail);
    rec[n - tail] = '}';
    rec[n - tail + 1] = '\0';
    return rec;
}

/* Checks one line against the chain so far; updates *index and prev. */
static int fo__check_line(const char *line, size_t n, uint64_t *index, char prev[FO_AUDIT_HASH_HEX],
                          int first, struct fo_err *err, uint64_t lineno)
{
    char stored[FO_AUDIT_HASH_HEX], computed[FO_AUDIT_HASH_HEX];
    char *rec = fo__split_line(line, n, stored);
    int rc = -FO_ECORRUPT;
    struct json_object *o = NULL, *v;
    if (!rec) {
        fo_err_set(err, rc, "line %llu: not an audit record", (unsigned long long)lineno);
        goto out;
    }
    fo__sha256_hex(rec, strlen(rec), computed);
    if (strcmp(computed, stored) != 0) {
        fo_err_set(err, rc, "line %llu: hash does not match the record (changed)",
                   (unsigned long long)lineno);
        goto out;
    }
    o = json_tokener_parse(rec);
    if (!o || !json_object_object_get_ex(o, "index", &v)) {
        fo_err_set(err, rc, "line %llu: record is not valid JSON", (unsigned long long)lineno);
        goto out;
    }
    uint64_t idx = (uint64_t)json_object_get_int64(v);
    if (!first && idx != *index + 1) {
        fo_err_set(err, rc, "line %llu: index %llu follows %llu (record missing)",
                   (unsigned long long)lineno, (unsigned long long)idx, (unsigned long long)*index);
        goto out;
    }
    if (!json_object_object_get_ex(o, "prev", &v) || strcmp(json_object_get_string(v), prev) != 0) {
        fo_err_set(err, rc, "line %llu (index %llu): prev does not match the previous record",
                   (unsigned long long)lineno, (unsigned long long)idx);
        goto out;
    }
    *index = idx;
    memcpy(prev, stored, FO_AUDIT_HASH_HEX);
    rc = 0;
out:
    json_object_put(o);
    free(rec);
    return rc;
}

/* Walks FILE; on a torn last line (no newline) reports its offset in *torn_at (else -1). */
static int fo__walk(const char *file, uint64_t *count, uint64_t *last_index,
                    char head[FO_AUDIT_HASH_HEX], uint64_t *bad_line, long *torn_at,
                    struct fo_err *err)
{
    FILE *f = fopen(file, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lineno = 0, index = 0;
    long off = 0;
    int rc = 0;
    *count = 0;
    *torn_at = -1;
    snprintf(head, FO_AUDIT_HASH_HEX, "%s", FO_AUDIT_GENESIS);
    if (!f)
        return errno == ENOENT ? 0 : fo_err_set(err, -errno, "%s: %s", file, strerror(errno));
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[n - 1] != '\n') {
            *torn_at = off;
            break;
        }
        line[--n] = '\0';
        /* A base line starts the chain after a snapshot: {"base":index,"hash":"..."} */
        if (lineno == 1 && strncmp(line, "{\"base\":", 8) == 0) {
            struct json_object *o = json_tokener_parse(line), *b, *h;
            if (!o || !json_object_object_get_ex(o, "base", &b) ||
                !json_object_object_get_ex(o, "hash", &h)) {
                json_object_put(o);
                rc = fo_err_set(err, -FO_ECORRUPT, "%s:1: bad base line", file);
                *bad_line = 1;
                break;
            }
            index = (uint64_t)json_object_get_int64(b);
            snprintf(head, FO_AUDIT_HASH_HEX, "%s", json_object_get_string(h));
            json_object_put(o);
            off += (long)n + 1;
            continue;
        }
        int first = *count == 0 && index == 0;
        if ((rc = fo__check_line(line, (size_t)n, &index, head, first, err, lineno)) < 0) {
            *bad_line = lineno;
            break;
        }
        (*count)++;
        off += (long)n + 1;
    }
    *last_index = index;
    free(line);
    fclose(f);
    return rc;
}

int fo_audit_verify_file(const char *file, uint64_t *count, char head[FO_AUDIT_HASH_HEX],
                         uint64_t *bad_line, struct fo_err *err)
{
    uint64_t last;
    long torn;
    *bad_line = 0;
    int rc = fo__walk(file, count, &last, head, bad_line, &torn, err);
    if (rc == 0 && torn >= 0) {
        *bad_line = *count + 1;
        rc = fo_err_set(err, -FO_ECORRUPT, "line %llu: incomplete record at the end",
                        (unsigned long long)*bad_line);
    }
    return rc;
}

struct fo_audit *fo_audit_open(const char *dir, struct fo_err *err)
{
    struct fo_audit *a = fo_xcalloc(1, sizeof(*a));
    uint64_t count, bad = 0;
    long torn;
    a->path = fo_xasprintf("%s/audit.log", dir);
    a->fd = -1;
    if (fo__walk(a->path, &count, &a->head_index, a->head_hash, &bad, &torn, err) < 0)
        goto fail;
    a->fd = open(a->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (a->fd < 0) {
        fo_err_set(err, -errno, "%s: %s", a->path, strerror(errno));
        goto fail;
    }
    if (torn >= 0 && ftruncate(a->fd, torn) < 0) {
        fo_err_set(err, -errno, "%s: cannot cut torn tail: %s", a->path, strerror(errno));
        goto fail;
    }
    return a;
fail:
    fo_audit_close(a);
    return NULL;
}

void fo_audit_close(struct fo_audit *a)
{
    if (!a)
        return;
    if (a->fd >= 0)
        close(a->fd);
    free(a->path);
    free(a);
}

static int fo__write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == ENOSPC ? -FO_ENOSPC : -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int fo_audit_append(struct fo_audit *a, uint64_t index, uint64_t term, int64_t ts,
                    const char *actor, const char *action, struct json_object *details)
{
    if (index <= a->head_index)
        return 0;
    if (a->head_index != 0 && index != a->head_index + 1)
        return -FO_EINVAL;
    char hash[FO_AUDIT_HASH_HEX];
    char *rec = fo_audit_record(index, term, ts, actor, action, details, a->head_hash, hash);
    size_t n = strlen(rec);
    char *line = fo_xasprintf("%.*s,\"hash\":\"%s\"}\n", (int)(n - 1), rec, hash);
    int rc = fo__write_all(a->fd, line, strlen(line));
    free(line);
    free(rec);
    if (rc < 0)
        return rc;
    a->head_index = index;
    memcpy(a->head_hash, hash, sizeof(hash));
    return 0;
}

int fo_audit_sync(struct fo_audit *a)
{
    return fdatasync(a->fd) < 0 ? -errno : 0;
}

uint64_t fo_audit_head_index(const struct fo_audit *a)
{
    return a->head_index;
}

const char *fo_audit_head_hash(const struct fo_audit *a)
{
    return a->head_hash;
}

int fo_audit_rebase(struct fo_audit *a, uint64_t index, const char *hash)
{
    if (index <= a->head_index)
        return 0;
    /* The records between our head and the snapshot are not here: start a new file whose first
     * line names the base, keeping the old one beside it for inspection. */
    char *old = fo_xasprintf("%s.%llu", a->path, (unsigned long long)a->head_index);
    int rc = 0;
    close(a->fd);
    if (rename(a->path, old) < 0 && errno != ENOENT)
        rc = -errno;
    free(old);
    a->fd = open(a->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (a->fd < 0)
        return -errno;
    char *line = fo_xasprintf("{\"base\":%llu,\"hash\":\"%s\"}\n", (unsigned long long)index, hash);
    if (rc == 0)
        rc = fo__write_all(a->fd, line, strlen(line));
    free(line);
    if (rc == 0) {
        a->head_index = index;
        snprintf(a->head_hash, sizeof(a->head_hash), "%s", hash);
    }
    return rc;
}
