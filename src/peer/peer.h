/* The authenticated transport between agents: one TCP connection per peer pair on libuv,
 * HELLO/AUTH handshake under the cluster key, HMAC-tagged frames carrying an opaque payload and
 * a u8 type, bounded send queues, reconnect with backoff. Wire format: peer/frame.h. */
#ifndef FO_PEER_PEER_H
#define FO_PEER_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/fo.h"
#include "peer/frame.h"

struct fo_peer_transport;

struct fo_peer_cfg_local {
    const char *self_id;    /* this agent's id; fo_peer_id_valid() */
    const char *cluster_id; /* peers with another one are refused */
    const uint8_t *key;     /* cluster key, >= FO_PEER_CLUSTER_KEY_MIN bytes; copied */
    size_t key_len;
    const char *listen; /* numeric "ip:port" or "[ip6]:port"; port 0 picks one; NULL: none */
    /* 0 picks the default */
    size_t queue_max;        /* bytes waiting to be written per connection, default 8 MiB;
                                at least one largest frame */
    uint32_t backoff_min_ms; /* redial delay while a peer is down: 50 ms doubling to ... */
    uint32_t backoff_max_ms; /* ... 1000 ms */
    uint32_t ping_ms;        /* a PING goes out after this long without sending, default 1000 */
    uint32_t dead_ms;        /* nothing heard for this long closes the connection, default 5000 */
    uint32_t handshake_ms;   /* connect + HELLO + AUTH must finish within, default 3000 */
    int max_pending;         /* inbound connections not yet authenticated, default 64 */
};

/* payload is valid during the call only. type >= FO_PEER_T_USER_MIN. */
typedef void (*fo_peer_recv_fn)(void *arg, const char *peer_id, uint8_t type,
                                const uint8_t *payload, size_t len);
/* up = 1 once a connection to the peer is authenticated, 0 when it is gone. A connection that
 * replaces another (duplicate dial, peer restart) keeps the peer up without a new call. */
typedef void (*fo_peer_state_fn)(void *arg, const char *peer_id, int up);

struct fo_peer_stats {
    int connected;
    int64_t last_recv_mono_ms; /* fo_clock_mono_ms() of the last authenticated frame; 0: never */
    uint64_t frames_in, frames_out, bytes_in, bytes_out; /* user frames and their payload bytes */
    uint64_t connects;                                   /* times the peer came up */
    size_t queued_bytes;                                 /* not yet handed to the kernel */
    uint64_t drops[FO_PEER_R__COUNT];                    /* connections dropped, by reason */
};

/* Creates a transport (nothing happens until fo_peer_start). Callbacks run on the loop and may
 * call fo_peer_send, fo_peer_remove and fo_peer_close. */
int fo_peer_new(uv_loop_t *loop, const struct fo_peer_cfg_local *cfg, fo_peer_recv_fn on_recv,
                fo_peer_state_fn on_state, void *arg, struct fo_peer_transport **out,
                struct fo_err *err);
/* Adds a configured peer, before or after start. address: "ip:port", "[ip6]:port" or
 * "host:port" (resolved with uv_getaddrinfo before each dial). -FO_EEXIST, -FO_EINVAL. */
int fo_peer_add(struct fo_peer_transport *t, const char *id, const char *address,
                struct fo_err *err);
/* Forgets a peer: closes its connections; it is refused from then on. -FO_ENOENT. */
int fo_peer_remove(struct fo_peer_transport *t, const char *id);
/* Binds the listener and starts dialing every peer. */
int fo_peer_start(struct fo_peer_transport *t, struct fo_err *err);
/* The port the listener is bound to, or a negative error. */
int fo_peer_listen_port(struct fo_peer_transport *t);
/* Queues one frame. 0: queued (delivery is best effort: a connection may still drop it);
 * -FO_EAGAIN: peer not connected; -FO_EBUSY: its queue is full, and the connection is dropped
 * (the peer reconnects); -FO_ENOENT: not a peer; -FO_EINVAL: reserved type; -FO_ETOOBIG. */
int fo_peer_send(struct fo_peer_transport *t, const char *peer_id, uint8_t type,
                 const void *payload, size_t len);
/* peer_id NULL: connections dropped before they named a configured peer. */
int fo_peer_get_stats(struct fo_peer_transport *t, const char *peer_id, struct fo_peer_stats *out);
/* Closes every connection and handle; no callback runs afterwards. The memory is released
 * from libuv close callbacks, so the loop must run (uv_run) afterwards. */
void fo_peer_close(struct fo_peer_transport *t);

#endif
