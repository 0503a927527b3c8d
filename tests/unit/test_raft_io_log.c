/* Unit tests for the Raft log's segments: append/read/reopen, rollover, torn tails that are cut,
 * damage that is reported with file and offset, truncation, compaction and reset. */
#include "raft_io_test.h"

/* ---- log ---------------------------------------------------------------------------------- */

static void test_log_append_read_reopen(void **state)
{
    const char *dir = *state;
    struct fo_raft_log *log = open_log(dir, 0);
    struct fo_err err = {0};
    assert_int_equal(fo_raft_log_first_index(log), 1);
    assert_int_equal(fo_raft_log_last_index(log), 0);
    assert_int_equal(fo_raft_log_last_term(log), 0);
    append_range(log, 1, 100, 1);
    append_range(log, 101, 150, 3);
    assert_int_equal(fo_raft_log_last_index(log), 150);
    assert_int_equal(fo_raft_log_durable_index(log), 150);
    assert_int_equal(fo_raft_log_last_term(log), 3);
    for (uint64_t i = 1; i <= 150; i++)
        check_entry(log, i, i <= 100 ? 1 : 3);
    struct fo_raft_entry got;
    assert_int_equal(fo_raft_log_get(log, 151, &got, &err), -FO_ENOENT);
    assert_int_equal(fo_raft_log_get(log, 0, &got, &err), -FO_ENOENT);
    uint64_t t = 0;
    assert_int_equal(fo_raft_log_term(log, 151, &t), -FO_ENOENT);

    /* range read with a count limit, then a byte limit */
    struct fo_raft_entry *v = NULL;
    size_t n = 0;
    assert_int_equal(fo_raft_log_read(log, 95, 10, SIZE_MAX, &v, &n, &err), 0);
    assert_int_equal(n, 10);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(v[k].index, 95 + k);
        assert_int_equal(v[k].term, 95 + k <= 100 ? 1 : 3);
        assert_int_equal(v[k].len, payload_len(95 + k));
    }
    fo_raft_entries_free(v, n);
    assert_int_equal(fo_raft_log_read(log, 140, 100, 0, &v, &n, &err), 0);
    assert_int_equal(n, 1); /* at least one */
    fo_raft_entries_free(v, n);
    assert_int_equal(fo_raft_log_read(log, 140, 100, SIZE_MAX, &v, &n, &err), 0);
    assert_int_equal(n, 11);
    fo_raft_entries_free(v, n);
    fo_raft_log_close(log);

    log = open_log(dir, 0);
    assert_int_equal(fo_raft_log_first_index(log), 1);
    assert_int_equal(fo_raft_log_last_index(log), 150);
    assert_int_equal(fo_raft_log_durable_index(log), 150);
    for (uint64_t i = 1; i <= 150; i++)
        check_entry(log, i, i <= 100 ? 1 : 3);
    append_range(log, 151, 160, 3);
    check_entry(log, 160, 3);
    fo_raft_log_close(log);
}

static void test_log_append_rejects(void **state)
{
    const char *dir = *state;
    struct fo_raft_log *log = open_log(dir, 1024);
    struct fo_err err = {0};
    unsigned char buf[64];
    append_range(log, 1, 5, 2);
    struct fo_raft_entry e = mk(7, 2, buf);
    assert_int_equal(fo_raft_log_append(log, &e, 1, &err), -FO_EINVAL); /* gap */
    e = mk(5, 2, buf);
    assert_int_equal(fo_raft_log_append(log, &e, 1, &err), -FO_EINVAL); /* overlap */
    e = mk(6, 1, buf);
    assert_int_equal(fo_raft_log_append(log, &e, 1, &err), -FO_EINVAL); /* lower term */
    unsigned char *big = calloc(1, 2000);
    struct fo_raft_entry b = {.index = 6, .term = 2, .type = 2, .len = 2000, .data = big};
    assert_int_equal(fo_raft_log_append(log, &b, 1, &err), -FO_ETOOBIG);
    free(big);
    assert_int_equal(fo_raft_log_last_index(log), 5);
    append_range(log, 6, 6, 2);
    fo_raft_log_close(log);
    struct fo_raft_log_opts o = {.segment_max = 10};
    struct fo_raft_log *bad = NULL;
    assert_int_equal(fo_raft_log_open(dir, &o, &bad, &err), -FO_EINVAL);
}

static void test_log_rollover(void **state)
{
    const char *dir = *state;
    struct fo_raft_log *log = open_log(dir, 512);
    struct fo_err err = {0};
    /* one append call spanning several segments */
    unsigned char bufs[200][64];
    struct fo_raft_entry v[200];
    for (uint64_t i = 1; i <= 200; i++)
        v[i - 1] = mk(i, 1 + i / 50, bufs[i - 1]);
    assert_int_equal(fo_raft_log_append(log, v, 200, &err), 0);
    assert_int_equal(fo_raft_log_sync(log, &err), 0);
    char ldir[512];
    snprintf(ldir, sizeof(ldir), "%s/log", dir);
    size_t nseg = count_files(ldir, ".seg");
    assert_true(nseg >= 10);
    fo_raft_log_close(log);

    log = open_log(dir, 512);
    assert_int_equal(fo_raft_log_last_index(log), 200);
    for (uint64_t i = 1; i <= 200; i++)
        check_entry(log, i, 1 + i / 50);
    /* every file is named by its first index and none exceeds the limit */
    uint64_t first = 1;
    size_t seen = 0;
    while (first <= 200) {
        char *p = seg_path(dir, first);
        off_t sz = file_size(p);
        assert_true(sz > 0 && sz <= 512);
        uint64_t i = first;
        off_t acc = 0;
        while (i <= 200 && acc + 25 + payload_len(i) <= sz)
            acc += 25 + payload_len(i++);
        assert_int_equal(acc, sz);
        free(p);
        first = i;
        seen++;
    }
    assert_int_equal(seen, nseg);
    /* a range read across segment boundaries */
    struct fo_raft_entry *r = NULL;
    size_t n = 0;
    assert_int_equal(fo_raft_log_read(log, 3, 190, SIZE_MAX, &r, &n, &err), 0);
    assert_int_equal(n, 190);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(r[k].index, 3 + k);
    fo_raft_entries_free(r, n);
    fo_raft_log_close(log);
}

static void test_log_torn_tail_cut(void **state)
{
    const char *dir = *state;
    struct fo_raft_log *log = open_log(dir, 0);
    append_range(log, 1, 20, 1);
    fo_raft_log_close(log);
    char *p = seg_path(dir, 1);

    /* 1: the last record cut in the middle */
    off_t end19 = rec_off(1, 20);
    assert_int_equal(truncate(p, end19 + 10), 0);
    log = open_log(dir, 0);
    assert_int_equal(fo_raft_log_last_index(log), 19);
    assert_int_equal(file_size(p), end19);
    append_range(log, 20, 25, 2);
    fo_raft_log_close(log);
    log = open_log(dir, 0);
    assert_int_equal(fo_raft_log_last_index(log), 25);
    check_entry(log, 19, 1);
    check_entry(log, 25, 2);
    fo_raft_log_close(log);

    /* 2: garbage after the last record, then 3: zeros (an extended, unwritten tail) */
    off_t end = file_size(p);
    for (int round = 0; round < 2; round++) {
        int fd = open(p, O_WRONLY | O_APPEND);
        unsigned char junk[300];
        for (size_t k = 0; k < sizeof(junk); k++)
            junk[k] = round ? 0 : (unsigned char)(k * 13 + 7);
        assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
        close(fd);
        log = open_log(dir, 0);
        assert_int_equal(fo_raft_log_last_index(log), 25);
        assert_int_equal(file_size(p), end);
        fo_raft_log_close(log);
    }
    free(p);
}

/* A damaged byte inside the final record cannot be told from a torn write: it is cut. */
static void test_log_final_record_damage_cut(void **state)
{
    const char *dir = *state;
    struct fo_raft_log *log = open_log(dir, 0);
    append_range(log, 1, 10, 1);
    fo_raft_log_close(log);
    char *p = seg_path(dir, 1);
    flip_byte(p, rec_off(1, 10) + 20);
    log = open_log(dir, 0);
    assert_int_equal(fo_raft_log_last_index(log), 9);
    assert_int_equal(file_size(p), rec_off(1, 10));
    fo_raft_log_close(log);
    free(p);
}

static void test_log_middle_corruption(void **state)
{
    const char *dir = *state;
    struct fo_raft_log *log = open_log(dir, 0), *bad = NULL;
    struct fo_err err = {0};
    char want[64];
    append_range(log, 1, 30, 1);
    fo_raft_log_close(log);
    char *p = seg_path(dir, 1);
    off_t off = rec_off(1, 15);
    flip_byte(p, off + 12); /* inside the index field: the CRC no longer matches */
    assert_int_equal(fo_raft_log_open(dir, NULL, &bad, &err), -FO_ECORRUPT);
    assert_null(bad);
    assert_int_equal(err.code, -FO_ECORRUPT);
    assert_non_null(strstr(err.msg, p));
    snprintf(want, sizeof(want), "offset %lld ", (long long)off);
    assert_non_null(strstr(err.msg, want));
    /* the file is left alone for an operator to look at */
    assert_int_equal(file_size(p), rec_off(1, 31));
    free(p);
}

static void test_log_earlier_segment_tail_is_corruption(void **state)
{
    const char *dir = *state;
    struct fo_raft_log *log = open_log(dir, 300), *bad = NULL;
    struct fo_err err = {0};
    append_range(log, 1, 40, 1);
    fo_raft_log_close(log);
    char *p = seg_path(dir, 1);
    off_t sz = file_size(p);
    assert_true(sz > 0);
    /* the final record of the FIRST segment: a bad tail there is not torn, it is damage */
    assert_int_equal(truncate(p, sz - 3), 0);
    assert_int_equal(fo_raft_log_open(dir, NULL, &bad, &err), -FO_ECORRUPT);
    assert_non_null(strstr(err.msg, p));
    free(p);
}

static void test_log_gap_between_segments(void **state)
{
    const char *dir = *state;
    struct fo_raft_log *log = open_log(dir, 300), *bad = NULL;
    struct fo_err err = {0};
    append_range(log, 1, 40, 1);
    fo_raft_log_close(log);
    /* rename the second segment one index later: a gap */
    uint64_t second = 2;
    while (second <= 40 && seg_size(dir, second) < 0)
        second++;
    assert_true(second <= 40);
    char *a = seg_path(dir, second), *b = seg_path(dir, second + 1);
    assert_int_equal(rename(a, b), 0);
    assert_int_equal(fo_raft_log_open(dir, NULL, &bad, &err), -FO_ECORRUPT);
    assert_non_null(strstr(err.msg, b));
    free(a);
    free(b);
}

/* Writes a valid record by hand (the append API refuses bad sequences). */
static void put_rec(int fd, uint64_t index, uint64_t term)
{
    unsigned char r[25 + 3];
    fo__raft_io_put32(r, 17 + 3);
    fo__raft_io_put64(r + 8, index);
    fo__raft_io_put64(r + 16, term);
    r[24] = FO_RAFT_ENTRY_COMMAND;
    memcpy(r + 25, "abc", 3);
    fo__raft_io_put32(r + 4, fo_crc32c(0, r + 8, 17 + 3));
    assert_int_equal(write(fd, r, sizeof(r)), (ssize_t)sizeof(r));
}

/* CRC-valid records out of order are corruption even at the tail: no torn write makes them. */
static void test_log_bad_sequence(void **state)
{
    const char *dir = *state;
    static const uint64_t cases[2][3][2] = {{{1, 2}, {2, 1}, {3, 1}}, {{1, 1}, {3, 1}, {4, 1}}};
    static const char *const why[2] = {"term 1 after term 2", "index 3 where 2 belongs"};
    for (int c = 0; c < 2; c++) {
        struct fo_raft_log *bad = NULL;
        struct fo_err err = {0};
        char *p = seg_path(dir, 1);
        if (c == 0) { /* creates DIR/log */
            assert_int_equal(fo_raft_log_open(dir, NULL, &bad, &err), 0);
            fo_raft_log_close(bad);
        }
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        for (int k = 0; k < 3; k++)
            put_rec(fd, cases[c][k][0], cases[c][k][1]);
        close(fd);
        assert_int_equal(fo_raft_log_open(dir, NULL, &bad, &err), -FO_ECORRUPT);
        assert_non_null(strstr(err.msg, why[c]));
        assert_non_null(strstr(err.msg, "offset 28 "));
        free(p);
    }
}

static void test_log_truncate_then_new_term(void **state)
{
    const char *dir = *state;
    struct fo_raft_log *log = open_log(dir, 400);
    struct fo_err err = {0};
    append_range(log, 1, 60, 1);
    assert_int_equal(fo_raft_log_truncate(log, 61, &err), 0); /* past the end: no-op */
    assert_int_equal(fo_raft_log_last_index(log), 60);
    assert_int_equal(fo_raft_log_truncate(log, 12, &err), 0); /* spans several segments */
    assert_int_equal(fo_raft_log_last_index(log), 11);
    assert_int_equal(fo_raft_log_durable_index(log), 11);
    uint64_t t;
    assert_int_equal(fo_raft_log_term(log, 12, &t), -FO_ENOENT);
    append_range(log, 12, 30, 2);
    fo_raft_log_close(log);
    log = open_log(dir, 400);
    assert_int_equal(fo_raft_log_last_index(log), 30);
    for (uint64_t i = 1; i <= 30; i++)
        check_entry(log, i, i <= 11 ? 1 : 2);
    /* truncating at a segment's first index leaves it empty, and reopening works */
    uint64_t first_of_last = 30;
    while (first_of_last > 1 && seg_size(dir, first_of_last) < 0)
        first_of_last--;
    assert_int_equal(fo_raft_log_truncate(log, first_of_last, &err), 0);
    fo_raft_log_close(log);
    log = open_log(dir, 400);
    assert_int_equal(fo_raft_log_last_index(log), first_of_last - 1);
    append_range(log, first_of_last, first_of_last + 3, 4);
    check_entry(log, first_of_last + 3, 4);
    assert_int_equal(fo_raft_log_truncate(log, 0, &err), -FO_EINVAL);
    /* everything */
    assert_int_equal(fo_raft_log_truncate(log, 1, &err), 0);
    assert_int_equal(fo_raft_log_last_index(log), 0);
    append_range(log, 1, 2, 5);
    fo_raft_log_close(log);
    log = open_log(dir, 400);
    assert_int_equal(fo_raft_log_last_index(log), 2);
    check_entry(log, 2, 5);
    fo_raft_log_close(log);
}

static void test_log_compact_and_reset(void **state)
{
    const char *dir = *state;
    struct fo_raft_log *log = open_log(dir, 400);
    struct fo_err err = {0};
    char ldir[512];
    snprintf(ldir, sizeof(ldir), "%s/log", dir);
    append_range(log, 1, 100, 1);
    size_t before = count_files(ldir, ".seg");
    assert_int_equal(fo_raft_log_compact(log, 0, &err), 0);
    assert_int_equal(count_files(ldir, ".seg"), before);
    assert_int_equal(fo_raft_log_compact(log, 50, &err), 0);
    uint64_t first = fo_raft_log_first_index(log);
    assert_true(first > 1 && first <= 51);
    size_t after = count_files(ldir, ".seg");
    assert_true(after < before);
    char *gone = seg_path(dir, 1);
    assert_int_equal(file_size(gone), -1);
    free(gone);
    struct fo_raft_entry e;
    assert_int_equal(fo_raft_log_get(log, first - 1, &e, &err), -FO_ENOENT);
    for (uint64_t i = first; i <= 100; i++)
        check_entry(log, i, 1);
    /* compaction past the end keeps the active segment */
    assert_int_equal(fo_raft_log_compact(log, 1000, &err), 0);
    assert_int_equal(count_files(ldir, ".seg"), 1);
    assert_int_equal(fo_raft_log_last_index(log), 100);
    uint64_t first2 = fo_raft_log_first_index(log);
    fo_raft_log_close(log);
    log = open_log(dir, 400);
    assert_int_equal(fo_raft_log_first_index(log), first2);
    assert_int_equal(fo_raft_log_last_index(log), 100);
    append_range(log, 101, 105, 2);

    /* reset after installing a snapshot at 499 */
    assert_int_equal(fo_raft_log_reset(log, 500, &err), 0);
    assert_int_equal(fo_raft_log_first_index(log), 500);
    assert_int_equal(fo_raft_log_last_index(log), 499);
    assert_int_equal(fo_raft_log_last_term(log), 0);
    fo_raft_log_close(log);
    log = open_log(dir, 400);
    assert_int_equal(fo_raft_log_first_index(log), 500);
    assert_int_equal(fo_raft_log_last_index(log), 499);
    assert_int_equal(count_files(ldir, ".seg"), 1);
    append_range(log, 500, 510, 7);
    check_entry(log, 505, 7);
    fo_raft_log_close(log);
}

int main(void)
{
    fo_log_setup(FO_LOG_ERROR, FO_LOG_LOGFMT, NULL);
    const struct CMUnitTest tests[] = {
        T(test_log_append_read_reopen),
        T(test_log_append_rejects),
        T(test_log_rollover),
        T(test_log_torn_tail_cut),
        T(test_log_final_record_damage_cut),
        T(test_log_middle_corruption),
        T(test_log_earlier_segment_tail_is_corruption),
        T(test_log_gap_between_segments),
        T(test_log_bad_sequence),
        T(test_log_truncate_then_new_term),
        T(test_log_compact_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
