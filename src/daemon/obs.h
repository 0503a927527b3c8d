/* Observation reports: what an agent sends the leader about every member it checks (soft state,
 * not in the Raft log), and their decoding into the leader's detection matrix. JSON batches:
 * {"hash": config hash, "tilt": bool, "obs": [{"s","m","st","k","age","ep","role","lk","lu"}]}. */
#ifndef FO_DAEMON_OBS_H
#define FO_DAEMON_OBS_H

#include <stddef.h>
#include <stdint.h>

#include "check/check.h"
#include "detect/detect.h"

struct fo_state;

/* Encodes the members of the scheduler (all of them when only == NULL, else just that one).
 * Returns a malloc'd buffer, *len set. */
char *fo_obs_encode(const struct fo_sched *s, const struct fo_sched_member *only,
                    const struct fo_state *st, const char *config_hash, int64_t now_mono_ms,
                    size_t *len);
/* Fills the detection fields of one member's report from its state and facts. */
void fo_obs_from_member(const struct fo_sched_member *m, const struct fo_state *st,
                        const char *config_hash, int tilt, int64_t now_mono_ms,
                        struct fo_detect_obs *out);
/* Stores a batch from agent_id into d. Returns the number of reports stored, or -FO_EPROTO. */
int fo_obs_apply(struct fo_detect *d, const char *agent_id, const void *buf, size_t len,
                 int64_t now_mono_ms);

#endif
