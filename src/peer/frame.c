/* The peer wire protocol without I/O (see frame.h). Integers are big-endian. Each direction of
 * a connection has its own key, derived from the cluster key and both HELLOs in sender-first
 * order, so a frame reflected back at its sender fails its tag. */
#include "peer/frame.h"
#include "core/fo.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

enum { FO__S_HELLO, FO__S_HELLO_GOT, FO__S_AUTH, FO__S_OPEN, FO__S_DEAD };

#define FO__BUF_KEEP (64u * 1024) /* receive buffer kept between frames */
#define FO__LABEL    "failoverd peer v1 direction key"

static const uint8_t fo__magic[4] = {'F', 'O', 'P', 'H'};

static const char *const fo__reason_names[] = {
#define FO__PEER_REASON_STR(name, str) str,
    FO_PEER_REASONS(FO__PEER_REASON_STR)
#undef FO__PEER_REASON_STR
};

const char *fo_peer_reason_name(enum fo_peer_reason r)
{
    if ((unsigned)r >= FO_PEER_R__COUNT)
        return "unknown";
    return fo__reason_names[r];
}

static void fo__put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t fo__get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void fo__put64(uint8_t *p, uint64_t v)
{
    fo__put32(p, (uint32_t)(v >> 32));
    fo__put32(p + 4, (uint32_t)v);
}

static uint64_t fo__get64(const uint8_t *p)
{
    return (uint64_t)fo__get32(p) << 32 | fo__get32(p + 4);
}

int fo_peer_id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > FO_PEER_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

int fo_peer_hello_encode(const struct fo_peer_hello *h, uint8_t out[FO_PEER_HELLO_MAX])
{
    if (!fo_peer_id_valid(h->cluster_id) || !fo_peer_id_valid(h->node_id))
        return -FO_EINVAL;
    size_t cn = strlen(h->cluster_id), nn = strlen(h->node_id);
    size_t len = FO_PEER_HELLO_MIN - 2 + cn + nn;
    uint8_t *p = out + 4;
    fo__put32(out, (uint32_t)(len - 4));
    memcpy(p, fo__magic, 4);
    p += 4;
    *p++ = h->version;
    *p++ = (uint8_t)cn;
    memcpy(p, h->cluster_id, cn);
    p += cn;
    *p++ = (uint8_t)nn;
    memcpy(p, h->node_id, nn);
    p += nn;
    fo__put64(p, h->incarnation);
    p += 8;
    memcpy(p, h->nonce, FO_PEER_NONCE_LEN);
    return (int)len;
}

/* Reads a length-prefixed id at *p; returns 0 or -1. */
static int fo__get_id(const uint8_t **p, const uint8_t *end, char out[FO_PEER_ID_MAX + 1])
{
    if (*p >= end)
        return -1;
    size_t n = **p;
    if (n == 0 || n > FO_PEER_ID_MAX || (size_t)(end - *p - 1) < n)
        return -1;
    memcpy(out, *p + 1, n);
    out[n] = '\0';
    *p += 1 + n;
    return fo_peer_id_valid(out) ? 0 : -1;
}

int fo_peer_hello_decode(const uint8_t *buf, size_t n, struct fo_peer_hello *h,
                         enum fo_peer_reason *why)
{
    const uint8_t *p = buf + 8, *end = buf + n;
    *why = FO_PEER_R_MALFORMED;
    if (n < FO_PEER_HELLO_MIN || n > FO_PEER_HELLO_MAX || fo__get32(buf) != n - 4 ||
        memcmp(buf + 4, fo__magic, 4))
        return -FO_EPROTO;
    memset(h, 0, sizeof(*h));
    /* judged before the rest: another version may lay the rest out differently */
    h->version = *p++;
    if (h->version != FO_PEER_VERSION) {
        *why = FO_PEER_R_BAD_VERSION;
        return -FO_EPROTO;
    }
    if (fo__get_id(&p, end, h->cluster_id) < 0 || fo__get_id(&p, end, h->node_id) < 0)
        return -FO_EPROTO;
    if (end - p != 8 + FO_PEER_NONCE_LEN)
        return -FO_EPROTO;
    h->incarnation = fo__get64(p);
    memcpy(h->nonce, p + 8, FO_PEER_NONCE_LEN);
    return 0;
}

size_t fo_peer_frame_size(size_t len)
{
    return FO_PEER_HDR_LEN + len + FO_PEER_TAG_LEN;
}

static struct evp_mac_ctx_st *fo__mac_new(const uint8_t *key, size_t len)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC_free(mac);
    if (ctx && !EVP_MAC_init(ctx, key, len, params)) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

/* HMAC over up to three pieces with the key ctx was made with (a NULL key re-arms it). */
static int fo__mac(struct evp_mac_ctx_st *ctx, const uint8_t *a, size_t an, const uint8_t *b,
                   size_t bn, const uint8_t *c, size_t cn, uint8_t out[FO_PEER_TAG_LEN])
{
    size_t outl = 0;
    if (!EVP_MAC_init(ctx, NULL, 0, NULL) || !EVP_MAC_update(ctx, a, an) ||
        (bn && !EVP_MAC_update(ctx, b, bn)) || (cn && !EVP_MAC_update(ctx, c, cn)) ||
        !EVP_MAC_final(ctx, out, &outl, FO_PEER_TAG_LEN) || outl != FO_PEER_TAG_LEN)
        return -FO_EIO;
    return 0;
}

int fo_peer_session_init(struct fo_peer_session *s, const char *cluster_id, const char *self_id,
                         uint64_t incarnation, const uint8_t *nonce)
{
    memset(s, 0, sizeof(*s));
    if (!fo_peer_id_valid(cluster_id) || !fo_peer_id_valid(self_id))
        return -FO_EINVAL;
    s->mine.version = FO_PEER_VERSION;
    strcpy(s->mine.cluster_id, cluster_id);
    strcpy(s->mine.node_id, self_id);
    s->mine.incarnation = incarnation;
    if (nonce)
        memcpy(s->mine.nonce, nonce, FO_PEER_NONCE_LEN);
    else if (RAND_bytes(s->mine.nonce, FO_PEER_NONCE_LEN) != 1)
        return -FO_EIO;
    s->mine_len = (size_t)fo_peer_hello_encode(&s->mine, s->mine_wire);
    s->cap = FO_PEER_HELLO_MAX;
    s->buf = fo_xmalloc(s->cap);
    s->stage = FO__S_HELLO;
    return 0;
}

void fo_peer_session_free(struct fo_peer_session *s)
{
    EVP_MAC_CTX_free(s->send_mac);
    EVP_MAC_CTX_free(s->recv_mac);
    OPENSSL_cleanse(s->send_key, sizeof(s->send_key));
    OPENSSL_cleanse(s->recv_key, sizeof(s->recv_key));
    free(s->buf);
    s->buf = NULL;
    s->send_mac = s->recv_mac = NULL;
    s->stage = FO__S_DEAD;
    s->err = -FO_EINVAL;
}

const uint8_t *fo_peer_session_hello(const struct fo_peer_session *s, size_t *len)
{
    *len = s->mine_len;
    return s->mine_wire;
}

static int fo__fail(struct fo_peer_session *s, enum fo_peer_reason why)
{
    static const int codes[FO_PEER_R__COUNT] = {
        [FO_PEER_R_BAD_TAG] = -FO_EAUTH,          [FO_PEER_R_BAD_AUTH] = -FO_EAUTH,
        [FO_PEER_R_OVERSIZED] = -FO_ETOOBIG,      [FO_PEER_R_FOREIGN_CLUSTER] = -FO_EREJECTED,
        [FO_PEER_R_UNKNOWN_PEER] = -FO_EREJECTED,
    };
    s->reason = why;
    s->err = codes[why] ? codes[why] : -FO_EPROTO;
    s->stage = FO__S_DEAD;
    return s->err;
}

/* Judges a declared length against what this stage allows, before reading any of it. */
static int fo__check_len(struct fo_peer_session *s, uint32_t len)
{
    uint32_t min, max;
    if (s->stage == FO__S_HELLO) {
        min = FO_PEER_HELLO_MIN - 4;
        max = FO_PEER_HELLO_MAX - 4;
    } else if (s->stage == FO__S_AUTH) {
        min = max = FO_PEER_AUTH_LEN - 4;
    } else {
        min = FO_PEER_AUTH_LEN - 4;
        max = FO_PEER_FRAME_MAX;
    }
    if (len > max)
        return fo__fail(s, FO_PEER_R_OVERSIZED);
    if (len < min)
        return fo__fail(s, FO_PEER_R_MALFORMED);
    return 0;
}

/* A whole message is in s->buf[0..need). */
static int fo__complete(struct fo_peer_session *s, struct fo_peer_msg *msg)
{
    if (s->stage == FO__S_HELLO) {
        enum fo_peer_reason why;
        if (fo_peer_hello_decode(s->buf, s->need, &s->peer, &why) < 0)
            return fo__fail(s, why);
        memcpy(s->peer_wire, s->buf, s->need);
        s->peer_len = s->need;
        s->stage = FO__S_HELLO_GOT;
        return FO_PEER_EV_HELLO;
    }
    size_t body = s->need - FO_PEER_TAG_LEN;
    uint8_t tag[FO_PEER_TAG_LEN];
    if (fo__mac(s->recv_mac, s->buf, body, NULL, 0, NULL, 0, tag) < 0) {
        s->stage = FO__S_DEAD;
        return s->err = -FO_EIO;
    }
    if (CRYPTO_memcmp(tag, s->buf + body, FO_PEER_TAG_LEN) != 0)
        return fo__fail(s, s->stage == FO__S_AUTH ? FO_PEER_R_BAD_AUTH : FO_PEER_R_BAD_TAG);
    uint8_t type = s->buf[4];
    uint64_t seq = fo__get64(s->buf + 5);
    if (s->stage == FO__S_AUTH) {
        if (type != FO_PEER_T_AUTH || seq != 0)
            return fo__fail(s, FO_PEER_R_MALFORMED);
        s->stage = FO__S_OPEN;
        s->recv_seq = 0;
        return FO_PEER_EV_AUTH;
    }
    if (seq <= s->recv_seq)
        return fo__fail(s, FO_PEER_R_STALE_SEQ);
    if (seq != s->recv_seq + 1)
        return fo__fail(s, FO_PEER_R_SEQ_GAP);
    if (type != FO_PEER_T_PING && type < FO_PEER_T_USER_MIN)
        return fo__fail(s, FO_PEER_R_MALFORMED);
    s->recv_seq = seq;
    msg->type = type;
    msg->seq = seq;
    msg->payload = s->buf + FO_PEER_HDR_LEN;
    msg->len = body - FO_PEER_HDR_LEN;
    return FO_PEER_EV_FRAME;
}

int fo_peer_session_feed(struct fo_peer_session *s, const uint8_t *p, size_t n, size_t *used,
                         struct fo_peer_msg *msg)
{
    size_t off = 0;
    int r = FO_PEER_EV_MORE;
    *used = 0;
    if (s->stage == FO__S_DEAD)
        return s->err;
    if (s->stage == FO__S_HELLO_GOT)
        return -FO_EINVAL; /* the caller has not accepted or refused the HELLO yet */
    if (s->have == 0 && s->cap > FO__BUF_KEEP) {
        s->buf = fo_xrealloc(s->buf, FO__BUF_KEEP);
        s->cap = FO__BUF_KEEP;
    }
    while (off < n) {
        if (s->have < 4) {
            size_t k = 4 - s->have < n - off ? 4 - s->have : n - off;
            memcpy(s->buf + s->have, p + off, k);
            s->have += k;
            off += k;
            if (s->have < 4)
                break;
            uint32_t len = fo__get32(s->buf);
            if ((r = fo__check_len(s, len)) < 0)
                goto out;
            s->need = 4 + (size_t)len;
            if (s->cap < s->need) {
                s->buf = fo_xrealloc(s->buf, s->need);
                s->cap = s->need;
            }
        }
        size_t k = s->need - s->have < n - off ? s->need - s->have : n - off;
        memcpy(s->buf + s->have, p + off, k);
        s->have += k;
        off += k;
        if (s->have == s->need) {
            s->have = 0;
            r = fo__complete(s, msg);
            goto out;
        }
    }
out:
    *used = off;
    return r;
}

static int fo__derive(const uint8_t *key, size_t key_len, const uint8_t *from, size_t from_len,
                      const uint8_t *to, size_t to_len, uint8_t out[FO_PEER_KEY_LEN])
{
    struct evp_mac_ctx_st *ctx = fo__mac_new(key, key_len);
    int r = ctx ? fo__mac(ctx, (const uint8_t *)FO__LABEL, sizeof(FO__LABEL), from, from_len, to,
                          to_len, out)
                : -FO_EIO;
    EVP_MAC_CTX_free(ctx);
    return r;
}

int fo_peer_session_accept(struct fo_peer_session *s, const uint8_t *cluster_key, size_t key_len)
{
    if (s->stage != FO__S_HELLO_GOT || key_len < FO_PEER_CLUSTER_KEY_MIN)
        return -FO_EINVAL;
    if (strcmp(s->peer.cluster_id, s->mine.cluster_id) != 0)
        return fo__fail(s, FO_PEER_R_FOREIGN_CLUSTER);
    if (strcmp(s->peer.node_id, s->mine.node_id) == 0)
        return fo__fail(s, FO_PEER_R_UNKNOWN_PEER);
    /* our own nonce coming back means our HELLO was reflected */
    if (CRYPTO_memcmp(s->peer.nonce, s->mine.nonce, FO_PEER_NONCE_LEN) == 0)
        return fo__fail(s, FO_PEER_R_MALFORMED);
    int r = fo__derive(cluster_key, key_len, s->mine_wire, s->mine_len, s->peer_wire, s->peer_len,
                       s->send_key);
    if (r == 0)
        r = fo__derive(cluster_key, key_len, s->peer_wire, s->peer_len, s->mine_wire, s->mine_len,
                       s->recv_key);
    if (r == 0) {
        s->send_mac = fo__mac_new(s->send_key, FO_PEER_KEY_LEN);
        s->recv_mac = fo__mac_new(s->recv_key, FO_PEER_KEY_LEN);
        if (!s->send_mac || !s->recv_mac)
            r = -FO_EIO;
    }
    if (r < 0) {
        s->stage = FO__S_DEAD;
        return s->err = r;
    }
    s->stage = FO__S_AUTH;
    return 0;
}

static int fo__seal(struct fo_peer_session *s, uint8_t type, uint64_t seq, const void *payload,
                    size_t len, uint8_t *out)
{
    fo__put32(out, (uint32_t)(fo_peer_frame_size(len) - 4));
    out[4] = type;
    fo__put64(out + 5, seq);
    if (len)
        memcpy(out + FO_PEER_HDR_LEN, payload, len);
    return fo__mac(s->send_mac, out, FO_PEER_HDR_LEN + len, NULL, 0, NULL, 0,
                   out + FO_PEER_HDR_LEN + len);
}

int fo_peer_session_auth(struct fo_peer_session *s, uint8_t out[FO_PEER_AUTH_LEN])
{
    if (!s->send_mac || s->auth_sent)
        return -FO_EINVAL;
    int r = fo__seal(s, FO_PEER_T_AUTH, 0, NULL, 0, out);
    if (r == 0)
        s->auth_sent = 1;
    return r;
}

int fo_peer_session_seal(struct fo_peer_session *s, uint8_t type, const void *payload, size_t len,
                         uint8_t *out)
{
    if (!s->auth_sent || (type != FO_PEER_T_PING && type < FO_PEER_T_USER_MIN))
        return -FO_EINVAL;
    if (len > FO_PEER_PAYLOAD_MAX)
        return -FO_ETOOBIG;
    return fo__seal(s, type, ++s->send_seq, payload, len, out);
}
