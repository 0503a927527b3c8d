/* Service, member and check definitions as the configuration builds them: freeing them, and
 * deciding whether a member's check is unchanged across a reload (then it keeps its state). */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"

static void fo__free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void fo_service_def_free(struct fo_service_def *s)
{
    if (!s)
        return;
    for (int i = 0; s->members && i < s->nmembers; i++) {
        struct fo_member_def *m = &s->members[i];
        free(m->name);
        free(m->zone);
        free(m->address);
        free(m->where);
        for (int t = 0; m->tags && t < m->ntags; t++)
            free(m->tags[t]);
        free(m->tags);
    }
    free(s->members);
    free(s->check.type);
    json_object_put(s->check.params);
    fo__free_secret(s->check.secret);
    free(s->check.where);
    json_object_put(s->failover);
    free(s->policy.runbook);
    free(s->name);
    free(s->kind);
    memset(s, 0, sizeof(*s));
}

static int fo__streq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* An absent params mapping and an empty one configure a plugin the same way. */
static int fo__params_equal(struct json_object *a, struct json_object *b)
{
    if (!a || !b) {
        struct json_object *o = a ? a : b;
        return !o ||
               (json_object_is_type(o, json_type_object) && json_object_object_length(o) == 0);
    }
    return json_object_equal(a, b);
}

/* Everything the plugin instance is built from (struct fo_target) must match; rise, fall and
 * jitter are the scheduler's knobs and apply to the kept state as they are. Where the check is
 * written in the file does not matter. */
int fo_check_def_same(const struct fo_service_def *a, const struct fo_member_def *ma,
                      const struct fo_service_def *b, const struct fo_member_def *mb)
{
    if (!a || !b || !ma || !mb)
        return 0;
    const struct fo_check_def *ca = &a->check, *cb = &b->check;
    return fo__streq(a->name, b->name) && fo__streq(ma->name, mb->name) &&
           fo__streq(ma->zone, mb->zone) && fo__streq(ma->address, mb->address) &&
           fo__streq(ca->type, cb->type) && ca->interval_ms == cb->interval_ms &&
           ca->timeout_ms == cb->timeout_ms && fo__streq(ca->secret, cb->secret) &&
           fo__params_equal(ca->params, cb->params);
}
