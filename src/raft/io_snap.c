/* Raft snapshots in DIR/snap/<index>-<term>.snap: an opaque state blob behind a CRC-guarded
 * header, written atomically. Loading falls back to an older snapshot when the newest is bad,
 * which is why saving can keep more than one. */
#include "raft/io.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "raft/crc32c.h"

#define FO__SNAP_HDR 36
#define FO__SNAP_MAX ((size_t)1 << 32) /* a larger file is not ours */

struct fo__snap_name {
    uint64_t index, term;
    char *name; /* file name in DIR/snap */
};

/* Parses "<digits>-<digits>.snap" strictly. */
static int fo__snap_parse(const char *name, uint64_t *index, uint64_t *term)
{
    size_t a = strspn(name, "0123456789");
    if (a == 0 || a > 20 || name[a] != '-')
        return -1;
    size_t b = strspn(name + a + 1, "0123456789");
    if (b == 0 || b > 20 || strcmp(name + a + 1 + b, ".snap") != 0)
        return -1;
    errno = 0;
    *index = strtoull(name, NULL, 10);
    *term = strtoull(name + a + 1, NULL, 10);
    return errno == 0 ? 0 : -1;
}

/* Newest first: higher index, then higher term. */
static int fo__snap_cmp(const void *x, const void *y)
{
    const struct fo__snap_name *a = x, *b = y;
    if (a->index != b->index)
        return a->index > b->index ? -1 : 1;
    if (a->term != b->term)
        return a->term > b->term ? -1 : 1;
    return 0;
}

/* Snapshot names in SNAPDIR, newest first; with TMPS, also leftover .tmp names (index 0). */
static int fo__snap_list(const char *snapdir, struct fo__snap_name **out, size_t *n, int tmps,
                         struct fo_err *err)
{
    DIR *d = opendir(snapdir);
    struct dirent *de;
    struct fo__snap_name *v = NULL;
    size_t cnt = 0, cap = 0;

    *out = NULL;
    *n = 0;
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return fo_err_set(err, -errno, "raft snapshot: opendir %s: %s", snapdir, strerror(errno));
    }
    while ((de = readdir(d))) {
        uint64_t index = 0, term = 0;
        size_t len = strlen(de->d_name);
        int is_tmp = len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0;
        if (is_tmp ? !tmps : fo__snap_parse(de->d_name, &index, &term) != 0)
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            v = fo_xrealloc(v, cap * sizeof(*v));
        }
        v[cnt].index = index;
        v[cnt].term = term;
        v[cnt].name = fo_xstrdup(de->d_name);
        cnt++;
    }
    closedir(d);
    qsort(v, cnt, sizeof(*v), fo__snap_cmp);
    *out = v;
    *n = cnt;
    return 0;
}

static void fo__snap_list_free(struct fo__snap_name *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

int fo_raft_snap_save(const char *dir, uint64_t index, uint64_t term, const void *data, size_t len,
                      unsigned keep, struct fo_err *err)
{
    char *snapdir = fo_xasprintf("%s/snap", dir);
    char *name = fo_xasprintf("%" PRIu64 "-%" PRIu64 ".snap", index, term);
    unsigned char hdr[FO__SNAP_HDR];
    struct fo__snap_name *v = NULL;
    size_t n = 0, kept = 0;
    int rc, removed = 0;

    if (keep == 0 || (len && !data)) {
        rc = fo_err_set(err, -FO_EINVAL, "raft snapshot: keep is 0 or data is missing");
        goto out;
    }
    rc = fo__raft_io_mkdir(dir, err);
    if (rc == 0)
        rc = fo__raft_io_mkdir(snapdir, err);
    if (rc < 0)
        goto out;
    memcpy(hdr, "FOSN", 4);
    fo__raft_io_put32(hdr + 4, FO_RAFT_SNAP_VERSION);
    fo__raft_io_put64(hdr + 8, index);
    fo__raft_io_put64(hdr + 16, term);
    fo__raft_io_put64(hdr + 24, len);
    fo__raft_io_put32(hdr + 32, fo_crc32c(fo_crc32c(0, hdr, 32), data, len));
    struct iovec iov[2] = {{.iov_base = hdr, .iov_len = sizeof(hdr)},
                           {.iov_base = (void *)data, .iov_len = len}};
    rc = fo__raft_io_write_atomic(snapdir, name, iov, 2, err);
    if (rc < 0)
        goto out;

    /* Prune: keep the KEEP newest, drop the rest and tmp files of interrupted saves. */
    rc = fo__snap_list(snapdir, &v, &n, 1, err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        int is_tmp = fo__snap_parse(v[i].name, &(uint64_t){0}, &(uint64_t){0}) != 0;
        if (!is_tmp && kept < keep) {
            kept++;
            continue;
        }
        char *path = fo_xasprintf("%s/%s", snapdir, v[i].name);
        if (unlink(path) == 0)
            removed = 1;
        else if (errno != ENOENT)
            fo_warn("raft snapshot: could not remove %s: %s", path, strerror(errno));
        free(path);
    }
    if (removed)
        rc = fo__raft_io_fsync_dir(snapdir, err);
out:
    fo__snap_list_free(v, n);
    free(name);
    free(snapdir);
    return rc;
}

/* 0 if BUF holds a valid snapshot named NM; otherwise a reason. */
static const char *fo__snap_check(const struct fo__snap_name *nm, const unsigned char *buf,
                                  size_t len)
{
    if (len < FO__SNAP_HDR)
        return "shorter than its header";
    if (memcmp(buf, "FOSN", 4) != 0)
        return "bad magic";
    if (fo__raft_io_get32(buf + 4) != FO_RAFT_SNAP_VERSION)
        return "unsupported version";
    if (fo__raft_io_get64(buf + 8) != nm->index || fo__raft_io_get64(buf + 16) != nm->term)
        return "header index/term differ from the file name";
    if (fo__raft_io_get64(buf + 24) != len - FO__SNAP_HDR)
        return "size differs from the header";
    uint32_t crc = fo_crc32c(fo_crc32c(0, buf, 32), buf + FO__SNAP_HDR, len - FO__SNAP_HDR);
    if (crc != fo__raft_io_get32(buf + 32))
        return "CRC mismatch";
    return NULL;
}

int fo_raft_snap_load(const char *dir, struct fo_raft_snap *out, struct fo_err *err)
{
    char *snapdir = fo_xasprintf("%s/snap", dir);
    struct fo__snap_name *v = NULL;
    size_t n = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = fo__snap_list(snapdir, &v, &n, 0, err);
    if (rc < 0)
        goto out;
    rc = fo_err_set(err, -FO_ENOENT, "raft snapshot: no valid snapshot in %s", snapdir);
    for (size_t i = 0; i < n; i++) {
        char *path = fo_xasprintf("%s/%s", snapdir, v[i].name);
        unsigned char *buf = NULL;
        size_t len = 0;
        int r = fo__raft_io_read_file(path, FO__SNAP_MAX, &buf, &len, err);
        const char *why = r == -FO_ETOOBIG ? "too large" : NULL;
        if (r < 0 && r != -FO_ETOOBIG && r != -FO_ENOENT) {
            rc = r; /* an I/O error is not evidence of a bad file: stop */
            free(path);
            goto out;
        }
        if (r == 0)
            why = fo__snap_check(&v[i], buf, len);
        if (r == 0 && !why) {
            out->index = v[i].index;
            out->term = v[i].term;
            out->len = len - FO__SNAP_HDR;
            memmove(buf, buf + FO__SNAP_HDR, out->len);
            out->data = buf;
            free(path);
            if (err)
                memset(err, 0, sizeof(*err));
            rc = 0;
            goto out;
        }
        if (why)
            fo_warn("raft snapshot: ignoring %s: %s", path, why);
        free(buf);
        free(path);
    }
out:
    fo__snap_list_free(v, n);
    free(snapdir);
    return rc;
}

void fo_raft_snap_free(struct fo_raft_snap *s)
{
    if (!s)
        return;
    free(s->data);
    s->data = NULL;
    s->len = 0;
}
