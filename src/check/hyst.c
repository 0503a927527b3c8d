/* Per-member check state without I/O: rise/fall hysteresis, the history ring, the latency
 * histogram and status names. The scheduler feeds it; unit tests drive it with tables. */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "check/check.h"

/* Upper bounds (le) in ms. Finer than Prometheus' defaults at the low end, because checks on a
 * LAN answer in about a millisecond and that is where a slowing member first shows. */
const double fo_lat_bounds_ms[FO_LAT_BUCKETS - 1] = {1,   2.5, 5,   10,   25,  50,
                                                     100, 250, 500, 1000, 5000};

static const char *const fo__status_names[] = {"ok", "warning", "critical", "unknown"};

const char *fo_status_name(enum fo_status s)
{
    if ((unsigned)s < FO_ARRAY_LEN(fo__status_names))
        return fo__status_names[s];
    return "unknown";
}

int fo_status_parse(const char *s, enum fo_status *out)
{
    for (unsigned i = 0; s && i < FO_ARRAY_LEN(fo__status_names); i++)
        if (strcasecmp(s, fo__status_names[i]) == 0) {
            *out = (enum fo_status)i;
            return 0;
        }
    return -FO_EINVAL;
}

void fo_hyst_init(struct fo_hyst *h)
{
    memset(h, 0, sizeof(*h));
    h->status = FO_STATUS_UNKNOWN;
}

static int fo__set(struct fo_hyst *h, enum fo_status st)
{
    if (h->status == st)
        return 0;
    h->status = st;
    return 1;
}

int fo_hyst_feed(struct fo_hyst *h, enum fo_status raw, int rise, int fall)
{
    if (rise < 1)
        rise = 1;
    if (fall < 1)
        fall = 1;
    switch (raw) {
    case FO_STATUS_OK:
    case FO_STATUS_WARNING:
        h->bad = 0;
        h->unknown = 0;
        h->good++;
        if (h->status == FO_STATUS_OK || h->status == FO_STATUS_WARNING || h->good >= rise)
            return fo__set(h, raw);
        return 0;
    case FO_STATUS_CRITICAL:
        h->good = 0;
        h->unknown = 0;
        h->bad++;
        if (h->bad >= fall)
            return fo__set(h, FO_STATUS_CRITICAL);
        return 0;
    default:
        /* Our own failure to look proves nothing either way: forget both streaks. */
        h->good = 0;
        h->bad = 0;
        h->unknown++;
        if (h->unknown >= fall)
            return fo__set(h, FO_STATUS_UNKNOWN);
        return 0;
    }
}

void fo_member_state_init(struct fo_member_state *st)
{
    memset(st, 0, sizeof(*st));
    fo_hyst_init(&st->hyst);
    st->raw = FO_STATUS_UNKNOWN;
    st->last.status = FO_STATUS_UNKNOWN;
}

void fo_result_copy(struct fo_result *dst, const struct fo_result *src)
{
    int nf = src->nfacts < 0 ? 0 : src->nfacts > FO_FACTS_MAX ? FO_FACTS_MAX : src->nfacts;
    memcpy(dst, src, offsetof(struct fo_result, facts));
    memcpy(dst->facts, src->facts, (size_t)nf * sizeof(src->facts[0]));
    dst->nfacts = nf;
    dst->message[sizeof(dst->message) - 1] = '\0';
}

static int fo__lat_bucket(double ms)
{
    int i = 0;
    while (i < FO_LAT_BUCKETS - 1 && ms > fo_lat_bounds_ms[i])
        i++;
    return i;
}

int fo_member_state_record(struct fo_member_state *st, const struct fo_check_def *def,
                           const struct fo_result *r, int64_t wall_ms, int64_t mono_ms)
{
    if (r != &st->last)
        fo_result_copy(&st->last, r);
    struct fo_result *l = &st->last;
    if (l->nfacts < 0 || l->nfacts > FO_FACTS_MAX)
        l->nfacts = l->nfacts < 0 ? 0 : FO_FACTS_MAX;
    l->message[sizeof(l->message) - 1] = '\0';
    if ((unsigned)l->status > FO_STATUS_UNKNOWN)
        l->status = FO_STATUS_UNKNOWN;
    if (!(l->latency_ms >= 0)) /* also NaN */
        l->latency_ms = 0;

    enum fo_status raw = l->status;
    st->raw = raw;
    st->runs++;
    if (raw == FO_STATUS_UNKNOWN)
        st->errors++;
    st->lat_buckets[fo__lat_bucket(l->latency_ms)]++;
    st->lat_sum_ms += l->latency_ms;

    struct fo_sample *smp = &st->history[st->hist_head];
    smp->wall_ms = wall_ms;
    smp->status = raw;
    smp->latency_ms = (float)l->latency_ms;
    st->hist_head = (st->hist_head + 1) % FO_HISTORY_MAX;
    if (st->hist_len < FO_HISTORY_MAX)
        st->hist_len++;

    st->last_wall_ms = wall_ms;
    st->last_mono_ms = mono_ms;
    int changed = fo_hyst_feed(&st->hyst, raw, def->rise, def->fall);
    if (changed)
        st->last_change_wall_ms = wall_ms;
    return changed;
}
