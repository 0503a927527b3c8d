/* Fuzzes what reaches the state machine and the detector from other agents: a committed
 * command (any bytes a leader could have proposed) and an observation batch. Neither may crash,
 * and the state must still snapshot and restore to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/obs.h"
#include "raft/entry.h"
#include "state/state.h"

#include <json-c/json.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fo_state *st = fo_state_new();
    struct fo_state_result res;
    /* a valid primary first, so that failover commands have something to act on */
    const char *seed = "{\"type\":\"service.primary\",\"ts\":1,\"actor\":\"f\",\"service\":\"db\","
                       "\"member\":\"pg1\",\"epoch\":0}";
    fo_state_apply(st, 1, 1, FO_RAFT_ENTRY_COMMAND, seed, strlen(seed), &res);
    json_object_put(res.details);
    if (fo_state_apply(st, 2, 1, FO_RAFT_ENTRY_COMMAND, data, size, &res) == 0)
        json_object_put(res.details);
    size_t n1, n2;
    char *s1 = fo_state_snapshot(st, &n1);
    struct fo_state *copy = fo_state_new();
    if (fo_state_restore(copy, s1, n1, NULL) != 0)
        abort();
    char *s2 = fo_state_snapshot(copy, &n2);
    if (n1 != n2 || memcmp(s1, s2, n1) != 0)
        abort();
    free(s1);
    free(s2);
    fo_state_free(copy);
    fo_state_free(st);

    struct fo_detect *d = fo_detect_new(2, 5000, "h");
    fo_detect_agent(d, "a1", "z1");
    fo_detect_agent(d, "a2", "z2");
    fo_obs_apply(d, "a1", data, size, 0);
    struct fo_verdict v = fo_detect_judge(d, "db", "postgres", "pg1", "z1", 1, 3, 10);
    (void)v;
    fo_detect_free(d);
    return 0;
}
