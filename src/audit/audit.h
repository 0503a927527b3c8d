/* The append-only, hash-chained audit log, written from committed entries on every agent.
 * Record bytes (DESIGN.md): {"index","term","ts","actor","action","details","prev"} serialised
 * by json-c PLAIN|NOSLASHESCAPE; hash = SHA-256 hex of exactly those bytes. A line on disk is
 * those bytes with ,"hash":"<hex>" inserted before the final brace, so a verifier recovers the
 * exact hashed bytes without re-serialising anything. */
#ifndef FO_AUDIT_AUDIT_H
#define FO_AUDIT_AUDIT_H

#include <stdint.h>
#include <stdio.h>

#include "core/fo.h"

struct json_object;
struct fo_audit;

#define FO_AUDIT_HASH_HEX 65
#define FO_AUDIT_GENESIS  "0000000000000000000000000000000000000000000000000000000000000000"

/* Opens (creating) DIR/audit.log, verifies the chain and finds the head. A torn final line (no
 * newline) is cut; any other damage is -FO_ECORRUPT with the line named in err. */
struct fo_audit *fo_audit_open(const char *dir, struct fo_err *err);
void fo_audit_close(struct fo_audit *a);
/* Appends the record of entry `index` unless it is already there (index <= head: a replay after
 * restart). While a gap is open (fo_audit_begin_gap) the record is kept in memory, chained after
 * the gap, and written once the gap is filled. Returns 0, or a negative error (the caller must
 * stop: an audit record cannot be lost). Takes no reference to details. */
int fo_audit_append(struct fo_audit *a, uint64_t index, uint64_t term, int64_t ts,
                    const char *actor, const char *action, struct json_object *details);
/* Flushes and fdatasyncs what was appended. */
int fo_audit_sync(struct fo_audit *a);
/* The file's descriptor, for an fdatasync off the loop (fo_raft_aio_sync_fd). */
int fo_audit_fd(const struct fo_audit *a);
/* The last record in the file. */
uint64_t fo_audit_head_index(const struct fo_audit *a);
const char *fo_audit_head_hash(const struct fo_audit *a);
/* The chain's head counting a gap and the records queued behind it: what a snapshot of the
 * applied state vouches for. Equal to the file's head when no gap is open. */
uint64_t fo_audit_last_index(const struct fo_audit *a);
const char *fo_audit_last_hash(const struct fo_audit *a);
/* Gives up on the records between the file's head and a snapshot's (index, hash): the old file
 * is renamed to audit.log.<head> and a new one starts with {"base":index,"hash":...}. With a gap
 * open, index must be its end (the queued records then follow the base) or past the queue. */
int fo_audit_rebase(struct fo_audit *a, uint64_t index, const char *hash);

/* A snapshot at audit (index, hash) is ahead of the chain: the records head+1..index are to be
 * fetched from a peer (fo_audit_append_line); the file keeps what it has. No-op (0) when index is
 * not past the chain's head; -FO_EINVAL for a malformed hash. A newer snapshot during a gap moves
 * its end and drops the queued records (they are then part of the gap). */
int fo_audit_begin_gap(struct fo_audit *a, uint64_t index, const char *hash);
/* The fallback when no peer's chain leads to the snapshot's hash: fo_audit_rebase at the gap's
 * end (the queued records follow the base line). 0 when no gap is open. */
int fo_audit_abandon_gap(struct fo_audit *a);
/* 1 and the missing range [from, to] while a gap is open, else 0. */
int fo_audit_gap(const struct fo_audit *a, uint64_t *from, uint64_t *to);
/* Appends one stored line from a peer's file (a trailing newline is allowed), verified as
 * fo_audit_verify_file does: its hash covers its bytes, its index is head+1, its prev is the
 * head's hash. A line at or below the head is skipped (0). The line that reaches the gap's end
 * must have the snapshot's hash: else -FO_ECORRUPT (the peer's chain disagrees with the
 * snapshot; nothing written). Other refusals: -FO_EINVAL, nothing written. Once the gap is
 * filled the queued records are written and the gap closes. Write errors as fo_audit_append. */
int fo_audit_append_line(struct fo_audit *a, const char *line, size_t len, struct fo_err *err);
/* The stored lines of records from..to (clamped to the head), newline-terminated, at most
 * max_bytes in all (but at least one line), into *out (malloc'd, NUL-terminated; "" when the
 * range is empty) with their byte length and count. -FO_ENOENT when the file does not hold
 * `from` (it starts with a base at or past it, or its first record is later). */
int fo_audit_read_lines(const struct fo_audit *a, uint64_t from, uint64_t to, size_t max_bytes,
                        char **out, size_t *len, size_t *count);

/* Verifies FILE line by line. Returns 0 when the chain holds (*count records, head hash in
 * head), or -FO_ECORRUPT with *bad_line (1-based) and err naming the first broken record. */
int fo_audit_verify_file(const char *file, uint64_t *count, char head[FO_AUDIT_HASH_HEX],
                         uint64_t *bad_line, struct fo_err *err);
/* Computes a record's bytes and hash (used by append and by tests). Returns malloc'd bytes. */
char *fo_audit_record(uint64_t index, uint64_t term, int64_t ts, const char *actor,
                      const char *action, struct json_object *details, const char *prev,
                      char hash[FO_AUDIT_HASH_HEX]);

#endif
