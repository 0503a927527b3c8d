/* libFuzzer target: arbitrary bytes as Raft log segment files, then recovery. Recovery must never
 * crash, and whatever it accepts must read back, take an append, and reopen to the same state.
 * Input: byte 0 selects the layout (bit 0: two segments; bit 1: truncate before reopening),
 * bytes 1-2 the split point, byte 3 the second segment's name offset; the rest is file content.
 * Build with -DFO_FUZZ_STANDALONE for a main() that runs the files named on the command line. */
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "raft/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir[64];

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void cleanup(void)
{
    if (fuzz_dir[0])
        nftw(fuzz_dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static void put_file(uint64_t first, const uint8_t *p, size_t n)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/log/%016" PRIu64 ".seg", fuzz_dir, first);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        abort();
    if (n && write(fd, p, n) != (ssize_t)n)
        abort();
    close(fd);
}

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    struct fo_raft_log_opts opts = {.segment_max = 4096};
    struct fo_raft_log *log = NULL;
    struct fo_err err = {0};
    char path[128];

    if (!init) {
        snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/fo_fuzz_log_XXXXXX");
        if (!mkdtemp(fuzz_dir))
            abort();
        atexit(cleanup);
        fo_log_setup(FO_LOG_ERROR, FO_LOG_LOGFMT, NULL);
        init = 1;
    }
    if (size < 4)
        return 0;
    snprintf(path, sizeof(path), "%s/log", fuzz_dir);
    nftw(path, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
    mkdir(path, 0700);

    uint8_t mode = data[0];
    size_t body = size - 4, split = ((size_t)data[1] | (size_t)data[2] << 8) % (body + 1);
    if (mode & 1) {
        put_file(1, data + 4, split);
        put_file(1 + (uint64_t)data[3], data + 4 + split, body - split);
    } else {
        put_file(1, data + 4, body);
    }

    if (fo_raft_log_open(fuzz_dir, &opts, &log, &err) != 0) {
        check(err.code < 0 && err.msg[0] != '\0');
        return 0;
    }
    /* Everything recovered must read back with consecutive indexes and matching terms. */
    uint64_t first = fo_raft_log_first_index(log), last = fo_raft_log_last_index(log);
    check(last + 1 >= first);
    check(fo_raft_log_durable_index(log) == last);
    if (last >= first) {
        struct fo_raft_entry *v = NULL;
        size_t n = 0;
        check(fo_raft_log_read(log, first, SIZE_MAX, SIZE_MAX, &v, &n, &err) == 0);
        check(n == last - first + 1);
        for (size_t i = 0; i < n; i++) {
            uint64_t t = 0;
            check(v[i].index == first + i);
            check(fo_raft_log_term(log, v[i].index, &t) == 0 && t == v[i].term);
        }
        fo_raft_entries_free(v, n);
    }
    if ((mode & 2) && last >= first)
        check(fo_raft_log_truncate(log, first + (last - first) / 2, &err) == 0);
    last = fo_raft_log_last_index(log);

    /* ...and take a new entry, and reopen to exactly that. */
    unsigned char payload[3] = {'f', 'u', 'z'};
    struct fo_raft_entry e = {.index = last + 1,
                              .term = fo_raft_log_last_term(log) + 1,
                              .type = FO_RAFT_ENTRY_NOOP,
                              .len = sizeof(payload),
                              .data = payload};
    check(fo_raft_log_append(log, &e, 1, &err) == 0);
    check(fo_raft_log_sync(log, &err) == 0);
    fo_raft_log_close(log);
    log = NULL;
    check(fo_raft_log_open(fuzz_dir, &opts, &log, &err) == 0);
    check(fo_raft_log_last_index(log) == last + 1);
    struct fo_raft_entry got;
    check(fo_raft_log_get(log, last + 1, &got, &err) == 0);
    check(got.len == sizeof(payload) && memcmp(got.data, payload, sizeof(payload)) == 0);
    free(got.data);
    fo_raft_log_close(log);
    return 0;
}

#ifdef FO_FUZZ_STANDALONE
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    return 0;
}
#endif
