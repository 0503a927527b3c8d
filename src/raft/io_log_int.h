/* Internals shared by io_log.c (reading, writing) and io_log_recover.c (open-time scan). Not
 * for other parts: use raft/io.h. */
#ifndef FO_RAFT_IO_LOG_INT_H
#define FO_RAFT_IO_LOG_INT_H

#include <pthread.h>
#include <stdint.h>

#include "raft/io.h"

#define FO__REC_MIN      (FO_RAFT_LOG_REC_HEADER + FO_RAFT_LOG_REC_FIXED)
#define FO__SEG_READ_MAX ((size_t)1 << 30) /* a segment file larger than this is not ours */

struct fo__seg {
    uint64_t first; /* index of its first record, also its file name */
    uint64_t n;     /* published records */
    uint64_t size;  /* bytes holding published records */
    uint64_t *offs; /* offset of each record; capacity cap (unpublished ones may follow n) */
    uint64_t *terms;
    size_t cap;
    uint64_t pend_n; /* written by an append in progress, not yet published (writer only) */
    uint64_t pend_size;
    char *path;
};

struct fo_raft_log {
    char *dir; /* DIR/log */
    uint64_t segment_max;
    /* Guards what readers see: segs, nsegs, each segment's n, size and arrays, first, last and
     * durable. Writers hold it only to publish, never across write(2) or fdatasync. */
    pthread_mutex_t mu;
    struct fo__seg **segs;
    size_t nsegs, capsegs;
    uint64_t first;   /* index of the first entry, or of the next one when empty */
    uint64_t last;    /* first - 1 when empty */
    uint64_t durable; /* <= last */
    int fd;           /* the last segment, open for writing; -1 when there is none */
    int failed;       /* sticky error: the writer refuses everything after a fatal one */
};

static inline struct fo__seg *fo__last_seg(struct fo_raft_log *log)
{
    return log->nsegs ? log->segs[log->nsegs - 1] : NULL;
}

struct fo__seg *fo__raft_seg_new(const char *dir, uint64_t first);
void fo__raft_seg_free(struct fo__seg *s);
/* Room for WANT records; hold the lock when readers may be looking (the arrays move). */
void fo__raft_seg_reserve(struct fo__seg *s, size_t want);
void fo__raft_log_push_seg(struct fo_raft_log *log, struct fo__seg *s);
/* Segment file names in DIR (their first indexes), ascending. */
int fo__raft_log_list(const char *dir, uint64_t **out, size_t *n, struct fo_err *err);
/* Scans DIR/log into LOG (empty, fd -1) and opens the last segment for writing. */
int fo__raft_log_recover(struct fo_raft_log *log, struct fo_err *err);

#endif
