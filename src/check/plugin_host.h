/* Loading plugins (`<dir>/<name>.so`, exporting `fo_plugin_entry`) and the struct fo_host table
 * handed to them. Loaded plugins are cached by name; a failed load is retried next time, so a
 * reload after installing a plugin works. */
#ifndef FO_CHECK_PLUGIN_HOST_H
#define FO_CHECK_PLUGIN_HOST_H

#include <failoverd/plugin.h>
#include <stdint.h>

#include "core/fo.h"

struct uv_loop_s;
struct fo_plugin_host;

/* The scheduler's answer to fo_host.service_best_int. */
typedef int (*fo_best_int_fn)(void *self, const char *fact, int64_t *out);

struct fo_plugin_host *fo_plugin_host_new(struct uv_loop_s *loop, const char *dir,
                                          fo_best_int_fn best_int);
/* Finds or loads plugin `name` of `kind`. Refuses a name that is not [a-z0-9_-]+, a missing
 * file or symbol, another major ABI, a newer minor ABI than ours, the wrong kind, or missing
 * entry points. Returns 0 and *out, or -FO_ENOENT / -FO_EABI / -FO_EINVAL with err->msg. */
int fo_plugin_host_load(struct fo_plugin_host *h, const char *name, enum fo_plugin_kind kind,
                        const struct fo_plugin **out, struct fo_err *err);
const struct fo_host *fo_plugin_host_table(const struct fo_plugin_host *h);
/* Frees the cache. The shared objects stay mapped: a plugin's handles may still have close
 * callbacks pending on the loop, and running those in unmapped code would crash. */
void fo_plugin_host_free(struct fo_plugin_host *h);

#endif
