/* One libcurl multi handle on the libuv loop (INTEGRATIONS.md "libuv + libcurl"): a uv_poll_t
 * per socket and one uv_timer_t wake libcurl. Transfers are found by easy handle in a small hash
 * (CURLOPT_PRIVATE is the plugins'), with recycled nodes: a warm transfer allocates nothing. */
#include <curl/curl.h>
#include <stdint.h>
#include <limits.h>
#include <stdlib.h>

#include "check/http_host.h"
#include "core/fo.h"
#include "core/log.h"

struct fo__xfer {
    CURL *easy;
    uint64_t gen; /* which transfer of this easy handle: handles are reused by plugins */
    fo_http_done_fn done;
    void *arg;
    int failed; /* its socket could not be watched: finished by the reaper */
    struct fo__xfer *next;
};

struct fo__http {
    uv_loop_t *loop;
    CURLM *multi;
    uint64_t gen; /* last transfer generation handed out */
    uv_timer_t timer;
    uv_timer_t reaper;
    int open_handles;
    int refs;
    struct fo__xfer **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    struct fo__xfer *spare;
};

struct fo__sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct fo__http *h;
};

static struct fo__http *fo__h;

static size_t fo__slot(const struct fo__http *h, const void *easy)
{
    uint64_t k = (uint64_t)(uintptr_t)easy * 0x9E3779B97F4A7C15ull;
    return (size_t)(k >> 32) & (h->nbuckets - 1);
}

static struct fo__xfer **fo__find(struct fo__http *h, const void *easy)
{
    struct fo__xfer **pp = &h->buckets[fo__slot(h, easy)];
    while (*pp && (*pp)->easy != easy)
        pp = &(*pp)->next;
    return pp;
}

static void fo__grow(struct fo__http *h)
{
    size_t old_n = h->nbuckets;
    struct fo__xfer **old = h->buckets;
    h->nbuckets = old_n * 2;
    h->buckets = fo_xcalloc(h->nbuckets, sizeof(*h->buckets));
    for (size_t i = 0; i < old_n; i++)
        while (old[i]) {
            struct fo__xfer *x = old[i];
            old[i] = x->next;
            size_t s = fo__slot(h, x->easy);
            x->next = h->buckets[s];
            h->buckets[s] = x;
        }
    free(old);
}

/* Unlinks and recycles the node; returns what done/arg were. */
static void fo__unlink(struct fo__http *h, struct fo__xfer **pp, struct fo__xfer *out)
{
    struct fo__xfer *x = *pp;
    *out = *x;
    *pp = x->next;
    x->next = h->spare;
    h->spare = x;
    h->count--;
}

static void fo__drain(struct fo__http *h)
{
    struct {
        CURL *easy;
        uint64_t gen;
        CURLcode code;
    } local[256], *done = local;
    size_t n = 0, cap = FO_ARRAY_LEN(local);
    CURLMsg *msg;
    int left;
    /* Read every finished transfer before removing any: libcurl 7.88 scans its queue of unread
     * messages on each remove, so removing while reading is quadratic in the backlog, and a
     * backlog after a stall would then only grow. */
    while (h->multi && (msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        if (n == cap) {
            size_t bytes = 2 * cap * sizeof(*done);
            done = done == local ? memcpy(fo_xmalloc(bytes), local, sizeof(local))
                                 : fo_xrealloc(done, bytes);
            cap *= 2;
        }
        struct fo__xfer **pp = fo__find(h, msg->easy_handle);
        done[n].easy = msg->easy_handle;
        done[n].gen = *pp ? (*pp)->gen : 0;
        done[n].code = msg->data.result;
        n++;
    }
    /* done() may close the host: h->multi turns NULL then, and h stays allocated until the
     * timer's close callback, which cannot run before we return to the loop. */
    for (size_t i = 0; i < n && h->multi; i++) {
        struct fo__xfer **pp = fo__find(h, done[i].easy);
        /* an earlier done() of this batch may have cancelled this transfer and started a new one
         * on the same handle: that one is still running and this result is not its */
        if (*pp && (*pp)->gen != done[i].gen)
            continue;
        curl_multi_remove_handle(h->multi, done[i].easy);
        if (!*pp)
            continue;
        struct fo__xfer x;
        fo__unlink(h, pp, &x);
        x.done(done[i].easy, (int)done[i].code, x.arg);
    }
    if (done != local)
        free(done);
}

static void fo__on_timeout(uv_timer_t *t)
{
    struct fo__http *h = t->data;
    int running;
    if (!h->multi)
        return;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    fo__drain(h);
}

static int fo__on_timer_set(CURLM *m, long timeout_ms, void *userp)
{
    struct fo__http *h = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, fo__on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static void fo__on_poll(uv_poll_t *p, int status, int events)
{
    struct fo__sock *sk = p->data;
    struct fo__http *h = sk->h;
    int flags = 0, running;
    if (!h->multi)
        return;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(h->multi, sk->fd, flags, &running);
    fo__drain(h);
}

/* Ends transfers whose socket we could not watch, outside libcurl's callbacks. */
static void fo__on_reap(uv_timer_t *t)
{
    struct fo__http *h = t->data;
    for (size_t i = 0; h->multi && i < h->nbuckets; i++)
        for (struct fo__xfer **pp = &h->buckets[i]; *pp;) {
            if (!(*pp)->failed) {
                pp = &(*pp)->next;
                continue;
            }
            struct fo__xfer x;
            fo__unlink(h, pp, &x);
            curl_multi_remove_handle(h->multi, x.easy);
            x.done(x.easy, CURLE_FAILED_INIT, x.arg);
            i = (size_t)-1; /* done() may have changed the table: rescan */
            break;
        }
}

static void fo__free_sock(uv_handle_t *hd)
{
    free(hd->data);
}

static int fo__on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct fo__http *h = userp;
    struct fo__sock *sk = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            /* Stop now: curl closes the fd next and may reuse its number at once. */
            uv_poll_stop(&sk->poll);
            curl_multi_assign(h->multi, s, NULL);
            uv_close((uv_handle_t *)&sk->poll, fo__free_sock);
        }
        return 0;
    }
    if (!sk) {
        sk = fo_xcalloc(1, sizeof(*sk));
        sk->fd = s;
        sk->h = h;
        int rc = uv_poll_init_socket(h->loop, &sk->poll, s);
        if (rc < 0) {
            /* Returning -1 would make libcurl abort every transfer of the multi: fail this
             * one only, and as the host's fault, not the target's. */
            struct fo__xfer *x = *fo__find(h, e);
            fo_error("http: cannot watch socket %d: %s", (int)s, uv_strerror(rc));
            free(sk);
            if (x) {
                x->failed = 1;
                uv_timer_start(&h->reaper, fo__on_reap, 0, 0);
            }
            return 0;
        }
        sk->poll.data = sk;
        curl_multi_assign(h->multi, s, sk);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&sk->poll, ev, fo__on_poll);
    return 0;
}

int fo_http_host_init(uv_loop_t *loop)
{
    if (fo__h) {
        if (fo__h->loop != loop)
            return -FO_EBUSY;
        fo__h->refs++;
        return 0;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -FO_EIO;
    struct fo__http *h = fo_xcalloc(1, sizeof(*h));
    h->loop = loop;
    h->multi = curl_multi_init();
    if (!h->multi) {
        free(h);
        curl_global_cleanup();
        return -FO_EIO;
    }
    h->nbuckets = 64;
    h->buckets = fo_xcalloc(h->nbuckets, sizeof(*h->buckets));
    uv_timer_init(loop, &h->timer);
    uv_timer_init(loop, &h->reaper);
    h->timer.data = h->reaper.data = h;
    h->open_handles = 2;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, fo__on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, fo__on_timer_set);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    h->refs = 1;
    fo__h = h;
    return 0;
}

void fo_http_host_keep(size_t members)
{
    struct fo__http *h = fo__h;
    if (!h)
        return;
    /* Room for redirects and for connections still closing after a reload. */
    size_t n = members + members / 8 + 16;
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)(n > LONG_MAX ? LONG_MAX : n));
}

int fo_http_host_start(void *easy, fo_http_done_fn done, void *arg)
{
    struct fo__http *h = fo__h;
    if (!h || !easy || !done)
        return -FO_EINVAL;
    struct fo__xfer **pp = fo__find(h, easy);
    if (*pp)
        return -FO_EBUSY;
    struct fo__xfer *x = h->spare;
    if (x)
        h->spare = x->next;
    else
        x = fo_xmalloc(sizeof(*x));
    x->easy = easy;
    x->gen = ++h->gen;
    x->done = done;
    x->arg = arg;
    x->failed = 0;
    x->next = NULL;
    *pp = x;
    h->count++;
    /* Signals and a threaded resolver do not mix in a daemon; not a plugin's choice. */
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    CURLMcode mc = curl_multi_add_handle(h->multi, easy);
    if (mc != CURLM_OK) {
        struct fo__xfer gone;
        fo__unlink(h, fo__find(h, easy), &gone);
        fo_warn("http: cannot start a transfer: %s", curl_multi_strerror(mc));
        return mc == CURLM_ADDED_ALREADY ? -FO_EBUSY : -FO_EIO;
    }
    if (h->count > h->nbuckets)
        fo__grow(h);
    return 0;
}

void fo_http_host_cancel(void *easy)
{
    struct fo__http *h = fo__h;
    if (!h || !easy)
        return;
    struct fo__xfer **pp = fo__find(h, easy);
    if (!*pp)
        return;
    struct fo__xfer gone;
    fo__unlink(h, pp, &gone);
    curl_multi_remove_handle(h->multi, easy);
}

int fo_http_host_running(void)
{
    return fo__h ? (int)fo__h->count : 0;
}

static void fo__free_host(uv_handle_t *hd)
{
    struct fo__http *h = hd->data;
    if (--h->open_handles == 0)
        free(h);
}

void fo_http_host_close(void)
{
    struct fo__http *h = fo__h;
    if (!h || --h->refs > 0)
        return;
    for (size_t i = 0; i < h->nbuckets; i++)
        while (h->buckets[i]) {
            struct fo__xfer gone;
            CURL *easy = h->buckets[i]->easy;
            fo__unlink(h, &h->buckets[i], &gone);
            curl_multi_remove_handle(h->multi, easy);
        }
    /* Cleanup may still report sockets to remove: the callbacks need h->multi valid. */
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    while (h->spare) {
        struct fo__xfer *x = h->spare;
        h->spare = x->next;
        free(x);
    }
    free(h->buckets);
    h->buckets = NULL;
    fo__h = NULL;
    curl_global_cleanup();
    uv_close((uv_handle_t *)&h->timer, fo__free_host);
    uv_close((uv_handle_t *)&h->reaper, fo__free_host);
}
