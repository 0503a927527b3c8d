/* The Raft log on disk: segment files of CRC-guarded records (format and recovery rules in
 * raft/io.h). Keeps each entry's offset and term in memory so lookups need no I/O; a mutex
 * lets the loop read while a thread-pool job appends. */
#include "raft/io_log_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "raft/crc32c.h"

struct fo__seg *fo__raft_seg_new(const char *dir, uint64_t first)
{
    struct fo__seg *s = fo_xcalloc(1, sizeof(*s));
    s->first = first;
    s->path = fo_xasprintf("%s/%016" PRIu64 ".seg", dir, first);
    return s;
}

void fo__raft_seg_free(struct fo__seg *s)
{
    if (!s)
        return;
    free(s->offs);
    free(s->terms);
    free(s->path);
    free(s);
}

void fo__raft_seg_reserve(struct fo__seg *s, size_t want)
{
    if (want <= s->cap)
        return;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < want)
        cap *= 2;
    s->offs = fo_xrealloc(s->offs, cap * sizeof(*s->offs));
    s->terms = fo_xrealloc(s->terms, cap * sizeof(*s->terms));
    s->cap = cap;
}

/* Segment holding INDEX (position in *pos), or NULL. Caller holds the lock or is the writer. */
static struct fo__seg *fo__find(struct fo_raft_log *log, uint64_t index, size_t *pos)
{
    size_t lo = 0, hi = log->nsegs;
    if (index < log->first || index > log->last)
        return NULL;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->first <= index)
            lo = mid;
        else
            hi = mid;
    }
    struct fo__seg *s = log->segs[lo];
    if (index < s->first || index - s->first >= s->n)
        return NULL;
    if (pos)
        *pos = lo;
    return s;
}

void fo__raft_log_push_seg(struct fo_raft_log *log, struct fo__seg *s)
{
    if (log->nsegs == log->capsegs) {
        log->capsegs = log->capsegs ? log->capsegs * 2 : 8;
        log->segs = fo_xrealloc(log->segs, log->capsegs * sizeof(*log->segs));
    }
    log->segs[log->nsegs++] = s;
}

static uint64_t fo__last_term_locked(struct fo_raft_log *log)
{
    for (size_t i = log->nsegs; i > 0; i--) {
        struct fo__seg *s = log->segs[i - 1];
        if (s->n)
            return s->terms[s->n - 1];
    }
    return 0;
}

int fo_raft_log_open(const char *dir, const struct fo_raft_log_opts *opts, struct fo_raft_log **out,
                     struct fo_err *err)
{
    struct fo_raft_log *log = fo_xcalloc(1, sizeof(*log));
    int rc;

    *out = NULL;
    log->segment_max = opts && opts->segment_max ? opts->segment_max : FO_RAFT_LOG_SEGMENT_MAX;
    if (log->segment_max < FO_RAFT_LOG_SEGMENT_MIN || log->segment_max > UINT32_MAX) {
        free(log);
        return fo_err_set(err, -FO_EINVAL, "raft log: segment size %" PRIu64 " out of range",
                          opts->segment_max);
    }
    log->dir = fo_xasprintf("%s/log", dir);
    log->fd = -1;
    log->first = 1;
    log->last = 0;
    pthread_mutex_init(&log->mu, NULL);
    rc = fo__raft_io_mkdir(dir, err);
    if (rc == 0)
        rc = fo__raft_io_mkdir(log->dir, err);
    if (rc == 0)
        rc = fo__raft_log_recover(log, err);
    if (rc < 0) {
        fo_raft_log_close(log);
        return rc;
    }
    *out = log;
    return 0;
}

void fo_raft_log_close(struct fo_raft_log *log)
{
    if (!log)
        return;
    if (log->fd >= 0)
        close(log->fd);
    for (size_t i = 0; i < log->nsegs; i++)
        fo__raft_seg_free(log->segs[i]);
    free(log->segs);
    pthread_mutex_destroy(&log->mu);
    free(log->dir);
    free(log);
}

/* ---- queries (any thread) ---------------------------------------------------------------- */

uint64_t fo_raft_log_first_index(struct fo_raft_log *log)
{
    pthread_mutex_lock(&log->mu);
    uint64_t v = log->first;
    pthread_mutex_unlock(&log->mu);
    return v;
}

uint64_t fo_raft_log_last_index(struct fo_raft_log *log)
{
    pthread_mutex_lock(&log->mu);
    uint64_t v = log->last;
    pthread_mutex_unlock(&log->mu);
    return v;
}

uint64_t fo_raft_log_durable_index(struct fo_raft_log *log)
{
    pthread_mutex_lock(&log->mu);
    uint64_t v = log->durable;
    pthread_mutex_unlock(&log->mu);
    return v;
}

uint64_t fo_raft_log_last_term(struct fo_raft_log *log)
{
    pthread_mutex_lock(&log->mu);
    uint64_t v = fo__last_term_locked(log);
    pthread_mutex_unlock(&log->mu);
    return v;
}

int fo_raft_log_term(struct fo_raft_log *log, uint64_t index, uint64_t *term)
{
    int rc = -FO_ENOENT;
    pthread_mutex_lock(&log->mu);
    struct fo__seg *s = fo__find(log, index, NULL);
    if (s) {
        *term = s->terms[index - s->first];
        rc = 0;
    }
    pthread_mutex_unlock(&log->mu);
    return rc;
}

void fo_raft_entries_free(struct fo_raft_entry *entries, size_t n)
{
    if (!entries)
        return;
    for (size_t i = 0; i < n; i++)
        free(entries[i].data);
    free(entries);
}

/* Reads records [i, i + cnt) of S into OUT with one pread; lock held. */
static int fo__read_span(struct fo_raft_log *log, struct fo__seg *s, uint64_t i, uint64_t cnt,
                         struct fo_raft_entry *out, struct fo_err *err)
{
    uint64_t start = s->offs[i];
    uint64_t end = i + cnt < s->n ? s->offs[i + cnt] : s->size;
    size_t span = (size_t)(end - start), got = 0;
    unsigned char *buf = fo_xmalloc(span);
    int own = s != fo__last_seg(log) || log->fd < 0;
    int fd = own ? open(s->path, O_RDONLY | O_CLOEXEC) : log->fd;
    int rc = 0;

    if (fd < 0) {
        rc = fo_err_set(err, -errno, "raft log: open %s: %s", s->path, strerror(errno));
        goto out;
    }
    while (got < span) {
        ssize_t r = pread(fd, buf + got, span - got, (off_t)(start + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = fo_err_set(err, r < 0 ? -errno : -FO_ECORRUPT,
                            "raft log: read %s at offset %" PRIu64 ": %s", s->path, start + got,
                            r < 0 ? strerror(errno) : "file is shorter than its records");
            goto out;
        }
        got += (size_t)r;
    }
    for (uint64_t k = 0; k < cnt; k++) {
        const unsigned char *p = buf + (s->offs[i + k] - start);
        uint64_t rec_end = i + k + 1 < s->n ? s->offs[i + k + 1] : s->size;
        uint32_t rl = (uint32_t)(rec_end - s->offs[i + k] - FO_RAFT_LOG_REC_HEADER);
        if (fo__raft_io_get32(p) != rl || fo_crc32c(0, p + 8, rl) != fo__raft_io_get32(p + 4) ||
            fo__raft_io_get64(p + 8) != s->first + i + k) {
            rc = fo_err_set(err, -FO_ECORRUPT,
                            "raft log corrupt: record %" PRIu64 " at offset %" PRIu64
                            " of %s no longer matches its CRC",
                            s->first + i + k, s->offs[i + k], s->path);
            goto out;
        }
        out[k].index = s->first + i + k;
        out[k].term = fo__raft_io_get64(p + 16);
        out[k].type = p[24];
        out[k].len = rl - FO_RAFT_LOG_REC_FIXED;
        out[k].data = fo_xmalloc(out[k].len);
        memcpy(out[k].data, p + FO__REC_MIN, out[k].len);
    }
out:
    if (rc < 0)
        for (uint64_t k = 0; k < cnt; k++) {
            free(out[k].data);
            out[k].data = NULL;
        }
    if (own && fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

int fo_raft_log_get(struct fo_raft_log *log, uint64_t index, struct fo_raft_entry *out,
                    struct fo_err *err)
{
    int rc;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&log->mu);
    struct fo__seg *s = fo__find(log, index, NULL);
    if (!s)
        rc = fo_err_set(err, -FO_ENOENT, "raft log: no entry %" PRIu64, index);
    else
        rc = fo__read_span(log, s, index - s->first, 1, out, err);
    pthread_mutex_unlock(&log->mu);
    return rc;
}

int fo_raft_log_read(struct fo_raft_log *log, uint64_t from, size_t max_n, size_t max_bytes,
                     struct fo_raft_entry **out, size_t *n, struct fo_err *err)
{
    struct fo_raft_entry *v = NULL;
    size_t cnt = 0, pos = 0, bytes = 0;
    int rc = 0;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&log->mu);
    struct fo__seg *s = fo__find(log, from, &pos);
    if (!s) {
        rc = fo_err_set(err, -FO_ENOENT, "raft log: no entry %" PRIu64, from);
        goto out;
    }
    if (max_n > log->last - from + 1)
        max_n = (size_t)(log->last - from + 1);
    v = fo_xcalloc(max_n ? max_n : 1, sizeof(*v));
    for (uint64_t i = from - s->first; cnt < max_n && pos < log->nsegs;) {
        s = log->segs[pos];
        uint64_t take = 0;
        while (i + take < s->n && cnt + take < max_n) {
            uint64_t rec_end = i + take + 1 < s->n ? s->offs[i + take + 1] : s->size;
            size_t plen = (size_t)(rec_end - s->offs[i + take] - FO__REC_MIN);
            if (cnt + take > 0 && bytes + plen > max_bytes)
                break;
            bytes += plen;
            take++;
        }
        if (take > 0) {
            rc = fo__read_span(log, s, i, take, v + cnt, err);
            if (rc < 0)
                goto out;
            cnt += (size_t)take;
        }
        if (i + take < s->n)
            break; /* a limit was reached inside this segment */
        pos++;
        i = 0;
    }
out:
    pthread_mutex_unlock(&log->mu);
    if (rc < 0) {
        fo_raft_entries_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* ---- writing (one thread) --------------------------------------------------------------- */

static int fo__fail(struct fo_raft_log *log, int code)
{
    if (code == -FO_EFSYNC || code == -FO_EIO)
        log->failed = code;
    return code;
}

/* Replaces the active segment's descriptor. Under the lock, so that a reader never finds
 * log->fd belonging to anything but the last segment. */
static void fo__set_fd(struct fo_raft_log *log, int fd)
{
    pthread_mutex_lock(&log->mu);
    if (log->fd >= 0)
        close(log->fd);
    log->fd = fd;
    pthread_mutex_unlock(&log->mu);
}

/* Creates the (empty) segment file that starts at FIRST and makes it the active one. */
static int fo__seg_create(struct fo_raft_log *log, uint64_t first, struct fo_err *err)
{
    struct fo__seg *s = fo__raft_seg_new(log->dir, first);
    int fd = open(s->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        int rc = fo_err_set(err, fo__raft_io_errno(errno), "raft log: create %s: %s", s->path,
                            strerror(errno));
        fo__raft_seg_free(s);
        return rc;
    }
    int rc = fo__raft_io_fsync_dir(log->dir, err);
    if (rc < 0) {
        close(fd);
        unlink(s->path);
        fo__raft_seg_free(s);
        return fo__fail(log, rc);
    }
    pthread_mutex_lock(&log->mu);
    if (log->fd >= 0)
        close(log->fd);
    log->fd = fd;
    fo__raft_log_push_seg(log, s);
    pthread_mutex_unlock(&log->mu);
    return 0;
}

static int fo__fdatasync(struct fo_raft_log *log, struct fo_err *err)
{
    if (fdatasync(log->fd) != 0)
        return fo__fail(log, fo_err_set(err, -FO_EFSYNC, "raft log: fdatasync of %s failed: %s",
                                        fo__last_seg(log)->path, strerror(errno)));
    return 0;
}

/* Undoes an append that failed part way: drops segments it created and cuts what it wrote
 * into the one that was active. SIZE is that segment's published size. */
static int fo__append_undo(struct fo_raft_log *log, size_t nsegs, uint64_t size, int synced)
{
    int ok = 1, removed = 0;
    while (log->nsegs > nsegs) {
        struct fo__seg *s = fo__last_seg(log);
        pthread_mutex_lock(&log->mu);
        log->nsegs--;
        if (log->fd >= 0)
            close(log->fd);
        log->fd = -1;
        pthread_mutex_unlock(&log->mu);
        if (unlink(s->path) != 0 && errno != ENOENT)
            ok = 0;
        fo__raft_seg_free(s);
        removed = 1;
    }
    /* A created segment must not outlive the cut below, or recovery would find a gap. */
    if (removed && fo__raft_io_fsync_dir(log->dir, NULL) < 0)
        return fo__fail(log, -FO_EFSYNC);
    struct fo__seg *s = fo__last_seg(log);
    if (!s)
        return ok ? 0 : fo__fail(log, -FO_EIO);
    if (log->fd < 0)
        fo__set_fd(log, open(s->path, O_RDWR | O_CLOEXEC));
    if (log->fd < 0 || ftruncate(log->fd, (off_t)size) != 0)
        ok = 0;
    /* Records that the rollover synced must not come back after a crash. */
    if (ok && synced && fdatasync(log->fd) != 0)
        return fo__fail(log, -FO_EFSYNC);
    return ok ? 0 : fo__fail(log, -FO_EIO);
}

int fo_raft_log_append(struct fo_raft_log *log, const struct fo_raft_entry *entries, size_t n,
                       struct fo_err *err)
{
    unsigned char *buf = NULL;
    size_t bufcap = 0, nsegs0 = log->nsegs, done = 0;
    struct fo__seg *s0 = fo__last_seg(log);
    uint64_t prev_term = 0;
    int rc = 0, synced = 0;

    if (log->failed)
        return fo_err_set(err, log->failed, "raft log: refusing to write after a fatal error");
    if (n == 0)
        return 0;
    pthread_mutex_lock(&log->mu);
    prev_term = fo__last_term_locked(log);
    pthread_mutex_unlock(&log->mu);
    for (size_t i = 0; i < n; i++) {
        if (entries[i].index != log->last + 1 + i)
            return fo_err_set(err, -FO_EINVAL,
                              "raft log: append of index %" PRIu64 ", expected %" PRIu64,
                              entries[i].index, log->last + 1 + i);
        if (entries[i].term < prev_term)
            return fo_err_set(err, -FO_EINVAL,
                              "raft log: term %" PRIu64 " of index %" PRIu64
                              " is below the previous term %" PRIu64,
                              entries[i].term, entries[i].index, prev_term);
        if ((uint64_t)entries[i].len + FO__REC_MIN > log->segment_max)
            return fo_err_set(err, -FO_ETOOBIG,
                              "raft log: entry %" PRIu64 " of %u bytes exceeds the segment size",
                              entries[i].index, entries[i].len);
        if (entries[i].len && !entries[i].data)
            return fo_err_set(err, -FO_EINVAL, "raft log: entry %" PRIu64 " has no data",
                              entries[i].index);
        prev_term = entries[i].term;
    }

    while (done < n) {
        struct fo__seg *s = fo__last_seg(log);
        uint64_t rec = FO__REC_MIN + (uint64_t)entries[done].len;
        if (!s || s->size + s->pend_size + rec > log->segment_max) {
            /* The full segment is made durable before the next exists, so only the last
             * segment can ever have a torn tail. */
            if (s) {
                rc = fo__fdatasync(log, err);
                if (rc < 0)
                    goto out;
                synced = 1;
            }
            rc = fo__seg_create(log, entries[done].index, err);
            if (rc < 0)
                goto out;
            s = fo__last_seg(log);
        }
        /* Encode as many records as fit in this segment, then write them at once. */
        size_t k = done, used = 0;
        uint64_t off = s->size + s->pend_size;
        while (k < n && off + used + FO__REC_MIN + entries[k].len <= log->segment_max) {
            size_t rl = FO_RAFT_LOG_REC_FIXED + entries[k].len;
            if (used + FO_RAFT_LOG_REC_HEADER + rl > bufcap) {
                bufcap = (used + FO_RAFT_LOG_REC_HEADER + rl) * 2;
                buf = fo_xrealloc(buf, bufcap);
            }
            unsigned char *p = buf + used;
            fo__raft_io_put32(p, (uint32_t)rl);
            fo__raft_io_put64(p + 8, entries[k].index);
            fo__raft_io_put64(p + 16, entries[k].term);
            p[24] = entries[k].type;
            if (entries[k].len)
                memcpy(p + FO__REC_MIN, entries[k].data, entries[k].len);
            fo__raft_io_put32(p + 4, fo_crc32c(0, p + 8, rl));
            uint64_t slot = s->n + s->pend_n + (k - done);
            pthread_mutex_lock(&log->mu); /* the arrays may move */
            fo__raft_seg_reserve(s, (size_t)slot + 1);
            pthread_mutex_unlock(&log->mu);
            s->offs[slot] = off + used;
            s->terms[slot] = entries[k].term;
            used += FO_RAFT_LOG_REC_HEADER + rl;
            k++;
        }
        rc = fo__raft_io_pwrite_all(log->fd, buf, used, off);
        if (rc < 0) {
            rc = fo_err_set(err, fo__raft_io_errno(-rc),
                            "raft log: write %s at offset %" PRIu64 ": %s", s->path, off,
                            strerror(-rc));
            goto out;
        }
        s->pend_n += k - done;
        s->pend_size += used;
        done = k;
    }

    /* Publish every written record at once: readers never see half an append. */
    pthread_mutex_lock(&log->mu);
    for (size_t i = nsegs0 ? nsegs0 - 1 : 0; i < log->nsegs; i++) {
        struct fo__seg *s = log->segs[i];
        s->n += s->pend_n;
        s->size += s->pend_size;
        s->pend_n = 0;
        s->pend_size = 0;
    }
    if (nsegs0 == 0)
        log->first = entries[0].index;
    log->last += n;
    pthread_mutex_unlock(&log->mu);
out:
    if (rc < 0) {
        if (s0) {
            s0->pend_n = 0;
            s0->pend_size = 0;
        }
        int urc = fo__append_undo(log, nsegs0, s0 ? s0->size : 0, synced);
        if (urc < 0 && rc != -FO_EFSYNC) {
            char first[sizeof(err->msg)];
            snprintf(first, sizeof(first), "%s", err ? err->msg : "");
            rc = fo_err_set(err, urc, "%s; undoing the append failed too (%s): restart needed",
                            first, fo_strerror(urc));
        }
    }
    free(buf);
    return rc;
}

int fo_raft_log_sync(struct fo_raft_log *log, struct fo_err *err)
{
    if (log->failed)
        return fo_err_set(err, log->failed, "raft log: refusing to write after a fatal error");
    if (log->durable == log->last || log->fd < 0)
        return 0;
    int rc = fo__fdatasync(log, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&log->mu);
    log->durable = log->last;
    pthread_mutex_unlock(&log->mu);
    return 0;
}

/* Unlinks the segments in V[0..n) in that order, then fsyncs the directory. */
static int fo__unlink_segs(struct fo_raft_log *log, struct fo__seg **v, size_t n,
                           struct fo_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (unlink(v[i]->path) != 0 && errno != ENOENT && rc == 0)
            rc = fo_err_set(err, -FO_EIO, "raft log: unlink %s: %s", v[i]->path, strerror(errno));
        fo__raft_seg_free(v[i]);
    }
    if (n > 0) {
        int frc = fo__raft_io_fsync_dir(log->dir, rc < 0 ? NULL : err);
        if (frc < 0)
            return fo__fail(log, frc);
    }
    return rc;
}

int fo_raft_log_truncate(struct fo_raft_log *log, uint64_t from, struct fo_err *err)
{
    struct fo__seg **gone = NULL;
    size_t pos = 0, ngone = 0;
    int rc = 0;

    if (log->failed)
        return fo_err_set(err, log->failed, "raft log: refusing to write after a fatal error");
    if (from > log->last)
        return 0;
    if (from < log->first)
        return fo_err_set(err, -FO_EINVAL,
                          "raft log: cannot truncate from %" PRIu64 ", the log starts at %" PRIu64,
                          from, log->first);
    struct fo__seg *s = fo__find(log, from, &pos);
    ngone = log->nsegs - pos - 1;
    gone = fo_xcalloc(ngone ? ngone : 1, sizeof(*gone));
    pthread_mutex_lock(&log->mu);
    /* Newest first, so a crash part way leaves a contiguous prefix. */
    for (size_t i = 0; i < ngone; i++)
        gone[i] = log->segs[log->nsegs - 1 - i];
    log->nsegs = pos + 1;
    s->n = from - s->first;
    s->size = s->n ? s->offs[s->n] : 0;
    log->last = from - 1;
    if (log->durable > log->last)
        log->durable = log->last;
    if (ngone > 0) {
        close(log->fd);
        log->fd = -1;
    }
    pthread_mutex_unlock(&log->mu);

    rc = fo__unlink_segs(log, gone, ngone, err);
    if (rc < 0) {
        fo__fail(log, rc == -FO_EFSYNC ? rc : -FO_EIO);
        goto out;
    }
    if (log->fd < 0)
        fo__set_fd(log, open(s->path, O_RDWR | O_CLOEXEC));
    if (log->fd < 0 || ftruncate(log->fd, (off_t)s->size) != 0) {
        rc = fo__fail(log, fo_err_set(err, -FO_EIO, "raft log: truncate %s to %" PRIu64 ": %s",
                                      s->path, s->size, strerror(errno)));
        goto out;
    }
    /* New entries will be written over the cut; the old ones must not reappear behind them. */
    rc = fo__fdatasync(log, err);
out:
    free(gone);
    return rc;
}

int fo_raft_log_compact(struct fo_raft_log *log, uint64_t upto, struct fo_err *err)
{
    size_t k = 0;
    if (log->failed)
        return fo_err_set(err, log->failed, "raft log: refusing to write after a fatal error");
    while (k + 1 < log->nsegs && log->segs[k]->n > 0 &&
           log->segs[k]->first + log->segs[k]->n - 1 <= upto)
        k++;
    if (k == 0)
        return 0;
    struct fo__seg **gone = fo_xcalloc(k, sizeof(*gone));
    pthread_mutex_lock(&log->mu);
    memcpy(gone, log->segs, k * sizeof(*gone));
    memmove(log->segs, log->segs + k, (log->nsegs - k) * sizeof(*log->segs));
    log->nsegs -= k;
    log->first = log->segs[0]->first;
    pthread_mutex_unlock(&log->mu);
    /* Oldest first: a crash part way leaves a contiguous suffix. A segment that could not be
     * removed is harmless (it still joins the rest on the next open) and goes next time. */
    int rc = fo__unlink_segs(log, gone, k, err);
    free(gone);
    return rc;
}

int fo_raft_log_reset(struct fo_raft_log *log, uint64_t next, struct fo_err *err)
{
    uint64_t *names = NULL;
    size_t nnames = 0;
    int rc;

    if (log->failed)
        return fo_err_set(err, log->failed, "raft log: refusing to write after a fatal error");
    if (next == 0)
        return fo_err_set(err, -FO_EINVAL, "raft log: reset to index 0");
    pthread_mutex_lock(&log->mu);
    for (size_t i = 0; i < log->nsegs; i++)
        fo__raft_seg_free(log->segs[i]);
    log->nsegs = 0;
    log->first = next;
    log->last = next - 1;
    log->durable = log->last;
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
    pthread_mutex_unlock(&log->mu);
    /* Every segment file goes, also one a failed compaction left behind: it would not join an
     * empty segment named NEXT on the next open. Newest first keeps a contiguous prefix. */
    rc = fo__raft_log_list(log->dir, &names, &nnames, err);
    if (rc < 0)
        return fo__fail(log, -FO_EIO);
    struct fo__seg **gone = fo_xcalloc(nnames ? nnames : 1, sizeof(*gone));
    for (size_t i = 0; i < nnames; i++)
        gone[i] = fo__raft_seg_new(log->dir, names[nnames - 1 - i]);
    rc = fo__unlink_segs(log, gone, nnames, err);
    free(gone);
    free(names);
    if (rc < 0)
        return fo__fail(log, rc == -FO_EFSYNC ? rc : -FO_EIO);
    return fo__fail(log, fo__seg_create(log, next, err));
}
