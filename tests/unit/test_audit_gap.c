/* The audit gap after a snapshot install: records fetched from a peer's file are verified like
 * the verifier does (changed, out of order, another chain), the chain must land on the snapshot's
 * hash, records of newer entries wait behind the gap, and read_lines serves the right range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"

struct dirs {
    char d[6][64];
    int n;
};

static char *mkdir_tmp(struct dirs *ds)
{
    char *d = ds->d[ds->n++];
    snprintf(d, 64, "/tmp/fo-audit-gap-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static int teardown(void **state)
{
    struct dirs *ds = *state;
    for (int i = 0; i < ds->n; i++) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", ds->d[i]);
        assert_int_equal(system(cmd), 0);
    }
    free(ds);
    return 0;
}

static int setup(void **state)
{
    *state = calloc(1, sizeof(struct dirs));
    return *state ? 0 : -1;
}

/* Record i of a chain: the same on every agent, unless the chain forks at `fork` (0: never). */
static int add(struct fo_audit *a, uint64_t i, uint64_t fork)
{
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "n", json_object_new_int64((int64_t)i));
    json_object_object_add(d, "text", json_object_new_string("a/b \"q\""));
    if (fork && i >= fork)
        json_object_object_add(d, "fork", json_object_new_boolean(1));
    int rc = fo_audit_append(a, i, 2, 1000 + (int64_t)i, "test", "note", d);
    json_object_put(d);
    return rc;
}

static struct fo_audit *chain(struct dirs *ds, uint64_t n, uint64_t fork)
{
    struct fo_err err = {0};
    struct fo_audit *a = fo_audit_open(mkdir_tmp(ds), &err);
    assert_non_null(a);
    for (uint64_t i = 1; i <= n; i++)
        assert_int_equal(add(a, i, fork), 0);
    return a;
}

/* The stored line of record i (with its newline), malloc'd. */
static char *line_of(struct fo_audit *a, uint64_t i)
{
    char *out;
    size_t len, count;
    assert_int_equal(fo_audit_read_lines(a, i, i, 1 << 20, &out, &len, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(out[len - 1], '\n');
    return out;
}

static int feed(struct fo_audit *a, struct fo_audit *from, uint64_t i)
{
    char *l = line_of(from, i);
    struct fo_err err = {0};
    int rc = fo_audit_append_line(a, l, strlen(l), &err);
    free(l);
    return rc;
}

static char *path_of(struct dirs *ds, int i)
{
    static char p[128];
    snprintf(p, sizeof(p), "%s/audit.log", ds->d[i]);
    return p;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_gap_filled_from_peer_then_queue_written(void **state)
{
    struct dirs *ds = *state;
    struct fo_audit *lead = chain(ds, 10, 0), *lag = chain(ds, 3, 0);
    char h3[FO_AUDIT_HASH_HEX];
    snprintf(h3, sizeof(h3), "%s", fo_audit_head_hash(lag));
    /* the leader's snapshot at 7 (its head was 7 then) */
    struct fo_audit *at7 = chain(ds, 7, 0);
    char h7[FO_AUDIT_HASH_HEX];
    snprintf(h7, sizeof(h7), "%s", fo_audit_head_hash(at7));
    fo_audit_close(at7);

    uint64_t from = 0, to = 0;
    assert_int_equal(fo_audit_gap(lag, &from, &to), 0);
    assert_int_equal(fo_audit_begin_gap(lag, 7, h7), 0);
    assert_int_equal(fo_audit_gap(lag, &from, &to), 1);
    assert_int_equal(from, 4);
    assert_int_equal(to, 7);
    assert_int_equal(fo_audit_head_index(lag), 3);
    assert_string_equal(fo_audit_head_hash(lag), h3);
    assert_int_equal(fo_audit_last_index(lag), 7);
    assert_string_equal(fo_audit_last_hash(lag), h7);

    /* entries 8 and 9 are applied while the gap is open: queued, not lost, not in the file */
    assert_int_equal(add(lag, 8, 0), 0);
    assert_int_equal(add(lag, 9, 0), 0);
    assert_int_equal(add(lag, 8, 0), 0);           /* a replay is a no-op */
    assert_int_equal(add(lag, 11, 0), -FO_EINVAL); /* 10 is missing */
    assert_int_equal(fo_audit_head_index(lag), 3);
    assert_int_equal(fo_audit_last_index(lag), 9);
    uint64_t count, bad;
    char head[FO_AUDIT_HASH_HEX];
    struct fo_err err = {0};
    assert_int_equal(fo_audit_verify_file(path_of(ds, 1), &count, head, &bad, &err), 0);
    assert_int_equal(count, 3);

    /* lines the agent has already are skipped */
    assert_int_equal(feed(lag, lead, 2), 0);
    assert_int_equal(fo_audit_head_index(lag), 3);
    for (uint64_t i = 4; i <= 6; i++) {
        assert_int_equal(feed(lag, lead, i), 0);
        assert_int_equal(fo_audit_head_index(lag), i);
        assert_int_equal(fo_audit_gap(lag, &from, &to), 1);
        assert_int_equal(from, i + 1);
    }
    assert_int_equal(feed(lag, lead, 7), 0);
    /* the gap closed and the queued 8, 9 followed in order */
    assert_int_equal(fo_audit_gap(lag, &from, &to), 0);
    assert_int_equal(fo_audit_head_index(lag), 9);
    assert_int_equal(fo_audit_last_index(lag), 9);
    assert_int_equal(fo_audit_sync(lag), 0);
    assert_int_equal(fo_audit_verify_file(path_of(ds, 1), &count, head, &bad, &err), 0);
    assert_int_equal(count, 9);
    assert_string_equal(head, fo_audit_head_hash(lag));
    /* byte for byte the leader's first nine records */
    char *mine = slurp(path_of(ds, 1)), *theirs, *all;
    size_t len, n;
    assert_int_equal(fo_audit_read_lines(lead, 1, 9, 1 << 20, &theirs, &len, &n), 0);
    assert_int_equal(n, 9);
    assert_string_equal(mine, theirs);
    free(mine);
    free(theirs);
    /* and it goes on appending normally; no gap: a peer line is refused */
    assert_int_equal(add(lag, 10, 0), 0);
    assert_int_equal(fo_audit_head_index(lag), 10);
    assert_string_equal(fo_audit_head_hash(lag), fo_audit_head_hash(lead));
    assert_int_equal(feed(lag, lead, 10), -FO_EINVAL);
    all = slurp(path_of(ds, 1));
    theirs = slurp(path_of(ds, 0));
    assert_string_equal(all, theirs);
    free(all);
    free(theirs);
    fo_audit_close(lead);
    fo_audit_close(lag);
}

static void test_tampered_foreign_and_out_of_order_lines_refused(void **state)
{
    struct dirs *ds = *state;
    struct fo_audit *lead = chain(ds, 8, 0), *lag = chain(ds, 3, 0), *other = chain(ds, 8, 2);
    assert_int_equal(fo_audit_begin_gap(lag, 8, fo_audit_head_hash(lead)), 0);
    struct fo_err err = {0};

    /* a changed byte: the stored hash no longer covers the record */
    char *l = line_of(lead, 4), *p = strstr(l, "\"n\":4");
    assert_non_null(p);
    p[4] = '5';
    assert_int_equal(fo_audit_append_line(lag, l, strlen(l), &err), -FO_EINVAL);
    assert_non_null(strstr(err.msg, "changed"));
    free(l);
    /* a consistent record of another chain: its prev is not our head */
    assert_int_equal(feed(lag, other, 4), -FO_EINVAL);
    /* garbage and two lines in one */
    assert_int_equal(fo_audit_append_line(lag, "{\"index\":4}", 11, &err), -FO_EINVAL);
    char *two = line_of(lead, 4), *five = line_of(lead, 5);
    two = realloc(two, strlen(two) + strlen(five) + 1);
    strcat(two, five);
    assert_int_equal(fo_audit_append_line(lag, two, strlen(two), &err), -FO_EINVAL);
    free(two);
    free(five);
    /* out of order: 5 before 4 */
    l = line_of(lead, 5);
    assert_int_equal(fo_audit_append_line(lag, l, strlen(l), &err), -FO_EINVAL);
    assert_non_null(strstr(err.msg, "record 5 does not follow 3"));
    free(l);
    assert_int_equal(fo_audit_head_index(lag), 3);
    uint64_t count, bad;
    char head[FO_AUDIT_HASH_HEX];
    assert_int_equal(fo_audit_verify_file(path_of(ds, 1), &count, head, &bad, &err), 0);
    assert_int_equal(count, 3);
    /* the right lines still go in afterwards */
    for (uint64_t i = 4; i <= 8; i++)
        assert_int_equal(feed(lag, lead, i), 0);
    assert_int_equal(fo_audit_gap(lag, NULL, NULL), 0);
    assert_string_equal(fo_audit_head_hash(lag), fo_audit_head_hash(lead));
    fo_audit_close(lead);
    fo_audit_close(lag);
    fo_audit_close(other);
}

static void test_chain_disagreeing_with_snapshot_is_corrupt_then_rebase(void **state)
{
    struct dirs *ds = *state;
    /* the snapshot says 7 is the forked chain's; the peer serves the plain one */
    struct fo_audit *peer = chain(ds, 8, 0), *lag = chain(ds, 3, 0), *fork = chain(ds, 7, 6);
    char h7[FO_AUDIT_HASH_HEX];
    snprintf(h7, sizeof(h7), "%s", fo_audit_head_hash(fork));
    fo_audit_close(fork);
    assert_int_equal(fo_audit_begin_gap(lag, 7, h7), 0);
    assert_int_equal(add(lag, 8, 6), 0); /* queued, chained after the snapshot's 7 */
    for (uint64_t i = 4; i <= 6; i++)
        assert_int_equal(feed(lag, peer, i), 0);
    struct fo_err err = {0};
    char *l = line_of(peer, 7);
    assert_int_equal(fo_audit_append_line(lag, l, strlen(l), &err), -FO_ECORRUPT);
    assert_non_null(strstr(err.msg, "snapshot"));
    free(l);
    assert_int_equal(fo_audit_head_index(lag), 6);
    assert_int_equal(fo_audit_gap(lag, NULL, NULL), 1);

    /* the fallback: the chain restarts at the snapshot, the queued record follows the base */
    assert_int_equal(fo_audit_abandon_gap(lag), 0);
    assert_int_equal(fo_audit_gap(lag, NULL, NULL), 0);
    assert_int_equal(fo_audit_head_index(lag), 8);
    char old[128];
    snprintf(old, sizeof(old), "%s/audit.log.6", ds->d[1]);
    struct stat sb;
    assert_int_equal(stat(old, &sb), 0);
    uint64_t count, bad;
    char head[FO_AUDIT_HASH_HEX];
    assert_int_equal(fo_audit_verify_file(path_of(ds, 1), &count, head, &bad, &err), 0);
    assert_int_equal(count, 1);
    assert_string_equal(head, fo_audit_head_hash(lag));
    /* a rebased file cannot serve below its base; above it, it can */
    char *out;
    size_t len, n;
    assert_int_equal(fo_audit_read_lines(lag, 5, 8, 1 << 20, &out, &len, &n), -FO_ENOENT);
    assert_null(out);
    assert_int_equal(fo_audit_read_lines(lag, 7, 8, 1 << 20, &out, &len, &n), -FO_ENOENT);
    assert_int_equal(fo_audit_read_lines(lag, 8, 8, 1 << 20, &out, &len, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(out, "{\"index\":8,", 11);
    free(out);
    fo_audit_close(peer);
    fo_audit_close(lag);
}

static void test_read_lines_ranges_and_bounds(void **state)
{
    struct dirs *ds = *state;
    struct fo_audit *a = chain(ds, 10, 0);
    char *file = slurp(path_of(ds, 0)), *out;
    size_t len, n;
    /* 3..5 are the file's lines 3..5, byte for byte */
    const char *p3 = file;
    for (int i = 0; i < 2; i++)
        p3 = strchr(p3, '\n') + 1;
    const char *p6 = p3;
    for (int i = 0; i < 3; i++)
        p6 = strchr(p6, '\n') + 1;
    assert_int_equal(fo_audit_read_lines(a, 3, 5, 1 << 20, &out, &len, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(len, (size_t)(p6 - p3));
    assert_memory_equal(out, p3, len);
    free(out);
    /* max_bytes stops early, but at least one line goes */
    size_t l3 = (size_t)(strchr(p3, '\n') + 1 - p3);
    assert_int_equal(fo_audit_read_lines(a, 3, 5, 1, &out, &len, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(len, l3);
    free(out);
    assert_int_equal(fo_audit_read_lines(a, 3, 10, 2 * l3 + 1, &out, &len, &n), 0);
    assert_int_equal(n, 2);
    free(out);
    /* `to` past the head is clamped; `from` past it is an empty answer */
    assert_int_equal(fo_audit_read_lines(a, 9, 1000, 1 << 20, &out, &len, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "{\"index\":9,", 11);
    assert_non_null(strstr(out, "\n{\"index\":10,"));
    free(out);
    assert_int_equal(fo_audit_read_lines(a, 11, 20, 1 << 20, &out, &len, &n), 0);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(fo_audit_read_lines(a, 0, 20, 1 << 20, &out, &len, &n), 0);
    assert_int_equal(n, 0);
    free(out);
    free(file);
    /* a file that is only a base line holds none of the records up to it */
    char base_hash[FO_AUDIT_HASH_HEX];
    snprintf(base_hash, sizeof(base_hash), "%s", fo_audit_head_hash(a));
    fo_audit_close(a);
    struct fo_err err = {0};
    a = fo_audit_open(mkdir_tmp(ds), &err);
    assert_non_null(a);
    assert_int_equal(fo_audit_rebase(a, 10, base_hash), 0);
    assert_int_equal(fo_audit_head_index(a), 10);
    assert_int_equal(fo_audit_read_lines(a, 8, 10, 1 << 20, &out, &len, &n), -FO_ENOENT);
    assert_int_equal(fo_audit_read_lines(a, 11, 11, 1 << 20, &out, &len, &n), 0);
    assert_int_equal(n, 0);
    free(out);
    fo_audit_close(a);
}

static void test_gap_moves_and_survives_restart(void **state)
{
    struct dirs *ds = *state;
    struct fo_audit *lead = chain(ds, 12, 0), *lag = chain(ds, 2, 0);
    struct fo_audit *at5 = chain(ds, 5, 0);
    char h5[FO_AUDIT_HASH_HEX], h12[FO_AUDIT_HASH_HEX];
    snprintf(h5, sizeof(h5), "%s", fo_audit_head_hash(at5));
    snprintf(h12, sizeof(h12), "%s", fo_audit_head_hash(lead));
    fo_audit_close(at5);
    assert_int_equal(fo_audit_begin_gap(lag, 5, "not-a-hash"), -FO_EINVAL);
    assert_int_equal(fo_audit_begin_gap(lag, 2, h5), 0); /* not ahead: nothing to do */
    assert_int_equal(fo_audit_gap(lag, NULL, NULL), 0);
    assert_int_equal(fo_audit_begin_gap(lag, 5, h5), 0);
    assert_int_equal(add(lag, 6, 0), 0);
    assert_int_equal(feed(lag, lead, 3), 0);
    /* a newer snapshot: the end moves, the queued 6 is dropped (it is in the gap now) */
    assert_int_equal(fo_audit_begin_gap(lag, 12, h12), 0);
    assert_int_equal(fo_audit_last_index(lag), 12);
    uint64_t from, to, count, bad;
    assert_int_equal(fo_audit_gap(lag, &from, &to), 1);
    assert_int_equal(from, 4);
    assert_int_equal(to, 12);
    for (uint64_t i = 4; i <= 8; i++)
        assert_int_equal(feed(lag, lead, i), 0);
    /* a crash: the file keeps what was verified, the gap is begun again from the snapshot */
    fo_audit_close(lag);
    struct fo_err err = {0};
    lag = fo_audit_open(ds->d[1], &err);
    assert_non_null(lag);
    assert_int_equal(fo_audit_head_index(lag), 8);
    assert_int_equal(fo_audit_begin_gap(lag, 12, h12), 0);
    char *lines, head[FO_AUDIT_HASH_HEX];
    size_t len, n;
    assert_int_equal(fo_audit_read_lines(lead, 9, 12, 1 << 20, &lines, &len, &n), 0);
    assert_int_equal(n, 4);
    for (char *l = lines, *nl; (nl = strchr(l, '\n')); l = nl + 1)
        assert_int_equal(fo_audit_append_line(lag, l, (size_t)(nl + 1 - l), &err), 0);
    free(lines);
    assert_int_equal(fo_audit_gap(lag, NULL, NULL), 0);
    assert_int_equal(fo_audit_head_index(lag), 12);
    assert_string_equal(fo_audit_head_hash(lag), h12);
    assert_int_equal(fo_audit_verify_file(path_of(ds, 1), &count, head, &bad, &err), 0);
    assert_int_equal(count, 12);
    fo_audit_close(lag);

    /* giving up past the queue: the chain restarts there and the queue goes */
    lag = chain(ds, 2, 0);
    assert_int_equal(fo_audit_begin_gap(lag, 5, h5), 0);
    assert_int_equal(add(lag, 6, 0), 0);
    assert_int_equal(fo_audit_rebase(lag, 6, h12), -FO_EINVAL); /* inside the queue */
    assert_int_equal(fo_audit_rebase(lag, 12, h12), 0);
    assert_int_equal(fo_audit_gap(lag, NULL, NULL), 0);
    assert_int_equal(fo_audit_head_index(lag), 12);
    assert_int_equal(fo_audit_last_index(lag), 12);
    assert_int_equal(add(lag, 13, 0), 0);
    assert_int_equal(fo_audit_head_index(lag), 13);
    assert_int_equal(fo_audit_verify_file(path_of(ds, 3), &count, head, &bad, &err), 0);
    assert_int_equal(count, 1);
    fo_audit_close(lead);
    fo_audit_close(lag);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gap_filled_from_peer_then_queue_written, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tampered_foreign_and_out_of_order_lines_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chain_disagreeing_with_snapshot_is_corrupt_then_rebase,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_lines_ranges_and_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_moves_and_survives_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
