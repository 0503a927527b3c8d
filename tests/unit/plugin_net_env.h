/* Test environment for the network plugins (test_plugin_net.c): a libuv loop, a fake struct
 * fo_host whose http_start runs the easy handle in libuv's thread pool (so that servers on the
 * loop thread can answer), tiny scripted TCP/HTTP servers on 127.0.0.1, and a way to run one
 * check to its result. */
#ifndef FO_TESTS_PLUGIN_NET_ENV_H
#define FO_TESTS_PLUGIN_NET_ENV_H

#include <failoverd/plugin.h>
#include <stdint.h>
#include <uv.h>

enum fo_env_srv_mode {
    FO_ENV_HTTP,   /* answers by request path, see plugin_net_env.c */
    FO_ENV_BANNER, /* writes "220 ready\r\n" and closes */
    FO_ENV_ECHO,   /* echoes what it reads */
    FO_ENV_SILENT, /* accepts and never writes */
};

struct fo_env_result {
    int calls; /* times done was called */
    struct fo_result r;
};

extern uv_loop_t fo_env_loop;
extern struct fo_host fo_env_host;
extern int64_t fo_env_best_head;       /* < 0: service_best_int knows none */
extern char fo_env_last_request[8192]; /* the last HTTP request the server read */

void fo_env_setup(void);
/* Closes the servers, runs the loop until every handle is closed and returns uv_loop_close's
 * result (0 when the plugins left nothing open). */
int fo_env_teardown(void);
/* Starts a server on 127.0.0.1 and returns its port. */
int fo_env_server(enum fo_env_srv_mode mode);
/* A port that refuses connections (a bound socket that does not listen). */
int fo_env_refusing_port(void);
/* Parses JSON params (NULL or "" for none); kept until teardown. */
struct json_object *fo_env_json(const char *text);
/* init with a target of address/params/timeout; returns the instance or NULL with err. */
void *fo_env_init(const struct fo_plugin *p, const char *address, const char *params,
                  uint32_t timeout_ms, struct fo_plugin_err *err);
/* The done callback that fills a struct fo_env_result (the cookie). */
void fo_env_done(void *cookie, const struct fo_result *r);
/* start, then runs the loop until done or max_ms passed; returns the start() code. */
int fo_env_run(const struct fo_plugin *p, void *inst, struct fo_env_result *out, int max_ms);
/* Runs the loop for about ms milliseconds. */
void fo_env_spin(int ms);
/* The fact named, or NULL. */
const struct fo_fact *fo_env_fact(const struct fo_result *r, const char *name);

/* Assertions (cmocka): the fact's value, failing the test when it is missing. */
int64_t fo_env_fact_i(const struct fo_result *r, const char *name);
double fo_env_fact_d(const struct fo_result *r, const char *name);
/* One run of a fresh instance, which must init and call done once; returns its result. */
struct fo_result fo_env_run_once(const struct fo_plugin *p, const char *addr, const char *params,
                                 uint32_t timeout_ms);
/* init must fail, blaming `field`. */
void fo_env_init_fails(const struct fo_plugin *p, const char *addr, const char *params,
                       const char *field);
/* 1 when the pid written in pidfile runs (a zombie waiting for init counts as dead), 0 when
 * not, -1 when the file holds no pid. */
int fo_env_pid_alive(const char *pidfile);

#endif
