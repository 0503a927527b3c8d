/* The peer transport on libuv (see peer.h): dials and accepts, runs the handshake of frame.h on
 * each connection, keeps one authenticated connection per peer, drops and counts any peer that
 * breaks the protocol or does not keep up, and redials with backoff while a peer is down. */
#include "peer/peer.h"
#include "core/clock.h"
#include "core/log.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FO__READ_BUF  (64 * 1024)
#define FO__ADDRS_MAX 8

struct fo__wreq {
    uv_write_t req;
    uint8_t data[];
};

struct fo__conn {
    struct fo__conn *next, *prev;
    struct fo_peer_transport *t;
    struct fo__peer *peer; /* for dials from the start, for accepted ones once HELLO names it */
    uv_tcp_t tcp;
    uv_connect_t creq;
    struct fo_peer_session s;
    int outbound, connected, up, pending, closing;
    int64_t created_ms, last_recv_ms, last_send_ms;
    uint8_t *rbuf;
};

struct fo__peer {
    struct fo_peer_transport *t;
    char id[FO_PEER_ID_MAX + 1];
    char *host;
    char port[8];
    int numeric;
    struct sockaddr_storage addrs[FO__ADDRS_MAX];
    int naddrs, next_addr;
    struct fo__conn *conn;    /* the authenticated connection */
    struct fo__conn *dialing; /* our dial, until it is authenticated or gone */
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    int resolving, refs, removed, reported_up;
    uint32_t backoff_ms;
    struct fo_peer_stats st;
    int64_t last_log_ms;
};

struct fo_peer_transport {
    uv_loop_t *loop;
    char self[FO_PEER_ID_MAX + 1], cluster[FO_PEER_ID_MAX + 1];
    uint8_t *key;
    size_t key_len;
    char *listen;
    size_t queue_max;
    uint32_t backoff_min_ms, backoff_max_ms, ping_ms, dead_ms, handshake_ms, tick_ms;
    int max_pending, npending;
    uint64_t incarnation, rng;
    fo_peer_recv_fn on_recv;
    fo_peer_state_fn on_state;
    void *arg;
    struct fo__peer **peers;
    int npeers;
    struct fo__conn *conns;
    uv_tcp_t listener;
    uv_timer_t tick;
    int listening, started, closing, refs;
    int64_t last_tick_ms;
    struct fo_peer_stats anon;
    int64_t anon_log_ms;
};

static void fo__conn_close(struct fo__conn *c);
static void fo__peer_schedule(struct fo__peer *p);

static void fo__t_unref(struct fo_peer_transport *t)
{
    if (--t->refs > 0 || !t->closing)
        return;
    OPENSSL_clear_free(t->key, t->key_len);
    free(t->listen);
    free(t->peers);
    free(t);
}

static void fo__t_handle_closed(uv_handle_t *h)
{
    fo__t_unref(h->data);
}

static struct fo__peer *fo__find(struct fo_peer_transport *t, const char *id)
{
    for (int i = 0; i < t->npeers; i++)
        if (strcmp(t->peers[i]->id, id) == 0)
            return t->peers[i];
    return NULL;
}

/* "ip:port", "[ip6]:port" or "name:port". Returns 0 or -FO_EINVAL. */
static int fo__split(const char *s, char *host, size_t cap, char port[8])
{
    const char *colon, *h = s, *he;
    if (!s)
        return -FO_EINVAL;
    if (*s == '[') {
        h = s + 1;
        he = strchr(h, ']');
        if (!he || he[1] != ':')
            return -FO_EINVAL;
        colon = he + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            return -FO_EINVAL;
        he = colon;
    }
    size_t n = (size_t)(he - h), pn = strlen(colon + 1);
    if (n == 0 || n >= cap || pn == 0 || pn > 5 || strspn(colon + 1, "0123456789") != pn ||
        atoi(colon + 1) > 65535)
        return -FO_EINVAL;
    memcpy(host, h, n);
    host[n] = '\0';
    memcpy(port, colon + 1, pn + 1);
    return 0;
}

static int fo__numeric(const char *host, const char *port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(host, atoi(port), (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, atoi(port), (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return -FO_EINVAL;
}

static void fo__remote(struct fo__conn *c, char *out, size_t n)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    snprintf(out, n, "%s:%d", ip, port);
}

/* Counts the drop against the peer the connection named (or the anonymous bucket), logs at
 * most once a second per bucket, since a hostile client can cause drops at will. */
static void fo__conn_drop(struct fo__conn *c, enum fo_peer_reason why)
{
    struct fo_peer_transport *t = c->t;
    struct fo_peer_stats *st = c->peer ? &c->peer->st : &t->anon;
    int64_t *last = c->peer ? &c->peer->last_log_ms : &t->anon_log_ms;
    int64_t now = fo_clock_mono_ms();
    if (c->closing)
        return;
    st->drops[why]++;
    if (*last == 0 || now - *last >= 1000) {
        char remote[96], count[24];
        *last = now;
        fo__remote(c, remote, sizeof(remote));
        snprintf(count, sizeof(count), "%llu", (unsigned long long)st->drops[why]);
        fo_event(FO_LOG_WARN, "peer.drop", "peer", c->peer ? c->peer->id : "-", "reason",
                 fo_peer_reason_name(why), "remote", remote, "count", count, NULL);
    }
    fo__conn_close(c);
}

static void fo__on_write(uv_write_t *req, int status)
{
    struct fo__conn *c = req->handle->data;
    free(req);
    if (status < 0 && status != UV_ECANCELED)
        fo__conn_close(c);
}

/* Takes w (size bytes at w->data). */
static int fo__conn_write(struct fo__conn *c, struct fo__wreq *w, size_t size)
{
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)size);
    int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, fo__on_write);
    if (r < 0) {
        free(w);
        fo__conn_close(c);
        return -FO_EAGAIN;
    }
    c->last_send_ms = fo_clock_mono_ms();
    return 0;
}

static int fo__conn_write_raw(struct fo__conn *c, const uint8_t *p, size_t n)
{
    struct fo__wreq *w = fo_xmalloc(sizeof(*w) + n);
    memcpy(w->data, p, n);
    return fo__conn_write(c, w, n);
}

static int fo__conn_send(struct fo__conn *c, uint8_t type, const void *payload, size_t len)
{
    size_t size = fo_peer_frame_size(len);
    /* bytes libuv has not handed to the kernel yet: what a slow reader makes us hold */
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + size > c->t->queue_max) {
        fo__conn_drop(c, FO_PEER_R_QUEUE_FULL);
        return -FO_EBUSY;
    }
    struct fo__wreq *w = fo_xmalloc(sizeof(*w) + size);
    int r = fo_peer_session_seal(&c->s, type, payload, len, w->data);
    if (r < 0) {
        free(w);
        fo__conn_close(c);
        return r;
    }
    return fo__conn_write(c, w, size);
}

/* A connection of p past its HELLO is about to take over (the losing one of two simultaneous
 * dials was closed first): p does not go down in between. If it fails, its close says down. */
static int fo__handshaking(struct fo__peer *p)
{
    for (struct fo__conn *c = p->t->conns; c; c = c->next)
        if (c->peer == p && !c->closing && !c->up && c->s.auth_sent)
            return 1;
    return 0;
}

static void fo__conn_closed(uv_handle_t *h)
{
    struct fo__conn *c = h->data;
    struct fo_peer_transport *t = c->t;
    struct fo__peer *p = c->peer;
    if (c->prev)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    fo_peer_session_free(&c->s);
    free(c->rbuf);
    free(c);
    if (p && !p->removed && !t->closing) {
        if (!p->conn && p->reported_up && !fo__handshaking(p)) {
            p->reported_up = 0;
            fo_event(FO_LOG_INFO, "peer.down", "peer", p->id, NULL);
            if (t->on_state)
                t->on_state(t->arg, p->id, 0);
        }
        fo__peer_schedule(p);
    }
    fo__t_unref(t);
}

static void fo__conn_close(struct fo__conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->pending) {
        c->pending = 0;
        c->t->npending--;
    }
    if (c->peer && c->peer->conn == c)
        c->peer->conn = NULL;
    if (c->peer && c->peer->dialing == c)
        c->peer->dialing = NULL;
    uv_close((uv_handle_t *)&c->tcp, fo__conn_closed);
}

static struct fo__conn *fo__conn_new(struct fo_peer_transport *t, struct fo__peer *p)
{
    struct fo__conn *c = fo_xcalloc(1, sizeof(*c));
    if (fo_peer_session_init(&c->s, t->cluster, t->self, t->incarnation, NULL) < 0) {
        free(c);
        return NULL;
    }
    if (uv_tcp_init(t->loop, &c->tcp) < 0) {
        fo_peer_session_free(&c->s);
        free(c);
        return NULL;
    }
    c->t = t;
    c->peer = p;
    c->tcp.data = c;
    c->created_ms = fo_clock_mono_ms();
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
    t->refs++;
    return c;
}

/* Which of two authenticated connections to one peer survives. Both ends must choose alike. */
static int fo__prefer(struct fo_peer_transport *t, struct fo__conn *n, struct fo__conn *old)
{
    if (n->s.peer.incarnation != old->s.peer.incarnation)
        return 1; /* the peer restarted: the old link is dead even if we have not seen it */
    if (n->outbound == old->outbound)
        return 1; /* same dialer redialed: it has given up on the old one */
    /* simultaneous dials: keep the one dialed by the lower id */
    return strcmp(t->self, n->peer->id) < 0 ? n->outbound : !n->outbound;
}

/* Settles simultaneous dials at HELLO time, before either connection carries a frame. An
 * inbound connection that would lose to the one we have is refused. The lower id also refuses
 * the higher's dial while its own dial has reached the peer (the higher has then seen, or will
 * see, our HELLO and keeps ours), and otherwise drops its own dial in favour of the inbound one,
 * so that a dial hint that leads nowhere cannot keep the pair apart. */
static int fo__dup_refused(struct fo_peer_transport *t, struct fo__peer *p, struct fo__conn *c)
{
    if (p->conn && !fo__prefer(t, c, p->conn))
        return 1;
    if (p->dialing && strcmp(t->self, p->id) < 0) {
        if (p->dialing->connected)
            return 1;
        fo__conn_close(p->dialing);
    }
    return 0;
}

static void fo__on_hello(struct fo__conn *c)
{
    struct fo_peer_transport *t = c->t;
    const struct fo_peer_hello *h = &c->s.peer;
    struct fo__peer *p = fo__find(t, h->node_id);
    if (!c->outbound)
        c->peer = p;
    if (strcmp(h->cluster_id, t->cluster) != 0) {
        fo__conn_drop(c, FO_PEER_R_FOREIGN_CLUSTER);
        return;
    }
    if (!p || p != c->peer) { /* unknown, ourselves, or a dial hint that leads elsewhere */
        fo__conn_drop(c, FO_PEER_R_UNKNOWN_PEER);
        return;
    }
    if (!c->outbound && fo__dup_refused(t, p, c)) {
        fo__conn_close(c);
        return;
    }
    int r = fo_peer_session_accept(&c->s, t->key, t->key_len);
    if (r == -FO_EIO || r == -FO_EINVAL) {
        fo__conn_close(c);
        return;
    }
    if (r < 0) {
        fo__conn_drop(c, c->s.reason);
        return;
    }
    uint8_t auth[FO_PEER_AUTH_LEN];
    if (fo_peer_session_auth(&c->s, auth) < 0) {
        fo__conn_close(c);
        return;
    }
    fo__conn_write_raw(c, auth, sizeof(auth));
}

static void fo__on_auth(struct fo__conn *c)
{
    struct fo_peer_transport *t = c->t;
    struct fo__peer *p = c->peer;
    struct fo__conn *old = p->conn;
    c->up = 1;
    if (c->pending) {
        c->pending = 0;
        t->npending--;
    }
    if (p->dialing == c)
        p->dialing = NULL;
    if (old && !fo__prefer(t, c, old)) {
        fo__conn_close(c);
        return;
    }
    if (old)
        fo__conn_close(old);
    p->conn = c;
    p->backoff_ms = 0;
    uv_timer_stop(&p->timer);
    if (!p->reported_up) {
        p->reported_up = 1;
        p->st.connects++;
        fo_event(FO_LOG_INFO, "peer.up", "peer", p->id, NULL);
        if (t->on_state)
            t->on_state(t->arg, p->id, 1);
    }
}

static void fo__process(struct fo__conn *c, const uint8_t *p, size_t n)
{
    struct fo_peer_transport *t = c->t;
    while (n > 0 && !c->closing) {
        struct fo_peer_msg m;
        size_t used = 0;
        int r = fo_peer_session_feed(&c->s, p, n, &used, &m);
        p += used;
        n -= used;
        if (r < 0) {
            if (r == -FO_EIO || r == -FO_EINVAL)
                fo__conn_close(c);
            else
                fo__conn_drop(c, c->s.reason);
            return;
        }
        if (r == FO_PEER_EV_MORE)
            return;
        c->last_recv_ms = fo_clock_mono_ms();
        if (r == FO_PEER_EV_HELLO) {
            fo__on_hello(c);
            continue;
        }
        c->peer->st.last_recv_mono_ms = c->last_recv_ms;
        if (r == FO_PEER_EV_AUTH) {
            fo__on_auth(c);
        } else if (m.type != FO_PEER_T_PING && c->peer->conn == c) {
            c->peer->st.frames_in++;
            c->peer->st.bytes_in += m.len;
            if (t->on_recv)
                t->on_recv(t->arg, c->peer->id, m.type, m.payload, m.len);
        }
    }
}

static void fo__on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct fo__conn *c = h->data;
    if (!c->rbuf)
        c->rbuf = fo_xmalloc(FO__READ_BUF);
    *buf = uv_buf_init((char *)c->rbuf, FO__READ_BUF);
}

static void fo__on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct fo__conn *c = s->data;
    if (nread < 0)
        fo__conn_close(c); /* EOF or error: the peer left, nothing to count */
    else if (nread > 0)
        fo__process(c, (const uint8_t *)buf->base, (size_t)nread);
}

static void fo__conn_begin(struct fo__conn *c)
{
    size_t n;
    const uint8_t *hello = fo_peer_session_hello(&c->s, &n);
    c->connected = 1;
    c->last_recv_ms = fo_clock_mono_ms();
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, fo__on_alloc, fo__on_read) < 0) {
        fo__conn_close(c);
        return;
    }
    fo__conn_write_raw(c, hello, n);
}

static void fo__on_connect(uv_connect_t *req, int status)
{
    struct fo__conn *c = req->data;
    if (c->closing)
        return;
    if (status < 0)
        fo__conn_close(c);
    else
        fo__conn_begin(c);
}

static void fo__dial_addr(struct fo__peer *p, const struct sockaddr *sa)
{
    struct fo__conn *c = fo__conn_new(p->t, p);
    if (!c) {
        fo__peer_schedule(p);
        return;
    }
    c->outbound = 1;
    p->dialing = c;
    c->creq.data = c;
    if (uv_tcp_connect(&c->creq, &c->tcp, sa, fo__on_connect) < 0)
        fo__conn_close(c);
}

static void fo__on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct fo__peer *p = req->data;
    struct fo_peer_transport *t = p->t;
    p->resolving = 0;
    p->refs--;
    if (p->removed) {
        uv_freeaddrinfo(res);
        if (p->refs == 0) {
            free(p->host);
            free(p);
            fo__t_unref(t);
        }
        return;
    }
    p->naddrs = p->next_addr = 0;
    for (struct addrinfo *ai = status == 0 ? res : NULL; ai && p->naddrs < FO__ADDRS_MAX;
         ai = ai->ai_next)
        if (ai->ai_addrlen <= sizeof(p->addrs[0]))
            memcpy(&p->addrs[p->naddrs++], ai->ai_addr, ai->ai_addrlen);
    uv_freeaddrinfo(res);
    if (p->naddrs == 0) {
        fo__peer_schedule(p);
        return;
    }
    fo__dial_addr(p, (const struct sockaddr *)&p->addrs[p->next_addr++]);
}

static void fo__on_dial_timer(uv_timer_t *timer)
{
    struct fo__peer *p = timer->data;
    if (p->conn || p->dialing || p->t->closing || fo__handshaking(p))
        return;
    if (p->naddrs > 0) {
        fo__dial_addr(p, (const struct sockaddr *)&p->addrs[p->next_addr++]);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    p->gai.data = p;
    if (uv_getaddrinfo(p->t->loop, &p->gai, fo__on_resolved, p->host, p->port, &hints) < 0) {
        fo__peer_schedule(p);
        return;
    }
    p->resolving = 1;
    p->refs++;
}

/* Arms the next dial: at once while addresses of this round are left, else after a backoff
 * that doubles from backoff_min_ms to backoff_max_ms and restarts once the peer is up. */
static void fo__peer_schedule(struct fo__peer *p)
{
    struct fo_peer_transport *t = p->t;
    uint64_t delay = 0;
    if (t->closing || !t->started || p->removed || p->conn || p->dialing || p->resolving ||
        uv_is_active((uv_handle_t *)&p->timer) || fo__handshaking(p))
        return;
    if (p->next_addr >= p->naddrs) {
        p->next_addr = 0;
        if (!p->numeric)
            p->naddrs = 0;
        delay = p->backoff_ms;
        if (delay > 3) { /* jitter keeps two agents from redialing each other in lockstep */
            t->rng ^= t->rng << 13;
            t->rng ^= t->rng >> 7;
            t->rng ^= t->rng << 17;
            delay -= t->rng % (delay / 4);
        }
        p->backoff_ms = p->backoff_ms == 0 ? t->backoff_min_ms : p->backoff_ms * 2;
        if (p->backoff_ms > t->backoff_max_ms)
            p->backoff_ms = t->backoff_max_ms;
    }
    uv_timer_start(&p->timer, fo__on_dial_timer, delay, 0);
}

static void fo__free_handle(uv_handle_t *h)
{
    free(h);
}

static void fo__on_connection(uv_stream_t *server, int status)
{
    struct fo_peer_transport *t = server->data;
    if (status < 0)
        return;
    struct fo__conn *c = fo__conn_new(t, NULL);
    if (!c) {
        /* libuv accepts nothing more until this one is taken: take it and let it go */
        uv_tcp_t *tmp = fo_xmalloc(sizeof(*tmp));
        uv_tcp_init(t->loop, tmp);
        uv_accept(server, (uv_stream_t *)tmp);
        uv_close((uv_handle_t *)tmp, fo__free_handle);
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        fo__conn_close(c);
        return;
    }
    if (t->npending >= t->max_pending) {
        fo__conn_drop(c, FO_PEER_R_TOO_MANY_PENDING);
        return;
    }
    c->pending = 1;
    t->npending++;
    if (!c->closing)
        fo__conn_begin(c);
}

static void fo__on_tick(uv_timer_t *timer)
{
    struct fo_peer_transport *t = timer->data;
    int64_t now = fo_clock_mono_ms();
    /* After a stall of our own loop, timers run before the reads that piled up: judge no one
     * until the next tick has seen them. */
    int lagged = now - t->last_tick_ms > 2 * (int64_t)t->tick_ms + 100;
    t->last_tick_ms = now;
    for (struct fo__conn *c = t->conns; c; c = c->next) {
        if (c->closing)
            continue;
        if (!c->up) {
            if (!lagged && now - c->created_ms >= t->handshake_ms) {
                if (c->connected)
                    fo__conn_drop(c, FO_PEER_R_HANDSHAKE_TIMEOUT);
                else
                    fo__conn_close(c); /* a dial that never connected: the peer is down */
            }
        } else if (!lagged && now - c->last_recv_ms >= t->dead_ms) {
            fo__conn_drop(c, FO_PEER_R_DEAD);
        } else if (now - c->last_send_ms >= t->ping_ms) {
            fo__conn_send(c, FO_PEER_T_PING, NULL, 0);
        }
    }
}

int fo_peer_new(uv_loop_t *loop, const struct fo_peer_cfg_local *cfg, fo_peer_recv_fn on_recv,
                fo_peer_state_fn on_state, void *arg, struct fo_peer_transport **out,
                struct fo_err *err)
{
    char host[256], port[8];
    struct sockaddr_storage ss;
    *out = NULL;
    if (!fo_peer_id_valid(cfg->self_id) || !fo_peer_id_valid(cfg->cluster_id))
        return fo_err_set(err, -FO_EINVAL,
                          "peer: node and cluster ids must be 1..%d printable "
                          "characters without spaces",
                          FO_PEER_ID_MAX);
    if (!cfg->key || cfg->key_len < FO_PEER_CLUSTER_KEY_MIN)
        return fo_err_set(err, -FO_EINVAL, "peer: the cluster key must be at least %d bytes",
                          FO_PEER_CLUSTER_KEY_MIN);
    if (cfg->listen &&
        (fo__split(cfg->listen, host, sizeof(host), port) < 0 || fo__numeric(host, port, &ss) < 0))
        return fo_err_set(err, -FO_EINVAL, "peer: listen address '%s' is not a numeric ip:port",
                          cfg->listen);
    if (cfg->queue_max && cfg->queue_max < FO_PEER_FRAME_MAX + 4)
        return fo_err_set(err, -FO_EINVAL, "peer: queue_max must hold one largest frame (%u)",
                          FO_PEER_FRAME_MAX + 4);
    struct fo_peer_transport *t = fo_xcalloc(1, sizeof(*t));
    t->loop = loop;
    strcpy(t->self, cfg->self_id);
    strcpy(t->cluster, cfg->cluster_id);
    t->key = fo_xmalloc(cfg->key_len);
    memcpy(t->key, cfg->key, cfg->key_len);
    t->key_len = cfg->key_len;
    t->listen = cfg->listen ? fo_xstrdup(cfg->listen) : NULL;
    t->queue_max = cfg->queue_max ? cfg->queue_max : 8u << 20;
    t->backoff_min_ms = cfg->backoff_min_ms ? cfg->backoff_min_ms : 50;
    t->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : 1000;
    if (t->backoff_max_ms < t->backoff_min_ms)
        t->backoff_max_ms = t->backoff_min_ms;
    t->ping_ms = cfg->ping_ms ? cfg->ping_ms : 1000;
    t->dead_ms = cfg->dead_ms ? cfg->dead_ms : 5000;
    t->handshake_ms = cfg->handshake_ms ? cfg->handshake_ms : 3000;
    t->max_pending = cfg->max_pending > 0 ? cfg->max_pending : 64;
    uint32_t m = t->ping_ms < t->dead_ms ? t->ping_ms : t->dead_ms;
    m = m < t->handshake_ms ? m : t->handshake_ms;
    t->tick_ms = m / 4 < 10 ? 10 : m / 4 > 250 ? 250 : m / 4;
    t->on_recv = on_recv;
    t->on_state = on_state;
    t->arg = arg;
    if (RAND_bytes((unsigned char *)&t->incarnation, sizeof(t->incarnation)) != 1) {
        fo_peer_close(t);
        return fo_err_set(err, -FO_EIO, "peer: no random bytes for the incarnation");
    }
    t->rng = t->incarnation | 1;
    *out = t;
    return 0;
}

int fo_peer_add(struct fo_peer_transport *t, const char *id, const char *address,
                struct fo_err *err)
{
    char host[256], port[8];
    if (t->closing)
        return fo_err_set(err, -FO_EINVAL, "peer: transport is closed");
    if (!fo_peer_id_valid(id) || strcmp(id, t->self) == 0)
        return fo_err_set(err, -FO_EINVAL, "peer: bad peer id");
    if (fo__find(t, id))
        return fo_err_set(err, -FO_EEXIST, "peer: %s is already a peer", id);
    if (fo__split(address, host, sizeof(host), port) < 0)
        return fo_err_set(err, -FO_EINVAL, "peer %s: address '%s' is not host:port", id,
                          address ? address : "");
    struct fo__peer *p = fo_xcalloc(1, sizeof(*p));
    p->t = t;
    strcpy(p->id, id);
    p->host = fo_xstrdup(host);
    memcpy(p->port, port, sizeof(port));
    if (fo__numeric(host, port, &p->addrs[0]) == 0) {
        p->numeric = 1;
        p->naddrs = 1;
    }
    uv_timer_init(t->loop, &p->timer);
    p->timer.data = p;
    p->refs = 1;
    t->refs++;
    t->peers = fo_xrealloc(t->peers, sizeof(*t->peers) * (size_t)(t->npeers + 1));
    t->peers[t->npeers++] = p;
    fo__peer_schedule(p);
    return 0;
}

static void fo__peer_timer_closed(uv_handle_t *h)
{
    struct fo__peer *p = h->data;
    struct fo_peer_transport *t = p->t;
    if (--p->refs > 0)
        return;
    free(p->host);
    free(p);
    fo__t_unref(t);
}

static void fo__peer_drop(struct fo__peer *p)
{
    struct fo_peer_transport *t = p->t;
    p->removed = 1;
    for (struct fo__conn *c = t->conns; c; c = c->next)
        if (c->peer == p) {
            fo__conn_close(c);
            c->peer = NULL;
        }
    p->conn = p->dialing = NULL;
    if (p->resolving)
        uv_cancel((uv_req_t *)&p->gai);
    uv_close((uv_handle_t *)&p->timer, fo__peer_timer_closed);
}

int fo_peer_remove(struct fo_peer_transport *t, const char *id)
{
    for (int i = 0; i < t->npeers; i++)
        if (strcmp(t->peers[i]->id, id) == 0) {
            struct fo__peer *p = t->peers[i];
            t->peers[i] = t->peers[--t->npeers];
            fo__peer_drop(p);
            return 0;
        }
    return -FO_ENOENT;
}

int fo_peer_start(struct fo_peer_transport *t, struct fo_err *err)
{
    char host[256], port[8];
    struct sockaddr_storage ss;
    int r;
    if (t->started || t->closing)
        return fo_err_set(err, -FO_EINVAL, "peer: already started");
    uv_timer_init(t->loop, &t->tick);
    t->tick.data = t;
    t->refs++;
    t->started = 1;
    t->last_tick_ms = fo_clock_mono_ms();
    uv_timer_start(&t->tick, fo__on_tick, t->tick_ms, t->tick_ms);
    if (t->listen) {
        fo__split(t->listen, host, sizeof(host), port);
        fo__numeric(host, port, &ss);
        uv_tcp_init(t->loop, &t->listener);
        t->listener.data = t;
        t->refs++;
        t->listening = 1;
        if ((r = uv_tcp_bind(&t->listener, (struct sockaddr *)&ss, 0)) < 0 ||
            (r = uv_listen((uv_stream_t *)&t->listener, 128, fo__on_connection)) < 0)
            return fo_err_set(err, -FO_EIO, "peer: cannot listen on %s: %s", t->listen,
                              uv_strerror(r));
    }
    for (int i = 0; i < t->npeers; i++)
        fo__peer_schedule(t->peers[i]);
    return 0;
}

int fo_peer_listen_port(struct fo_peer_transport *t)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (!t->listening || uv_tcp_getsockname(&t->listener, (struct sockaddr *)&ss, &len) < 0)
        return -FO_ENOENT;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int fo_peer_send(struct fo_peer_transport *t, const char *peer_id, uint8_t type,
                 const void *payload, size_t len)
{
    if (type < FO_PEER_T_USER_MIN)
        return -FO_EINVAL;
    if (len > FO_PEER_PAYLOAD_MAX)
        return -FO_ETOOBIG;
    struct fo__peer *p = t->closing ? NULL : fo__find(t, peer_id);
    if (!p)
        return -FO_ENOENT;
    if (!p->conn)
        return -FO_EAGAIN;
    int r = fo__conn_send(p->conn, type, payload, len);
    if (r == 0) {
        p->st.frames_out++;
        p->st.bytes_out += len;
    }
    return r;
}

int fo_peer_get_stats(struct fo_peer_transport *t, const char *peer_id, struct fo_peer_stats *out)
{
    if (!peer_id) {
        *out = t->anon;
        return 0;
    }
    struct fo__peer *p = fo__find(t, peer_id);
    if (!p)
        return -FO_ENOENT;
    *out = p->st;
    out->connected = p->conn != NULL;
    out->queued_bytes = p->conn ? uv_stream_get_write_queue_size((uv_stream_t *)&p->conn->tcp) : 0;
    return 0;
}

void fo_peer_close(struct fo_peer_transport *t)
{
    if (t->closing)
        return;
    t->closing = 1;
    t->refs++; /* held while closing so nothing below frees t under us */
    while (t->npeers > 0)
        fo__peer_drop(t->peers[--t->npeers]);
    for (struct fo__conn *c = t->conns; c; c = c->next)
        fo__conn_close(c);
    if (t->listening)
        uv_close((uv_handle_t *)&t->listener, fo__t_handle_closed);
    if (t->started)
        uv_close((uv_handle_t *)&t->tick, fo__t_handle_closed);
    fo__t_unref(t);
}
