/* The configuration error collector: every problem as "FILE:LINE:COL: path: message", kept
 * (up to a limit) and handed out in file order, so that one run of --check-config shows them all.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/fo.h"

void fo_cfg_errs_init(struct fo_cfg_errs *e)
{
    memset(e, 0, sizeof(*e));
}

void fo_cfg_errs_free(struct fo_cfg_errs *e)
{
    for (int i = 0; i < e->nv; i++)
        free(e->v[i].text);
    free(e->v);
    memset(e, 0, sizeof(*e));
}

int fo_cfg_errs_full(const struct fo_cfg_errs *e)
{
    return e->n >= FO_CONFIG_MAX_ERRORS;
}

void fo_cfg_errs_add(struct fo_cfg_errs *e, const struct fo_cfg_loc *loc, const char *path,
                     const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    e->n++;
    if (e->n > FO_CONFIG_MAX_ERRORS) {
        e->dropped++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *file = loc && loc->file ? loc->file : "?";
    char pos[32] = "";
    if (loc && loc->line)
        snprintf(pos, sizeof(pos), ":%u:%u", loc->line, loc->col);
    if (e->nv == e->capv) {
        e->capv = e->capv ? e->capv * 2 : 8;
        e->v = fo_xrealloc(e->v, (size_t)e->capv * sizeof(*e->v));
    }
    struct fo_cfg_err_line *l = &e->v[e->nv++];
    l->line = loc ? loc->line : 0;
    l->col = loc ? loc->col : 0;
    l->seq = e->nv - 1;
    if (path && *path)
        l->text = fo_xasprintf("%s%s: %s: %s", file, pos, path, msg);
    else
        l->text = fo_xasprintf("%s%s: %s", file, pos, msg);
}

static int fo__err_cmp(const void *a, const void *b)
{
    const struct fo_cfg_err_line *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

char *fo_cfg_errs_take(struct fo_cfg_errs *e)
{
    if (e->n == 0)
        return NULL;
    size_t total = 1;
    for (int i = 0; i < e->nv; i++)
        total += strlen(e->v[i].text) + 1;
    total += 64;
    struct fo_cfg_err_line *sorted = fo_xmalloc((size_t)e->nv * sizeof(*sorted) + 1);
    memcpy(sorted, e->v, (size_t)e->nv * sizeof(*sorted));
    qsort(sorted, (size_t)e->nv, sizeof(*sorted), fo__err_cmp);
    char *s = fo_xmalloc(total), *p = s;
    for (int i = 0; i < e->nv; i++) {
        size_t l = strlen(sorted[i].text);
        if (i)
            *p++ = '\n';
        memcpy(p, sorted[i].text, l);
        p += l;
    }
    *p = '\0';
    if (e->dropped)
        snprintf(p, 64, "%s... and %d more errors", e->nv ? "\n" : "", e->dropped);
    free(sorted);
    fo_cfg_errs_free(e);
    return s;
}
