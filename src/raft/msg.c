/* Wire encoding of Raft messages. Every field is fixed-width little-endian; a message is a
 * common header (type, flags, from, to, term) and a body that depends on the type. The decoder
 * trusts nothing: each read is bounds-checked and any trailing byte is an error. */
#include "raft/msg.h"

#include "core/fo.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define HDR_SIZE       (1 + 1 + 8 + 8 + 8)
#define ENTRY_HDR_SIZE (8 + 1 + 4)

const char *fo_raft_msg_type_name(uint8_t type)
{
    switch (type) {
    case FO_RAFT_MSG_APPEND:
        return "append";
    case FO_RAFT_MSG_APPEND_RESP:
        return "append_resp";
    case FO_RAFT_MSG_VOTE:
        return "vote";
    case FO_RAFT_MSG_VOTE_RESP:
        return "vote_resp";
    case FO_RAFT_MSG_PREVOTE:
        return "prevote";
    case FO_RAFT_MSG_PREVOTE_RESP:
        return "prevote_resp";
    case FO_RAFT_MSG_SNAPSHOT:
        return "snapshot";
    case FO_RAFT_MSG_TIMEOUT_NOW:
        return "timeout_now";
    default:
        return "unknown";
    }
}

static uint8_t fo__allowed_flags(uint8_t type)
{
    switch (type) {
    case FO_RAFT_MSG_APPEND_RESP:
        return FO_RAFT_MSG_REJECT | FO_RAFT_MSG_SNAP_PROGRESS;
    case FO_RAFT_MSG_VOTE:
        return FO_RAFT_MSG_TRANSFER;
    case FO_RAFT_MSG_VOTE_RESP:
    case FO_RAFT_MSG_PREVOTE_RESP:
        return FO_RAFT_MSG_REJECT;
    default:
        return 0;
    }
}

static bool fo__valid_type(uint8_t type)
{
    return type >= FO_RAFT_MSG_APPEND && type <= FO_RAFT_MSG_TIMEOUT_NOW;
}

static bool fo__valid_entry_type(uint8_t type)
{
    return type == FO_RAFT_ENTRY_NOOP || type == FO_RAFT_ENTRY_COMMAND ||
           type == FO_RAFT_ENTRY_CONFIG;
}

/* Header and body rules shared by the encoder and the decoder. */
static bool fo__valid_shape(const struct fo_raft_msg *m)
{
    if (!fo__valid_type(m->type) || (m->flags & ~fo__allowed_flags(m->type)))
        return false;
    if (m->from == 0 || m->to == 0)
        return false;
    if (m->type == FO_RAFT_MSG_APPEND_RESP && (m->flags & FO_RAFT_MSG_REJECT) &&
        (m->flags & FO_RAFT_MSG_SNAP_PROGRESS))
        return false;
    if (m->type == FO_RAFT_MSG_SNAPSHOT) {
        if (m->snap_total > FO_RAFT_SNAPSHOT_MAX || m->snap_offset > m->snap_total ||
            m->data_len > m->snap_total - m->snap_offset)
            return false;
    }
    if (m->type == FO_RAFT_MSG_APPEND && m->n_entries > 0 && m->index > UINT64_MAX - m->n_entries)
        return false;
    return true;
}

size_t fo_raft_msg_encoded_size(const struct fo_raft_msg *m)
{
    size_t n = HDR_SIZE;
    switch (m->type) {
    case FO_RAFT_MSG_APPEND:
        if (m->n_entries > FO_RAFT_MSG_MAX_ENTRIES)
            return 0;
        n += 8 * 4 + 4;
        for (size_t i = 0; i < m->n_entries; i++) {
            if (m->entries[i].len > FO_RAFT_MSG_MAX_SIZE)
                return 0;
            n += ENTRY_HDR_SIZE + m->entries[i].len;
            if (n > FO_RAFT_MSG_MAX_SIZE)
                return 0;
        }
        break;
    case FO_RAFT_MSG_APPEND_RESP:
        n += 8 * 4;
        break;
    case FO_RAFT_MSG_VOTE:
    case FO_RAFT_MSG_PREVOTE:
        n += 8 * 2;
        break;
    case FO_RAFT_MSG_VOTE_RESP:
    case FO_RAFT_MSG_PREVOTE_RESP:
    case FO_RAFT_MSG_TIMEOUT_NOW:
        break;
    case FO_RAFT_MSG_SNAPSHOT:
        n += 8 * 5 + 4 + (size_t)m->data_len;
        break;
    default:
        return 0;
    }
    return n > FO_RAFT_MSG_MAX_SIZE ? 0 : n;
}

struct fo__wr {
    unsigned char *p;
};

static void fo__put8(struct fo__wr *w, uint8_t v)
{
    *w->p++ = v;
}

static void fo__put32(struct fo__wr *w, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *w->p++ = (unsigned char)(v >> (8 * i));
}

static void fo__put64(struct fo__wr *w, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *w->p++ = (unsigned char)(v >> (8 * i));
}

static void fo__putbytes(struct fo__wr *w, const unsigned char *b, size_t n)
{
    if (n)
        memcpy(w->p, b, n);
    w->p += n;
}

int fo_raft_msg_encode(const struct fo_raft_msg *m, unsigned char *buf, size_t cap, size_t *len)
{
    if (!fo__valid_shape(m))
        return -FO_EINVAL;
    if (m->type == FO_RAFT_MSG_APPEND) {
        for (size_t i = 0; i < m->n_entries; i++)
            if (!fo__valid_entry_type(m->entries[i].type))
                return -FO_EINVAL;
    }
    size_t need = fo_raft_msg_encoded_size(m);
    if (need == 0 || need > cap)
        return -FO_ETOOBIG;
    struct fo__wr w = {buf};
    fo__put8(&w, m->type);
    fo__put8(&w, m->flags);
    fo__put64(&w, m->from);
    fo__put64(&w, m->to);
    fo__put64(&w, m->term);
    switch (m->type) {
    case FO_RAFT_MSG_APPEND:
        fo__put64(&w, (uint64_t)m->ts);
        fo__put64(&w, m->index);
        fo__put64(&w, m->log_term);
        fo__put64(&w, m->commit);
        fo__put32(&w, (uint32_t)m->n_entries);
        for (size_t i = 0; i < m->n_entries; i++) {
            const struct fo_raft_entry *e = &m->entries[i];
            fo__put64(&w, e->term);
            fo__put8(&w, e->type);
            fo__put32(&w, e->len);
            fo__putbytes(&w, e->data, e->len);
        }
        break;
    case FO_RAFT_MSG_APPEND_RESP:
        fo__put64(&w, (uint64_t)m->ts);
        fo__put64(&w, m->index);
        fo__put64(&w, m->log_term);
        fo__put64(&w, m->hint);
        break;
    case FO_RAFT_MSG_VOTE:
    case FO_RAFT_MSG_PREVOTE:
        fo__put64(&w, m->index);
        fo__put64(&w, m->log_term);
        break;
    case FO_RAFT_MSG_SNAPSHOT:
        fo__put64(&w, (uint64_t)m->ts);
        fo__put64(&w, m->index);
        fo__put64(&w, m->log_term);
        fo__put64(&w, m->snap_total);
        fo__put64(&w, m->snap_offset);
        fo__put32(&w, m->data_len);
        fo__putbytes(&w, m->data, m->data_len);
        break;
    default:
        break;
    }
    *len = (size_t)(w.p - buf);
    return 0;
}

struct fo__rd {
    const unsigned char *p;
    size_t left;
};

static bool fo__get8(struct fo__rd *r, uint8_t *v)
{
    if (r->left < 1)
        return false;
    *v = *r->p++;
    r->left--;
    return true;
}

static bool fo__get32(struct fo__rd *r, uint32_t *v)
{
    if (r->left < 4)
        return false;
    uint32_t x = 0;
    for (int i = 0; i < 4; i++)
        x |= (uint32_t)r->p[i] << (8 * i);
    r->p += 4;
    r->left -= 4;
    *v = x;
    return true;
}

static bool fo__get64(struct fo__rd *r, uint64_t *v)
{
    if (r->left < 8)
        return false;
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    r->left -= 8;
    *v = x;
    return true;
}

static bool fo__geti64(struct fo__rd *r, int64_t *v)
{
    uint64_t x;
    if (!fo__get64(r, &x))
        return false;
    memcpy(v, &x, sizeof(x));
    return true;
}

/* Copies n bytes out of the input; n has been checked against what is left. */
static unsigned char *fo__getbytes(struct fo__rd *r, size_t n)
{
    unsigned char *b = NULL;
    if (n) {
        b = fo_xmalloc(n);
        memcpy(b, r->p, n);
        r->p += n;
        r->left -= n;
    }
    return b;
}

static int fo__decode_entries(struct fo__rd *r, struct fo_raft_msg *m)
{
    uint32_t n;
    if (!fo__get32(r, &n))
        return -FO_EPROTO;
    if (n > FO_RAFT_MSG_MAX_ENTRIES)
        return -FO_ETOOBIG;
    /* Each entry takes at least its header: refuse counts the input cannot hold before
     * allocating anything for them. */
    if ((size_t)n > r->left / ENTRY_HDR_SIZE)
        return -FO_EPROTO;
    if (n > 0 && m->index > UINT64_MAX - n)
        return -FO_EPROTO;
    m->entries = n ? fo_xcalloc(n, sizeof(*m->entries)) : NULL;
    for (uint32_t i = 0; i < n; i++) {
        struct fo_raft_entry *e = &m->entries[i];
        uint32_t len;
        if (!fo__get64(r, &e->term) || !fo__get8(r, &e->type) || !fo__get32(r, &len))
            return -FO_EPROTO;
        if (!fo__valid_entry_type(e->type) || len > r->left)
            return -FO_EPROTO;
        e->index = m->index + 1 + i;
        e->len = len;
        e->data = fo__getbytes(r, len);
        m->n_entries = i + 1;
    }
    return 0;
}

int fo_raft_msg_decode(const unsigned char *buf, size_t len, struct fo_raft_msg *m)
{
    memset(m, 0, sizeof(*m));
    if (len > FO_RAFT_MSG_MAX_SIZE)
        return -FO_ETOOBIG;
    struct fo__rd r = {buf, len};
    int rc = -FO_EPROTO;
    if (!fo__get8(&r, &m->type) || !fo__get8(&r, &m->flags) || !fo__get64(&r, &m->from) ||
        !fo__get64(&r, &m->to) || !fo__get64(&r, &m->term))
        goto out;
    if (!fo__valid_type(m->type))
        goto out;
    switch (m->type) {
    case FO_RAFT_MSG_APPEND:
        if (!fo__geti64(&r, &m->ts) || !fo__get64(&r, &m->index) || !fo__get64(&r, &m->log_term) ||
            !fo__get64(&r, &m->commit))
            goto out;
        rc = fo__decode_entries(&r, m);
        if (rc < 0)
            goto out;
        rc = -FO_EPROTO;
        break;
    case FO_RAFT_MSG_APPEND_RESP:
        if (!fo__geti64(&r, &m->ts) || !fo__get64(&r, &m->index) || !fo__get64(&r, &m->log_term) ||
            !fo__get64(&r, &m->hint))
            goto out;
        break;
    case FO_RAFT_MSG_VOTE:
    case FO_RAFT_MSG_PREVOTE:
        if (!fo__get64(&r, &m->index) || !fo__get64(&r, &m->log_term))
            goto out;
        break;
    case FO_RAFT_MSG_SNAPSHOT: {
        uint32_t dl;
        if (!fo__geti64(&r, &m->ts) || !fo__get64(&r, &m->index) || !fo__get64(&r, &m->log_term) ||
            !fo__get64(&r, &m->snap_total) || !fo__get64(&r, &m->snap_offset) ||
            !fo__get32(&r, &dl))
            goto out;
        if (dl > r.left)
            goto out;
        m->data_len = dl;
        m->data = fo__getbytes(&r, dl);
        break;
    }
    default:
        break;
    }
    if (r.left != 0 || !fo__valid_shape(m))
        goto out;
    return 0;
out:
    fo_raft_msg_clear(m);
    return rc;
}

void fo_raft_msg_clear(struct fo_raft_msg *m)
{
    for (size_t i = 0; i < m->n_entries; i++)
        free(m->entries[i].data);
    free(m->entries);
    free(m->data);
    memset(m, 0, sizeof(*m));
}

void fo_raft_msg_copy(struct fo_raft_msg *dst, const struct fo_raft_msg *src)
{
    *dst = *src;
    dst->entries = NULL;
    dst->data = NULL;
    if (src->n_entries) {
        dst->entries = fo_xcalloc(src->n_entries, sizeof(*dst->entries));
        for (size_t i = 0; i < src->n_entries; i++) {
            dst->entries[i] = src->entries[i];
            dst->entries[i].data = NULL;
            if (src->entries[i].len) {
                dst->entries[i].data = fo_xmalloc(src->entries[i].len);
                memcpy(dst->entries[i].data, src->entries[i].data, src->entries[i].len);
            }
        }
    }
    if (src->data_len) {
        dst->data = fo_xmalloc(src->data_len);
        memcpy(dst->data, src->data, src->data_len);
    }
}
