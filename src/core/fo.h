/* Shared basics: the one error list, error detail, and allocation that aborts on failure. */
#ifndef FO_CORE_FO_H
#define FO_CORE_FO_H

#include <stddef.h>
#include <stdint.h>

#define FO_ERRORS(X)                                                                               \
    X(INVAL, "invalid argument")                                                                   \
    X(CONFIG, "configuration error")                                                               \
    X(NOENT, "not found")                                                                          \
    X(EXIST, "already exists")                                                                     \
    X(IO, "input/output error")                                                                    \
    X(CORRUPT, "corrupt data")                                                                     \
    X(NOSPC, "no space left")                                                                      \
    X(AUTH, "authentication failed")                                                               \
    X(PROTO, "protocol error")                                                                     \
    X(TOOBIG, "too large")                                                                         \
    X(TIMEOUT, "timed out")                                                                        \
    X(BUSY, "busy")                                                                                \
    X(ABI, "plugin ABI mismatch")                                                                  \
    X(NOTLEADER, "not the leader")                                                                 \
    X(REJECTED, "rejected")                                                                        \
    X(AGAIN, "try again")                                                                          \
    X(FSYNC, "fsync failed (fatal: exit)")

enum {
    FO_OK = 0,
#define FO__ERR_ENUM(name, msg) FO_E##name,
    FO__ERR_FIRST = 1000,
    FO_ERRORS(FO__ERR_ENUM)
#undef FO__ERR_ENUM
};

/* Error detail for a person: code (negative FO_E...) and a message naming file:line:col. */
struct fo_err {
    int code;
    char msg[256];
};

const char *fo_strerror(int code);
/* Sets err (if not NULL) and returns code (negative). */
int fo_err_set(struct fo_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void *fo_xmalloc(size_t n);
void *fo_xcalloc(size_t n, size_t size);
void *fo_xrealloc(void *p, size_t n);
char *fo_xstrdup(const char *s);
char *fo_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define FO_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
