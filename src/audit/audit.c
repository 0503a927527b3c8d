/* Hash-chained audit log: append, recover, verify. One record per applied entry. After a snapshot
 * carried the state past the file's head, the missing records come from a peer (append_line,
 * verified like the file) while the records of newer entries wait in memory behind the gap. */
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

/* A record of an entry past the gap, rendered already: its prev is known from the snapshot. */
struct fo__queued {
    uint64_t index;
    char hash[FO_AUDIT_HASH_HEX];
    char *line; /* with its newline */
};

struct fo_audit {
    char *path;
    int fd;
    uint64_t head_index; /* the last record in the file */
    char head_hash[FO_AUDIT_HASH_HEX];
    int gap; /* records head_index+1..gap_to are still to come from a peer */
    uint64_t gap_to;
    char gap_hash[FO_AUDIT_HASH_HEX];
    struct fo__queued *queue; /* records after gap_to, in order */
    size_t nqueue, capqueue;
    uint64_t last_index; /* the chain's head counting the gap and the queue */
    char last_hash[FO_AUDIT_HASH_HEX];
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

/* Verifies that a stored line's hash covers its bytes and extracts its index and prev. */
static int fo__parse_line(const char *line, size_t n, uint64_t *index,
                          char stored[FO_AUDIT_HASH_HEX], char prev[FO_AUDIT_HASH_HEX],
                          struct fo_err *err, uint64_t lineno)
{
    char computed[FO_AUDIT_HASH_HEX];
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
    *index = (uint64_t)json_object_get_int64(v);
    if (!json_object_object_get_ex(o, "prev", &v) ||
        snprintf(prev, FO_AUDIT_HASH_HEX, "%s", json_object_get_string(v)) != 64) {
        fo_err_set(err, rc, "line %llu (index %llu): prev is not a hash",
                   (unsigned long long)lineno, (unsigned long long)*index);
        goto out;
    }
    rc = 0;
out:
    json_object_put(o);
    free(rec);
    return rc;
}

/* Checks one line against the chain so far; updates *index and prev. */
static int fo__check_line(const char *line, size_t n, uint64_t *index, char prev[FO_AUDIT_HASH_HEX],
                          int first, struct fo_err *err, uint64_t lineno)
{
    char stored[FO_AUDIT_HASH_HEX], rprev[FO_AUDIT_HASH_HEX];
    uint64_t idx;
    int rc = fo__parse_line(line, n, &idx, stored, rprev, err, lineno);
    if (rc < 0)
        return rc;
    if (!first && idx != *index + 1)
        return fo_err_set(err, -FO_ECORRUPT, "line %llu: index %llu follows %llu (record missing)",
                          (unsigned long long)lineno, (unsigned long long)idx,
                          (unsigned long long)*index);
    if (strcmp(rprev, prev) != 0)
        return fo_err_set(err, -FO_ECORRUPT,
                          "line %llu (index %llu): prev does not match the previous record",
                          (unsigned long long)lineno, (unsigned long long)idx);
    *index = idx;
    memcpy(prev, stored, FO_AUDIT_HASH_HEX);
    return 0;
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
    a->last_index = a->head_index;
    memcpy(a->last_hash, a->head_hash, FO_AUDIT_HASH_HEX);
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
    for (size_t i = 0; i < a->nqueue; i++)
        free(a->queue[i].line);
    free(a->queue);
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

/* Writes one line (with its newline) and moves the file's head to it. */
static int fo__write_line(struct fo_audit *a, const char *line, size_t n, uint64_t index,
                          const char *hash)
{
    int rc = fo__write_all(a->fd, line, n);
    if (rc < 0)
        return rc;
    a->head_index = index;
    snprintf(a->head_hash, sizeof(a->head_hash), "%s", hash);
    if (!a->gap) {
        a->last_index = index;
        memcpy(a->last_hash, a->head_hash, FO_AUDIT_HASH_HEX);
    }
    return 0;
}

/* Once the gap is filled, the queued records follow it; on a write error the rest stays queued. */
static int fo__settle(struct fo_audit *a)
{
    if (!a->gap || a->head_index != a->gap_to)
        return 0;
    size_t done = 0;
    int rc = 0;
    while (done < a->nqueue) {
        struct fo__queued *q = &a->queue[done];
        if ((rc = fo__write_line(a, q->line, strlen(q->line), q->index, q->hash)) < 0)
            break;
        free(q->line);
        done++;
    }
    if (done > 0 && done < a->nqueue)
        memmove(a->queue, a->queue + done, (a->nqueue - done) * sizeof(*a->queue));
    a->nqueue -= done;
    if (rc == 0)
        a->gap = 0;
    return rc;
}

static void fo__drop_queue(struct fo_audit *a)
{
    for (size_t i = 0; i < a->nqueue; i++)
        free(a->queue[i].line);
    a->nqueue = 0;
}

int fo_audit_append(struct fo_audit *a, uint64_t index, uint64_t term, int64_t ts,
                    const char *actor, const char *action, struct json_object *details)
{
    if (index <= a->last_index)
        return 0;
    if (a->last_index != 0 && index != a->last_index + 1)
        return -FO_EINVAL;
    char hash[FO_AUDIT_HASH_HEX];
    char *rec = fo_audit_record(index, term, ts, actor, action, details, a->last_hash, hash);
    size_t n = strlen(rec);
    char *line = fo_xasprintf("%.*s,\"hash\":\"%s\"}\n", (int)(n - 1), rec, hash);
    int rc = 0;
    free(rec);
    if (a->gap) {
        if (a->nqueue == a->capqueue) {
            a->capqueue = a->capqueue ? 2 * a->capqueue : 16;
            a->queue = fo_xrealloc(a->queue, a->capqueue * sizeof(*a->queue));
        }
        struct fo__queued *q = &a->queue[a->nqueue++];
        q->index = index;
        memcpy(q->hash, hash, sizeof(hash));
        q->line = line;
        line = NULL;
        a->last_index = index;
        memcpy(a->last_hash, hash, sizeof(hash));
    } else {
        rc = fo__write_line(a, line, strlen(line), index, hash);
    }
    free(line);
    return rc;
}

int fo_audit_begin_gap(struct fo_audit *a, uint64_t index, const char *hash)
{
    if (index <= a->last_index)
        return 0;
    if (!hash || strlen(hash) != 64 || strspn(hash, "0123456789abcdef") != 64)
        return -FO_EINVAL;
    /* the queued records are older than the new snapshot: they will come from a peer too */
    fo__drop_queue(a);
    a->gap = 1;
    a->gap_to = index;
    memcpy(a->gap_hash, hash, FO_AUDIT_HASH_HEX);
    a->last_index = index;
    memcpy(a->last_hash, hash, FO_AUDIT_HASH_HEX);
    return 0;
}

int fo_audit_abandon_gap(struct fo_audit *a)
{
    if (!a->gap)
        return 0;
    char hash[FO_AUDIT_HASH_HEX];
    memcpy(hash, a->gap_hash, sizeof(hash));
    return fo_audit_rebase(a, a->gap_to, hash);
}

int fo_audit_gap(const struct fo_audit *a, uint64_t *from, uint64_t *to)
{
    if (!a->gap)
        return 0;
    if (from)
        *from = a->head_index + 1;
    if (to)
        *to = a->gap_to;
    return 1;
}

int fo_audit_append_line(struct fo_audit *a, const char *line, size_t len, struct fo_err *err)
{
    char stored[FO_AUDIT_HASH_HEX], prev[FO_AUDIT_HASH_HEX];
    uint64_t idx;
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (!a->gap)
        return fo_err_set(err, -FO_EINVAL, "no audit records are missing");
    if (memchr(line, '\n', len) || memchr(line, '\0', len))
        return fo_err_set(err, -FO_EINVAL, "not one audit record");
    struct fo_err perr = {0};
    if (fo__parse_line(line, len, &idx, stored, prev, &perr, 1) < 0)
        return fo_err_set(err, -FO_EINVAL, "record refused: %s", perr.msg);
    if (idx <= a->head_index)
        return 0;
    if (idx != a->head_index + 1 || idx > a->gap_to)
        return fo_err_set(err, -FO_EINVAL, "record %llu does not follow %llu",
                          (unsigned long long)idx, (unsigned long long)a->head_index);
    if (strcmp(prev, a->head_hash) != 0)
        return fo_err_set(err, -FO_EINVAL, "record %llu: prev does not match record %llu",
                          (unsigned long long)idx, (unsigned long long)a->head_index);
    if (idx == a->gap_to && strcmp(stored, a->gap_hash) != 0)
        return fo_err_set(err, -FO_ECORRUPT,
                          "record %llu has hash %.12s... but the snapshot says %.12s...",
                          (unsigned long long)idx, stored, a->gap_hash);
    char *buf = fo_xmalloc(len + 1);
    memcpy(buf, line, len);
    buf[len] = '\n';
    int rc = fo__write_line(a, buf, len + 1, idx, stored);
    free(buf);
    if (rc == 0)
        rc = fo__settle(a);
    if (rc < 0)
        fo_err_set(err, rc, "%s: %s", a->path, rc == -FO_ENOSPC ? "no space left" : strerror(-rc));
    return rc;
}

/* The index of a stored record without parsing it: lines start with {"index":N, */
static int fo__line_index(const char *line, uint64_t *index)
{
    static const char key[] = "{\"index\":";
    char *end;
    if (strncmp(line, key, sizeof(key) - 1) != 0)
        return -1;
    errno = 0;
    *index = strtoull(line + sizeof(key) - 1, &end, 10);
    return errno || *end != ',' ? -1 : 0;
}

int fo_audit_read_lines(const struct fo_audit *a, uint64_t from, uint64_t to, size_t max_bytes,
                        char **out, size_t *len, size_t *count)
{
    char *line = NULL, *buf = fo_xstrdup("");
    size_t cap = 0, used = 0, n_out = 0;
    ssize_t n;
    uint64_t lineno = 0, idx;
    int rc = 0;
    FILE *f = NULL;
    if (to > a->head_index)
        to = a->head_index;
    if (from == 0 || from > to)
        goto out;
    if (!(f = fopen(a->path, "r"))) {
        rc = errno == ENOENT ? -FO_ENOENT : -errno;
        goto out;
    }
    while ((n = getline(&line, &cap, f)) > 0 && line[n - 1] == '\n') {
        lineno++;
        if (lineno == 1 && strncmp(line, "{\"base\":", 8) == 0) {
            /* the records up to the base are not in this file */
            if (strtoull(line + 8, NULL, 10) >= from) {
                rc = -FO_ENOENT;
                break;
            }
            continue;
        }
        if (fo__line_index(line, &idx) < 0) {
            rc = -FO_ECORRUPT;
            break;
        }
        if (idx < from)
            continue;
        if (idx > to || (n_out > 0 && used + (size_t)n > max_bytes))
            break;
        if (n_out == 0 && idx != from) {
            rc = -FO_ENOENT; /* the file starts after `from` */
            break;
        }
        buf = fo_xrealloc(buf, used + (size_t)n + 1);
        memcpy(buf + used, line, (size_t)n + 1);
        used += (size_t)n;
        n_out++;
    }
out:
    free(line);
    if (f)
        fclose(f);
    if (rc < 0) {
        free(buf);
        buf = NULL;
        used = n_out = 0;
    }
    *out = buf;
    *len = used;
    *count = n_out;
    return rc;
}

int fo_audit_sync(struct fo_audit *a)
{
    return fdatasync(a->fd) < 0 ? -errno : 0;
}

int fo_audit_fd(const struct fo_audit *a)
{
    return a->fd;
}

uint64_t fo_audit_head_index(const struct fo_audit *a)
{
    return a->head_index;
}

const char *fo_audit_head_hash(const struct fo_audit *a)
{
    return a->head_hash;
}

uint64_t fo_audit_last_index(const struct fo_audit *a)
{
    return a->last_index;
}

const char *fo_audit_last_hash(const struct fo_audit *a)
{
    return a->last_hash;
}

int fo_audit_rebase(struct fo_audit *a, uint64_t index, const char *hash)
{
    if (index <= a->head_index)
        return 0;
    if (a->gap && index != a->gap_to) {
        if (index <= a->last_index)
            return -FO_EINVAL; /* inside the queue: only the gap's own end is a known hash */
        fo__drop_queue(a);
    }
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
    if (rc < 0)
        return rc;
    a->head_index = index;
    snprintf(a->head_hash, sizeof(a->head_hash), "%s", hash);
    if (!a->gap) {
        a->last_index = index;
        memcpy(a->last_hash, a->head_hash, FO_AUDIT_HASH_HEX);
        return 0;
    }
    a->gap_to = index; /* the queued records follow the base */
    if (a->nqueue == 0) {
        a->last_index = index;
        memcpy(a->last_hash, a->head_hash, FO_AUDIT_HASH_HEX);
    }
    return fo__settle(a);
}
