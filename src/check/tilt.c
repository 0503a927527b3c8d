/* TILT (DESIGN.md rule 8) as a pure function of clock readings: a stalled loop or a jumping
 * wall clock means our own judgement is unreliable, so critical results turn into unknown
 * until the agent has been stable for a while. The scheduler feeds it real clocks. */
#include <stdio.h>
#include <string.h>

#include "check/check.h"

void fo_tilt_init(struct fo_tilt *t, int64_t tick_ms, int64_t mono_ms, int64_t wall_ms)
{
    memset(t, 0, sizeof(*t));
    t->tick_ms = tick_ms;
    t->last_mono_ms = mono_ms;
    t->last_wall_ms = wall_ms;
    t->stable_since_ms = mono_ms;
}

int fo_tilt_tick(struct fo_tilt *t, int64_t mono_ms, int64_t wall_ms, int64_t stable_ms)
{
    int64_t dm = mono_ms - t->last_mono_ms;
    int64_t dw = wall_ms - t->last_wall_ms;
    int64_t lag = dm - t->tick_ms;
    int64_t skew = dw - dm;
    int ret = 0;

    t->last_mono_ms = mono_ms;
    t->last_wall_ms = wall_ms;
    if (lag > FO_TILT_THRESHOLD_MS || skew > FO_TILT_THRESHOLD_MS || skew < -FO_TILT_THRESHOLD_MS) {
        if (lag > FO_TILT_THRESHOLD_MS)
            snprintf(t->reason, sizeof(t->reason), "loop stalled %lld ms", (long long)lag);
        else
            snprintf(t->reason, sizeof(t->reason), "wall clock jumped %+lld ms", (long long)skew);
        t->stable_since_ms = mono_ms;
        if (!t->active) {
            t->active = 1;
            t->since_mono_ms = mono_ms;
            t->entered++;
            ret = 1;
        }
    } else if (t->active && mono_ms - t->stable_since_ms >= stable_ms) {
        t->active = 0;
        t->left_mono_ms = mono_ms;
        ret = -1;
    }
    return ret;
}

int fo_tilt_covers(const struct fo_tilt *t, int64_t run_start_mono_ms)
{
    if (t->active)
        return 1;
    return t->entered > 0 && run_start_mono_ms < t->left_mono_ms;
}
