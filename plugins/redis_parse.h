/* The redis check plugin's pure part: INFO text ("server" and "replication" sections) to typed
 * facts and a status. No I/O, so unit tests feed it real INFO outputs. Linked into
 * plugins/redis.la (hidden there) and into its unit test. */
#ifndef FO_PLUGINS_REDIS_PARSE_H
#define FO_PLUGINS_REDIS_PARSE_H

#include <failoverd/plugin.h>
#include <stddef.h>

enum fo_redis_role { FO_REDIS_ROLE_ANY = 0, FO_REDIS_ROLE_PRIMARY = 1, FO_REDIS_ROLE_REPLICA = 2 };

/* Finds `key` in INFO text (lines "key:value", CRLF or LF) and copies its value into buf.
 * Returns 1 when found (0 when not, -1 when the value does not fit). */
int fo_redis_info_get(const char *info, const char *key, char *buf, size_t n);

/* Fills r from INFO text holding at least the server and replication sections. A replica whose
 * link to its primary is down is a warning; a role other than `expect` is critical; text we do
 * not understand is unknown. Returns r->status. */
enum fo_status fo_redis_info_fill(struct fo_result *r, const char *info, enum fo_redis_role expect);

#endif
