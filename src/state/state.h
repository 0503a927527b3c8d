/* The replicated state machine: applied from committed Raft entries on every agent, in order.
 * Commands are JSON objects {"type", "ts", "actor", ...}; validation reads only the entry and
 * the state (never a local clock or file), so every agent accepts or rejects the same way. */
#ifndef FO_STATE_STATE_H
#define FO_STATE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/fo.h"

struct json_object;
struct fo_state;

/* What applying one entry did: the audit record's fields. */
struct fo_state_result {
    int accepted;    /* 0: rejected (reason says why); the entry is still audited */
    char action[32]; /* the command type, "raft.noop", "raft.config" or "invalid" */
    char actor[64];
    int64_t ts;                  /* the entry's ts (leader clock at proposal); 0 when absent */
    struct json_object *details; /* new reference: the command's fields (+ "rejected": reason) */
    char reason[160];
};

struct fo_state *fo_state_new(void);
void fo_state_free(struct fo_state *st);

/* Applies entry `index` (type from src/raft/entry.h; payload JSON for commands). Fills res; the
 * caller owns res->details. Returns 0, or -FO_EINVAL when index is not last_applied + 1. */
int fo_state_apply(struct fo_state *st, uint64_t index, uint64_t term, int type, const void *data,
                   size_t len, struct fo_state_result *res);
uint64_t fo_state_last_applied(const struct fo_state *st);

/* Service epoch (0 before any service.primary) and primary (NULL when unknown). */
uint64_t fo_state_epoch(const struct fo_state *st, const char *service);
const char *fo_state_primary(const struct fo_state *st, const char *service);
const char *fo_state_adopted_hash(const struct fo_state *st);

/* Snapshot: canonical JSON of the whole state (malloc'd, *len set); restore replaces the state. */
char *fo_state_snapshot(const struct fo_state *st, size_t *len);
int fo_state_restore(struct fo_state *st, const void *data, size_t len, struct fo_err *err);

/* The state for /v1/status (new reference). */
struct json_object *fo_state_json(const struct fo_state *st);

/* Builds a command payload: {"type", "ts", "actor", fields...}; takes the fields reference. */
char *fo_state_command(const char *type, int64_t ts, const char *actor, struct json_object *fields,
                       size_t *len);

#endif
