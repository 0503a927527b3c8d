/* Logging and the one event feed. fo_event() announces what matters: it writes one log line
 * (logfmt or JSON) and hands the event to subscribers (metrics, later notifications).
 * Never pass a secret as a field. */
#ifndef FO_CORE_LOG_H
#define FO_CORE_LOG_H

#include <failoverd/plugin.h> /* enum fo_log_level */
#include <stdio.h>

enum fo_log_format { FO_LOG_LOGFMT = 0, FO_LOG_JSON = 1 };

/* level: minimum level written; file NULL means stderr. Returns 0 or negative errno (and then
 * changes nothing). */
int fo_log_setup(enum fo_log_level level, enum fo_log_format format, const char *file);
/* The two halves of fo_log_setup, for a reload that must not fail half-way: open the new file
 * first (for append, line-buffered; *out NULL for file NULL), then switch to it (NULL: stderr),
 * closing the old file. Reopening on every reload also follows a rotated log. */
int fo_log_open(const char *file, FILE **out);
void fo_log_use(enum fo_log_level level, enum fo_log_format format, FILE *f);
void fo_log_close(void);
int fo_log_level_parse(const char *s, enum fo_log_level *out);

void fo_log(enum fo_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define fo_debug(...) fo_log(FO_LOG_DEBUG, __VA_ARGS__)
#define fo_info(...)  fo_log(FO_LOG_INFO, __VA_ARGS__)
#define fo_warn(...)  fo_log(FO_LOG_WARN, __VA_ARGS__)
#define fo_error(...) fo_log(FO_LOG_ERROR, __VA_ARGS__)

/* An event: kind (e.g. "check.status"), then key, value string pairs ending with NULL. */
void fo_event(enum fo_log_level level, const char *kind, ...) __attribute__((sentinel));

typedef void (*fo_event_fn)(enum fo_log_level level, const char *kind, const char *const *kv,
                            int nkv, void *arg);
void fo_event_subscribe(fo_event_fn fn, void *arg);

#endif
