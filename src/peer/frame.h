/* The peer wire protocol without I/O: HELLO encoding, session keys, frame sealing, and an
 * incremental decoder that checks length, tag and sequence of everything a peer sends.
 * peer.c drives it from libuv; tests and the fuzzer drive it directly. */
#ifndef FO_PEER_FRAME_H
#define FO_PEER_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FO_PEER_VERSION         1
#define FO_PEER_ID_MAX          63 /* node ids and cluster ids: 1..63 bytes of 0x21..0x7e */
#define FO_PEER_NONCE_LEN       32
#define FO_PEER_KEY_LEN         32 /* session keys (HMAC-SHA256 outputs) */
#define FO_PEER_TAG_LEN         32
#define FO_PEER_CLUSTER_KEY_MIN 16
/* u32 len | u8 type | u64 seq; len counts every byte after itself. */
#define FO_PEER_HDR_LEN     13
#define FO_PEER_FRAME_MAX   (4u << 20) /* largest len a frame may declare */
#define FO_PEER_PAYLOAD_MAX (FO_PEER_FRAME_MAX - (FO_PEER_HDR_LEN - 4) - FO_PEER_TAG_LEN)
#define FO_PEER_AUTH_LEN    (FO_PEER_HDR_LEN + FO_PEER_TAG_LEN)
/* u32 len | "FOPH" | u8 version | u8 n | cluster_id | u8 n | node_id | u64 incarnation | nonce */
#define FO_PEER_HELLO_MIN (4 + 4 + 1 + 1 + 1 + 1 + 1 + 8 + FO_PEER_NONCE_LEN)
#define FO_PEER_HELLO_MAX (FO_PEER_HELLO_MIN - 2 + 2 * FO_PEER_ID_MAX)

/* Frame types below FO_PEER_T_USER_MIN belong to the transport. */
enum {
    FO_PEER_T_AUTH = 0, /* once per direction, seq 0, empty payload: proves the cluster key */
    FO_PEER_T_PING = 1, /* keeps an idle connection provably alive */
    FO_PEER_T_USER_MIN = 16,
};

/* Why a connection was dropped; every one of them closes it. */
#define FO_PEER_REASONS(X)                                                                         \
    X(BAD_TAG, "bad_tag")                                                                          \
    X(OVERSIZED, "oversized")                                                                      \
    X(MALFORMED, "malformed")                                                                      \
    X(STALE_SEQ, "stale_seq")                                                                      \
    X(SEQ_GAP, "seq_gap")                                                                          \
    X(FOREIGN_CLUSTER, "foreign_cluster")                                                          \
    X(BAD_VERSION, "bad_version")                                                                  \
    X(BAD_AUTH, "bad_auth")                                                                        \
    X(UNKNOWN_PEER, "unknown_peer")                                                                \
    X(HANDSHAKE_TIMEOUT, "handshake_timeout")                                                      \
    X(DEAD, "dead")                                                                                \
    X(QUEUE_FULL, "queue_full")                                                                    \
    X(TOO_MANY_PENDING, "too_many_pending")

enum fo_peer_reason {
#define FO__PEER_REASON_ENUM(name, str) FO_PEER_R_##name,
    FO_PEER_REASONS(FO__PEER_REASON_ENUM)
#undef FO__PEER_REASON_ENUM
        FO_PEER_R__COUNT
};

const char *fo_peer_reason_name(enum fo_peer_reason r);

struct fo_peer_hello {
    uint8_t version;
    char cluster_id[FO_PEER_ID_MAX + 1];
    char node_id[FO_PEER_ID_MAX + 1];
    uint64_t incarnation; /* random per transport start: tells a restarted peer from a stale link */
    uint8_t nonce[FO_PEER_NONCE_LEN];
};

/* 1 when s is a usable node or cluster id. */
int fo_peer_id_valid(const char *s);
/* Writes the HELLO (with its length prefix) to out; returns its length or -FO_EINVAL. */
int fo_peer_hello_encode(const struct fo_peer_hello *h, uint8_t out[FO_PEER_HELLO_MAX]);
/* Parses a whole HELLO (length prefix included). On error sets *why. */
int fo_peer_hello_decode(const uint8_t *p, size_t n, struct fo_peer_hello *h,
                         enum fo_peer_reason *why);

/* Bytes on the wire for a frame carrying len payload bytes. */
size_t fo_peer_frame_size(size_t len);

struct evp_mac_ctx_st;

/* One connection's protocol state, both directions. Stages: waiting for the peer's HELLO,
 * HELLO received (the caller vets the peer, then calls accept), waiting for the peer's AUTH,
 * open. Any error is final: the connection must be closed. */
struct fo_peer_session {
    int stage;
    enum fo_peer_reason reason; /* set when a call fails with a protocol error */
    struct fo_peer_hello mine, peer;
    uint8_t mine_wire[FO_PEER_HELLO_MAX], peer_wire[FO_PEER_HELLO_MAX];
    size_t mine_len, peer_len;
    uint8_t send_key[FO_PEER_KEY_LEN], recv_key[FO_PEER_KEY_LEN];
    struct evp_mac_ctx_st *send_mac, *recv_mac;
    int auth_sent;
    uint64_t send_seq, recv_seq;
    int err;
    /* the message being received: 4 length bytes, then the rest */
    uint8_t *buf;
    size_t cap, have, need;
};

/* Returned by fo_peer_session_feed. */
enum { FO_PEER_EV_MORE = 0, FO_PEER_EV_HELLO = 1, FO_PEER_EV_AUTH = 2, FO_PEER_EV_FRAME = 3 };

struct fo_peer_msg {
    uint8_t type;
    uint64_t seq;
    const uint8_t *payload; /* valid until the next feed */
    size_t len;
};

/* nonce NULL: a fresh one from RAND_bytes. Returns 0, -FO_EINVAL (bad id) or -FO_EIO. */
int fo_peer_session_init(struct fo_peer_session *s, const char *cluster_id, const char *self_id,
                         uint64_t incarnation, const uint8_t *nonce);
/* Wipes the keys and frees the buffers. */
void fo_peer_session_free(struct fo_peer_session *s);
/* Our HELLO, to send first. */
const uint8_t *fo_peer_session_hello(const struct fo_peer_session *s, size_t *len);
/* Consumes bytes up to the end of the next complete message; *used says how many. Returns
 * FO_PEER_EV_MORE when all n were consumed without completing one, an FO_PEER_EV_... for a
 * message (HELLO: s->peer is filled; FRAME: msg), or a negative error with s->reason set.
 * The length is judged as soon as its 4 bytes are in, before any more is read, and a frame's
 * tag is verified before its type, seq or payload are looked at. */
int fo_peer_session_feed(struct fo_peer_session *s, const uint8_t *p, size_t n, size_t *used,
                         struct fo_peer_msg *msg);
/* After FO_PEER_EV_HELLO: checks the cluster id and that the peer is not ourselves, derives
 * the direction keys from the cluster key and both HELLOs. */
int fo_peer_session_accept(struct fo_peer_session *s, const uint8_t *cluster_key, size_t key_len);
/* Our AUTH frame (FO_PEER_AUTH_LEN bytes), once, after accept. */
int fo_peer_session_auth(struct fo_peer_session *s, uint8_t out[FO_PEER_AUTH_LEN]);
/* Seals the next frame into out (fo_peer_frame_size(len) bytes). type is FO_PEER_T_PING or
 * >= FO_PEER_T_USER_MIN. */
int fo_peer_session_seal(struct fo_peer_session *s, uint8_t type, const void *payload, size_t len,
                         uint8_t *out);

#endif
