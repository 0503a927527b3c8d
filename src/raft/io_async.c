/* Raft storage off the loop: a FIFO of operations run one at a time with uv_queue_work, where
 * appends waiting behind a running job are merged into one write and one fdatasync (group
 * commit). Callbacks come back on the loop in submission order. After a failed operation nothing
 * more is written (every later operation fails unrun), so what is on disk stays a prefix of what
 * was asked: a log reset queued behind a snapshot save that failed never runs. */
#include "raft/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum fo__aio_kind {
    FO__AIO_APPEND,
    FO__AIO_TRUNCATE,
    FO__AIO_RESET,
    FO__AIO_COMPACT,
    FO__AIO_META,
    FO__AIO_SNAP,
    FO__AIO_SYNC_FD,
    FO__AIO_CLOSE,
};

struct fo__aio_op {
    struct fo__aio_op *next;
    enum fo__aio_kind kind;
    fo_raft_aio_log_cb log_cb;
    fo_raft_aio_cb cb;
    fo_raft_aio_close_cb close_cb;
    void *arg;
    struct fo_raft_entry *entries; /* APPEND: deep copies */
    size_t n;
    uint64_t index, term; /* TRUNCATE/RESET/COMPACT: index; SNAP: both */
    struct fo_raft_meta meta;
    unsigned char *data; /* SNAP */
    size_t len;
    unsigned keep;
    int fd; /* SYNC_FD: our duplicate */
    /* results, written by the work thread */
    int status;
    uint64_t durable;
    struct fo_err err;
};

struct fo_raft_aio {
    uv_loop_t *loop;
    char *dir;
    struct fo_raft_log *log;
    struct fo__aio_op *head, *tail; /* queued */
    struct fo__aio_op *batch;       /* running: one op, or a chain of appends */
    uv_work_t work;
    int busy;
    int closing;
    int failed; /* an operation failed: later ones are not run */
    const char *errmsg;
};

struct fo_raft_aio *fo_raft_aio_new(uv_loop_t *loop, const char *dir, struct fo_raft_log *log)
{
    struct fo_raft_aio *aio = fo_xcalloc(1, sizeof(*aio));
    aio->loop = loop;
    aio->dir = fo_xstrdup(dir);
    aio->log = log;
    aio->work.data = aio;
    aio->errmsg = "";
    return aio;
}

const char *fo_raft_aio_errmsg(const struct fo_raft_aio *aio)
{
    return aio->errmsg;
}

static void fo__aio_op_free(struct fo__aio_op *op)
{
    fo_raft_entries_free(op->entries, op->n);
    free(op->data);
    if (op->fd >= 0)
        close(op->fd);
    free(op);
}

/* Runs in the thread pool. Only this thread writes to the log while the job runs. */
static void fo__aio_work(uv_work_t *w)
{
    struct fo_raft_aio *aio = w->data;
    struct fo__aio_op *op = aio->batch;
    struct fo_err err = {0};
    int rc = 0;

    if (aio->failed && op->kind != FO__AIO_CLOSE) {
        fo_err_set(&err, -FO_EIO, "not written: an earlier storage operation failed");
        rc = -FO_EIO;
        goto out;
    }
    switch (op->kind) {
    case FO__AIO_APPEND: {
        size_t total = 0, k = 0;
        for (struct fo__aio_op *o = op; o; o = o->next)
            total += o->n;
        /* Shallow copies: one write for the whole batch, all or nothing. */
        struct fo_raft_entry *all = fo_xcalloc(total ? total : 1, sizeof(*all));
        for (struct fo__aio_op *o = op; o; o = o->next) {
            memcpy(all + k, o->entries, o->n * sizeof(*all));
            k += o->n;
        }
        rc = fo_raft_log_append(aio->log, all, total, &err);
        if (rc == 0)
            rc = fo_raft_log_sync(aio->log, &err);
        free(all);
        break;
    }
    case FO__AIO_TRUNCATE:
        rc = fo_raft_log_truncate(aio->log, op->index, &err);
        break;
    case FO__AIO_RESET:
        rc = fo_raft_log_reset(aio->log, op->index, &err);
        break;
    case FO__AIO_COMPACT:
        rc = fo_raft_log_compact(aio->log, op->index, &err);
        break;
    case FO__AIO_META:
        rc = fo_raft_meta_store(aio->dir, &op->meta, &err);
        break;
    case FO__AIO_SNAP:
        rc = fo_raft_snap_save(aio->dir, op->index, op->term, op->data, op->len, op->keep, &err);
        break;
    case FO__AIO_SYNC_FD:
        if (fdatasync(op->fd) < 0)
            rc = fo_err_set(&err, -FO_EFSYNC, "fdatasync: %s", strerror(errno));
        break;
    case FO__AIO_CLOSE:
        break;
    }
out:;
    uint64_t durable = fo_raft_log_durable_index(aio->log);
    for (struct fo__aio_op *o = op; o; o = o->next) {
        o->status = rc;
        o->durable = durable;
        o->err = err;
    }
}

static void fo__aio_kick(struct fo_raft_aio *aio);

static void fo__aio_after(uv_work_t *w, int status)
{
    struct fo_raft_aio *aio = w->data;
    struct fo__aio_op *op = aio->batch;
    int closed = 0;

    /* Still busy while the callbacks run: what they submit joins one batch, started below. */
    aio->batch = NULL;
    while (op) {
        struct fo__aio_op *next = op->next;
        if (status < 0 && op->status == 0)
            op->status = status; /* not expected: nothing is ever cancelled */
        aio->errmsg = op->status < 0 ? op->err.msg : "";
        if (op->status < 0)
            aio->failed = 1;
        switch (op->kind) {
        case FO__AIO_APPEND:
        case FO__AIO_TRUNCATE:
        case FO__AIO_RESET:
            if (op->log_cb)
                op->log_cb(op->arg, op->durable, op->status);
            break;
        case FO__AIO_CLOSE:
            closed = 1;
            if (op->close_cb)
                op->close_cb(op->arg);
            break;
        default:
            if (op->cb)
                op->cb(op->arg, op->status);
            break;
        }
        aio->errmsg = "";
        fo__aio_op_free(op);
        op = next;
    }
    if (closed) {
        free(aio->dir);
        free(aio);
        return;
    }
    aio->busy = 0;
    fo__aio_kick(aio);
}

static void fo__aio_kick(struct fo_raft_aio *aio)
{
    if (aio->busy || !aio->head)
        return;
    struct fo__aio_op *first = aio->head, *last = first;
    if (first->kind == FO__AIO_APPEND)
        while (last->next && last->next->kind == FO__AIO_APPEND)
            last = last->next;
    aio->head = last->next;
    if (!aio->head)
        aio->tail = NULL;
    last->next = NULL;
    aio->batch = first;
    aio->busy = 1;
    int rc = uv_queue_work(aio->loop, &aio->work, fo__aio_work, fo__aio_after);
    if (rc < 0) {
        /* Only fails for a NULL callback, so it cannot happen; do not lose the ops if it did. */
        last->next = aio->head;
        aio->head = first;
        if (!aio->tail)
            aio->tail = last;
        aio->batch = NULL;
        aio->busy = 0;
    }
}

static struct fo__aio_op *fo__aio_op_new(enum fo__aio_kind kind, void *arg)
{
    struct fo__aio_op *op = fo_xcalloc(1, sizeof(*op));
    op->kind = kind;
    op->arg = arg;
    op->fd = -1;
    return op;
}

static int fo__aio_submit(struct fo_raft_aio *aio, struct fo__aio_op *op)
{
    if (aio->closing) {
        fo__aio_op_free(op);
        return -FO_EBUSY;
    }
    if (aio->tail)
        aio->tail->next = op;
    else
        aio->head = op;
    aio->tail = op;
    fo__aio_kick(aio);
    return 0;
}

int fo_raft_aio_append(struct fo_raft_aio *aio, const struct fo_raft_entry *entries, size_t n,
                       fo_raft_aio_log_cb cb, void *arg)
{
    struct fo__aio_op *op = fo__aio_op_new(FO__AIO_APPEND, arg);
    op->log_cb = cb;
    op->n = n;
    op->entries = fo_xcalloc(n ? n : 1, sizeof(*op->entries));
    for (size_t i = 0; i < n; i++) {
        op->entries[i] = entries[i];
        op->entries[i].data = fo_xmalloc(entries[i].len);
        if (entries[i].len)
            memcpy(op->entries[i].data, entries[i].data, entries[i].len);
    }
    return fo__aio_submit(aio, op);
}

static int fo__aio_log_op(struct fo_raft_aio *aio, enum fo__aio_kind kind, uint64_t index,
                          fo_raft_aio_log_cb cb, void *arg)
{
    struct fo__aio_op *op = fo__aio_op_new(kind, arg);
    op->log_cb = cb;
    op->index = index;
    return fo__aio_submit(aio, op);
}

int fo_raft_aio_truncate(struct fo_raft_aio *aio, uint64_t from, fo_raft_aio_log_cb cb, void *arg)
{
    return fo__aio_log_op(aio, FO__AIO_TRUNCATE, from, cb, arg);
}

int fo_raft_aio_reset(struct fo_raft_aio *aio, uint64_t next, fo_raft_aio_log_cb cb, void *arg)
{
    return fo__aio_log_op(aio, FO__AIO_RESET, next, cb, arg);
}

int fo_raft_aio_compact(struct fo_raft_aio *aio, uint64_t upto, fo_raft_aio_cb cb, void *arg)
{
    struct fo__aio_op *op = fo__aio_op_new(FO__AIO_COMPACT, arg);
    op->cb = cb;
    op->index = upto;
    return fo__aio_submit(aio, op);
}

int fo_raft_aio_sync_fd(struct fo_raft_aio *aio, int fd, fo_raft_aio_cb cb, void *arg)
{
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0)
        return -FO_EIO;
    struct fo__aio_op *op = fo__aio_op_new(FO__AIO_SYNC_FD, arg);
    op->cb = cb;
    op->fd = dup;
    return fo__aio_submit(aio, op);
}

int fo_raft_aio_meta_store(struct fo_raft_aio *aio, const struct fo_raft_meta *m, fo_raft_aio_cb cb,
                           void *arg)
{
    struct fo__aio_op *op = fo__aio_op_new(FO__AIO_META, arg);
    op->cb = cb;
    op->meta = *m;
    return fo__aio_submit(aio, op);
}

int fo_raft_aio_snap_save(struct fo_raft_aio *aio, uint64_t index, uint64_t term, const void *data,
                          size_t len, unsigned keep, fo_raft_aio_cb cb, void *arg)
{
    struct fo__aio_op *op = fo__aio_op_new(FO__AIO_SNAP, arg);
    op->cb = cb;
    op->index = index;
    op->term = term;
    op->keep = keep;
    op->len = len;
    op->data = fo_xmalloc(len);
    if (len)
        memcpy(op->data, data, len);
    return fo__aio_submit(aio, op);
}

void fo_raft_aio_close(struct fo_raft_aio *aio, fo_raft_aio_close_cb cb, void *arg)
{
    struct fo__aio_op *op = fo__aio_op_new(FO__AIO_CLOSE, arg);
    op->close_cb = cb;
    fo__aio_submit(aio, op);
    aio->closing = 1;
}
