/* Tests for src/peer/frame.c: the wire protocol on its own, sessions fed by hand: roundtrip,
 * tampering, truncation, length limits, sequence numbers, HELLO refusals and the wrong key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "core/fo.h"
#include "peer/frame.h"

static const uint8_t KEY[] = "0123456789abcdef-cluster-key";
static const uint8_t BADKEY[] = "0123456789abcdef-wrong!!-key"; /* same length */

static int feed_all(struct fo_peer_session *s, const uint8_t *p, size_t n, struct fo_peer_msg *m)
{
    size_t used = 0;
    int r = fo_peer_session_feed(s, p, n, &used, m);
    if (r > 0)
        assert_int_equal(used, n); /* callers feed exactly one message */
    return r;
}

/* a (az1) and b (az2) through HELLO and AUTH; kb is b's idea of the cluster key. */
static void pair(struct fo_peer_session *a, struct fo_peer_session *b, const uint8_t *kb)
{
    struct fo_peer_msg m;
    size_t n;
    uint8_t auth[FO_PEER_AUTH_LEN];
    assert_int_equal(fo_peer_session_init(a, "c1", "az1", 1, NULL), 0);
    assert_int_equal(fo_peer_session_init(b, "c1", "az2", 2, NULL), 0);
    const uint8_t *h = fo_peer_session_hello(a, &n);
    assert_int_equal(feed_all(b, h, n, &m), FO_PEER_EV_HELLO);
    assert_string_equal(b->peer.node_id, "az1");
    h = fo_peer_session_hello(b, &n);
    assert_int_equal(feed_all(a, h, n, &m), FO_PEER_EV_HELLO);
    assert_int_equal(a->peer.incarnation, 2);
    assert_int_equal(fo_peer_session_accept(a, KEY, sizeof(KEY)), 0);
    assert_int_equal(fo_peer_session_accept(b, kb, sizeof(KEY)), 0);
    assert_int_equal(fo_peer_session_auth(a, auth), 0);
    if (kb != KEY) {
        assert_true(feed_all(b, auth, sizeof(auth), &m) < 0);
        assert_int_equal(b->reason, FO_PEER_R_BAD_AUTH);
        return;
    }
    assert_int_equal(feed_all(b, auth, sizeof(auth), &m), FO_PEER_EV_AUTH);
    assert_int_equal(fo_peer_session_auth(b, auth), 0);
    assert_int_equal(feed_all(a, auth, sizeof(auth), &m), FO_PEER_EV_AUTH);
}

static uint8_t *seal(struct fo_peer_session *s, uint8_t type, const void *p, size_t n, size_t *sz)
{
    *sz = fo_peer_frame_size(n);
    uint8_t *f = malloc(*sz);
    assert_int_equal(fo_peer_session_seal(s, type, p, n, f), 0);
    return f;
}

/* An independent HMAC of a frame: what the tag must be. */
static void expect_tag(const uint8_t key[32], const uint8_t *f, size_t sz)
{
    uint8_t tag[32];
    unsigned tl = 0;
    HMAC(EVP_sha256(), key, 32, f, sz - 32, tag, &tl);
    assert_int_equal(tl, 32);
    assert_memory_equal(tag, f + sz - 32, 32);
}

static void test_roundtrip(void **state)
{
    struct fo_peer_session a, b;
    struct fo_peer_msg m;
    pair(&a, &b, KEY);
    assert_memory_equal(a.send_key, b.recv_key, 32);
    assert_memory_equal(b.send_key, a.recv_key, 32);
    assert_memory_not_equal(a.send_key, a.recv_key, 32);
    size_t sizes[] = {0, 1, 100, 70000, FO_PEER_PAYLOAD_MAX};
    for (size_t i = 0; i < FO_ARRAY_LEN(sizes); i++) {
        uint8_t *pl = malloc(sizes[i] + 1), *f;
        size_t sz, off = 0, used;
        for (size_t k = 0; k < sizes[i]; k++)
            pl[k] = (uint8_t)(k * 7 + i);
        f = seal(&a, (uint8_t)(16 + i), pl, sizes[i], &sz);
        expect_tag(a.send_key, f, sz);
        /* in uneven pieces, byte by byte at first */
        int r = FO_PEER_EV_MORE;
        for (size_t step = 1; off < sz; step = step * 3 + 1) {
            size_t k = step < sz - off ? step : sz - off;
            r = fo_peer_session_feed(&b, f + off, k, &used, &m);
            assert_int_equal(used, k);
            off += k;
            if (off < sz)
                assert_int_equal(r, FO_PEER_EV_MORE);
        }
        assert_int_equal(r, FO_PEER_EV_FRAME);
        assert_int_equal(m.type, 16 + i);
        assert_int_equal(m.seq, i + 1);
        assert_int_equal(m.len, sizes[i]);
        if (sizes[i])
            assert_memory_equal(m.payload, pl, sizes[i]);
        free(pl);
        free(f);
    }
    /* two frames in one buffer come out one at a time */
    size_t s1, s2, used;
    uint8_t *f1 = seal(&b, FO_PEER_T_PING, NULL, 0, &s1), *f2 = seal(&b, 200, "xy", 2, &s2);
    uint8_t both[256];
    memcpy(both, f1, s1);
    memcpy(both + s1, f2, s2);
    assert_int_equal(fo_peer_session_feed(&a, both, s1 + s2, &used, &m), FO_PEER_EV_FRAME);
    assert_int_equal(used, s1);
    assert_int_equal(m.type, FO_PEER_T_PING);
    assert_int_equal(fo_peer_session_feed(&a, both + s1, s2, &used, &m), FO_PEER_EV_FRAME);
    assert_int_equal(m.type, 200);
    assert_memory_equal(m.payload, "xy", 2);
    /* reserved types cannot be sealed */
    assert_int_equal(fo_peer_session_seal(&a, 2, NULL, 0, both), -FO_EINVAL);
    assert_int_equal(fo_peer_session_seal(&a, FO_PEER_T_AUTH, NULL, 0, both), -FO_EINVAL);
    free(f1);
    free(f2);
    fo_peer_session_free(&a);
    fo_peer_session_free(&b);
}

static void test_tampered(void **state)
{
    struct fo_peer_session a, b;
    struct fo_peer_msg m;
    size_t sz;
    pair(&a, &b, KEY);
    uint8_t *f = seal(&a, 20, "payload", 7, &sz);
    fo_peer_session_free(&a);
    fo_peer_session_free(&b);
    /* every byte after the length: type, seq, payload, tag */
    for (size_t i = 4; i < sz; i++) {
        pair(&a, &b, KEY);
        uint8_t *g = seal(&a, 20, "payload", 7, &sz);
        g[i] ^= 0x40;
        assert_int_equal(feed_all(&b, g, sz, &m), -FO_EAUTH);
        assert_int_equal(b.reason, FO_PEER_R_BAD_TAG);
        /* and the session stays dead */
        assert_int_equal(feed_all(&b, f, sz, &m), -FO_EAUTH);
        free(g);
        fo_peer_session_free(&a);
        fo_peer_session_free(&b);
    }
    /* a frame reflected back at its sender */
    pair(&a, &b, KEY);
    uint8_t *g = seal(&a, 20, "payload", 7, &sz);
    assert_int_equal(feed_all(&a, g, sz, &m), -FO_EAUTH);
    assert_int_equal(a.reason, FO_PEER_R_BAD_TAG);
    free(g);
    free(f);
    fo_peer_session_free(&a);
    fo_peer_session_free(&b);
}

static void test_truncated_and_oversized(void **state)
{
    struct fo_peer_session a, b;
    struct fo_peer_msg m;
    size_t sz, used;
    pair(&a, &b, KEY);
    uint8_t *f = seal(&a, 20, "abc", 3, &sz);
    assert_int_equal(fo_peer_session_feed(&b, f, sz - 1, &used, &m), FO_PEER_EV_MORE);
    assert_int_equal(used, sz - 1);
    assert_int_equal(fo_peer_session_feed(&b, f + sz - 1, 1, &used, &m), FO_PEER_EV_FRAME);
    /* the largest allowed length waits for its bytes ... */
    uint8_t hdr[64] = {0};
    uint32_t len = htonl(FO_PEER_FRAME_MAX);
    memcpy(hdr, &len, 4);
    assert_int_equal(fo_peer_session_feed(&b, hdr, 4, &used, &m), FO_PEER_EV_MORE);
    fo_peer_session_free(&b);
    fo_peer_session_free(&a);
    /* ... one more is refused as soon as the 4 length bytes are in, nothing after is read */
    pair(&a, &b, KEY);
    len = htonl(FO_PEER_FRAME_MAX + 1);
    memcpy(hdr, &len, 4);
    assert_int_equal(fo_peer_session_feed(&b, hdr, sizeof(hdr), &used, &m), -FO_ETOOBIG);
    assert_int_equal(used, 4);
    assert_int_equal(b.reason, FO_PEER_R_OVERSIZED);
    fo_peer_session_free(&b);
    fo_peer_session_free(&a);
    /* too short to hold a tag */
    pair(&a, &b, KEY);
    len = htonl(10);
    memcpy(hdr, &len, 4);
    assert_int_equal(fo_peer_session_feed(&b, hdr, sizeof(hdr), &used, &m), -FO_EPROTO);
    assert_int_equal(b.reason, FO_PEER_R_MALFORMED);
    fo_peer_session_free(&b);
    fo_peer_session_free(&a);
    /* before the handshake only a HELLO-sized message is allowed */
    assert_int_equal(fo_peer_session_init(&b, "c1", "az2", 2, NULL), 0);
    len = htonl(FO_PEER_HELLO_MAX);
    memcpy(hdr, &len, 4);
    assert_int_equal(fo_peer_session_feed(&b, hdr, 8, &used, &m), -FO_ETOOBIG);
    assert_int_equal(used, 4);
    fo_peer_session_free(&b);
    /* and before AUTH only an AUTH-sized one: a data frame cannot skip the proof */
    pair(&a, &b, KEY);
    struct fo_peer_session c, d;
    assert_int_equal(fo_peer_session_init(&c, "c1", "az3", 3, NULL), 0);
    assert_int_equal(fo_peer_session_init(&d, "c1", "az4", 4, NULL), 0);
    const uint8_t *h = fo_peer_session_hello(&c, &used);
    assert_int_equal(feed_all(&d, h, used, &m), FO_PEER_EV_HELLO);
    assert_int_equal(fo_peer_session_accept(&d, KEY, sizeof(KEY)), 0);
    assert_int_equal(feed_all(&d, f, sz, &m), -FO_ETOOBIG);
    free(f);
    fo_peer_session_free(&a);
    fo_peer_session_free(&b);
    fo_peer_session_free(&c);
    fo_peer_session_free(&d);
}

static void test_seq(void **state)
{
    struct fo_peer_session a, b;
    struct fo_peer_msg m;
    size_t s1, s2, s3;
    pair(&a, &b, KEY);
    uint8_t *f1 = seal(&a, 20, "1", 1, &s1), *f2 = seal(&a, 20, "2", 1, &s2);
    uint8_t *f3 = seal(&a, 20, "3", 1, &s3);
    assert_int_equal(feed_all(&b, f1, s1, &m), FO_PEER_EV_FRAME);
    assert_int_equal(feed_all(&b, f2, s2, &m), FO_PEER_EV_FRAME);
    assert_int_equal(feed_all(&b, f2, s2, &m), -FO_EPROTO); /* replayed */
    assert_int_equal(b.reason, FO_PEER_R_STALE_SEQ);
    fo_peer_session_free(&b);
    fo_peer_session_free(&a);
    pair(&a, &b, KEY);
    free(f1);
    free(f2);
    free(f3);
    f1 = seal(&a, 20, "1", 1, &s1);
    f2 = seal(&a, 20, "2", 1, &s2);
    f3 = seal(&a, 20, "3", 1, &s3);
    assert_int_equal(feed_all(&b, f1, s1, &m), FO_PEER_EV_FRAME);
    assert_int_equal(feed_all(&b, f3, s3, &m), -FO_EPROTO); /* f2 was cut out */
    assert_int_equal(b.reason, FO_PEER_R_SEQ_GAP);
    free(f1);
    free(f2);
    free(f3);
    fo_peer_session_free(&b);
    fo_peer_session_free(&a);
}

static void hello_pair(struct fo_peer_session *a, struct fo_peer_session *b, const char *ca,
                       const char *ida, const char *cb, const char *idb)
{
    struct fo_peer_msg m;
    size_t n;
    assert_int_equal(fo_peer_session_init(a, ca, ida, 1, NULL), 0);
    assert_int_equal(fo_peer_session_init(b, cb, idb, 2, NULL), 0);
    const uint8_t *h = fo_peer_session_hello(a, &n);
    assert_int_equal(feed_all(b, h, n, &m), FO_PEER_EV_HELLO);
}

static void test_hello_refusals(void **state)
{
    struct fo_peer_session a, b;
    struct fo_peer_hello h;
    enum fo_peer_reason why;
    hello_pair(&a, &b, "other", "az1", "c1", "az2");
    assert_int_equal(fo_peer_session_accept(&b, KEY, sizeof(KEY)), -FO_EREJECTED);
    assert_int_equal(b.reason, FO_PEER_R_FOREIGN_CLUSTER);
    fo_peer_session_free(&a);
    fo_peer_session_free(&b);
    hello_pair(&a, &b, "c1", "az2", "c1", "az2"); /* ourselves */
    assert_int_equal(fo_peer_session_accept(&b, KEY, sizeof(KEY)), -FO_EREJECTED);
    assert_int_equal(b.reason, FO_PEER_R_UNKNOWN_PEER);
    fo_peer_session_free(&a);
    fo_peer_session_free(&b);
    /* wrong key: the AUTH does not verify */
    pair(&a, &b, BADKEY);
    fo_peer_session_free(&a);
    fo_peer_session_free(&b);
    /* malformed HELLOs */
    uint8_t w[FO_PEER_HELLO_MAX + 8];
    struct fo_peer_hello good = {.version = 1, .cluster_id = "c1", .node_id = "az1"};
    int n = fo_peer_hello_encode(&good, w);
    assert_true(n > 0);
    assert_int_equal(fo_peer_hello_decode(w, (size_t)n, &h, &why), 0);
    assert_string_equal(h.node_id, "az1");
    w[5] ^= 1; /* magic */
    assert_int_equal(fo_peer_hello_decode(w, (size_t)n, &h, &why), -FO_EPROTO);
    assert_int_equal(why, FO_PEER_R_MALFORMED);
    w[5] ^= 1;
    w[8] = 2; /* version */
    assert_int_equal(fo_peer_hello_decode(w, (size_t)n, &h, &why), -FO_EPROTO);
    assert_int_equal(why, FO_PEER_R_BAD_VERSION);
    w[8] = 1;
    w[10] = ' '; /* a space in the cluster id */
    assert_int_equal(fo_peer_hello_decode(w, (size_t)n, &h, &why), -FO_EPROTO);
    w[10] = 'c';
    w[9] = 60; /* cluster id length past the end */
    assert_int_equal(fo_peer_hello_decode(w, (size_t)n, &h, &why), -FO_EPROTO);
    w[9] = 2;
    assert_int_equal(fo_peer_hello_decode(w, (size_t)n - 1, &h, &why), -FO_EPROTO);
    struct fo_peer_hello bad = {.version = 1, .cluster_id = "c 1", .node_id = "az1"};
    assert_int_equal(fo_peer_hello_encode(&bad, w), -FO_EINVAL);
    /* our own HELLO coming back with another name on it */
    uint8_t nonce[32] = {7};
    struct fo_peer_msg m;
    size_t hn;
    assert_int_equal(fo_peer_session_init(&a, "c1", "az1", 1, nonce), 0);
    assert_int_equal(fo_peer_session_init(&b, "c1", "az2", 1, nonce), 0);
    const uint8_t *ah = fo_peer_session_hello(&a, &hn);
    assert_int_equal(feed_all(&b, ah, hn, &m), FO_PEER_EV_HELLO);
    assert_int_equal(fo_peer_session_accept(&b, KEY, sizeof(KEY)), -FO_EPROTO);
    fo_peer_session_free(&a);
    fo_peer_session_free(&b);
    assert_int_equal(fo_peer_session_init(&a, "c1", "", 1, NULL), -FO_EINVAL);
    assert_false(
        fo_peer_id_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_truncated_and_oversized),
        cmocka_unit_test(test_seq),
        cmocka_unit_test(test_hello_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
