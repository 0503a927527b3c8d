/* Counters the scripted fake check plugin (fake_plugin.c) exports as `fake_counters`, so that
 * the check engine's tests can see what the host asked of it. */
#ifndef FO_TESTS_FAKE_PLUGIN_H
#define FO_TESTS_FAKE_PLUGIN_H

struct fake_counters {
    int inits;
    int destroys;
    int starts;
    int cancels;
    int dones;
    int inflight;     /* runs started, neither done nor cancelled */
    int max_inflight; /* across all instances */
    int overlaps;     /* start() on an instance whose run was still in flight: a host bug */
};

#endif
