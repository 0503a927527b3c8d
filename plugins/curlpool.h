/* A plugin's pool of idle libcurl easy handles (~10 KiB each): a run holds one only while in
 * flight, so ten thousand members need about as many handles as run at once. Header-only, as
 * plugins link nothing of ours; one pool per plugin, used by the loop thread only. */
#ifndef FO_PLUGINS_CURLPOOL_H
#define FO_PLUGINS_CURLPOOL_H

#include <curl/curl.h>

#define FO_CURL_POOL_MAX 64

struct fo_curl_pool {
    CURL *idle[FO_CURL_POOL_MAX];
    int nidle;
    int ninst;          /* live instances: the last one to go frees the idle handles */
    unsigned long made; /* curl_easy_init calls, for the unit tests */
};

static inline CURL *fo_curl_pool_get(struct fo_curl_pool *p)
{
    if (p->nidle > 0)
        return p->idle[--p->nidle];
    CURL *e = curl_easy_init();
    if (e)
        p->made++;
    return e;
}

/* `e` must be detached from the multi handle (done called, or http_cancel returned). The reset
 * drops its pointers into the instance, which may be freed while the handle is idle. */
static inline void fo_curl_pool_put(struct fo_curl_pool *p, CURL *e)
{
    if (!e)
        return;
    if (p->ninst > 0 && p->nidle < FO_CURL_POOL_MAX) {
        curl_easy_reset(e);
        p->idle[p->nidle++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

static inline void fo_curl_pool_unref(struct fo_curl_pool *p)
{
    if (--p->ninst > 0)
        return;
    while (p->nidle > 0)
        curl_easy_cleanup(p->idle[--p->nidle]);
}

#endif
