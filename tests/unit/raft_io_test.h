/* Helpers shared by the Raft storage unit tests (test_raft_io*.c): a tmp directory per test,
 * deterministic entries, and small file tools for damaging segments on purpose. */
#ifndef FO_TESTS_RAFT_IO_TEST_H
#define FO_TESTS_RAFT_IO_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "raft/crc32c.h"
#include "raft/io.h"

#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)

static inline int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static inline int setup_dir(void **state)
{
    char tmpl[] = "/tmp/fo_raft_io_XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    *state = strdup(d);
    return 0;
}

static inline int teardown_dir(void **state)
{
    nftw(*state, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(*state);
    return 0;
}

/* Deterministic payload of index I: length (I * 7) % 50, bytes derived from I. */
static inline uint32_t payload_len(uint64_t i)
{
    return (uint32_t)((i * 7) % 50);
}

static inline struct fo_raft_entry mk(uint64_t index, uint64_t term, unsigned char *buf)
{
    struct fo_raft_entry e = {.index = index, .term = term, .type = FO_RAFT_ENTRY_COMMAND};
    e.len = payload_len(index);
    for (uint32_t k = 0; k < e.len; k++)
        buf[k] = (unsigned char)(index * 31 + k + term);
    e.data = buf;
    return e;
}

static inline void append_range(struct fo_raft_log *log, uint64_t from, uint64_t to, uint64_t term)
{
    unsigned char buf[64];
    struct fo_err err = {0};
    for (uint64_t i = from; i <= to; i++) {
        struct fo_raft_entry e = mk(i, term, buf);
        int rc = fo_raft_log_append(log, &e, 1, &err);
        if (rc != 0)
            fail_msg("append %" PRIu64 ": %s", i, err.msg);
    }
    assert_int_equal(fo_raft_log_sync(log, &err), 0);
}

static inline void check_entry(struct fo_raft_log *log, uint64_t i, uint64_t term)
{
    unsigned char buf[64];
    struct fo_raft_entry want = mk(i, term, buf), got;
    struct fo_err err = {0};
    int rc = fo_raft_log_get(log, i, &got, &err);
    if (rc != 0)
        fail_msg("get %" PRIu64 ": %d %s", i, rc, err.msg);
    assert_int_equal(got.index, i);
    assert_int_equal(got.term, term);
    assert_int_equal(got.type, FO_RAFT_ENTRY_COMMAND);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, want.len);
    uint64_t t = 0;
    assert_int_equal(fo_raft_log_term(log, i, &t), 0);
    assert_int_equal(t, term);
    free(got.data);
}

static inline struct fo_raft_log *open_log(const char *dir, uint64_t segmax)
{
    struct fo_raft_log_opts o = {.segment_max = segmax};
    struct fo_raft_log *log = NULL;
    struct fo_err err = {0};
    int rc = fo_raft_log_open(dir, &o, &log, &err);
    if (rc != 0)
        fail_msg("open: %d %s", rc, err.msg);
    return log;
}

static inline char *seg_path(const char *dir, uint64_t first)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/log/%016" PRIu64 ".seg", dir, first) > 0);
    return p;
}

static inline off_t file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return st.st_size;
}

static inline size_t count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0, sl = strlen(suffix);
    if (!d)
        return 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static inline off_t seg_size(const char *dir, uint64_t first)
{
    char *p = seg_path(dir, first);
    off_t sz = file_size(p);
    free(p);
    return sz;
}

/* Offset of entry I inside a segment starting at FIRST (all records written by mk()). */
static inline off_t rec_off(uint64_t first, uint64_t i)
{
    off_t off = 0;
    for (uint64_t k = first; k < i; k++)
        off += 25 + payload_len(k);
    return off;
}

static inline void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    unsigned char c;
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

#endif
