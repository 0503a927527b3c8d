/* Raft term and vote, stored atomically in DIR/meta (tmp, fsync, rename, fsync dir), and the
 * small file helpers the other io_*.c files share: errno mapping, directory fsync, atomic
 * whole-file writes, little-endian encoding. */
#include "raft/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raft/crc32c.h"

#define FO__META_SIZE 28

void fo__raft_io_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

void fo__raft_io_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t fo__raft_io_get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t fo__raft_io_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int fo__raft_io_errno(int e)
{
    if (e == ENOSPC || e == EDQUOT)
        return -FO_ENOSPC;
    return e > 0 ? -e : -FO_EIO;
}

int fo__raft_io_fsync_dir(const char *path, struct fo_err *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fo_err_set(err, -errno, "raft storage: open directory %s: %s", path,
                          strerror(errno));
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return fo_err_set(err, -FO_EFSYNC, "raft storage: fsync of directory %s failed: %s", path,
                          strerror(e));
    }
    close(fd);
    return 0;
}

int fo__raft_io_mkdir(const char *path, struct fo_err *err)
{
    struct stat st;
    char *parent = NULL;
    int rc = 0;

    if (mkdir(path, 0700) != 0) {
        if (errno != EEXIST)
            return fo_err_set(err, fo__raft_io_errno(errno), "raft storage: mkdir %s: %s", path,
                              strerror(errno));
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            return fo_err_set(err, -FO_EINVAL, "raft storage: %s exists and is not a directory",
                              path);
        return 0;
    }
    /* A new directory entry is durable only once its parent is fsync'ed. */
    parent = fo_xstrdup(path);
    char *slash = strrchr(parent, '/');
    if (slash == parent)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(parent, ".");
    rc = fo__raft_io_fsync_dir(parent, err);
    free(parent);
    return rc;
}

int fo__raft_io_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

int fo__raft_io_write_atomic(const char *dir, const char *name, const struct iovec *iov, int iovcnt,
                             struct fo_err *err)
{
    char *path = fo_xasprintf("%s/%s", dir, name);
    char *tmp = fo_xasprintf("%s/%s.tmp", dir, name);
    uint64_t off = 0;
    int fd, rc = 0;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = fo_err_set(err, fo__raft_io_errno(errno), "raft storage: create %s: %s", tmp,
                        strerror(errno));
        goto out;
    }
    for (int i = 0; i < iovcnt; i++) {
        rc = fo__raft_io_pwrite_all(fd, iov[i].iov_base, iov[i].iov_len, off);
        if (rc < 0) {
            rc = fo_err_set(err, fo__raft_io_errno(-rc), "raft storage: write %s: %s", tmp,
                            strerror(-rc));
            goto out;
        }
        off += iov[i].iov_len;
    }
    if (fsync(fd) != 0) {
        rc = fo_err_set(err, -FO_EFSYNC, "raft storage: fsync of %s failed: %s", tmp,
                        strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = fo_err_set(err, fo__raft_io_errno(errno), "raft storage: close %s: %s", tmp,
                        strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = fo_err_set(err, fo__raft_io_errno(errno), "raft storage: rename %s: %s", tmp,
                        strerror(errno));
        goto out;
    }
    rc = fo__raft_io_fsync_dir(dir, err);
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    free(path);
    return rc;
}

int fo__raft_io_read_file(const char *path, size_t max, unsigned char **out, size_t *len,
                          struct fo_err *err)
{
    struct stat st;
    unsigned char *buf = NULL;
    size_t got = 0;
    int fd, rc = 0;

    *out = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return fo_err_set(err, -FO_ENOENT, "raft storage: %s does not exist", path);
        return fo_err_set(err, -errno, "raft storage: open %s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        rc = fo_err_set(err, -errno, "raft storage: stat %s: %s", path, strerror(errno));
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        rc = fo_err_set(err, -FO_ETOOBIG, "raft storage: %s is %lld bytes, more than %zu", path,
                        (long long)st.st_size, max);
        goto out;
    }
    buf = fo_xmalloc((size_t)st.st_size);
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = fo_err_set(err, -errno, "raft storage: read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break; /* shrank under us: use what is there */
        got += (size_t)r;
    }
    *out = buf;
    *len = got;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

int fo_raft_meta_load(const char *dir, struct fo_raft_meta *out, struct fo_err *err)
{
    char *path = fo_xasprintf("%s/meta", dir);
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc;

    out->term = 0;
    out->voted_for = 0;
    rc = fo__raft_io_read_file(path, 4096, &buf, &len, err);
    if (rc == -FO_ENOENT) {
        rc = 0; /* a fresh node */
        goto out;
    }
    if (rc == -FO_ETOOBIG || (rc == 0 && len != FO__META_SIZE)) {
        rc = fo_err_set(err, -FO_ECORRUPT, "raft meta %s: wrong size (%s%zu bytes, expected %d)",
                        path, rc == -FO_ETOOBIG ? "over " : "", rc == -FO_ETOOBIG ? 4096 : len,
                        FO__META_SIZE);
        goto out;
    }
    if (rc < 0)
        goto out;
    if (memcmp(buf, "FOMT", 4) != 0) {
        rc = fo_err_set(err, -FO_ECORRUPT, "raft meta %s: bad magic at offset 0", path);
        goto out;
    }
    if (fo__raft_io_get32(buf + 4) != FO_RAFT_META_VERSION) {
        rc = fo_err_set(err, -FO_ECORRUPT, "raft meta %s: unsupported version %u at offset 4", path,
                        fo__raft_io_get32(buf + 4));
        goto out;
    }
    if (fo_crc32c(0, buf, 24) != fo__raft_io_get32(buf + 24)) {
        rc = fo_err_set(err, -FO_ECORRUPT, "raft meta %s: CRC mismatch (offset 24)", path);
        goto out;
    }
    out->term = fo__raft_io_get64(buf + 8);
    out->voted_for = fo__raft_io_get64(buf + 16);
out:
    free(buf);
    free(path);
    return rc;
}

int fo_raft_meta_store(const char *dir, const struct fo_raft_meta *m, struct fo_err *err)
{
    unsigned char buf[FO__META_SIZE];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    int rc = fo__raft_io_mkdir(dir, err);
    if (rc < 0)
        return rc;
    memcpy(buf, "FOMT", 4);
    fo__raft_io_put32(buf + 4, FO_RAFT_META_VERSION);
    fo__raft_io_put64(buf + 8, m->term);
    fo__raft_io_put64(buf + 16, m->voted_for);
    fo__raft_io_put32(buf + 24, fo_crc32c(0, buf, 24));
    return fo__raft_io_write_atomic(dir, "meta", &iov, 1, err);
}
