/* The plugin host: dlopen of `<dir>/<name>.so`, the ABI and kind checks, the cache of loaded
 * plugins, and the struct fo_host table (log, loop, shared HTTP, service facts) that plugins
 * use instead of linking anything of ours. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/http_host.h"
#include "check/plugin_host.h"
#include "core/cfgfield.h"
#include "core/log.h"

struct fo__loaded {
    char *name;
    void *dl;
    const struct fo_plugin *entry;
    struct fo__loaded *next;
};

struct fo_plugin_host {
    char *dir;
    struct fo_host table;
    struct fo__loaded *loaded;
};

static void fo__host_log(enum fo_log_level level, const char *plugin, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fo__host_log(enum fo_log_level level, const char *plugin, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if ((unsigned)level > FO_LOG_ERROR)
        level = FO_LOG_ERROR;
    fo_log(level, "plugin %s: %s", plugin ? plugin : "?", msg);
}

struct fo_plugin_host *fo_plugin_host_new(struct uv_loop_s *loop, const char *dir,
                                          fo_best_int_fn best_int)
{
    struct fo_plugin_host *h = fo_xcalloc(1, sizeof(*h));
    h->dir = fo_xstrdup(dir ? dir : ".");
    h->table.abi_major = FO_PLUGIN_ABI_MAJOR;
    h->table.abi_minor = FO_PLUGIN_ABI_MINOR;
    h->table.loop = loop;
    h->table.log = fo__host_log;
    h->table.http_start = fo_http_host_start;
    h->table.http_cancel = fo_http_host_cancel;
    h->table.service_best_int = best_int;
    h->table.parse_duration = fo_cfg_parse_duration;
    h->table.parse_size = fo_cfg_parse_size;
    return h;
}

const struct fo_host *fo_plugin_host_table(const struct fo_plugin_host *h)
{
    return &h->table;
}

static int fo__name_ok(const char *name)
{
    if (!name || !*name || strlen(name) > 64)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

static const char *fo__kind_name(enum fo_plugin_kind k)
{
    return k == FO_PLUGIN_CHECK ? "check" : k == FO_PLUGIN_ACTION ? "action" : "unknown";
}

/* Everything we are about to call must be there, or a config error beats a crash later. */
static int fo__entry_ok(const struct fo_plugin *p, enum fo_plugin_kind kind, const char *path,
                        struct fo_err *err)
{
    if (p->abi_major != FO_PLUGIN_ABI_MAJOR || p->abi_minor > FO_PLUGIN_ABI_MINOR)
        return fo_err_set(err, -FO_EABI, "plugin %s speaks ABI %d.%d, this daemon %d.%d", path,
                          p->abi_major, p->abi_minor, FO_PLUGIN_ABI_MAJOR, FO_PLUGIN_ABI_MINOR);
    if (p->kind != kind)
        return fo_err_set(err, -FO_EINVAL, "plugin %s is a%s %s plugin, not a%s %s plugin", path,
                          p->kind == FO_PLUGIN_ACTION ? "n" : "", fo__kind_name(p->kind),
                          kind == FO_PLUGIN_ACTION ? "n" : "", fo__kind_name(kind));
    if (!p->name || !p->init || !p->destroy ||
        (kind == FO_PLUGIN_CHECK && (!p->start || !p->cancel)))
        return fo_err_set(err, -FO_EINVAL, "plugin %s lacks a name or an entry point", path);
    return 0;
}

int fo_plugin_host_load(struct fo_plugin_host *h, const char *name, enum fo_plugin_kind kind,
                        const struct fo_plugin **out, struct fo_err *err)
{
    char *path = NULL;
    void *dl = NULL;
    int rc = 0;

    if (!fo__name_ok(name))
        return fo_err_set(err, -FO_EINVAL, "invalid plugin name '%s'", name ? name : "");
    for (struct fo__loaded *l = h->loaded; l; l = l->next)
        if (strcmp(l->name, name) == 0) {
            path = fo_xasprintf("%s/%s.so", h->dir, name);
            rc = fo__entry_ok(l->entry, kind, path, err);
            if (rc == 0)
                *out = l->entry;
            goto out;
        }

    path = fo_xasprintf("%s/%s.so", h->dir, name);
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        rc = fo_err_set(err, -FO_ENOENT, "cannot load %s plugin '%s': %s", fo__kind_name(kind),
                        name, why ? why : "unknown error");
        goto out;
    }
    const struct fo_plugin *entry = dlsym(dl, "fo_plugin_entry");
    if (!entry) {
        rc = fo_err_set(err, -FO_ENOENT, "plugin %s has no fo_plugin_entry", path);
        goto out;
    }
    rc = fo__entry_ok(entry, kind, path, err);
    if (rc < 0)
        goto out;
    struct fo__loaded *l = fo_xcalloc(1, sizeof(*l));
    l->name = fo_xstrdup(name);
    l->dl = dl;
    l->entry = entry;
    l->next = h->loaded;
    h->loaded = l;
    dl = NULL;
    *out = entry;
    fo_info("loaded %s plugin %s (ABI %d.%d) from %s", fo__kind_name(kind), entry->name,
            entry->abi_major, entry->abi_minor, path);
out:
    if (dl)
        dlclose(dl); /* refused before any of its functions ran */
    free(path);
    return rc;
}

void fo_plugin_host_free(struct fo_plugin_host *h)
{
    if (!h)
        return;
    while (h->loaded) {
        struct fo__loaded *l = h->loaded;
        h->loaded = l->next;
        free(l->name);
        free(l);
    }
    free(h->dir);
    free(h);
}
