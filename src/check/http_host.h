/* The process's one libcurl multi handle, driven by the libuv loop (multi-socket API), shared by
 * every HTTP-speaking plugin through struct fo_host and by any other part that needs HTTP.
 * Thousands of transfers share its connection cache; nothing blocks the loop. */
#ifndef FO_CHECK_HTTP_HOST_H
#define FO_CHECK_HTTP_HOST_H

#include <failoverd/plugin.h>
#include <uv.h>

/* Takes a reference on the shared host, creating it on first use. Every init needs one close.
 * Returns 0, -FO_EBUSY when it already runs on another loop, or -FO_EIO. */
int fo_http_host_init(uv_loop_t *loop);
/* Runs a configured CURL easy handle; done(easy, CURLcode, arg) is called once, on the loop,
 * after the handle left the multi (so done may free or restart it), unless
 * fo_http_host_cancel() comes first. CURLE_FAILED_INIT there means the host could not drive the
 * transfer (our fault: report unknown, not critical). Sets CURLOPT_NOSIGNAL; never
 * CURLOPT_PRIVATE, which is the caller's.
 * Returns 0, -FO_EINVAL (no host), -FO_EBUSY (this easy is already running) or -FO_EIO. */
int fo_http_host_start(void *easy, fo_http_done_fn done, void *arg);
/* Stops a running transfer; done will not be called. No effect when easy is not running.
 * Not from inside one of libcurl's own callbacks (write, header...), as libcurl forbids. */
void fo_http_host_cancel(void *easy);
/* Sizes the shared connection cache for `members` checks (each holds at most one connection
 * between runs). libcurl's default keeps only 4 per transfer in flight: with a thousand members
 * checked a few at a time, nearly every run would open (and for HTTPS, handshake) a new
 * connection. No effect without a host. */
void fo_http_host_keep(size_t members);
/* Transfers running now (for metrics and tests). */
int fo_http_host_running(void);
/* Drops a reference; the last one stops every transfer (without done) and closes the handles
 * (freed from their close callbacks, so run the loop afterwards). */
void fo_http_host_close(void);

#endif
