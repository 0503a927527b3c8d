/* Unit tests of the Raft message codec: every type round-trips; truncated, extended,
 * malformed and oversized input is refused without crashing or allocating for what the
 * input cannot hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/fo.h"
#include "raft/msg.h"

static unsigned char buf[1 << 16];

static void roundtrip(const struct fo_raft_msg *m)
{
    size_t len;
    assert_int_equal(fo_raft_msg_encode(m, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, fo_raft_msg_encoded_size(m));
    struct fo_raft_msg d;
    assert_int_equal(fo_raft_msg_decode(buf, len, &d), 0);
    assert_int_equal(d.type, m->type);
    assert_int_equal(d.flags, m->flags);
    assert_int_equal(d.from, m->from);
    assert_int_equal(d.to, m->to);
    assert_int_equal(d.term, m->term);
    assert_int_equal(d.n_entries, m->n_entries);
    for (size_t i = 0; i < d.n_entries; i++) {
        assert_int_equal(d.entries[i].index, m->index + 1 + i);
        assert_int_equal(d.entries[i].term, m->entries[i].term);
        assert_int_equal(d.entries[i].type, m->entries[i].type);
        assert_int_equal(d.entries[i].len, m->entries[i].len);
        assert_memory_equal(d.entries[i].data, m->entries[i].data, m->entries[i].len);
    }
    assert_int_equal(d.data_len, m->data_len);
    if (m->data_len)
        assert_memory_equal(d.data, m->data, m->data_len);
    /* Re-encoding gives the same bytes. */
    unsigned char again[sizeof(buf)];
    size_t len2;
    assert_int_equal(fo_raft_msg_encode(&d, again, sizeof(again), &len2), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(again, buf, len);
    /* Every strict prefix and one extra byte are refused. */
    for (size_t k = 0; k < len; k++) {
        struct fo_raft_msg t;
        assert_int_not_equal(fo_raft_msg_decode(buf, k, &t), 0);
    }
    buf[len] = 0;
    struct fo_raft_msg t;
    assert_int_equal(fo_raft_msg_decode(buf, len + 1, &t), -FO_EPROTO);
    fo_raft_msg_clear(&d);
}

static void test_roundtrip_all_types(void **state)
{
    struct fo_raft_entry ents[3] = {
        {.term = 3, .type = FO_RAFT_ENTRY_NOOP},
        {.term = 4, .type = FO_RAFT_ENTRY_COMMAND, .len = 5, .data = (unsigned char *)"hello"},
        {.term = 4, .type = FO_RAFT_ENTRY_CONFIG, .len = 2, .data = (unsigned char *)"ab"},
    };
    struct fo_raft_msg m = {.type = FO_RAFT_MSG_APPEND,
                            .from = 7,
                            .to = 9,
                            .term = 4,
                            .ts = -123456789,
                            .index = 10,
                            .log_term = 3,
                            .commit = 8,
                            .n_entries = 3,
                            .entries = ents};
    roundtrip(&m);
    m.n_entries = 0;
    roundtrip(&m);
    struct fo_raft_msg r = {.type = FO_RAFT_MSG_APPEND_RESP,
                            .flags = FO_RAFT_MSG_REJECT,
                            .from = 9,
                            .to = 7,
                            .term = UINT64_MAX,
                            .ts = INT64_MIN,
                            .index = 12,
                            .log_term = 2,
                            .hint = 11};
    roundtrip(&r);
    r.flags = FO_RAFT_MSG_SNAP_PROGRESS;
    roundtrip(&r);
    struct fo_raft_msg v = {.type = FO_RAFT_MSG_VOTE,
                            .flags = FO_RAFT_MSG_TRANSFER,
                            .from = 1,
                            .to = 2,
                            .term = 5,
                            .index = 100,
                            .log_term = 4};
    roundtrip(&v);
    v.type = FO_RAFT_MSG_PREVOTE;
    v.flags = 0;
    roundtrip(&v);
    struct fo_raft_msg vr = {.type = FO_RAFT_MSG_VOTE_RESP, .from = 2, .to = 1, .term = 5};
    roundtrip(&vr);
    vr.type = FO_RAFT_MSG_PREVOTE_RESP;
    vr.flags = FO_RAFT_MSG_REJECT;
    roundtrip(&vr);
    unsigned char chunk[100];
    memset(chunk, 0x5a, sizeof(chunk));
    struct fo_raft_msg s = {.type = FO_RAFT_MSG_SNAPSHOT,
                            .from = 1,
                            .to = 3,
                            .term = 5,
                            .ts = 77,
                            .index = 50,
                            .log_term = 4,
                            .snap_total = 1000,
                            .snap_offset = 900,
                            .data_len = 100,
                            .data = chunk};
    roundtrip(&s);
    struct fo_raft_msg tn = {.type = FO_RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 3, .term = 5};
    roundtrip(&tn);
    struct fo_raft_msg copy;
    fo_raft_msg_copy(&copy, &m);
    m.n_entries = 3;
    fo_raft_msg_copy(&copy, &m);
    assert_memory_equal(copy.entries[1].data, "hello", 5);
    fo_raft_msg_clear(&copy);
}

static size_t encode(const struct fo_raft_msg *m)
{
    size_t len;
    assert_int_equal(fo_raft_msg_encode(m, buf, sizeof(buf), &len), 0);
    return len;
}

static void test_malformed(void **state)
{
    struct fo_raft_msg d;
    struct fo_raft_msg v = {.type = FO_RAFT_MSG_VOTE, .from = 1, .to = 2, .term = 5};
    size_t len = encode(&v);
    buf[0] = 0; /* unknown type */
    assert_int_equal(fo_raft_msg_decode(buf, len, &d), -FO_EPROTO);
    buf[0] = 99;
    assert_int_equal(fo_raft_msg_decode(buf, len, &d), -FO_EPROTO);
    len = encode(&v);
    buf[1] = FO_RAFT_MSG_REJECT; /* not a flag of a vote request */
    assert_int_equal(fo_raft_msg_decode(buf, len, &d), -FO_EPROTO);
    len = encode(&v);
    memset(buf + 2, 0, 8); /* from = 0 */
    assert_int_equal(fo_raft_msg_decode(buf, len, &d), -FO_EPROTO);
    assert_int_equal(fo_raft_msg_decode(buf, 0, &d), -FO_EPROTO);
    assert_int_equal(fo_raft_msg_decode(NULL, 0, &d), -FO_EPROTO);

    /* An entry of an unknown type. */
    struct fo_raft_entry e = {
        .term = 1, .type = FO_RAFT_ENTRY_COMMAND, .len = 1, .data = (unsigned char *)"x"};
    struct fo_raft_msg a = {
        .type = FO_RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 1, .n_entries = 1, .entries = &e};
    len = encode(&a);
    size_t hdr = 26 + 8 * 4 + 4;
    buf[hdr + 8] = 9;
    assert_int_equal(fo_raft_msg_decode(buf, len, &d), -FO_EPROTO);
    /* An entry longer than the input. */
    len = encode(&a);
    buf[hdr + 9] = 0xff;
    assert_int_equal(fo_raft_msg_decode(buf, len, &d), -FO_EPROTO);
    /* A count the input cannot hold is refused before any allocation for it. */
    len = encode(&a);
    memset(buf + hdr - 4, 0xff, 2);
    memset(buf + hdr - 2, 0, 2);
    assert_int_equal(fo_raft_msg_decode(buf, len, &d), -FO_EPROTO);
    memset(buf + hdr - 4, 0xff, 4);
    assert_int_equal(fo_raft_msg_decode(buf, len, &d), -FO_ETOOBIG);
    /* Entry indexes that would wrap around. */
    a.index = UINT64_MAX;
    assert_int_equal(fo_raft_msg_encode(&a, buf, sizeof(buf), &len), -FO_EINVAL);

    /* Snapshot chunk past the announced total. */
    unsigned char chunk[10] = {0};
    struct fo_raft_msg s = {.type = FO_RAFT_MSG_SNAPSHOT,
                            .from = 1,
                            .to = 2,
                            .term = 1,
                            .index = 5,
                            .log_term = 1,
                            .snap_total = 10,
                            .snap_offset = 5,
                            .data_len = 10,
                            .data = chunk};
    assert_int_equal(fo_raft_msg_encode(&s, buf, sizeof(buf), &len), -FO_EINVAL);
    s.snap_offset = 0;
    len = encode(&s);
    buf[26 + 8 * 3] = 9; /* total 9 < offset + len */
    assert_int_equal(fo_raft_msg_decode(buf, len, &d), -FO_EPROTO);
    /* Both reject and snapshot progress. */
    struct fo_raft_msg r = {.type = FO_RAFT_MSG_APPEND_RESP,
                            .from = 1,
                            .to = 2,
                            .term = 1,
                            .flags = FO_RAFT_MSG_REJECT | FO_RAFT_MSG_SNAP_PROGRESS};
    assert_int_equal(fo_raft_msg_encode(&r, buf, sizeof(buf), &len), -FO_EINVAL);
    /* Too small a buffer. */
    r.flags = 0;
    assert_int_equal(fo_raft_msg_encode(&r, buf, 10, &len), -FO_ETOOBIG);
    /* Oversized input is refused before it is read. */
    assert_int_equal(fo_raft_msg_decode(buf, FO_RAFT_MSG_MAX_SIZE + 1, &d), -FO_ETOOBIG);
}

/* Random bytes, and random corruptions of valid messages, never crash the decoder. */
static void test_garbage(void **state)
{
    uint64_t x = 88172645463325252ull;
    struct fo_raft_entry e = {
        .term = 2, .type = FO_RAFT_ENTRY_COMMAND, .len = 4, .data = (unsigned char *)"data"};
    struct fo_raft_msg a = {.type = FO_RAFT_MSG_APPEND,
                            .from = 1,
                            .to = 2,
                            .term = 2,
                            .index = 3,
                            .log_term = 1,
                            .n_entries = 1,
                            .entries = &e};
    for (int i = 0; i < 20000; i++) {
        size_t len = encode(&a);
        for (int k = 0; k < 3; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[x % len] = (unsigned char)(x >> 32);
        }
        struct fo_raft_msg d;
        if (fo_raft_msg_decode(buf, len - (x >> 60) % 2, &d) == 0)
            fo_raft_msg_clear(&d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_types),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
