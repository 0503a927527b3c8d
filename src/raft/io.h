/* Raft durable storage in the agent's data directory: the term/vote file, the segmented log and
 * snapshots (blocking calls, made from libuv's thread pool through the fo_raft_aio wrappers at
 * the bottom). Independent of the Raft core: it stores struct fo_raft_entry and two numbers.
 *
 * Layout under DIR (the caller picks it, e.g. <data_dir>/raft):
 *   DIR/meta                                 term and vote
 *   DIR/log/<first index, 16+ digits>.seg    log segments
 *   DIR/snap/<index>-<term>.snap             snapshots
 *
 * Errors (all functions return 0 or a negative code, and fill struct fo_err when not NULL):
 *   -FO_EFSYNC   fsync/fdatasync failed. FATAL: the kernel may have dropped the dirty pages and
 *                cleared the error, so a retry could "succeed" without the data. The caller must
 *                exit the process (after logging err->msg); the object refuses further writes.
 *   -FO_ENOSPC   the disk (or quota) is full. Nothing was stored; state is as before the call.
 *                The node stops acknowledging and steps down; it may retry later.
 *   -FO_ECORRUPT a bad record, file or name found on open/load/read; err->msg names the file
 *                and byte offset. The caller must exit (an operator has to look).
 *   -FO_EIO      a write failed and the previous state could not be restored: treat as fatal.
 *   -FO_EINVAL, -FO_ETOOBIG, -FO_ENOENT: caller errors, nothing changed.
 *   other negative errno values from the system (open, mkdir, ...).
 */
#ifndef FO_RAFT_IO_H
#define FO_RAFT_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

#include "core/fo.h"
#include "raft/entry.h"

/* ---- term and vote (io_meta.c) ------------------------------------------------------------
 * DIR/meta is 28 bytes: "FOMT" | u32 version (1) | u64 term | u64 voted_for | u32 crc32c of the
 * 24 bytes before it, little-endian. Stored by writing DIR/meta.tmp, fsync, rename over
 * DIR/meta, fsync DIR: a crash leaves either the old or the new file, never a mix. */

#define FO_RAFT_META_VERSION 1

struct fo_raft_meta {
    uint64_t term;
    uint64_t voted_for; /* 0 = no vote in this term */
};

/* A missing DIR/meta is a fresh node: *out = {0, 0} and 0 is returned. A present but bad file
 * (size, magic, version, CRC) is -FO_ECORRUPT. A leftover DIR/meta.tmp is ignored. */
int fo_raft_meta_load(const char *dir, struct fo_raft_meta *out, struct fo_err *err);
/* Creates DIR if missing. Durable when it returns 0. */
int fo_raft_meta_store(const char *dir, const struct fo_raft_meta *m, struct fo_err *err);

/* ---- the segmented log (io_log.c) ----------------------------------------------------------
 * Each segment file holds consecutive records, named by the index of its first record and at
 * most segment_max bytes long. A record, little-endian:
 *
 *   u32 len | u32 crc32c | u64 index | u64 term | u8 type | payload
 *
 * len counts the bytes after the crc field (17 + payload length). crc32c covers exactly those
 * len bytes: index, term, type and payload (not len itself: a damaged len makes the CRC span
 * wrong, which fails the check just the same).
 *
 * Recovery on open scans every segment. Indexes must be consecutive within and across segments,
 * each segment must start at the index in its name, and terms must not decrease. The first bad
 * record (short, len out of range, CRC mismatch) of the LAST segment is a torn tail when no valid
 * record follows it anywhere in the file: the file is cut there (ftruncate + fdatasync) and a
 * warning logged. Any other bad record (in an earlier segment, followed by a valid record, or a
 * CRC-valid record with the wrong index or a lower term) is -FO_ECORRUPT naming file and
 * offset. Earlier segments cannot have a torn tail: a segment is fdatasync'ed before the next one
 * is created.
 *
 * Threads: the writing calls (append, sync, truncate, compact, reset, close) must be made by one
 * thread at a time. The reading calls (first/last/durable index, term, get, read) may be made
 * concurrently from another thread, e.g. the loop while a thread-pool job appends; they take an
 * internal lock that writers hold only to publish changes, never during write or fdatasync. */

#define FO_RAFT_LOG_SEGMENT_MAX (8u * 1024 * 1024)
#define FO_RAFT_LOG_REC_HEADER  8u  /* len + crc */
#define FO_RAFT_LOG_REC_FIXED   17u /* index + term + type */
#define FO_RAFT_LOG_SEGMENT_MIN 256u

struct fo_raft_log;

struct fo_raft_log_opts {
    uint64_t segment_max; /* bytes; 0 = FO_RAFT_LOG_SEGMENT_MAX; at least FO_RAFT_LOG_SEGMENT_MIN */
};

/* Opens (creating DIR/log if needed) and recovers the log. opts may be NULL. */
int fo_raft_log_open(const char *dir, const struct fo_raft_log_opts *opts, struct fo_raft_log **out,
                     struct fo_err *err);
/* Closes files and frees; does not sync (call fo_raft_log_sync first if that matters). */
void fo_raft_log_close(struct fo_raft_log *log);

/* Empty log: first_index() is the index the next append must carry (1 for a new log) and
 * last_index() is first_index() - 1. */
uint64_t fo_raft_log_first_index(struct fo_raft_log *log);
uint64_t fo_raft_log_last_index(struct fo_raft_log *log);
/* Term of the last entry, 0 if the log is empty. */
uint64_t fo_raft_log_last_term(struct fo_raft_log *log);
/* Highest index known to be on disk (fdatasync'ed); never above last_index(). */
uint64_t fo_raft_log_durable_index(struct fo_raft_log *log);
/* Term of entry INDEX from memory (no I/O); -FO_ENOENT if INDEX is not in the log. */
int fo_raft_log_term(struct fo_raft_log *log, uint64_t index, uint64_t *term);

/* Writes N entries with write(2), no fdatasync. entries[0].index must be last_index() + 1, the
 * rest consecutive, terms non-decreasing. Rolls over to a new segment when a record would not
 * fit (fdatasync of the full one, create, fsync of the directory). All or nothing: on error the
 * log is as before. -FO_ETOOBIG if one record is larger than segment_max. The caller keeps
 * ownership of the entries. */
int fo_raft_log_append(struct fo_raft_log *log, const struct fo_raft_entry *entries, size_t n,
                       struct fo_err *err);
/* fdatasync of the active segment: afterwards durable_index() == last_index(). */
int fo_raft_log_sync(struct fo_raft_log *log, struct fo_err *err);
/* Removes entries FROM..last (a follower's conflicting suffix); durable on return. FROM above
 * last_index() is a no-op; FROM below first_index() is -FO_EINVAL. */
int fo_raft_log_truncate(struct fo_raft_log *log, uint64_t from, struct fo_err *err);
/* Compaction after a snapshot at UPTO: deletes every whole segment whose entries are all
 * <= UPTO, oldest first, except the active (last) one. Entries above UPTO always stay. */
int fo_raft_log_compact(struct fo_raft_log *log, uint64_t upto, struct fo_err *err);
/* Deletes every entry and restarts the log empty at NEXT (after installing a snapshot whose
 * index is NEXT - 1). An empty segment named NEXT keeps that across restarts.
 * At startup with a snapshot at S: if last_index() < S (e.g. a crash during a reset), call
 * reset(S + 1); if first_index() > S + 1 the log does not join the snapshot (an older snapshot
 * was loaded because the newest is damaged) and entries this node may have acknowledged are
 * gone: treat that as corruption. */
int fo_raft_log_reset(struct fo_raft_log *log, uint64_t next, struct fo_err *err);

/* Reads entry INDEX from disk (its CRC checked again). out->data is fo_xmalloc'ed: free() it.
 * -FO_ENOENT if INDEX is outside the log. */
int fo_raft_log_get(struct fo_raft_log *log, uint64_t index, struct fo_raft_entry *out,
                    struct fo_err *err);
/* Reads up to MAX_N entries from FROM on, stopping before the total payload would pass
 * MAX_BYTES (but always at least one entry). *out is an fo_xmalloc'ed array, *n its length;
 * release with fo_raft_entries_free(*out, *n). */
int fo_raft_log_read(struct fo_raft_log *log, uint64_t from, size_t max_n, size_t max_bytes,
                     struct fo_raft_entry **out, size_t *n, struct fo_err *err);
/* Frees the data of N entries and the array itself. */
void fo_raft_entries_free(struct fo_raft_entry *entries, size_t n);

/* ---- snapshots (io_snap.c) -----------------------------------------------------------------
 * DIR/snap/<index>-<term>.snap: a 36-byte header "FOSN" | u32 version (1) | u64 index | u64 term
 * | u64 len | u32 crc32c, then LEN opaque bytes. The crc covers the first 32 header bytes and
 * then the data. Written as <name>.tmp, fsync, rename, fsync DIR/snap. */

#define FO_RAFT_SNAP_VERSION 1

struct fo_raft_snap {
    uint64_t index;
    uint64_t term;
    size_t len;
    unsigned char *data; /* fo_xmalloc'ed; fo_raft_snap_free() */
};

/* Stores a snapshot, then deletes all but the KEEP newest snapshots (KEEP >= 1; 2 keeps one to
 * fall back on, which only helps if the log still holds the entries after the older one) and
 * any leftover .tmp files. */
int fo_raft_snap_save(const char *dir, uint64_t index, uint64_t term, const void *data, size_t len,
                      unsigned keep, struct fo_err *err);
/* Loads the newest valid snapshot (highest index, then term). Invalid ones (bad header, CRC,
 * size, or a name that disagrees with the header) are skipped with a warning, so an older one
 * is used instead. No snapshot at all: -FO_ENOENT. */
int fo_raft_snap_load(const char *dir, struct fo_raft_snap *out, struct fo_err *err);
void fo_raft_snap_free(struct fo_raft_snap *s);

/* ---- off the loop (io_async.c) -------------------------------------------------------------
 * The loop never blocks on the disk: every write goes to libuv's thread pool. One fo_raft_aio
 * serves one log and the meta/snapshot files in DIR. Operations run one at a time in the order
 * submitted; appends that queue up behind a running job are written together with a single
 * fdatasync when it finishes (group commit). Callbacks run on the loop, in submission order.
 * While a job runs, the loop may still call the log's reading functions (see above).
 *
 * Term and vote: fo_raft_aio_meta_store() is the asynchronous way; fo_raft_meta_store() is the
 * synchronous one, for startup or for glue that already runs in a work item. A vote or a new
 * term must not be sent before its callback reports 0. Appends are acknowledged (a follower
 * replies, a leader counts itself) only up to the durable index a callback reports.
 *
 * status < 0 in a callback: -FO_EFSYNC and -FO_EIO mean exit; -FO_ENOSPC means stop
 * acknowledging and step down. A failed append leaves the log as it was, so appends queued
 * after it fail as well (-FO_EINVAL: their indexes no longer follow); the core must re-send
 * from durable + 1. fo_raft_aio_errmsg() gives the detail during the callback. */

struct fo_raft_aio;

/* DURABLE is fo_raft_log_durable_index() after the operation. */
typedef void (*fo_raft_aio_log_cb)(void *arg, uint64_t durable, int status);
typedef void (*fo_raft_aio_cb)(void *arg, int status);
typedef void (*fo_raft_aio_close_cb)(void *arg);

/* LOG stays the caller's: close it after the close callback. DIR is where meta and snap live
 * (the directory given to fo_raft_log_open). */
struct fo_raft_aio *fo_raft_aio_new(uv_loop_t *loop, const char *dir, struct fo_raft_log *log);
/* Append + fdatasync. The entries are copied; cb may be NULL. */
int fo_raft_aio_append(struct fo_raft_aio *aio, const struct fo_raft_entry *entries, size_t n,
                       fo_raft_aio_log_cb cb, void *arg);
int fo_raft_aio_truncate(struct fo_raft_aio *aio, uint64_t from, fo_raft_aio_log_cb cb, void *arg);
int fo_raft_aio_reset(struct fo_raft_aio *aio, uint64_t next, fo_raft_aio_log_cb cb, void *arg);
int fo_raft_aio_compact(struct fo_raft_aio *aio, uint64_t upto, fo_raft_aio_cb cb, void *arg);
int fo_raft_aio_meta_store(struct fo_raft_aio *aio, const struct fo_raft_meta *m, fo_raft_aio_cb cb,
                           void *arg);
/* The data is copied. */
int fo_raft_aio_snap_save(struct fo_raft_aio *aio, uint64_t index, uint64_t term, const void *data,
                          size_t len, unsigned keep, fo_raft_aio_cb cb, void *arg);
/* fdatasync of another file, in queue order, off the loop: the audit log before a compaction
 * drops the entries its records come from. fd is duplicated (the caller may close its own). */
int fo_raft_aio_sync_fd(struct fo_raft_aio *aio, int fd, fo_raft_aio_cb cb, void *arg);
/* Message of the operation whose callback is running, "" if it succeeded. */
const char *fo_raft_aio_errmsg(const struct fo_raft_aio *aio);
/* Lets every queued operation finish, then calls cb (may be NULL) and frees AIO. Call it once;
 * submitting after it returns -FO_EBUSY. */
void fo_raft_aio_close(struct fo_raft_aio *aio, fo_raft_aio_close_cb cb, void *arg);

/* ---- helpers shared by the io_*.c files (internal) ----------------------------------------- */

/* errno value after a failed write/create -> -FO_ENOSPC for ENOSPC/EDQUOT, else -errno. */
int fo__raft_io_errno(int e);
int fo__raft_io_mkdir(const char *path, struct fo_err *err);
int fo__raft_io_fsync_dir(const char *path, struct fo_err *err);
int fo__raft_io_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
/* Writes DIR/NAME atomically from IOV (tmp, fsync, rename, fsync DIR). */
int fo__raft_io_write_atomic(const char *dir, const char *name, const struct iovec *iov, int iovcnt,
                             struct fo_err *err);
/* Reads a whole file into fo_xmalloc'ed memory; -FO_ENOENT if missing. MAX bounds the size. */
int fo__raft_io_read_file(const char *path, size_t max, unsigned char **out, size_t *len,
                          struct fo_err *err);

void fo__raft_io_put32(unsigned char *p, uint32_t v);
void fo__raft_io_put64(unsigned char *p, uint64_t v);
uint32_t fo__raft_io_get32(const unsigned char *p);
uint64_t fo__raft_io_get64(const unsigned char *p);

#endif
