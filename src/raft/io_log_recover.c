/* Opening the Raft log: reads every segment, checks CRCs and index/term continuity, cuts a
 * torn tail off the last segment and reports anything else as corruption with file and offset
 * (rules in raft/io.h). */
#include "raft/io_log_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "raft/crc32c.h"

/* Is there a CRC-valid record anywhere in BUF[from..len) with an index above LAST_GOOD? A bad
 * record followed by one is damage in the middle, not a torn tail. */
static int fo__valid_after(const unsigned char *buf, size_t len, size_t from, uint64_t last_good)
{
    /* Every record takes at least FO__REC_MIN bytes, which bounds a plausible index. */
    uint64_t span = len > from ? (len - from) / FO__REC_MIN + 1 : 0;
    for (size_t q = from; q + FO__REC_MIN <= len; q++) {
        uint64_t idx = fo__raft_io_get64(buf + q + 8);
        if (idx <= last_good || idx - last_good > span)
            continue;
        uint32_t rl = fo__raft_io_get32(buf + q);
        if (rl < FO_RAFT_LOG_REC_FIXED || rl > len - q - FO_RAFT_LOG_REC_HEADER)
            continue;
        if (fo_crc32c(0, buf + q + 8, rl) == fo__raft_io_get32(buf + q + 4))
            return 1;
    }
    return 0;
}

/* Parses a segment's bytes into S. *cut is set to the length to keep (below LEN for a torn
 * tail, which only the last segment may have). */
static int fo__seg_scan(struct fo__seg *s, const unsigned char *buf, size_t len, uint64_t *term,
                        int is_last, uint64_t *cut, struct fo_err *err)
{
    size_t p = 0;
    uint64_t expect = s->first;

    *cut = len;
    while (p < len) {
        const char *why = NULL;
        uint32_t rl = 0;
        size_t left = len - p;
        if (left < FO__REC_MIN) {
            why = "short record";
        } else {
            rl = fo__raft_io_get32(buf + p);
            if (rl < FO_RAFT_LOG_REC_FIXED)
                why = "record length too small";
            else if (rl > left - FO_RAFT_LOG_REC_HEADER)
                why = "record runs past the end of the file";
            else if (fo_crc32c(0, buf + p + 8, rl) != fo__raft_io_get32(buf + p + 4))
                why = "CRC mismatch";
        }
        if (why) {
            if (is_last && !fo__valid_after(buf, len, p + 1, expect - 1)) {
                *cut = p;
                return 0;
            }
            return fo_err_set(err, -FO_ECORRUPT,
                              "raft log corrupt: %s at offset %zu of %s (expected index %" PRIu64
                              ")",
                              why, p, s->path, expect);
        }
        uint64_t idx = fo__raft_io_get64(buf + p + 8);
        uint64_t t = fo__raft_io_get64(buf + p + 16);
        if (idx != expect)
            return fo_err_set(err, -FO_ECORRUPT,
                              "raft log corrupt: index %" PRIu64 " where %" PRIu64
                              " belongs, at offset %zu of %s",
                              idx, expect, p, s->path);
        if (idx == UINT64_MAX)
            return fo_err_set(err, -FO_ECORRUPT,
                              "raft log corrupt: index %" PRIu64 " at offset %zu of %s", idx, p,
                              s->path);
        if (t < *term)
            return fo_err_set(err, -FO_ECORRUPT,
                              "raft log corrupt: term %" PRIu64 " after term %" PRIu64
                              " at offset %zu of %s",
                              t, *term, p, s->path);
        fo__raft_seg_reserve(s, s->n + 1);
        s->offs[s->n] = p;
        s->terms[s->n] = t;
        s->n++;
        *term = t;
        p += FO_RAFT_LOG_REC_HEADER + rl;
        expect++;
    }
    return 0;
}

static int fo__name_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists DIR/log's segment names (numbers) in ascending order. */
int fo__raft_log_list(const char *dir, uint64_t **out, size_t *n, struct fo_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    uint64_t *v = NULL;
    size_t cnt = 0, cap = 0;

    *out = NULL;
    *n = 0;
    if (!d)
        return fo_err_set(err, -errno, "raft log: opendir %s: %s", dir, strerror(errno));
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        size_t len = strlen(name), digits = strspn(name, "0123456789");
        if (len < 5 || strcmp(name + len - 4, ".seg") != 0)
            continue;
        errno = 0;
        uint64_t first = strtoull(name, NULL, 10);
        if (digits != len - 4 || digits > 20 || errno != 0 || first == 0) {
            fo_warn("raft log: ignoring %s/%s: not a segment name", dir, name);
            continue;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            v = fo_xrealloc(v, cap * sizeof(*v));
        }
        v[cnt++] = first;
    }
    closedir(d);
    if (cnt > 1)
        qsort(v, cnt, sizeof(*v), fo__name_cmp);
    for (size_t i = 1; i < cnt; i++)
        if (v[i] == v[i - 1]) {
            /* 1.seg and 0001.seg: two files claim one index */
            uint64_t dup = v[i];
            free(v);
            return fo_err_set(err, -FO_ECORRUPT,
                              "raft log corrupt: two segment files in %s start at %" PRIu64, dir,
                              dup);
        }
    *out = v;
    *n = cnt;
    return 0;
}

int fo__raft_log_recover(struct fo_raft_log *log, struct fo_err *err)
{
    uint64_t *names = NULL, term = 0, cut = 0;
    size_t nnames = 0;
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = fo__raft_log_list(log->dir, &names, &nnames, err);
    if (rc < 0)
        return rc;

    for (size_t i = 0; i < nnames; i++) {
        int is_last = i + 1 == nnames;
        struct fo__seg *s = fo__raft_seg_new(log->dir, names[i]);
        fo__raft_log_push_seg(log, s);
        if (i > 0 && s->first != log->last + 1) {
            rc = fo_err_set(err, -FO_ECORRUPT,
                            "raft log corrupt: %s starts at index %" PRIu64
                            " but the previous segment ends at %" PRIu64 " (offset 0)",
                            s->path, s->first, log->last);
            goto out;
        }
        free(buf);
        rc = fo__raft_io_read_file(s->path, FO__SEG_READ_MAX, &buf, &len, err);
        if (rc < 0) {
            if (rc == -FO_ETOOBIG)
                rc = fo_err_set(err, -FO_ECORRUPT, "raft log corrupt: %s is too large (offset 0)",
                                s->path);
            goto out;
        }
        rc = fo__seg_scan(s, buf, len, &term, is_last, &cut, err);
        if (rc < 0)
            goto out;
        s->size = cut;
        if (i == 0)
            log->first = s->first;
        log->last = s->first + s->n - 1;
        if (s->n == 0 && !is_last) {
            rc = fo_err_set(err, -FO_ECORRUPT,
                            "raft log corrupt: %s is empty but is not the last segment (offset 0)",
                            s->path);
            goto out;
        }
    }
    if (nnames == 0)
        goto out; /* a new log */

    struct fo__seg *s = fo__last_seg(log);
    log->fd = open(s->path, O_RDWR | O_CLOEXEC);
    if (log->fd < 0) {
        rc = fo_err_set(err, -errno, "raft log: open %s: %s", s->path, strerror(errno));
        goto out;
    }
    if (cut < len) {
        fo_warn("raft log: cutting a torn tail of %zu bytes at offset %" PRIu64 " of %s",
                len - (size_t)cut, cut, s->path);
        if (ftruncate(log->fd, (off_t)cut) != 0) {
            rc = fo_err_set(err, -errno, "raft log: truncate %s: %s", s->path, strerror(errno));
            goto out;
        }
    }
    /* Bytes left in the page cache by a killed process are not on disk yet: make them so,
     * then everything recovered counts as durable. */
    if (fdatasync(log->fd) != 0) {
        rc = fo_err_set(err, -FO_EFSYNC, "raft log: fdatasync of %s failed: %s", s->path,
                        strerror(errno));
        goto out;
    }
out:
    log->durable = log->last;
    free(buf);
    free(names);
    return rc;
}
