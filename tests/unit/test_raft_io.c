/* Unit tests for Raft storage: CRC32C vectors, the term/vote file, snapshots, write and fsync
 * failures of the log, a concurrent reader, and the thread-pool wrappers on a real libuv loop.
 * The segmented log's format and recovery are in test_raft_io_log.c. */
#include "raft_io_test.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>

/* fsync and fdatasync are interposed: this binary's definitions win over libc's for the storage
 * code linked into it. They can be made to fail, and fdatasync records which file it synced. */
static int fail_fsync;
static char synced[8][512];
static int nsynced;

int fdatasync(int fd)
{
    char link[64];
    if (nsynced < 8) {
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, synced[nsynced], sizeof(synced[0]) - 1);
        synced[nsynced++][n > 0 ? n : 0] = '\0';
    }
    if (fail_fsync) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd)
{
    if (fail_fsync) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fsync, fd);
}

/* ---- CRC32C ------------------------------------------------------------------------------ */

static void test_crc_vectors(void **state)
{
    unsigned char b[32];
    uint32_t (*impl[2])(uint32_t, const void *, size_t) = {fo_crc32c_sw, fo_crc32c_hw};
    for (int k = 0; k < 2; k++) {
        memset(b, 0, 32);
        assert_int_equal(impl[k](0, b, 32), 0x8A9136AA);
        memset(b, 0xFF, 32);
        assert_int_equal(impl[k](0, b, 32), 0x62A8AB43);
        for (int i = 0; i < 32; i++)
            b[i] = (unsigned char)i;
        assert_int_equal(impl[k](0, b, 32), 0x46DD794E);
        for (int i = 0; i < 32; i++)
            b[i] = (unsigned char)(31 - i);
        assert_int_equal(impl[k](0, b, 32), 0x113FDB5C);
        assert_int_equal(impl[k](0, "123456789", 9), 0xE3069283);
        assert_int_equal(impl[k](0, "", 0), 0);
    }
    assert_int_equal(fo_crc32c(0, "123456789", 9), 0xE3069283);
    print_message("crc32c: hardware path %s\n", fo_crc32c_hw_available() ? "used" : "absent");
}

static void test_crc_random_agree(void **state)
{
    enum { N = 4096 };
    unsigned char *b = malloc(N + 8);
    unsigned s = 12345;
    for (int i = 0; i < N + 8; i++) {
        s = s * 1103515245u + 12345u;
        b[i] = (unsigned char)(s >> 16);
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len < N; len += 1 + len / 3) {
            uint32_t sw = fo_crc32c_sw(0, b + off, len), hw = fo_crc32c_hw(0, b + off, len);
            assert_int_equal(sw, hw);
            /* chaining over a split equals one pass */
            size_t cut = len / 3;
            assert_int_equal(fo_crc32c(fo_crc32c(0, b + off, cut), b + off + cut, len - cut), sw);
        }
    free(b);
}

/* ---- term and vote ------------------------------------------------------------------------ */

static void test_meta_roundtrip(void **state)
{
    const char *dir = *state;
    struct fo_raft_meta m = {.term = 99, .voted_for = 99};
    struct fo_err err = {0};
    assert_int_equal(fo_raft_meta_load(dir, &m, &err), 0);
    assert_int_equal(m.term, 0);
    assert_int_equal(m.voted_for, 0);
    m.term = 7;
    m.voted_for = 3;
    assert_int_equal(fo_raft_meta_store(dir, &m, &err), 0);
    m.term = 8;
    m.voted_for = 0;
    assert_int_equal(fo_raft_meta_store(dir, &m, &err), 0);
    struct fo_raft_meta got;
    assert_int_equal(fo_raft_meta_load(dir, &got, &err), 0);
    assert_int_equal(got.term, 8);
    assert_int_equal(got.voted_for, 0);
    assert_int_equal(fo_raft_meta_load("/tmp/fo_raft_io_does_not_exist", &got, &err), 0);
}

static void test_meta_crash_leaves_old(void **state)
{
    const char *dir = *state;
    struct fo_raft_meta m = {.term = 5, .voted_for = 2}, got;
    struct fo_err err = {0};
    char path[512];
    assert_int_equal(fo_raft_meta_store(dir, &m, &err), 0);
    /* A crash between writing the tmp file and the rename: a half-written new value. */
    snprintf(path, sizeof(path), "%s/meta.tmp", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("FOMT\x01\x00\x00", f);
    fclose(f);
    assert_int_equal(fo_raft_meta_load(dir, &got, &err), 0);
    assert_int_equal(got.term, 5);
    assert_int_equal(got.voted_for, 2);
    /* the next store replaces the leftover */
    m.term = 6;
    assert_int_equal(fo_raft_meta_store(dir, &m, &err), 0);
    assert_int_equal(fo_raft_meta_load(dir, &got, &err), 0);
    assert_int_equal(got.term, 6);
    assert_int_equal(file_size(path), -1);
    /* a damaged meta file is an error, never a silent reset to term 0 */
    snprintf(path, sizeof(path), "%s/meta", dir);
    flip_byte(path, 9);
    assert_int_equal(fo_raft_meta_load(dir, &got, &err), -FO_ECORRUPT);
    assert_non_null(strstr(err.msg, "CRC"));
}

/* ---- log ---------------------------------------------------------------------------------- */

static void test_log_write_error_undone(void **state)
{
    const char *dir = *state;
    struct fo_raft_log *log = open_log(dir, 4096);
    struct fo_err err = {0};
    struct rlimit old, lim;
    append_range(log, 1, 10, 1);
    off_t size = seg_size(dir, 1);
    /* A file size limit makes the write fail part way, as a full disk would. */
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)size + 100;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    unsigned char bufs[60][64];
    struct fo_raft_entry v[60];
    for (uint64_t i = 11; i <= 70; i++)
        v[i - 11] = mk(i, 1, bufs[i - 11]);
    int rc = fo_raft_log_append(log, v, 60, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_true(rc < 0);
    assert_int_equal(fo_raft_log_last_index(log), 10);
    assert_int_equal(seg_size(dir, 1), size);
    /* the log still works, and a reopen sees only what was appended */
    append_range(log, 11, 12, 1);
    fo_raft_log_close(log);
    log = open_log(dir, 4096);
    assert_int_equal(fo_raft_log_last_index(log), 12);
    fo_raft_log_close(log);
    assert_int_equal(fo__raft_io_errno(ENOSPC), -FO_ENOSPC);
    assert_int_equal(fo__raft_io_errno(EDQUOT), -FO_ENOSPC);
    assert_int_equal(fo__raft_io_errno(EIO), -EIO);
}

static void test_log_fsync_order_and_failure(void **state)
{
    const char *dir = *state;
    struct fo_raft_log *log = open_log(dir, 400);
    struct fo_err err = {0};
    unsigned char buf[64];
    append_range(log, 1, 5, 1);
    /* A rollover syncs the full segment before anything goes into the next one. */
    nsynced = 0;
    for (uint64_t i = 6; fo_raft_log_last_index(log) < 40; i++) {
        struct fo_raft_entry e = mk(i, 1, buf);
        assert_int_equal(fo_raft_log_append(log, &e, 1, &err), 0);
    }
    assert_true(nsynced >= 1);
    assert_non_null(strstr(synced[0], "/0000000000000001.seg"));

    /* A failed fdatasync is fatal and sticky: no retry may pretend the data is safe. */
    fail_fsync = 1;
    assert_int_equal(fo_raft_log_sync(log, &err), -FO_EFSYNC);
    assert_non_null(strstr(err.msg, "fdatasync"));
    fail_fsync = 0;
    assert_int_equal(fo_raft_log_sync(log, &err), -FO_EFSYNC);
    struct fo_raft_entry e = mk(41, 1, buf);
    assert_int_equal(fo_raft_log_append(log, &e, 1, &err), -FO_EFSYNC);
    assert_int_equal(fo_raft_log_truncate(log, 3, &err), -FO_EFSYNC);
    assert_true(fo_raft_log_durable_index(log) < 40);
    check_entry(log, 40, 1); /* reading still works */
    fo_raft_log_close(log);

    /* term/vote: a failed fsync reports -FO_EFSYNC and the old value stays */
    struct fo_raft_meta m = {.term = 3, .voted_for = 1}, got;
    assert_int_equal(fo_raft_meta_store(dir, &m, &err), 0);
    m.term = 4;
    fail_fsync = 1;
    assert_int_equal(fo_raft_meta_store(dir, &m, &err), -FO_EFSYNC);
    fail_fsync = 0;
    assert_int_equal(fo_raft_meta_load(dir, &got, &err), 0);
    assert_int_equal(got.term, 3);
}

struct reader_arg {
    struct fo_raft_log *log;
    _Atomic int stop;
    int errors;
    size_t reads;
};

static void *reader_thread(void *p)
{
    struct reader_arg *a = p;
    while (!a->stop) {
        uint64_t last = fo_raft_log_last_index(a->log);
        struct fo_raft_entry e;
        struct fo_err err = {0};
        if (last == 0)
            continue;
        int rc = fo_raft_log_get(a->log, last, &e, &err);
        /* a reader that stalled here may find its entry legitimately compacted away since */
        if (rc == -FO_ENOENT && fo_raft_log_first_index(a->log) > last)
            continue;
        if (rc != 0 || e.index != last) {
            if (a->errors++ == 0)
                print_message("reader: %s\n", err.msg);
        } else
            free(e.data);
        a->reads++;
    }
    return NULL;
}

static void test_log_concurrent_reader(void **state)
{
    const char *dir = *state;
    struct reader_arg a = {.log = open_log(dir, 2048)};
    pthread_t th;
    struct fo_err err = {0};
    unsigned char buf[64];
    assert_int_equal(pthread_create(&th, NULL, reader_thread, &a), 0);
    for (uint64_t i = 1; i <= 3000; i++) {
        struct fo_raft_entry e = mk(i, 1, buf);
        assert_int_equal(fo_raft_log_append(a.log, &e, 1, &err), 0);
        if (i % 500 == 0) {
            assert_int_equal(fo_raft_log_compact(a.log, i - 400, &err), 0);
            assert_int_equal(fo_raft_log_sync(a.log, &err), 0);
        }
    }
    a.stop = 1;
    pthread_join(th, NULL);
    fo_raft_log_close(a.log);
    assert_int_equal(a.errors, 0);
    assert_true(a.reads > 0);
}

/* ---- snapshots ---------------------------------------------------------------------------- */

static void test_snap_roundtrip_and_fallback(void **state)
{
    const char *dir = *state;
    struct fo_raft_snap s;
    struct fo_err err = {0};
    char sdir[512], path[600];
    snprintf(sdir, sizeof(sdir), "%s/snap", dir);
    assert_int_equal(fo_raft_snap_load(dir, &s, &err), -FO_ENOENT);
    assert_int_equal(fo_raft_snap_save(dir, 10, 2, "state-at-10", 11, 2, &err), 0);
    assert_int_equal(fo_raft_snap_load(dir, &s, &err), 0);
    assert_int_equal(s.index, 10);
    assert_int_equal(s.term, 2);
    assert_int_equal(s.len, 11);
    assert_memory_equal(s.data, "state-at-10", 11);
    fo_raft_snap_free(&s);
    assert_int_equal(fo_raft_snap_save(dir, 20, 3, "state-at-20!", 12, 2, &err), 0);
    assert_int_equal(fo_raft_snap_load(dir, &s, &err), 0);
    assert_int_equal(s.index, 20);
    assert_memory_equal(s.data, "state-at-20!", 12);
    fo_raft_snap_free(&s);

    /* a damaged newest snapshot is skipped in favour of the previous one */
    snprintf(path, sizeof(path), "%s/20-3.snap", sdir);
    flip_byte(path, 40);
    assert_int_equal(fo_raft_snap_load(dir, &s, &err), 0);
    assert_int_equal(s.index, 10);
    assert_memory_equal(s.data, "state-at-10", 11);
    fo_raft_snap_free(&s);
    /* so is one whose name disagrees with its header, and a truncated one */
    snprintf(path, sizeof(path), "%s/10-2.snap", sdir);
    char other[600];
    snprintf(other, sizeof(other), "%s/30-3.snap", sdir);
    assert_int_equal(link(path, other), 0);
    assert_int_equal(fo_raft_snap_load(dir, &s, &err), 0);
    assert_int_equal(s.index, 10);
    fo_raft_snap_free(&s);
    assert_int_equal(truncate(path, 40), 0);
    assert_int_equal(fo_raft_snap_load(dir, &s, &err), -FO_ENOENT);
    unlink(other);

    /* saving prunes to KEEP and removes tmp leftovers */
    snprintf(path, sizeof(path), "%s/25-3.snap.tmp", sdir);
    FILE *f = fopen(path, "w");
    fputs("half", f);
    fclose(f);
    assert_int_equal(fo_raft_snap_save(dir, 40, 4, "a", 1, 2, &err), 0);
    assert_int_equal(fo_raft_snap_save(dir, 50, 4, "", 0, 2, &err), 0);
    assert_int_equal(count_files(sdir, ".snap"), 2);
    assert_int_equal(count_files(sdir, ".tmp"), 0);
    assert_int_equal(fo_raft_snap_load(dir, &s, &err), 0);
    assert_int_equal(s.index, 50);
    assert_int_equal(s.len, 0);
    fo_raft_snap_free(&s);
    assert_int_equal(fo_raft_snap_save(dir, 60, 4, "z", 1, 1, &err), 0);
    assert_int_equal(count_files(sdir, ".snap"), 1);
    assert_int_equal(fo_raft_snap_save(dir, 70, 4, "z", 1, 0, &err), -FO_EINVAL);
}

/* ---- async on a real loop ------------------------------------------------------------------ */

struct async_state {
    uint64_t next_expected; /* append callbacks in submission order */
    uint64_t last_durable;
    size_t calls, distinct;
    int bad, seq, closed;
};

/* One non-append operation: its status, durable index and place among all callbacks. */
struct done {
    struct async_state *st;
    int status, order;
    uint64_t durable;
};

static void on_append(void *arg, uint64_t durable, int status)
{
    struct async_state *st = arg;
    uint64_t idx = st->next_expected++;
    if (status != 0 || durable < idx || durable < st->last_durable)
        st->bad++;
    if (durable != st->last_durable)
        st->distinct++;
    st->last_durable = durable;
    st->calls++;
    st->seq++;
}

static void on_done(void *arg, int status)
{
    struct done *d = arg;
    d->status = status;
    d->order = ++d->st->seq;
}

static void on_log_done(void *arg, uint64_t durable, int status)
{
    ((struct done *)arg)->durable = durable;
    on_done(arg, status);
}

static void on_close(void *arg)
{
    ((struct async_state *)arg)->closed = ++((struct async_state *)arg)->seq;
}

static void test_async_append(void **state)
{
    const char *dir = *state;
    uv_loop_t loop;
    struct async_state st = {.next_expected = 1};
    struct done meta = {&st, 1, 0, 0}, trunc = meta, snap = meta, compact = meta;
    struct fo_raft_log *log = open_log(dir, 4096);
    unsigned char buf[64];
    assert_int_equal(uv_loop_init(&loop), 0);
    struct fo_raft_aio *aio = fo_raft_aio_new(&loop, dir, log);
    for (uint64_t i = 1; i <= 1000; i++) {
        struct fo_raft_entry e = mk(i, 1, buf);
        assert_int_equal(fo_raft_aio_append(aio, &e, 1, on_append, &st), 0);
    }
    struct fo_raft_meta m = {.term = 4, .voted_for = 2};
    assert_int_equal(fo_raft_aio_meta_store(aio, &m, on_done, &meta), 0);
    /* the loop can read while jobs run */
    assert_true(fo_raft_log_last_index(log) <= 1000);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(st.calls, 1000);
    assert_int_equal(st.bad, 0);
    assert_int_equal(st.last_durable, 1000);
    assert_int_equal(meta.status, 0);
    assert_int_equal(meta.order, 1001);
    /* appends that queued behind the first job were written together */
    print_message("async: 1000 appends completed with %zu distinct durable points\n", st.distinct);
    assert_true(st.distinct < 1000);

    assert_int_equal(fo_raft_aio_truncate(aio, 501, on_log_done, &trunc), 0);
    assert_int_equal(fo_raft_aio_snap_save(aio, 400, 1, "snap", 4, 2, on_done, &snap), 0);
    assert_int_equal(fo_raft_aio_compact(aio, 400, on_done, &compact), 0);
    fo_raft_aio_close(aio, on_close, &st);
    assert_int_equal(fo_raft_aio_append(aio, NULL, 0, on_append, &st), -FO_EBUSY);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(trunc.status, 0);
    assert_int_equal(trunc.durable, 500);
    assert_int_equal(snap.status, 0);
    assert_int_equal(compact.status, 0);
    assert_true(trunc.order < snap.order && snap.order < compact.order &&
                compact.order < st.closed);
    uint64_t first = fo_raft_log_first_index(log);
    assert_true(first > 1 && first <= 401);
    assert_int_equal(uv_loop_close(&loop), 0);
    fo_raft_log_close(log);

    struct fo_raft_meta got;
    struct fo_err err = {0};
    assert_int_equal(fo_raft_meta_load(dir, &got, &err), 0);
    assert_int_equal(got.term, 4);
    assert_int_equal(got.voted_for, 2);
    log = open_log(dir, 4096);
    assert_int_equal(fo_raft_log_first_index(log), first);
    assert_int_equal(fo_raft_log_last_index(log), 500);
    check_entry(log, 500, 1);
    fo_raft_log_close(log);
    struct fo_raft_snap sn;
    assert_int_equal(fo_raft_snap_load(dir, &sn, &err), 0);
    assert_int_equal(sn.index, 400);
    assert_memory_equal(sn.data, "snap", 4);
    fo_raft_snap_free(&sn);
}

struct err_state {
    int status;
    char msg[256];
    struct fo_raft_aio *aio;
};

static void on_append_err(void *arg, uint64_t durable, int status)
{
    struct err_state *st = arg;
    st->status = status;
    snprintf(st->msg, sizeof(st->msg), "%s", fo_raft_aio_errmsg(st->aio));
}

static void test_async_error_reported(void **state)
{
    const char *dir = *state;
    uv_loop_t loop;
    struct fo_raft_log *log = open_log(dir, 0);
    unsigned char buf[64];
    struct err_state st = {0};
    assert_int_equal(uv_loop_init(&loop), 0);
    st.aio = fo_raft_aio_new(&loop, dir, log);
    struct fo_raft_entry e = mk(5, 1, buf); /* the log expects index 1 */
    assert_int_equal(fo_raft_aio_append(st.aio, &e, 1, on_append_err, &st), 0);
    fo_raft_aio_close(st.aio, NULL, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(st.status, -FO_EINVAL);
    assert_non_null(strstr(st.msg, "expected 1"));
    assert_int_equal(uv_loop_close(&loop), 0);
    fo_raft_log_close(log);
}

/* After a failed operation storage writes nothing more: a snapshot save and the log reset queued
 * behind it (a follower installing a snapshot) fail unrun, so the log is never dropped for a
 * snapshot that is not on disk. */
static void test_async_nothing_runs_after_a_failure(void **state)
{
    const char *dir = *state;
    uv_loop_t loop;
    struct fo_raft_log *log = open_log(dir, 0);
    unsigned char buf[64];
    struct err_state st = {0};
    struct async_state as = {.next_expected = 1};
    struct done snap = {&as, 1, 0, 0}, reset = snap, meta = snap, sync_other = snap, late = snap;
    assert_int_equal(uv_loop_init(&loop), 0);
    st.aio = fo_raft_aio_new(&loop, dir, log);
    struct fo_raft_entry ok[3] = {mk(1, 1, buf), mk(2, 1, buf), mk(3, 1, buf)};
    assert_int_equal(fo_raft_aio_append(st.aio, ok, 3, on_append, &as), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(as.last_durable, 3);

    /* an outside file synced in queue order (the audit log before a compaction) */
    char *other = fo_xasprintf("%s/other", dir);
    int ofd = open(other, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(ofd >= 0);
    assert_int_equal(write(ofd, "x", 1), 1);
    assert_int_equal(fo_raft_aio_sync_fd(st.aio, ofd, on_done, &sync_other), 0);
    close(ofd); /* storage holds its own descriptor */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(sync_other.status, 0);
    free(other);

    struct fo_raft_entry gap = mk(9, 1, buf); /* the log expects index 4: fails */
    struct fo_raft_meta m = {.term = 7, .voted_for = 3};
    assert_int_equal(fo_raft_aio_append(st.aio, &gap, 1, on_append_err, &st), 0);
    assert_int_equal(fo_raft_aio_snap_save(st.aio, 20, 2, "snap", 4, 2, on_done, &snap), 0);
    assert_int_equal(fo_raft_aio_reset(st.aio, 21, on_log_done, &reset), 0);
    assert_int_equal(fo_raft_aio_meta_store(st.aio, &m, on_done, &meta), 0);
    assert_int_equal(fo_raft_aio_sync_fd(st.aio, 1, on_done, &late), 0);
    fo_raft_aio_close(st.aio, NULL, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(st.status, -FO_EINVAL);
    assert_int_equal(snap.status, -FO_EIO);
    assert_int_equal(reset.status, -FO_EIO);
    assert_int_equal(meta.status, -FO_EIO);
    assert_int_equal(late.status, -FO_EIO);
    assert_true(snap.order < reset.order && reset.order < meta.order && meta.order < late.order);
    assert_int_equal(uv_loop_close(&loop), 0);
    fo_raft_log_close(log);

    /* on disk: the three entries, no snapshot, no new term */
    struct fo_err err = {0};
    struct fo_raft_snap sn;
    struct fo_raft_meta got = {0};
    assert_int_not_equal(fo_raft_snap_load(dir, &sn, &err), 0);
    int mrc = fo_raft_meta_load(dir, &got, &err);
    assert_true(mrc != 0 || got.term != 7);
    log = open_log(dir, 0);
    assert_int_equal(fo_raft_log_first_index(log), 1);
    assert_int_equal(fo_raft_log_last_index(log), 3);
    fo_raft_log_close(log);
}

int main(void)
{
    fo_log_setup(FO_LOG_ERROR, FO_LOG_LOGFMT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_vectors),
        cmocka_unit_test(test_crc_random_agree),
        T(test_meta_roundtrip),
        T(test_meta_crash_leaves_old),
        T(test_log_write_error_undone),
        T(test_log_fsync_order_and_failure),
        T(test_log_concurrent_reader),
        T(test_snap_roundtrip_and_fallback),
        T(test_async_append),
        T(test_async_error_reported),
        T(test_async_nothing_runs_after_a_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
