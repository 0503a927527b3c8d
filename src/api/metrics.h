/* /metrics in the Prometheus text format 0.0.4: the check engine's series (latency histograms,
 * member status, run/error/timeout counters, TILT), build info, and whatever other parts add
 * through fo_metrics_register(). Each family is written as one group with its HELP and TYPE. */
#ifndef FO_API_METRICS_H
#define FO_API_METRICS_H

#include <stddef.h>

struct fo_api_req;
struct fo_api_resp;
struct fo_checks_src;

#define FO_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A growing text buffer; data is always NUL-terminated once anything was written. */
struct fo_metrics_buf {
    char *data;
    size_t len;
    size_t cap;
};

void fo_metrics_buf_free(struct fo_metrics_buf *b);
/* Appends n bytes of s. */
void fo_metrics_put(struct fo_metrics_buf *b, const char *s, size_t n);
/* Takes the text out of b (caller frees; never NULL) and leaves b empty. */
char *fo_metrics_buf_take(struct fo_metrics_buf *b, size_t *len);

/* Starts a family: "# HELP name help" and "# TYPE name type" (counter, gauge, histogram...). */
void fo_metrics_family(struct fo_metrics_buf *b, const char *name, const char *type,
                       const char *help);
/* One sample: name{k1="v1",...} value. Labels are key, value string pairs ending with NULL;
 * values are escaped as the format requires (\\, \", \n). */
void fo_metrics_sample(struct fo_metrics_buf *b, const char *name, double value, ...)
    __attribute__((sentinel));
/* The same with the labels as an array of 2*npairs strings. */
void fo_metrics_samplev(struct fo_metrics_buf *b, const char *name, double value,
                        const char *const *labels, int npairs);

/* Other parts (peer, raft...) add their families: emit is called on every scrape, after the
 * built-in families, and must write complete families (fo_metrics_family + samples). */
typedef void (*fo_metrics_emit_fn)(struct fo_metrics_buf *b, void *arg);
void fo_metrics_register(fo_metrics_emit_fn emit, void *arg);
void fo_metrics_unregister(fo_metrics_emit_fn emit, void *arg);

/* Writes the whole exposition: build info, the check engine's families, then registered ones. */
void fo_metrics_render(struct fo_metrics_buf *b, const char *version,
                       const struct fo_checks_src *checks);
/* Route handler for GET /metrics; arg is a struct fo_status_src (version and checks). */
void fo_metrics_handler(struct fo_api_req *req, struct fo_api_resp *resp, void *arg);

#endif
