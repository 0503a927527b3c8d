/* The simulator's trace: a ring of the last events, kept as small records and formatted only
 * when shown (a violation, or --verbose). */
#include "sim/sim_int.h"

#include <inttypes.h>

static const char *fo__kind_name(int kind)
{
    static const char *names[] = {
        [FO__T_SEND] = "send",       [FO__T_DROP] = "drop",         [FO__T_RECV] = "recv",
        [FO__T_TICK] = "tick",       [FO__T_PERSIST] = "persisted", [FO__T_CRASH] = "CRASH",
        [FO__T_RESTART] = "RESTART", [FO__T_CUT] = "CUT",           [FO__T_HEAL] = "HEAL",
        [FO__T_PROPOSE] = "propose", [FO__T_LEADER] = "LEADER",     [FO__T_COMMIT] = "commit",
        [FO__T_PAUSE] = "PAUSE",     [FO__T_TRANSFER] = "TRANSFER", [FO__T_COMPACT] = "compact",
        [FO__T_INSTALL] = "install", [FO__T_SLOW] = "SLOW",         [FO__T_DRIFT] = "DRIFT",
        [FO__T_WEATHER] = "WEATHER", [FO__T_STATE] = "state",
    };
    if (kind <= 0 || (size_t)kind >= sizeof(names) / sizeof(names[0]) || !names[kind])
        return "?";
    return names[kind];
}

void fo__sim_trace_print(const struct fo__sim_trace_rec *t, FILE *f)
{
    fprintf(f, "%8" PRId64 ".%03d n%d %-9s ", t->t / 1000, (int)(t->t % 1000), t->node,
            fo__kind_name(t->kind));
    switch (t->kind) {
    case FO__T_SEND:
    case FO__T_RECV:
    case FO__T_DROP:
        fprintf(f, "%s n%d %s%s%s%s term=%" PRIu64, t->kind == FO__T_RECV ? "<-" : "->", t->peer,
                fo_raft_msg_type_name(t->mtype), (t->flags & FO_RAFT_MSG_REJECT) ? " REJECT" : "",
                (t->flags & FO_RAFT_MSG_TRANSFER) ? " TRANSFER" : "",
                (t->flags & FO_RAFT_MSG_SNAP_PROGRESS) ? " PROGRESS" : "", t->a);
        switch (t->mtype) {
        case FO_RAFT_MSG_APPEND:
            fprintf(f, " prev=%" PRIu64 " n=%" PRIu64 " commit=%" PRIu64, t->b, t->c, t->d);
            break;
        case FO_RAFT_MSG_APPEND_RESP:
            fprintf(f, " index=%" PRIu64 " hint=%" PRIu64, t->b, t->c);
            break;
        case FO_RAFT_MSG_VOTE:
        case FO_RAFT_MSG_PREVOTE:
            fprintf(f, " last=%" PRIu64 "/%" PRIu64, t->b, t->d);
            break;
        case FO_RAFT_MSG_SNAPSHOT:
            fprintf(f, " index=%" PRIu64 " offset=%" PRIu64 "/%" PRIu64, t->b, t->c, t->d);
            break;
        default:
            break;
        }
        if (t->kind == FO__T_DROP && t->node == t->peer)
            fprintf(f, " (node down)");
        break;
    case FO__T_STATE:
        fprintf(f, "%s term=%" PRIu64 " leader=%" PRIu64,
                fo_raft_state_name((enum fo_raft_state)t->flags), t->a, t->b);
        break;
    case FO__T_LEADER:
        fprintf(f, "term=%" PRIu64 " last=%" PRIu64, t->a, t->b);
        break;
    case FO__T_COMMIT:
        fprintf(f, "commit=%" PRIu64 " term=%" PRIu64, t->a, t->b);
        break;
    case FO__T_PERSIST:
        fprintf(f, "%s index=%" PRIu64 " term=%" PRIu64, t->flags ? "snapshot" : "entries", t->a,
                t->b);
        break;
    case FO__T_PROPOSE:
        fprintf(f, "index=%" PRIu64 " term=%" PRIu64 " rc=%d", t->a, t->b, (int)(int64_t)t->c);
        break;
    case FO__T_CUT:
    case FO__T_SLOW:
        fprintf(f, "link n%d->n%d for %" PRIu64 " ms extra=%" PRIu64 "ms", t->node, t->peer, t->a,
                t->b);
        break;
    case FO__T_RESTART:
        fprintf(f, "term=%" PRIu64 " snapshot=%" PRIu64 " last=%" PRIu64, t->a, t->b, t->c);
        break;
    default:
        fprintf(f, "a=%" PRIu64 " b=%" PRIu64 " c=%" PRIu64, t->a, t->b, t->c);
        break;
    }
    fputc('\n', f);
}

void fo__sim_trace(struct fo__sim *s, int kind, int node, int peer, int mtype, int flags,
                   uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    struct fo__sim_trace_rec *t = &s->trace[s->trace_n++ % s->trace_cap];
    t->t = s->now;
    t->kind = (uint8_t)kind;
    t->node = (uint8_t)node;
    t->peer = (uint8_t)peer;
    t->mtype = (uint8_t)mtype;
    t->flags = (uint8_t)flags;
    t->a = a;
    t->b = b;
    t->c = c;
    t->d = d;
    if (s->o.verbose && s->o.out)
        fo__sim_trace_print(t, s->o.out);
}

void fo__sim_trace_msg(struct fo__sim *s, int kind, int node, int peer, const struct fo_raft_msg *m)
{
    uint64_t c = m->hint, d = m->commit;
    if (m->type == FO_RAFT_MSG_APPEND)
        c = m->n_entries;
    else if (m->type == FO_RAFT_MSG_SNAPSHOT) {
        c = m->snap_offset;
        d = m->snap_total;
    } else if (m->type == FO_RAFT_MSG_VOTE || m->type == FO_RAFT_MSG_PREVOTE)
        d = m->log_term;
    fo__sim_trace(s, kind, node, peer, m->type, m->flags, m->term, m->index, c, d);
}

void fo__sim_trace_dump(const struct fo__sim *s, FILE *f, size_t last)
{
    size_t have = s->trace_n < s->trace_cap ? s->trace_n : s->trace_cap;
    if (last > have)
        last = have;
    for (size_t i = s->trace_n - last; i < s->trace_n; i++)
        fo__sim_trace_print(&s->trace[i % s->trace_cap], f);
}
