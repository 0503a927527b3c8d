/* Raft messages as the core produces and consumes them, and their wire encoding: compact,
 * little-endian, versioned by the peer handshake. Decoding is bounds-checked and rejects
 * anything malformed, truncated or oversized: it sees bytes from the network. */
#ifndef FO_RAFT_MSG_H
#define FO_RAFT_MSG_H

#include "raft/entry.h"

#include <stddef.h>
#include <stdint.h>

enum fo_raft_msg_type {
    FO_RAFT_MSG_APPEND = 1,       /* entries (possibly none: heartbeat) after index/log_term */
    FO_RAFT_MSG_APPEND_RESP = 2,  /* ack, reject with hint, or snapshot chunk progress */
    FO_RAFT_MSG_VOTE = 3,         /* request vote; index/log_term = candidate's last entry */
    FO_RAFT_MSG_VOTE_RESP = 4,    /* granted unless FO_RAFT_MSG_REJECT */
    FO_RAFT_MSG_PREVOTE = 5,      /* term = the term the sender would campaign in */
    FO_RAFT_MSG_PREVOTE_RESP = 6, /* granted unless FO_RAFT_MSG_REJECT */
    FO_RAFT_MSG_SNAPSHOT = 7,     /* one chunk of the leader's snapshot */
    FO_RAFT_MSG_TIMEOUT_NOW = 8,  /* leadership transfer: campaign now */
};

/* flags */
#define FO_RAFT_MSG_REJECT        0x01 /* APPEND_RESP, VOTE_RESP, PREVOTE_RESP */
#define FO_RAFT_MSG_TRANSFER      0x02 /* VOTE: campaign started by a leadership transfer */
#define FO_RAFT_MSG_SNAP_PROGRESS 0x04 /* APPEND_RESP: hint = snapshot bytes received */

/* Limits enforced by the decoder. The peer frame holds at most 4 MiB. */
#define FO_RAFT_MSG_MAX_SIZE    ((size_t)4 * 1024 * 1024 - 256)
#define FO_RAFT_MSG_MAX_ENTRIES 65536u
#define FO_RAFT_SNAPSHOT_MAX    ((uint64_t)1 << 30)

/* One message. Which fields mean something depends on the type (see the enum). Fields are
 * named by their main use:
 *   ts       APPEND, SNAPSHOT: the sender's clock when it made the message (lease);
 *            APPEND_RESP: the largest ts the follower has received from this leader (echo).
 *   index    APPEND: index before the entries; APPEND_RESP: acknowledged (durable) index, or
 *            the rejected index; VOTE, PREVOTE: last log index; SNAPSHOT: snapshot index.
 *   log_term APPEND: term at index; VOTE, PREVOTE: last log term; SNAPSHOT: snapshot term;
 *            APPEND_RESP (reject): term of the hint entry.
 *   commit   APPEND: the leader's commit index.
 *   hint     APPEND_RESP: reject: hint index; ack: index verified in memory;
 *            snapshot progress: bytes received.
 *   snap_total, snap_offset: SNAPSHOT: total size and offset of this chunk (data/data_len).
 * A decoded or core-made message owns entries (and each entry's data) and data. */
struct fo_raft_msg {
    uint8_t type;
    uint8_t flags;
    uint64_t from;
    uint64_t to;
    uint64_t term;
    int64_t ts;
    uint64_t index;
    uint64_t log_term;
    uint64_t commit;
    uint64_t hint;
    uint64_t snap_total;
    uint64_t snap_offset;
    size_t n_entries;
    struct fo_raft_entry *entries; /* APPEND: entries[i].index == index + 1 + i */
    uint32_t data_len;
    unsigned char *data;
};

const char *fo_raft_msg_type_name(uint8_t type);

/* Bytes the encoding of m takes; 0 if m cannot be encoded (bad type, too big). */
size_t fo_raft_msg_encoded_size(const struct fo_raft_msg *m);

/* Encodes m into buf (cap bytes); *len gets the size. -FO_EINVAL for a message that breaks
 * the rules the decoder enforces, -FO_ETOOBIG if it exceeds cap or FO_RAFT_MSG_MAX_SIZE. */
int fo_raft_msg_encode(const struct fo_raft_msg *m, unsigned char *buf, size_t cap, size_t *len);

/* Decodes len bytes into m (which it overwrites; free with fo_raft_msg_clear). Returns 0,
 * -FO_EPROTO for malformed input or -FO_ETOOBIG for oversized input; on error m holds nothing
 * that needs freeing. */
int fo_raft_msg_decode(const unsigned char *buf, size_t len, struct fo_raft_msg *m);

/* Frees what m owns and zeroes it. */
void fo_raft_msg_clear(struct fo_raft_msg *m);

/* Deep copy of src into dst. */
void fo_raft_msg_copy(struct fo_raft_msg *dst, const struct fo_raft_msg *src);

#endif
