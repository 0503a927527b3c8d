/* libFuzzer target for the Raft message codec and the core's handling of messages: any bytes
 * are decoded; what decodes must re-encode to the same bytes, and is then stepped into a
 * core that holds a short log (as a follower, and as a leader of its term). */
#include "core/fo.h"
#include "raft/raft.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fo__drain(struct fo_raft *r)
{
    for (int i = 0; i < 16 && fo_raft_has_ready(r); i++) {
        struct fo_raft_ready rd;
        fo_raft_ready_take(r, &rd);
        if (rd.snapshot)
            fo_raft_persisted(r, rd.snapshot->index, rd.snapshot->term, 5000);
        if (rd.n_entries)
            fo_raft_persisted(r, rd.entries[rd.n_entries - 1].index,
                              rd.entries[rd.n_entries - 1].term, 5000);
        fo_raft_ready_free(&rd);
    }
}

static struct fo_raft *fo__core(bool leader)
{
    static const uint64_t voters[] = {1, 2, 3};
    struct fo_raft_config cfg;
    fo_raft_config_defaults(&cfg);
    cfg.id = 1;
    cfg.voters = voters;
    cfg.n_voters = 3;
    cfg.max_bytes_per_msg = 64;
    struct fo_raft_entry ents[] = {
        {.index = 1, .term = 1}, {.index = 2, .term = 2}, {.index = 3, .term = 2}};
    struct fo_raft_restore rs = {.hs = {.term = 2}, .entries = ents, .n_entries = 3};
    struct fo_raft *r;
    if (fo_raft_create(&r, &cfg, &rs, 0) < 0)
        abort();
    if (leader) {
        fo_raft_tick(r, 3000);
        struct fo_raft_msg m = {.type = FO_RAFT_MSG_PREVOTE_RESP, .from = 2, .to = 1, .term = 3};
        fo_raft_step(r, &m, 3000);
        m.type = FO_RAFT_MSG_VOTE_RESP;
        fo_raft_step(r, &m, 3000);
        if (!fo_raft_is_leader(r))
            abort();
    }
    fo__drain(r);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fo_raft_msg m;
    if (fo_raft_msg_decode(data, size, &m) < 0)
        return 0;
    size_t len = fo_raft_msg_encoded_size(&m);
    unsigned char *buf = fo_xmalloc(len ? len : 1);
    size_t got;
    if (len == 0 || fo_raft_msg_encode(&m, buf, len, &got) < 0 || got != size ||
        memcmp(buf, data, size) != 0)
        abort();
    free(buf);
    for (int leader = 0; leader < 2; leader++) {
        struct fo_raft *r = fo__core(leader);
        fo_raft_step(r, &m, 4000);
        fo__drain(r);
        fo_raft_tick(r, 9000);
        fo__drain(r);
        fo_raft_free(r);
    }
    fo_raft_msg_clear(&m);
    return 0;
}
