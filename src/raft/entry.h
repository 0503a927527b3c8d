/* A Raft log entry as the core, storage and transport all see it. */
#ifndef FO_RAFT_ENTRY_H
#define FO_RAFT_ENTRY_H

#include <stddef.h>
#include <stdint.h>

enum fo_raft_entry_type {
    FO_RAFT_ENTRY_NOOP = 1,    /* the leader's first entry of its term */
    FO_RAFT_ENTRY_COMMAND = 2, /* payload: a JSON command for the state machine */
    FO_RAFT_ENTRY_CONFIG = 3,  /* payload: membership (voter ids) */
};

struct fo_raft_entry {
    uint64_t index;
    uint64_t term;
    uint8_t type;
    uint32_t len;
    unsigned char *data; /* len bytes, owned by whoever holds the entry */
};

#endif
