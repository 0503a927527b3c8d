/* The error list and allocation helpers. */
#include "core/fo.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fo_strerror(int code)
{
    switch (-code) {
#define FO__ERR_STR(name, msg)                                                                     \
    case FO_E##name:                                                                               \
        return msg;
        FO_ERRORS(FO__ERR_STR)
#undef FO__ERR_STR
    case 0:
        return "success";
    default:
        return strerror(-code);
    }
}

int fo_err_set(struct fo_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

static void fo__oom(size_t n)
{
    fprintf(stderr, "failoverd: out of memory allocating %zu bytes\n", n);
    abort();
}

void *fo_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        fo__oom(n);
    return p;
}

void *fo_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        fo__oom(n * size);
    return p;
}

void *fo_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        fo__oom(n);
    return q;
}

char *fo_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = fo_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

char *fo_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        fo__oom(strlen(fmt));
    return s;
}
