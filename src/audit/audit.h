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
 * restart). Returns 0, or a negative error (the caller must stop: an audit record cannot be
 * lost). Takes no reference to details. */
int fo_audit_append(struct fo_audit *a, uint64_t index, uint64_t term, int64_t ts,
                    const char *actor, const char *action, struct json_object *details);
/* Flushes and fdatasyncs what was appended. */
int fo_audit_sync(struct fo_audit *a);
uint64_t fo_audit_head_index(const struct fo_audit *a);
const char *fo_audit_head_hash(const struct fo_audit *a);
/* Starts the chain after a snapshot's (index, hash) when the local log is behind it. */
int fo_audit_rebase(struct fo_audit *a, uint64_t index, const char *hash);

/* Verifies FILE line by line. Returns 0 when the chain holds (*count records, head hash in
 * head), or -FO_ECORRUPT with *bad_line (1-based) and err naming the first broken record. */
int fo_audit_verify_file(const char *file, uint64_t *count, char head[FO_AUDIT_HASH_HEX],
                         uint64_t *bad_line, struct fo_err *err);
/* Computes a record's bytes and hash (used by append and by tests). Returns malloc'd bytes. */
char *fo_audit_record(uint64_t index, uint64_t term, int64_t ts, const char *actor,
                      const char *action, struct json_object *details, const char *prev,
                      char hash[FO_AUDIT_HASH_HEX]);

#endif
