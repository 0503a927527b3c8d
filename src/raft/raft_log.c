/* The core's in-memory log: the entries after the last snapshot, in one array. Entries own
 * their data. */
#include "raft/raft_int.h"

#include "core/fo.h"

#include <stdlib.h>
#include <string.h>

uint64_t fo__log_last_index(const struct fo__log *l)
{
    return l->snap_index + l->n;
}

uint64_t fo__log_last_term(const struct fo__log *l)
{
    return l->n ? l->ents[l->n - 1].term : l->snap_term;
}

bool fo__log_term(const struct fo__log *l, uint64_t index, uint64_t *term)
{
    if (index == l->snap_index) {
        *term = l->snap_term;
        return true;
    }
    if (index < l->snap_index || index > fo__log_last_index(l))
        return false;
    *term = l->ents[index - l->snap_index - 1].term;
    return true;
}

const struct fo_raft_entry *fo__log_get(const struct fo__log *l, uint64_t index)
{
    if (index <= l->snap_index || index > fo__log_last_index(l))
        return NULL;
    return &l->ents[index - l->snap_index - 1];
}

void fo__entry_copy(struct fo_raft_entry *dst, const struct fo_raft_entry *src)
{
    *dst = *src;
    dst->data = NULL;
    if (src->len) {
        dst->data = fo_xmalloc(src->len);
        memcpy(dst->data, src->data, src->len);
    }
}

void fo__log_append(struct fo__log *l, const struct fo_raft_entry *e)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->ents = fo_xrealloc(l->ents, l->cap * sizeof(*l->ents));
    }
    fo__entry_copy(&l->ents[l->n], e);
    l->ents[l->n].index = fo__log_last_index(l) + 1;
    l->n++;
}

void fo__log_truncate(struct fo__log *l, uint64_t from)
{
    if (from <= l->snap_index)
        from = l->snap_index + 1;
    while (fo__log_last_index(l) >= from && l->n > 0) {
        l->n--;
        free(l->ents[l->n].data);
        l->ents[l->n].data = NULL;
    }
}

void fo__log_compact(struct fo__log *l, uint64_t upto, uint64_t term)
{
    if (upto <= l->snap_index)
        return;
    size_t drop = (size_t)(upto - l->snap_index);
    if (drop > l->n)
        drop = l->n;
    if (drop) {
        for (size_t i = 0; i < drop; i++)
            free(l->ents[i].data);
        memmove(l->ents, l->ents + drop, (l->n - drop) * sizeof(*l->ents));
        l->n -= drop;
    }
    l->snap_index = upto;
    l->snap_term = term;
}

void fo__log_reset(struct fo__log *l, uint64_t snap_index, uint64_t snap_term)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->ents[i].data);
    l->n = 0;
    l->snap_index = snap_index;
    l->snap_term = snap_term;
}

void fo__log_free(struct fo__log *l)
{
    fo__log_reset(l, 0, 0);
    free(l->ents);
    l->ents = NULL;
    l->cap = 0;
}

uint64_t fo__log_conflict_by_term(const struct fo__log *l, uint64_t index, uint64_t term)
{
    uint64_t last = fo__log_last_index(l);
    if (index > last)
        index = last;
    while (index > l->snap_index && l->ents[index - l->snap_index - 1].term > term)
        index--;
    return index;
}
