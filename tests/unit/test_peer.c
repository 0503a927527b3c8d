/* Tests for src/peer/peer.c: real transports on 127.0.0.1 sharing one libuv loop, with raw
 * sockets (speaking the protocol through frame.c) playing broken, hostile or slow peers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "peer/frame.h"
#include "peer/peer.h"

static const uint8_t KEY[] = "0123456789abcdef-cluster-key";
static const uint8_t BADKEY[] = "0123456789abcdef-wrong!!-key"; /* same length */

static int feed_all(struct fo_peer_session *s, const uint8_t *p, size_t n, struct fo_peer_msg *m)
{
    size_t used = 0;
    int r = fo_peer_session_feed(s, p, n, &used, m);
    if (r > 0)
        assert_int_equal(used, n); /* callers feed exactly one message */
    return r;
}

#define NN 4 /* az1..az4 */

struct node {
    struct fo_peer_transport *t;
    int idx, port;
    int up[NN], ups[NN], downs[NN];
    uint32_t next[NN]; /* next message number expected from each sender */
    uint64_t bytes[NN];
    int bad; /* out of order or corrupt deliveries */
};

struct fx {
    uv_loop_t loop;
    uv_timer_t pulse;
    struct node n[NN];
};

static const char *ID[NN] = {"az1", "az2", "az3", "az4"};

static int id_idx(const char *id)
{
    return id[2] - '1';
}

static void on_recv(void *arg, const char *peer, uint8_t type, const uint8_t *p, size_t len)
{
    struct node *n = arg;
    int i = id_idx(peer);
    uint32_t k;
    if (type == 43) { /* "stop": closing from inside a callback must be safe */
        fo_peer_close(n->t);
        n->t = NULL;
        return;
    }
    if (type != 42 || len < 4) {
        n->bad++;
        return;
    }
    memcpy(&k, p, 4);
    k = ntohl(k);
    if (k != n->next[i])
        n->bad++;
    for (size_t j = 4; j < len; j++)
        if (p[j] != (uint8_t)(k + j)) {
            n->bad++;
            break;
        }
    n->next[i] = k + 1;
    n->bytes[i] += len;
}

static void on_state(void *arg, const char *peer, int up)
{
    struct node *n = arg;
    int i = id_idx(peer);
    n->up[i] = up;
    if (up)
        n->ups[i]++;
    else
        n->downs[i]++;
}

static void on_pulse(uv_timer_t *t)
{
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    uv_timer_init(&f->loop, &f->pulse);
    uv_timer_start(&f->pulse, on_pulse, 2, 2); /* bounds each UV_RUN_ONCE */
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < NN; i++)
        if (f->n[i].t)
            fo_peer_close(f->n[i].t);
    uv_close((uv_handle_t *)&f->pulse, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    int r = uv_loop_close(&f->loop); /* every handle and request was released */
    free(f);
    assert_int_equal(r, 0);
    return 0;
}

#define RUN_UNTIL(f, cond, ms)                                                                     \
    ({                                                                                             \
        int64_t end_ = fo_clock_mono_ms() + (ms);                                                  \
        while (!(cond) && fo_clock_mono_ms() < end_)                                               \
            uv_run(&(f)->loop, UV_RUN_ONCE);                                                       \
        (cond);                                                                                    \
    })

static void run_for(struct fx *f, int ms)
{
    RUN_UNTIL(f, 0, ms);
}

/* Starts node i listening on port (0: any); cfg tweaks through c. */
static struct node *node_start(struct fx *f, int i, const uint8_t *key, int port,
                               const struct fo_peer_cfg_local *c)
{
    struct fo_peer_cfg_local cfg = c ? *c : (struct fo_peer_cfg_local){0};
    char listen[32];
    struct fo_err err = {0};
    struct node *n = &f->n[i];
    memset(n, 0, sizeof(*n));
    n->idx = i;
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    cfg.self_id = ID[i];
    cfg.cluster_id = "c1";
    cfg.key = key;
    cfg.key_len = sizeof(KEY);
    cfg.listen = listen;
    assert_int_equal(fo_peer_new(&f->loop, &cfg, on_recv, on_state, n, &n->t, &err), 0);
    assert_int_equal(fo_peer_start(n->t, &err), 0);
    n->port = fo_peer_listen_port(n->t);
    assert_true(n->port > 0);
    return n;
}

static void link_to(struct fx *f, int i, int j, const char *host)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "%s:%d", host ? host : "127.0.0.1", f->n[j].port);
    assert_int_equal(fo_peer_add(f->n[i].t, ID[j], addr, NULL), 0);
}

/* az1 and az2 up with each other; az1 also knows an az3 (at a dead address) when with_az3. */
static void pair_up(struct fx *f, const struct fo_peer_cfg_local *c1,
                    const struct fo_peer_cfg_local *c2, int with_az3)
{
    node_start(f, 0, KEY, 0, c1);
    node_start(f, 1, KEY, 0, c2);
    link_to(f, 0, 1, NULL);
    link_to(f, 1, 0, NULL);
    if (with_az3)
        assert_int_equal(fo_peer_add(f->n[0].t, "az3", "127.0.0.1:1", NULL), 0);
    assert_true(RUN_UNTIL(f, f->n[0].up[1] && f->n[1].up[0], 3000));
}

static struct fo_peer_stats stats(struct node *n, const char *peer)
{
    struct fo_peer_stats st;
    assert_int_equal(fo_peer_get_stats(n->t, peer, &st), 0);
    return st;
}

/* Sends message k (numbered, patterned) of len bytes from node a to node b. */
static int send_msg(struct fx *f, int a, int b, uint32_t k, size_t len)
{
    static uint8_t buf[FO_PEER_PAYLOAD_MAX];
    uint32_t be = htonl(k);
    memcpy(buf, &be, 4);
    for (size_t j = 4; j < len; j++)
        buf[j] = (uint8_t)(k + j);
    return fo_peer_send(f->n[a].t, ID[b], 42, buf, len < 4 ? 4 : len);
}

static void test_two_way_in_order(void **state)
{
    struct fx *f = *state;
    pair_up(f, NULL, NULL, 0);
    for (uint32_t k = 0; k < 300; k++) {
        size_t len = k == 150 ? FO_PEER_PAYLOAD_MAX : 4 + (k * 37) % 3000;
        assert_int_equal(send_msg(f, 0, 1, k, len), 0);
        assert_int_equal(send_msg(f, 1, 0, k, len), 0);
    }
    assert_true(RUN_UNTIL(f, f->n[1].next[0] == 300 && f->n[0].next[1] == 300, 5000));
    assert_int_equal(f->n[0].bad + f->n[1].bad, 0);
    struct fo_peer_stats a = stats(&f->n[0], "az2"), b = stats(&f->n[1], "az1");
    assert_int_equal(a.frames_out, 300);
    assert_int_equal(a.frames_in, 300);
    assert_int_equal(b.bytes_in, f->n[1].bytes[0]);
    assert_true(a.connected && b.connected);
    /* both dialed; exactly one connection survived and neither side flapped */
    assert_int_equal(a.connects, 1);
    assert_int_equal(b.connects, 1);
    assert_int_equal(f->n[0].downs[1] + f->n[1].downs[0], 0);
    assert_true(a.last_recv_mono_ms > 0 && a.last_recv_mono_ms <= fo_clock_mono_ms());
    /* API refusals */
    assert_int_equal(fo_peer_send(f->n[0].t, "az2", FO_PEER_T_PING, "x", 1), -FO_EINVAL);
    assert_int_equal(fo_peer_send(f->n[0].t, "az9", 42, "x", 1), -FO_ENOENT);
    assert_int_equal(fo_peer_send(f->n[0].t, "az2", 42, "x", FO_PEER_PAYLOAD_MAX + 1), -FO_ETOOBIG);
    assert_int_equal(fo_peer_add(f->n[0].t, "az2", "127.0.0.1:1", NULL), -FO_EEXIST);
    assert_int_equal(fo_peer_add(f->n[0].t, "az1", "127.0.0.1:1", NULL), -FO_EINVAL);
    assert_int_equal(fo_peer_add(f->n[0].t, "az5", "127.0.0.1", NULL), -FO_EINVAL);
    assert_int_equal(fo_peer_add(f->n[0].t, "az5", "[::1:80", NULL), -FO_EINVAL);
}

static void test_three_nodes(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 3; i++)
        node_start(f, i, KEY, 0, NULL);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j)
                link_to(f, i, j, NULL);
    assert_true(RUN_UNTIL(f,
                          f->n[0].up[1] && f->n[0].up[2] && f->n[1].up[0] && f->n[1].up[2] &&
                              f->n[2].up[0] && f->n[2].up[1],
                          3000));
    for (uint32_t k = 0; k < 200; k++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                if (i != j)
                    assert_int_equal(send_msg(f, i, j, k, 4 + k * 11), 0);
    assert_true(
        RUN_UNTIL(f,
                  (f->n[0].next[1] == 200 && f->n[0].next[2] == 200 && f->n[1].next[0] == 200 &&
                   f->n[1].next[2] == 200 && f->n[2].next[0] == 200 && f->n[2].next[1] == 200),
                  5000));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(f->n[i].bad, 0);
        for (int j = 0; j < 3; j++)
            if (i != j)
                assert_int_equal(stats(&f->n[i], ID[j]).connects, 1);
    }
}

static void test_wrong_key(void **state)
{
    struct fx *f = *state;
    node_start(f, 0, KEY, 0, NULL);
    node_start(f, 1, KEY, 0, NULL);
    node_start(f, 2, BADKEY, 0, NULL);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j)
                link_to(f, i, j, NULL);
    assert_true(RUN_UNTIL(f,
                          stats(&f->n[0], "az3").drops[FO_PEER_R_BAD_AUTH] >= 2 &&
                              stats(&f->n[2], "az1").drops[FO_PEER_R_BAD_AUTH] >= 2 &&
                              f->n[0].up[1] && f->n[1].up[0],
                          3000));
    for (uint32_t k = 0; k < 20; k++) {
        assert_int_equal(send_msg(f, 2, 0, k, 10), -FO_EAGAIN);
        assert_int_equal(send_msg(f, 0, 2, k, 10), -FO_EAGAIN);
        assert_int_equal(send_msg(f, 0, 1, k, 10), 0);
        run_for(f, 10);
    }
    assert_true(RUN_UNTIL(f, f->n[1].next[0] == 20, 2000));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(f->n[i].ups[2], 0);
        assert_int_equal(f->n[i].next[2], 0);
        assert_int_equal(stats(&f->n[i], "az3").frames_in, 0);
        assert_true(stats(&f->n[i], "az3").drops[FO_PEER_R_BAD_AUTH] > 0);
    }
    assert_int_equal(f->n[2].ups[0] + f->n[2].ups[1], 0);
}

/* ---------- raw sockets playing bad peers ---------- */

static int raw_connect(struct fx *f, int port, int rcvbuf)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static void raw_send(struct fx *f, int fd, const void *p, size_t n)
{
    size_t off = 0;
    int64_t end = fo_clock_mono_ms() + 3000;
    while (off < n && fo_clock_mono_ms() < end) {
        ssize_t k = send(fd, (const char *)p + off, n - off, MSG_NOSIGNAL);
        if (k > 0)
            off += (size_t)k;
        else
            uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_int_equal(off, n);
}

/* Reads exactly n bytes while the loop runs; 0, or -1 on EOF, reset or timeout. */
static int raw_recv(struct fx *f, int fd, uint8_t *p, size_t n)
{
    size_t off = 0;
    int64_t end = fo_clock_mono_ms() + 3000;
    while (off < n && fo_clock_mono_ms() < end) {
        ssize_t k = recv(fd, p + off, n - off, 0);
        if (k == 0 || (k < 0 && errno != EAGAIN))
            return -1;
        if (k > 0)
            off += (size_t)k;
        else
            uv_run(&f->loop, UV_RUN_ONCE);
    }
    return off == n ? 0 : -1;
}

/* 1 once the transport has closed the socket (everything before the close is read away). */
static int raw_closed(struct fx *f, int fd)
{
    uint8_t buf[4096];
    int64_t end = fo_clock_mono_ms() + 3000;
    while (fo_clock_mono_ms() < end) {
        ssize_t k = recv(fd, buf, sizeof(buf), 0);
        if (k == 0 || (k < 0 && errno != EAGAIN))
            return 1;
        if (k < 0)
            uv_run(&f->loop, UV_RUN_ONCE);
    }
    return 0;
}

/* Completes the handshake with node 0 as az3, knowing the key. */
/* First half of a handshake as az3: HELLOs both ways, node 0's AUTH verified; ours not sent. */
static void raw_hello(struct fx *f, int fd, struct fo_peer_session *s, uint64_t inc)
{
    struct fo_peer_msg m;
    uint8_t buf[FO_PEER_HELLO_MAX];
    uint32_t len;
    size_t n;
    assert_int_equal(fo_peer_session_init(s, "c1", "az3", inc, NULL), 0);
    const uint8_t *h = fo_peer_session_hello(s, &n);
    raw_send(f, fd, h, n);
    assert_int_equal(raw_recv(f, fd, buf, 4), 0);
    memcpy(&len, buf, 4);
    len = ntohl(len);
    assert_true(len <= FO_PEER_HELLO_MAX - 4);
    assert_int_equal(raw_recv(f, fd, buf + 4, len), 0);
    assert_int_equal(feed_all(s, buf, 4 + len, &m), FO_PEER_EV_HELLO);
    assert_int_equal(fo_peer_session_accept(s, KEY, sizeof(KEY)), 0);
    assert_int_equal(raw_recv(f, fd, buf, FO_PEER_AUTH_LEN), 0);
    assert_int_equal(feed_all(s, buf, FO_PEER_AUTH_LEN, &m), FO_PEER_EV_AUTH);
}

static void raw_auth(struct fx *f, int fd, struct fo_peer_session *s)
{
    uint8_t buf[FO_PEER_AUTH_LEN];
    assert_int_equal(fo_peer_session_auth(s, buf), 0);
    raw_send(f, fd, buf, FO_PEER_AUTH_LEN);
}

/* Completes the handshake with node 0 as az3, knowing the key. */
static void raw_handshake(struct fx *f, int fd, struct fo_peer_session *s, uint64_t inc)
{
    raw_hello(f, fd, s, inc);
    raw_auth(f, fd, s);
}

/* A raw az3 with the key sends one good frame, then what bad() does to the next one. */
static uint64_t raw_bad_frame(struct fx *f, enum fo_peer_reason why)
{
    struct fo_peer_session s;
    uint8_t frame[64];
    uint32_t k = htonl(f->n[0].next[2]);
    int fd = raw_connect(f, f->n[0].port, 0);
    raw_handshake(f, fd, &s, 99);
    assert_true(RUN_UNTIL(f, f->n[0].up[2], 2000));
    assert_int_equal(fo_peer_session_seal(&s, 42, &k, 4, frame), 0);
    raw_send(f, fd, frame, fo_peer_frame_size(4));
    assert_int_equal(fo_peer_session_seal(&s, 42, &k, 4, frame), 0);
    size_t sz = fo_peer_frame_size(4);
    if (why == FO_PEER_R_BAD_TAG)
        frame[sz - 1] ^= 1;
    else if (why == FO_PEER_R_OVERSIZED)
        memcpy(frame, (uint8_t[]){0x01, 0x00, 0x00, 0x00}, 4); /* 16 MiB */
    else if (why == FO_PEER_R_STALE_SEQ) {
        s.send_seq = 0; /* seq 1 again */
        assert_int_equal(fo_peer_session_seal(&s, 42, &k, 4, frame), 0);
    }
    raw_send(f, fd, frame, sz);
    assert_true(raw_closed(f, fd));
    close(fd);
    fo_peer_session_free(&s);
    return stats(&f->n[0], "az3").drops[why];
}

static void test_garbage_dropped(void **state)
{
    struct fx *f = *state;
    struct fo_peer_cfg_local c = {.handshake_ms = 300, .max_pending = 2};
    pair_up(f, &c, NULL, 1);
    uint32_t sent = 0;
    uint8_t hello_sized[68];
    memset(hello_sized, 'x', sizeof(hello_sized));
    memcpy(hello_sized, "\x00\x00\x00\x40", 4); /* a HELLO's length, then no HELLO */
    struct {
        const void *bytes;
        size_t n;
        enum fo_peer_reason why;
    } junk[] = {
        {"GET / HTTP/1.1\r\n\r\n", 18, FO_PEER_R_OVERSIZED},
        {"\xff\xff\xff\xff", 4, FO_PEER_R_OVERSIZED},
        {hello_sized, sizeof(hello_sized), FO_PEER_R_MALFORMED},
        {"\x00\x00\x00\x02xx", 6, FO_PEER_R_MALFORMED},
        {"", 0, FO_PEER_R_HANDSHAKE_TIMEOUT},
    };
    for (size_t i = 0; i < FO_ARRAY_LEN(junk); i++) {
        uint64_t before = stats(&f->n[0], NULL).drops[junk[i].why];
        int fd = raw_connect(f, f->n[0].port, 0);
        if (junk[i].n)
            raw_send(f, fd, junk[i].bytes, junk[i].n);
        assert_true(raw_closed(f, fd));
        close(fd);
        assert_int_equal(stats(&f->n[0], NULL).drops[junk[i].why], before + 1);
        assert_int_equal(send_msg(f, 0, 1, sent++, 100), 0); /* the good pair carries on */
    }
    /* a HELLO from another cluster, counted against the id it named */
    struct fo_peer_session s;
    int fd = raw_connect(f, f->n[0].port, 0);
    size_t n;
    assert_int_equal(fo_peer_session_init(&s, "c2", "az3", 1, NULL), 0);
    const uint8_t *h = fo_peer_session_hello(&s, &n);
    raw_send(f, fd, h, n);
    assert_true(raw_closed(f, fd));
    close(fd);
    fo_peer_session_free(&s);
    assert_int_equal(stats(&f->n[0], "az3").drops[FO_PEER_R_FOREIGN_CLUSTER], 1);
    /* another cluster's agent whose id we do not know either */
    fd = raw_connect(f, f->n[0].port, 0);
    assert_int_equal(fo_peer_session_init(&s, "c2", "zz9", 1, NULL), 0);
    h = fo_peer_session_hello(&s, &n);
    raw_send(f, fd, h, n);
    assert_true(raw_closed(f, fd));
    close(fd);
    fo_peer_session_free(&s);
    assert_int_equal(stats(&f->n[0], NULL).drops[FO_PEER_R_FOREIGN_CLUSTER], 1);
    /* at most max_pending (2) connections may sit unauthenticated */
    int idle[3];
    for (int i = 0; i < 3; i++) {
        idle[i] = raw_connect(f, f->n[0].port, 0);
        run_for(f, 20);
    }
    assert_true(raw_closed(f, idle[2]));
    assert_int_equal(stats(&f->n[0], NULL).drops[FO_PEER_R_TOO_MANY_PENDING], 1);
    assert_true(raw_closed(f, idle[0]) && raw_closed(f, idle[1])); /* and time out */
    assert_int_equal(stats(&f->n[0], NULL).drops[FO_PEER_R_HANDSHAKE_TIMEOUT], 3);
    for (int i = 0; i < 3; i++)
        close(idle[i]);
    /* peers that know the key and then misbehave: the good frame arrives, the bad one drops */
    assert_int_equal(raw_bad_frame(f, FO_PEER_R_BAD_TAG), 1);
    assert_int_equal(raw_bad_frame(f, FO_PEER_R_OVERSIZED), 1);
    assert_int_equal(raw_bad_frame(f, FO_PEER_R_STALE_SEQ), 1);
    assert_int_equal(f->n[0].next[2], 3);
    assert_int_equal(f->n[0].bad, 0);
    assert_int_equal(stats(&f->n[0], "az3").frames_in, 3);
    for (int i = 0; i < 10; i++)
        assert_int_equal(send_msg(f, 0, 1, sent++, 100), 0);
    assert_true(RUN_UNTIL(f, f->n[1].next[0] == sent, 2000));
    assert_int_equal(f->n[1].bad, 0);
    assert_int_equal(stats(&f->n[0], "az2").connects, 1);
    assert_int_equal(f->n[0].downs[1], 0);
}

static void test_dead_and_ping(void **state)
{
    struct fx *f = *state;
    struct fo_peer_cfg_local c = {.ping_ms = 40, .dead_ms = 250};
    pair_up(f, &c, &c, 1);
    /* a silent peer that knows the key is dropped; the idle good pair stays up on PINGs */
    struct fo_peer_session s;
    int fd = raw_connect(f, f->n[0].port, 0);
    raw_handshake(f, fd, &s, 99);
    assert_true(RUN_UNTIL(f, f->n[0].up[2], 2000));
    int64_t t0 = fo_clock_mono_ms();
    assert_true(raw_closed(f, fd));
    assert_true(fo_clock_mono_ms() - t0 >= 150);
    close(fd);
    fo_peer_session_free(&s);
    assert_int_equal(stats(&f->n[0], "az3").drops[FO_PEER_R_DEAD], 1);
    assert_true(RUN_UNTIL(f, f->n[0].downs[2] == 1, 1000));
    run_for(f, 600);
    /* our own loop stalls past dead_ms: nobody is judged before the backlog is read */
    usleep(600 * 1000);
    run_for(f, 300);
    assert_int_equal(stats(&f->n[0], "az2").drops[FO_PEER_R_DEAD], 0);
    assert_int_equal(stats(&f->n[1], "az1").drops[FO_PEER_R_DEAD], 0);
    assert_int_equal(f->n[0].downs[1] + f->n[1].downs[0], 0);
    assert_true(fo_clock_mono_ms() - stats(&f->n[0], "az2").last_recv_mono_ms < 200);
}

static void test_restart_handover_no_flap(void **state)
{
    struct fx *f = *state;
    struct fo_peer_session s1, s2;
    uint8_t frame[64];
    uint32_t k = 0;
    pair_up(f, NULL, NULL, 1);
    int fd1 = raw_connect(f, f->n[0].port, 0), fd2 = raw_connect(f, f->n[0].port, 0);
    raw_handshake(f, fd1, &s1, 99);
    assert_true(RUN_UNTIL(f, f->n[0].up[2], 2000));
    /* az3 restarted: the new process is mid-handshake when the old link's end arrives */
    raw_hello(f, fd2, &s2, 100);
    close(fd1);
    run_for(f, 50);
    assert_int_equal(fo_peer_send(f->n[0].t, "az3", 42, "abcd", 4), -FO_EAGAIN);
    raw_auth(f, fd2, &s2);
    assert_int_equal(fo_peer_session_seal(&s2, 42, &k, 4, frame), 0);
    raw_send(f, fd2, frame, fo_peer_frame_size(4));
    assert_true(RUN_UNTIL(f, f->n[0].next[2] == 1, 2000));
    assert_int_equal(f->n[0].ups[2], 1); /* no down and up in between */
    assert_int_equal(f->n[0].downs[2], 0);
    assert_int_equal(send_msg(f, 0, 2, 0, 10), 0);
    close(fd2);
    assert_true(RUN_UNTIL(f, f->n[0].downs[2] == 1, 2000)); /* and a real end is reported */
    fo_peer_session_free(&s1);
    fo_peer_session_free(&s2);
}

/* A raw listener for node 0 to dial; returns its fd and port. */
static int raw_listen(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static int raw_accept(struct fx *f, int lfd)
{
    int fd = -1;
    int64_t end = fo_clock_mono_ms() + 3000;
    while ((fd = accept(lfd, NULL, NULL)) < 0 && fo_clock_mono_ms() < end)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_true(fd >= 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static void raw_frame(struct fx *f, int fd, struct fo_peer_session *s, uint32_t k)
{
    uint8_t frame[64];
    k = htonl(k);
    assert_int_equal(fo_peer_session_seal(s, 42, &k, 4, frame), 0);
    raw_send(f, fd, frame, fo_peer_frame_size(4));
}

static void test_duplicate_rules(void **state)
{
    struct fx *f = *state;
    struct fo_peer_session sx, sy, sz;
    int port;
    int lfd = raw_listen(&port);
    char addr[32];
    node_start(f, 0, KEY, 0, NULL);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    assert_int_equal(fo_peer_add(f->n[0].t, "az3", addr, NULL), 0);
    /* X: az1 dials az3 */
    int fx = raw_accept(f, lfd);
    raw_handshake(f, fx, &sx, 99);
    assert_true(RUN_UNTIL(f, f->n[0].up[2], 2000));
    /* Y: az3 dials too, same incarnation: az1 keeps the link dialed by the lower id */
    size_t n;
    int fy = raw_connect(f, f->n[0].port, 0);
    assert_int_equal(fo_peer_session_init(&sy, "c1", "az3", 99, NULL), 0);
    const uint8_t *h = fo_peer_session_hello(&sy, &n);
    raw_send(f, fy, h, n);
    assert_true(raw_closed(f, fy));
    raw_frame(f, fx, &sx, 0);
    assert_true(RUN_UNTIL(f, f->n[0].next[2] == 1, 2000));
    /* Z: az3 restarted (new incarnation) and dials: its link replaces X at once */
    int fz = raw_connect(f, f->n[0].port, 0);
    raw_handshake(f, fz, &sz, 100);
    assert_true(raw_closed(f, fx));
    raw_frame(f, fz, &sz, 1);
    assert_true(RUN_UNTIL(f, f->n[0].next[2] == 2, 2000));
    assert_int_equal(f->n[0].ups[2], 1);
    assert_int_equal(f->n[0].downs[2], 0);
    assert_int_equal(f->n[0].bad, 0);
    close(fx);
    close(fy);
    close(fz);
    close(lfd);
    fo_peer_session_free(&sx);
    fo_peer_session_free(&sy);
    fo_peer_session_free(&sz);
}

static void test_backoff(void **state)
{
    struct fx *f = *state;
    struct fo_peer_session sx;
    int port, lfd = raw_listen(&port), attempts = 0, fd;
    char addr[32];
    node_start(f, 0, KEY, 0, NULL);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    assert_int_equal(fo_peer_add(f->n[0].t, "az3", addr, NULL), 0);
    /* every dial is cut at once: 0, 50, 100, 200, 400, 800 ms apart (less 25% jitter) */
    int64_t end = fo_clock_mono_ms() + 1600;
    while (fo_clock_mono_ms() < end) {
        if ((fd = accept(lfd, NULL, NULL)) >= 0) {
            attempts++;
            close(fd);
        }
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_true(attempts >= 4 && attempts <= 9);
    /* once up, the backoff starts over: a lost link is redialed at once */
    fd = raw_accept(f, lfd);
    raw_handshake(f, fd, &sx, 99);
    assert_true(RUN_UNTIL(f, f->n[0].up[2], 2000));
    close(fd);
    int64_t t0 = fo_clock_mono_ms();
    fd = raw_accept(f, lfd);
    assert_true(fo_clock_mono_ms() - t0 < 300);
    close(fd);
    close(lfd);
    fo_peer_session_free(&sx);
}

static void test_slow_reader_dropped(void **state)
{
    struct fx *f = *state;
    pair_up(f, NULL, NULL, 1);
    struct fo_peer_session s;
    int fd = raw_connect(f, f->n[0].port, 4096);
    raw_handshake(f, fd, &s, 99); /* and then never reads again */
    assert_true(RUN_UNTIL(f, f->n[0].up[2], 2000));
    int r = 0, i;
    size_t peak = 0;
    for (i = 0; i < 4000 && r == 0; i++) {
        r = send_msg(f, 0, 2, (uint32_t)i, 64 * 1024);
        size_t q = stats(&f->n[0], "az3").queued_bytes;
        peak = q > peak ? q : peak;
        assert_true(q <= (8u << 20));
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(r, -FO_EBUSY);
    assert_true(peak > (7u << 20)); /* it did fill up to the cap */
    assert_int_equal(stats(&f->n[0], "az3").drops[FO_PEER_R_QUEUE_FULL], 1);
    assert_int_equal(send_msg(f, 0, 2, 0, 10), -FO_EAGAIN);
    assert_true(RUN_UNTIL(f, f->n[0].downs[2] == 1, 2000));
    assert_int_equal(stats(&f->n[0], "az3").queued_bytes, 0);
    close(fd);
    fo_peer_session_free(&s);
    for (uint32_t k = 0; k < 10; k++)
        assert_int_equal(send_msg(f, 0, 1, k, 1000), 0);
    assert_true(RUN_UNTIL(f, f->n[1].next[0] == 10, 2000));
    assert_int_equal(f->n[0].downs[1], 0);
}

static void test_restart_reconnects(void **state)
{
    struct fx *f = *state;
    pair_up(f, NULL, NULL, 0);
    int port = f->n[1].port;
    assert_int_equal(fo_peer_send(f->n[0].t, "az2", 43, "stop", 4), 0);
    for (uint32_t k = 0; k < 5; k++) /* read in the same batch, after the close */
        assert_int_equal(send_msg(f, 0, 1, k, 10), 0);
    assert_true(RUN_UNTIL(f, !f->n[0].up[1], 2000));
    assert_null(f->n[1].t);
    assert_int_equal(fo_peer_send(f->n[0].t, "az2", 42, "abcd", 4), -FO_EAGAIN);
    run_for(f, 300); /* az1 keeps redialing a closed port meanwhile */
    node_start(f, 1, KEY, port, NULL);
    link_to(f, 1, 0, NULL);
    assert_true(RUN_UNTIL(f, f->n[0].up[1] && f->n[1].up[0], 3000));
    assert_int_equal(send_msg(f, 0, 1, 0, 10), 0);
    assert_int_equal(send_msg(f, 1, 0, f->n[0].next[1], 10), 0);
    assert_true(RUN_UNTIL(f, f->n[1].next[0] == 1, 2000));
    assert_int_equal(stats(&f->n[0], "az2").connects, 2);
    assert_int_equal(f->n[0].downs[1], 1);
}

static void test_by_name_and_remove(void **state)
{
    struct fx *f = *state;
    node_start(f, 0, KEY, 0, NULL);
    node_start(f, 1, KEY, 0, NULL);
    link_to(f, 0, 1, "localhost"); /* only az1's dial, made through uv_getaddrinfo, can work */
    assert_int_equal(fo_peer_add(f->n[1].t, "az1", "127.0.0.1:1", NULL), 0);
    assert_true(RUN_UNTIL(f, f->n[0].up[1] && f->n[1].up[0], 3000));
    assert_int_equal(send_msg(f, 1, 0, 0, 10), 0);
    assert_true(RUN_UNTIL(f, f->n[0].next[1] == 1, 2000));
    /* az2 forgets az1: the link goes, az1 is refused from then on */
    assert_int_equal(fo_peer_remove(f->n[1].t, "az1"), 0);
    assert_int_equal(fo_peer_remove(f->n[1].t, "az1"), -FO_ENOENT);
    assert_int_equal(fo_peer_send(f->n[1].t, "az1", 42, "abcd", 4), -FO_ENOENT);
    assert_true(RUN_UNTIL(f, !f->n[0].up[1], 2000));
    assert_true(RUN_UNTIL(f, stats(&f->n[1], NULL).drops[FO_PEER_R_UNKNOWN_PEER] >= 2, 3000));
    assert_int_equal(f->n[0].ups[1], 1);
    assert_int_equal(f->n[1].downs[0], 0); /* no callback for a removed peer */
}

static void test_config_refusals(void **state)
{
    struct fx *f = *state;
    struct fo_peer_transport *t;
    struct fo_err err = {0};
    struct fo_peer_cfg_local c = {
        .self_id = "az1", .cluster_id = "c1", .key = KEY, .key_len = 15, .listen = "127.0.0.1:0"};
    assert_int_equal(fo_peer_new(&f->loop, &c, NULL, NULL, NULL, &t, &err), -FO_EINVAL);
    assert_non_null(strstr(err.msg, "key"));
    c.key_len = sizeof(KEY);
    c.listen = "localhost:80";
    assert_int_equal(fo_peer_new(&f->loop, &c, NULL, NULL, NULL, &t, &err), -FO_EINVAL);
    c.listen = "127.0.0.1:0";
    c.self_id = "a z";
    assert_int_equal(fo_peer_new(&f->loop, &c, NULL, NULL, NULL, &t, &err), -FO_EINVAL);
    c.self_id = "az1";
    c.queue_max = 1000;
    assert_int_equal(fo_peer_new(&f->loop, &c, NULL, NULL, NULL, &t, &err), -FO_EINVAL);
    c.queue_max = 0;
    c.listen = "[::1]:0";
    assert_int_equal(fo_peer_new(&f->loop, &c, NULL, NULL, NULL, &t, &err), 0);
    assert_int_equal(fo_peer_add(t, "az2", "[::1]:9", NULL), 0);
    fo_peer_close(t); /* never started: released at once or by the loop */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_way_in_order, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_three_nodes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_dropped, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dead_and_ping, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_restart_handover_no_flap, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_rules, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_backoff, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_slow_reader_dropped, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_restart_reconnects, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_by_name_and_remove, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_config_refusals, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
