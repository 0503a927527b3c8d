/* Check plugin `exec`: runs a Nagios/monitoring-plugins style program (argv, never a shell) with
 * uv_spawn, maps its exit code to a status, its first output line to the message and numeric
 * perfdata to `perf_<label>` facts. The child runs in its own session so that a timeout or a
 * cancel kills it and anything it started (SIGKILL to the process group). */

/*
 * address: not used (name the host it checks, for people). params:
 *   argv        [absolute path, args...] (required; no shell, no PATH lookup)
 *   env         mapping added to the child's environment, which is otherwise only PATH, LANG=C
 *               and LC_ALL=C (the daemon's own environment may hold secrets)
 *   max_output  stdout kept (default 4k); the rest is read and dropped; stderr goes to /dev/null
 * Exit 0/1/2/3 -> ok/warning/critical/unknown; any other code or a signal -> unknown. The message
 * is the first line up to '|'; perfdata after it on that line becomes double facts
 * perf_<label> (label lower-cased, other characters as '_', cut to fit; value without its unit;
 * a label with no letter or digit, like check_disk's "/", gives none).
 * facts: exit_code (int). A run still going 10% before the timeout (at most 200 ms before) is
 * killed and critical.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "params.h"

#define FO__EXEC_MAX_OUTPUT (4 * 1024)
#define FO__EXEC_ARGS_MAX   256
#define FO__EXEC_GRACE_MS   200 /* after exit, how long to wait for the pipe's EOF */

/* Environment of every child: nothing of the daemon's (it may hold secrets), the C locale so
 * that numbers in perfdata have a decimal point; `env:` entries are added or replace these. */
static const char *const fo__exec_base_env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                                "/usr/bin:/sbin:/bin",
                                                "LANG=C", "LC_ALL=C", NULL};

struct fo__exec_run;

struct fo__exec {
    const struct fo_host *host;
    char **argv; /* NULL-terminated */
    char **env;  /* NULL-terminated */
    size_t max_output;
    uint32_t budget_ms;
    struct fo__exec_run *run;
};

struct fo__exec_run {
    struct fo__exec *inst; /* NULL once cancelled or delivered */
    fo_check_done_fn done;
    void *cookie;
    uv_process_t proc;
    uv_pipe_t out;
    uv_timer_t timer;
    int handles; /* initialised and not yet closed */
    int spawned;
    int pid;
    int exited;
    int eof;
    int finished;
    int64_t exit_status;
    int term_signal;
    uint64_t t0_ns;
    char *buf; /* first max_output bytes of stdout, NUL-terminated */
    size_t cap;
    size_t len;
    char scratch[1024]; /* output past max_output is read here and dropped */
    struct fo_result result;
};

/* ---- output parsing (pure) ---- */

/* "Free Space /" -> "free_space": lower case, runs of anything else become one '_'. */
static void fo__exec_fact_name(const char *label, size_t len, char *out, size_t outlen)
{
    size_t o = (size_t)snprintf(out, outlen, "perf_");
    int sep = 1;
    for (size_t i = 0; i < len && o + 1 < outlen; i++) {
        unsigned char c = (unsigned char)label[i];
        if (isalnum(c)) {
            out[o++] = (char)tolower(c);
            sep = 0;
        } else if (!sep) {
            out[o++] = '_';
            sep = 1;
        }
    }
    while (o > 5 && out[o - 1] == '_')
        o--;
    out[o] = '\0';
}

/* Parses Nagios perfdata, `'label'=value[UOM];[warn];[crit];[min];[max]` separated by spaces,
 * into double facts `perf_<label>` (the value only, in the unit given). Non-numeric values
 * ("U"), malformed items and repeated names are skipped. Returns the number of facts added. */
static int fo__exec_perfdata(const char *s, size_t len, struct fo_result *r)
{
    size_t i = 0;
    int added = 0;

    while (i < len) {
        char label[128], name[FO_FACT_NAME_MAX], num[64];
        size_t l = 0, n = 0;
        while (i < len && isspace((unsigned char)s[i]))
            i++;
        if (i >= len)
            break;
        if (s[i] == '\'') {
            for (i++; i < len; i++) {
                if (s[i] == '\'' && i + 1 < len && s[i + 1] == '\'')
                    i++; /* '' is a quote inside a quoted label */
                else if (s[i] == '\'')
                    break;
                if (l + 1 < sizeof(label))
                    label[l++] = s[i];
            }
            if (i >= len)
                break; /* unterminated quote: nothing after it can be trusted */
            i++;
        } else {
            while (i < len && s[i] != '=' && !isspace((unsigned char)s[i]))
                if (l + 1 < sizeof(label))
                    label[l++] = s[i++];
                else
                    i++;
        }
        if (i >= len || s[i] != '=') {
            while (i < len && !isspace((unsigned char)s[i]))
                i++;
            continue;
        }
        i++;
        while (i < len && s[i] != ';' && !isspace((unsigned char)s[i])) {
            if (n + 1 < sizeof(num))
                num[n++] = s[i];
            i++;
        }
        while (i < len && !isspace((unsigned char)s[i]))
            i++; /* thresholds, min and max are not kept */
        num[n] = '\0';
        label[l] = '\0';

        char *end;
        errno = 0;
        double v = strtod(num, &end);
        if (end == num || errno || !(v == v))
            continue;
        while (*end && (isalpha((unsigned char)*end) || *end == '%'))
            end++; /* the unit of measure */
        if (*end)
            continue;
        fo__exec_fact_name(label, l, name, sizeof(name));
        if (strlen(name) <= 5 || fo_result_get(r, name) || r->nfacts >= FO_FACTS_MAX)
            continue;
        fo_result_double(r, name, v);
        added++;
    }
    return added;
}

/* The message is the first line up to '|', trimmed; perfdata follows the '|' on that line. */
static void fo__exec_output(const char *out, size_t len, struct fo_result *r)
{
    const char *nl = memchr(out, '\n', len);
    size_t line = nl ? (size_t)(nl - out) : len;
    const char *bar = memchr(out, '|', line);
    size_t mlen = bar ? (size_t)(bar - out) : line;
    size_t start = 0;

    while (start < mlen && isspace((unsigned char)out[start]))
        start++;
    while (mlen > start && isspace((unsigned char)out[mlen - 1]))
        mlen--;
    if (mlen - start >= sizeof(r->message))
        mlen = start + sizeof(r->message) - 1;
    memcpy(r->message, out + start, mlen - start);
    r->message[mlen - start] = '\0';
    if (bar)
        fo__exec_perfdata(bar + 1, line - (size_t)(bar + 1 - out), r);
}

/* Exit code 0-3 is the status; anything else, or death by a signal, is unknown. */
static void fo__exec_verdict(int64_t exit_status, int term_signal, const char *out, size_t len,
                             struct fo_result *r)
{
    char msg[FO_MESSAGE_MAX];

    if (term_signal) {
        fo_result_set(r, FO_STATUS_UNKNOWN, "killed by signal %d", term_signal);
        return;
    }
    fo_result_int(r, "exit_code", exit_status);
    fo__exec_output(out, len, r);
    if (exit_status >= 0 && exit_status <= 3) {
        r->status = (enum fo_status)exit_status;
        if (!r->message[0])
            snprintf(r->message, sizeof(r->message), "exit %lld, no output",
                     (long long)exit_status);
        return;
    }
    snprintf(msg, sizeof(msg), "%s", r->message);
    fo_result_set(r, FO_STATUS_UNKNOWN, "exit code %lld%s%s", (long long)exit_status,
                  msg[0] ? ": " : "", msg);
}

/* ---- running the child ---- */

static void fo__exec_closed(uv_handle_t *h)
{
    struct fo__exec_run *run = h->data;
    if (--run->handles > 0)
        return;
    if (run->inst) {
        run->inst->run = NULL;
        run->done(run->cookie, &run->result);
    }
    free(run->buf);
    free(run);
}

static void fo__exec_close(struct fo__exec_run *run, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, fo__exec_closed);
}

/* Closes what can be closed now. The process handle waits for the exit: closing it before
 * would leave a zombie that libuv never reaps. */
static void fo__exec_close_all(struct fo__exec_run *run)
{
    fo__exec_close(run, (uv_handle_t *)&run->timer);
    fo__exec_close(run, (uv_handle_t *)&run->out);
    if (!run->spawned || run->exited)
        fo__exec_close(run, (uv_handle_t *)&run->proc);
}

static void fo__exec_kill(struct fo__exec_run *run)
{
    if (!run->spawned)
        return;
    kill(-run->pid, SIGKILL); /* the child leads its own process group */
    if (!run->exited)
        uv_process_kill(&run->proc, SIGKILL);
}

static void fo__exec_finish(struct fo__exec_run *run)
{
    if (run->finished)
        return;
    run->finished = 1;
    fo__exec_verdict(run->exit_status, run->term_signal, run->buf, run->len, &run->result);
    run->result.latency_ms = (double)(uv_hrtime() - run->t0_ns) / 1e6;
    fo__exec_close_all(run);
}

static void fo__exec_timer(uv_timer_t *t)
{
    struct fo__exec_run *run = t->data;
    if (run->finished)
        return;
    fo__exec_kill(run);
    if (run->exited) {
        fo__exec_finish(run); /* grace over: judge the output we have */
        return;
    }
    run->finished = 1;
    fo_result_set(&run->result, FO_STATUS_CRITICAL, "timed out after %u ms (killed)",
                  run->inst ? run->inst->budget_ms : 0);
    run->result.latency_ms = (double)(uv_hrtime() - run->t0_ns) / 1e6;
    fo__exec_close_all(run);
}

static void fo__exec_exited(uv_process_t *p, int64_t exit_status, int term_signal)
{
    struct fo__exec_run *run = p->data;
    run->exited = 1;
    run->exit_status = exit_status;
    run->term_signal = term_signal;
    if (run->finished) {
        fo__exec_close(run, (uv_handle_t *)&run->proc);
        return;
    }
    if (run->eof) {
        fo__exec_finish(run);
        return;
    }
    /* Something the child started may still hold the pipe open: wait a little, then kill it. */
    uint64_t used = (uv_hrtime() - run->t0_ns) / 1000000;
    uint64_t left = run->inst && run->inst->budget_ms > used ? run->inst->budget_ms - used : 1;
    uv_timer_start(&run->timer, fo__exec_timer, left < FO__EXEC_GRACE_MS ? left : FO__EXEC_GRACE_MS,
                   0);
}

static void fo__exec_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct fo__exec_run *run = h->data;
    if (run->len < run->cap) {
        buf->base = run->buf + run->len;
        buf->len = run->cap - run->len;
    } else {
        buf->base = run->scratch;
        buf->len = sizeof(run->scratch);
    }
}

static void fo__exec_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct fo__exec_run *run = s->data;
    if (n > 0) {
        if (buf->base != run->scratch) {
            run->len += (size_t)n;
            run->buf[run->len] = '\0';
        }
        return;
    }
    if (n == 0)
        return;
    /* EOF, or a read error that ends the output just the same. */
    uv_read_stop(s);
    run->eof = 1;
    if (run->exited && !run->finished)
        fo__exec_finish(run);
}

static int fo__exec_start(void *instance, fo_check_done_fn done, void *cookie)
{
    struct fo__exec *in = instance;
    uv_loop_t *loop = in->host->loop;
    struct fo__exec_run *run;
    uv_process_options_t opt;
    uv_stdio_container_t stdio[3];
    int rc;

    if (in->run)
        return -EBUSY;
    run = calloc(1, sizeof(*run));
    if (!run || !(run->buf = malloc(in->max_output + 1))) {
        free(run);
        return -ENOMEM;
    }
    run->cap = in->max_output;
    run->buf[0] = '\0';
    run->inst = in;
    run->done = done;
    run->cookie = cookie;
    run->t0_ns = uv_hrtime();
    uv_timer_init(loop, &run->timer);
    uv_pipe_init(loop, &run->out, 0);
    run->timer.data = run->out.data = run->proc.data = run;
    run->handles = 3; /* timer, pipe, and the process handle, which uv_spawn inits even on error */

    memset(&opt, 0, sizeof(opt));
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&run->out;
    stdio[2].flags = UV_IGNORE;
    opt.exit_cb = fo__exec_exited;
    opt.file = in->argv[0];
    opt.args = in->argv;
    opt.env = in->env;
    opt.cwd = "/";
    opt.flags = UV_PROCESS_DETACHED; /* own session and process group, for the group kill */
    opt.stdio_count = 3;
    opt.stdio = stdio;
    in->run = run;
    uv_timer_start(&run->timer, fo__exec_timer, in->budget_ms, 0);
    rc = uv_spawn(loop, &run->proc, &opt);
    if (rc < 0) {
        run->finished = 1;
        fo_result_set(&run->result, FO_STATUS_UNKNOWN, "cannot execute %s: %s", in->argv[0],
                      uv_strerror(rc));
        fo__exec_close_all(run);
        return 0;
    }
    run->spawned = 1;
    run->pid = run->proc.pid;
    rc = uv_read_start((uv_stream_t *)&run->out, fo__exec_alloc, fo__exec_read);
    if (rc < 0)
        run->eof = 1;
    return 0;
}

static void fo__exec_cancel(void *instance)
{
    struct fo__exec *in = instance;
    struct fo__exec_run *run = in->run;
    if (!run)
        return;
    in->run = NULL;
    run->inst = NULL;
    if (!run->finished) {
        run->finished = 1;
        fo__exec_kill(run);
        fo__exec_close_all(run);
    }
}

static void fo__exec_free_strv(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

static void fo__exec_destroy(void *instance)
{
    struct fo__exec *in = instance;
    if (!in)
        return;
    fo__exec_cancel(in);
    fo__exec_free_strv(in->argv);
    fo__exec_free_strv(in->env);
    free(in);
}

static int fo__exec_parse_argv(struct fo__exec *in, const struct json_object *params,
                               struct fo_plugin_err *err)
{
    struct json_object *v = fo_param_get(params, "argv");
    size_t n;

    if (!v)
        return fo_param_fail(err, "argv", "is required: [\"/absolute/path\", \"arg\", ...]");
    if (!json_object_is_type(v, json_type_array) || (n = json_object_array_length(v)) == 0 ||
        n > FO__EXEC_ARGS_MAX)
        return fo_param_fail(err, "argv", "must be a list of 1 to %d strings", FO__EXEC_ARGS_MAX);
    in->argv = calloc(n + 1, sizeof(char *));
    if (!in->argv)
        return fo_param_fail(err, "argv", "out of memory");
    for (size_t i = 0; i < n; i++) {
        struct json_object *a = json_object_array_get_idx(v, i);
        if (!json_object_is_type(a, json_type_string))
            return fo_param_fail(err, "argv", "entry %zu is not a string", i);
        if (!(in->argv[i] = strdup(json_object_get_string(a))))
            return fo_param_fail(err, "argv", "out of memory");
    }
    if (in->argv[0][0] != '/')
        return fo_param_fail(err, "argv",
                             "argv[0] must be an absolute path (no shell, no PATH "
                             "lookup): '%.100s'",
                             in->argv[0]);
    if (access(in->argv[0], X_OK) != 0)
        return fo_param_fail(err, "argv", "cannot execute '%.100s': %s", in->argv[0],
                             strerror(errno));
    return 0;
}

static int fo__exec_env_name_ok(const char *k)
{
    if (!isalpha((unsigned char)*k) && *k != '_')
        return 0;
    for (; *k; k++)
        if (!isalnum((unsigned char)*k) && *k != '_')
            return 0;
    return 1;
}

static int fo__exec_parse_env(struct fo__exec *in, const struct json_object *params,
                              struct fo_plugin_err *err)
{
    struct json_object *v = fo_param_get(params, "env");
    size_t n = 0, nbase = sizeof(fo__exec_base_env) / sizeof(fo__exec_base_env[0]) - 1;

    if (v && !json_object_is_type(v, json_type_object))
        return fo_param_fail(err, "env", "must be a mapping of variable names to strings");
    in->env = calloc(nbase + (v ? (size_t)json_object_object_length(v) : 0) + 1, sizeof(char *));
    if (!in->env)
        return fo_param_fail(err, "env", "out of memory");
    for (size_t i = 0; i < nbase; i++) {
        size_t klen = (size_t)(strchr(fo__exec_base_env[i], '=') - fo__exec_base_env[i]);
        struct json_object *o = NULL;
        char key[32];
        snprintf(key, sizeof(key), "%.*s", (int)klen, fo__exec_base_env[i]);
        if (v && json_object_object_get_ex(v, key, &o))
            continue; /* replaced by the configured value */
        if (!(in->env[n++] = strdup(fo__exec_base_env[i])))
            return fo_param_fail(err, "env", "out of memory");
    }
    if (!v)
        return 0;
    json_object_object_foreach(v, key, val)
    {
        if (!fo__exec_env_name_ok(key))
            return fo_param_fail(err, "env", "bad variable name '%.60s'", key);
        if (!json_object_is_type(val, json_type_string) && !json_object_is_type(val, json_type_int))
            return fo_param_fail(err, "env", "value of %.60s must be a string", key);
        if (asprintf(&in->env[n], "%s=%s", key, json_object_get_string(val)) < 0) {
            in->env[n] = NULL;
            return fo_param_fail(err, "env", "out of memory");
        }
        n++;
    }
    return 0;
}

static void *fo__exec_init(const struct fo_host *host, void *handle, const struct fo_target *t,
                           struct fo_plugin_err *err)
{
    static const char *const known[] = {"argv", "env", "max_output", NULL};
    struct fo__exec *in = calloc(1, sizeof(*in));
    uint64_t max_output = FO__EXEC_MAX_OUTPUT;

    if (!in) {
        fo_param_fail(err, "params", "out of memory");
        return NULL;
    }
    in->host = host;
    in->budget_ms = (uint32_t)fo_param_budget_ms(t->timeout_ms);
    if (fo_param_check_keys(t->params, known, err) < 0 ||
        fo__exec_parse_argv(in, t->params, err) < 0 || fo__exec_parse_env(in, t->params, err) < 0 ||
        fo_param_size(host, t->params, "max_output", 1, 1u << 20, &max_output, err) < 0) {
        fo__exec_destroy(in);
        return NULL;
    }
    in->max_output = (size_t)max_output;
    return in;
}

const struct fo_plugin fo_plugin_entry = {
    .abi_major = FO_PLUGIN_ABI_MAJOR,
    .abi_minor = FO_PLUGIN_ABI_MINOR,
    .name = "exec",
    .kind = FO_PLUGIN_CHECK,
    .init = fo__exec_init,
    .start = fo__exec_start,
    .cancel = fo__exec_cancel,
    .verify = NULL,
    .destroy = fo__exec_destroy,
};
