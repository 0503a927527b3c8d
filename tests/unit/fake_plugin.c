/* A check plugin scripted by its params, for the check engine's tests: a status sequence, a
 * delay, hanging runs, failing start(), init errors, a fact for service_best_int (`pos`, or the
 * member's address as a number) and a loop stall inside one run's start(). Built
 * three times: as "fake_plugin", with a foreign ABI major and as an action plugin. */
#include <failoverd/plugin.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>
#include <uv.h>

#include "fake_plugin.h"

#ifndef FAKE_NAME
#define FAKE_NAME "fake_plugin"
#endif
#ifndef FAKE_ABI_MAJOR
#define FAKE_ABI_MAJOR FO_PLUGIN_ABI_MAJOR
#endif
#ifndef FAKE_KIND
#define FAKE_KIND FO_PLUGIN_CHECK
#endif

struct fake_counters fake_counters;

struct fake {
    const struct fo_host *host;
    void *handle;
    const struct fo_target *target;
    enum fo_status seq[16];
    int nseq;
    int next;
    int delay_ms; /* -1: done() from inside start() */
    int hang;
    int fail_start;
    int has_pos;
    int64_t pos;
    int stall_run; /* 1-based run whose start() blocks the loop for stall_ms */
    int stall_ms;
    int runs; /* start() calls that began a run */
    uv_timer_t timer;
    int busy;
    fo_check_done_fn done;
    void *cookie;
};

static int fake_status(const char *s, enum fo_status *out)
{
    static const char *const names[] = {"ok", "warning", "critical", "unknown"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0) {
            *out = (enum fo_status)i;
            return 0;
        }
    if (strcmp(s, "bogus") == 0) {
        *out = (enum fo_status)42; /* the host must turn it into unknown */
        return 0;
    }
    return -1;
}

static void *fake_fail(struct fo_plugin_err *err, const char *field, const char *msg)
{
    snprintf(err->field, sizeof(err->field), "%s", field);
    snprintf(err->msg, sizeof(err->msg), "%s", msg);
    return NULL;
}

static void *fake_init(const struct fo_host *host, void *handle, const struct fo_target *t,
                       struct fo_plugin_err *err)
{
    struct json_object *p = (struct json_object *)t->params, *v;
    if (p && json_object_object_get_ex(p, "init_error", &v))
        return fake_fail(err, json_object_get_string(v), "scripted init error");
    struct fake *f = calloc(1, sizeof(*f));
    f->host = host;
    f->handle = handle;
    f->target = t;
    f->seq[0] = FO_STATUS_OK;
    f->nseq = 1;
    if (p && json_object_object_get_ex(p, "seq", &v)) {
        f->nseq = 0;
        for (size_t i = 0; i < json_object_array_length(v) && f->nseq < 16; i++)
            if (fake_status(json_object_get_string(json_object_array_get_idx(v, i)),
                            &f->seq[f->nseq++]) < 0) {
                free(f);
                return fake_fail(err, "seq", "unknown status");
            }
    }
    if (p && json_object_object_get_ex(p, "delay_ms", &v))
        f->delay_ms = json_object_get_int(v);
    if (p && json_object_object_get_ex(p, "hang", &v))
        f->hang = json_object_get_boolean(v);
    if (p && json_object_object_get_ex(p, "fail_start", &v))
        f->fail_start = json_object_get_boolean(v);
    if (p && json_object_object_get_ex(p, "pos", &v)) {
        f->has_pos = 1;
        f->pos = json_object_get_int64(v);
    }
    if (p && json_object_object_get_ex(p, "pos_from_address", &v) && json_object_get_boolean(v)) {
        f->has_pos = 1;
        f->pos = atoll(t->address);
    }
    if (p && json_object_object_get_ex(p, "stall_run", &v))
        f->stall_run = json_object_get_int(v);
    if (p && json_object_object_get_ex(p, "stall_ms", &v))
        f->stall_ms = json_object_get_int(v);
    uv_timer_init(host->loop, &f->timer);
    f->timer.data = f;
    fake_counters.inits++;
    return f;
}

static void fake_complete(struct fake *f)
{
    struct fo_result r = {0};
    int64_t best;
    r.latency_ms = -1;
    fo_result_set(&r, f->seq[f->next % f->nseq], "run %d of %s", f->next + 1, f->target->member);
    f->next++;
    if (f->has_pos) {
        fo_result_int(&r, "pos", f->pos);
        if (f->host->service_best_int(f->handle, "pos", &best) == 0)
            fo_result_int(&r, "best", best);
    }
    f->busy = 0;
    fake_counters.inflight--;
    fake_counters.dones++;
    f->done(f->cookie, &r);
}

static void fake_on_timer(uv_timer_t *t)
{
    fake_complete(t->data);
}

static int fake_start(void *inst, fo_check_done_fn done, void *cookie)
{
    struct fake *f = inst;
    if (f->fail_start)
        return -5; /* -EIO */
    if (f->busy)
        fake_counters.overlaps++;
    f->busy = 1;
    f->done = done;
    f->cookie = cookie;
    fake_counters.starts++;
    if (++f->runs == f->stall_run)
        usleep((useconds_t)f->stall_ms * 1000);
    if (++fake_counters.inflight > fake_counters.max_inflight)
        fake_counters.max_inflight = fake_counters.inflight;
    if (f->hang)
        return 0;
    if (f->delay_ms < 0)
        fake_complete(f);
    else
        uv_timer_start(&f->timer, fake_on_timer, (uint64_t)f->delay_ms, 0);
    return 0;
}

static void fake_cancel(void *inst)
{
    struct fake *f = inst;
    uv_timer_stop(&f->timer);
    if (f->busy) {
        f->busy = 0;
        fake_counters.inflight--;
    }
    fake_counters.cancels++;
}

static void fake_free(uv_handle_t *h)
{
    free(h->data);
}

static void fake_destroy(void *inst)
{
    struct fake *f = inst;
    fake_counters.destroys++;
    uv_close((uv_handle_t *)&f->timer, fake_free);
}

const struct fo_plugin fo_plugin_entry = {
    .abi_major = FAKE_ABI_MAJOR,
    .abi_minor = FO_PLUGIN_ABI_MINOR,
    .name = FAKE_NAME,
    .kind = FAKE_KIND,
    .init = fake_init,
    .start = fake_start,
    .cancel = fake_cancel,
    .verify = NULL,
    .destroy = fake_destroy,
};
