/* libFuzzer target for the peer wire protocol (src/peer/frame.c): bytes go to the HELLO parser,
 * to a session waiting for a HELLO, and to a session after a completed handshake, in pieces;
 * frames sealed from the input must come out unchanged, and a flipped byte must never pass. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peer/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[32] = "fuzz-cluster-key-0123456789abcde";

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

/* Feeds everything in pieces of at most chunk bytes; stops at the first error. */
static int feed(struct fo_peer_session *s, const uint8_t *p, size_t n, size_t chunk)
{
    while (n > 0) {
        struct fo_peer_msg m;
        size_t used = 0, k = n < chunk ? n : chunk;
        int r = fo_peer_session_feed(s, p, k, &used, &m);
        CHECK(used <= k);
        if (r < 0)
            return r;
        if (r == FO_PEER_EV_HELLO && fo_peer_session_accept(s, key, sizeof(key)) < 0)
            return -1;
        if (r == FO_PEER_EV_FRAME)
            CHECK(m.len <= FO_PEER_PAYLOAD_MAX && m.type >= FO_PEER_T_PING);
        if (r == FO_PEER_EV_MORE)
            CHECK(used == k);
        p += used;
        n -= used;
    }
    return 0;
}

/* a (az1) and b (az2) with fixed nonces, through HELLO and AUTH both ways. */
static void handshake(struct fo_peer_session *a, struct fo_peer_session *b)
{
    static const uint8_t na[FO_PEER_NONCE_LEN] = {1}, nb[FO_PEER_NONCE_LEN] = {2};
    uint8_t auth[FO_PEER_AUTH_LEN];
    size_t n;
    CHECK(fo_peer_session_init(a, "c1", "az1", 1, na) == 0);
    CHECK(fo_peer_session_init(b, "c1", "az2", 2, nb) == 0);
    const uint8_t *h = fo_peer_session_hello(a, &n);
    CHECK(feed(b, h, n, n) == 0);
    h = fo_peer_session_hello(b, &n);
    CHECK(feed(a, h, n, n) == 0);
    CHECK(fo_peer_session_auth(a, auth) == 0);
    CHECK(feed(b, auth, sizeof(auth), sizeof(auth)) == 0);
    CHECK(fo_peer_session_auth(b, auth) == 0);
    CHECK(feed(a, auth, sizeof(auth), sizeof(auth)) == 0);
}

/* Seals frames described by the input (type, length, payload), flips one chosen byte of one
 * chosen frame, and checks that b gets back exactly the frames before it and nothing after. */
static void sealed(struct fo_peer_session *a, struct fo_peer_session *b, const uint8_t *d, size_t n,
                   size_t flip)
{
    size_t idx = 0;
    while (n >= 3) {
        uint8_t type = d[0] < FO_PEER_T_USER_MIN ? FO_PEER_T_PING : d[0];
        size_t len = ((size_t)d[1] << 8 | d[2]) % 2048;
        d += 3;
        n -= 3;
        if (len > n || type == FO_PEER_T_PING)
            len = type == FO_PEER_T_PING ? 0 : n;
        size_t sz = fo_peer_frame_size(len);
        uint8_t *f = malloc(sz);
        struct fo_peer_msg m;
        size_t used;
        CHECK(fo_peer_session_seal(a, type, d, len, f) == 0);
        int flipped = flip / 4096 == idx && (flip % 4096) < sz;
        if (flipped)
            f[flip % 4096] ^= 0x01;
        int r = fo_peer_session_feed(b, f, sz, &used, &m);
        if (!flipped) {
            CHECK(r == FO_PEER_EV_FRAME && used == sz && m.type == type && m.len == len);
            CHECK(len == 0 || memcmp(m.payload, d, len) == 0);
        } else {
            CHECK(r != FO_PEER_EV_FRAME || used != sz); /* a changed frame never passes */
            free(f);
            return;
        }
        free(f);
        d += len;
        n -= len;
        idx++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fo_peer_session a, b;
    struct fo_peer_hello h;
    enum fo_peer_reason why;
    if (size < 3)
        return 0;
    uint8_t mode = data[0] % 3;
    size_t chunk = (size_t)data[1] + 1, flip = (size_t)data[1] << 8 | data[2];
    data += 3;
    size -= 3;
    switch (mode) {
    case 0: /* an unknown party's first bytes */
        if (fo_peer_hello_decode(data, size, &h, &why) == 0)
            CHECK(fo_peer_id_valid(h.cluster_id) && fo_peer_id_valid(h.node_id));
        CHECK(fo_peer_session_init(&b, "c1", "az2", 2, key) == 0);
        feed(&b, data, size, chunk);
        fo_peer_session_free(&b);
        break;
    case 1: /* anything after a completed handshake */
        handshake(&a, &b);
        feed(&b, data, size, chunk);
        fo_peer_session_free(&a);
        fo_peer_session_free(&b);
        break;
    default:
        handshake(&a, &b);
        sealed(&a, &b, data, size, flip);
        fo_peer_session_free(&a);
        fo_peer_session_free(&b);
        break;
    }
    return 0;
}
