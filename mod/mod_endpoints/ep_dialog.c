/*
 * ep_dialog.c — the Call-ID -> endpoint cache that lets in-dialog requests skip the
 * identifiers (SPEC §6 step 3: "if a dialog exists and holds a cached endpoint, it is used").
 *
 * An entry is written when a dialog-creating request (INVITE, SUBSCRIBE, REFER) from an
 * identified endpoint gets a 2xx, refreshed by every in-dialog request, removed by BYE, and
 * forgotten after dialog-cache-ttl without use. It stores the endpoint *name* and profile:
 * the endpoint object belongs to a configuration generation and is looked up again in the
 * request's own generation, so a reload that removed the endpoint simply falls back to the
 * identifiers. 64 independently locked shards keep workers from meeting on one lock; each
 * shard sweeps its expired entries at most once a second, when it is written to, and is
 * bounded so a flood of dialogs cannot grow it without end (the identifiers still work).
 */
#include "ep_internal.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

#define EP_DIALOG_SHARDS 64
#define EP_DIALOG_MAX_PER_SHARD 4096

typedef struct ep_dialog_entry {
    char *call_id;
    char profile[64];
    char endpoint[128];
    apr_time_t expires;
    int ttl;
} ep_dialog_entry_t;

typedef struct ep_dialog_shard {
    apr_thread_mutex_t *lock;
    apr_hash_t *map; /* call_id -> ep_dialog_entry_t* (malloc'd, freed on removal) */
    apr_time_t last_sweep;
} ep_dialog_shard_t;

struct ep_dialogs {
    ep_dialog_shard_t shards[EP_DIALOG_SHARDS];
};

static apr_status_t dialogs_cleanup(void *data)
{
    ep_dialogs_t *d = data;
    for (int i = 0; i < EP_DIALOG_SHARDS; i++) {
        for (apr_hash_index_t *hi = apr_hash_first(NULL, d->shards[i].map); hi; hi = apr_hash_next(hi)) {
            ep_dialog_entry_t *e = apr_hash_this_val(hi);
            free(e->call_id);
            free(e);
        }
        /* no apr_hash_clear: it would compare the keys just freed; the map dies with the pool */
    }
    return APR_SUCCESS;
}

apr_status_t ep_dialogs_create(ep_dialogs_t **out, apr_pool_t *pool)
{
    ep_dialogs_t *d = apr_pcalloc(pool, sizeof *d);
    for (int i = 0; i < EP_DIALOG_SHARDS; i++) {
        apr_status_t st = apr_thread_mutex_create(&d->shards[i].lock, APR_THREAD_MUTEX_DEFAULT, pool);
        if (st != APR_SUCCESS)
            return st;
        /* one pool per shard: apr_hash_set() allocates, and shards are written at once */
        apr_pool_t *sp;
        if ((st = aorta_pool_create(&sp, pool)) != APR_SUCCESS)
            return st;
        d->shards[i].map = apr_hash_make(sp);
    }
    /* before the shards' pools go (apr_pool_destroy destroys children before cleanups) */
    apr_pool_pre_cleanup_register(pool, d, dialogs_cleanup);
    *out = d;
    return APR_SUCCESS;
}

static ep_dialog_shard_t *shard_of(ep_dialogs_t *d, const char *call_id)
{
    unsigned h = 5381;
    for (const unsigned char *s = (const unsigned char *)call_id; *s; s++)
        h = h * 33 + *s;
    return &d->shards[h % EP_DIALOG_SHARDS];
}

static void entry_free(ep_dialog_shard_t *s, ep_dialog_entry_t *e)
{
    apr_hash_set(s->map, e->call_id, APR_HASH_KEY_STRING, NULL);
    free(e->call_id);
    free(e);
}

static void shard_sweep(ep_dialog_shard_t *s, apr_time_t now)
{
    if (now - s->last_sweep < APR_USEC_PER_SEC && apr_hash_count(s->map) < EP_DIALOG_MAX_PER_SHARD)
        return;
    s->last_sweep = now;
    for (apr_hash_index_t *hi = apr_hash_first(NULL, s->map); hi;) {
        ep_dialog_entry_t *e = apr_hash_this_val(hi);
        hi = apr_hash_next(hi);
        if (e->expires <= now)
            entry_free(s, e);
    }
}

void ep_dialogs_put(ep_dialogs_t *d, const char *call_id, const char *profile, const char *endpoint, int ttl)
{
    ep_dialog_shard_t *s = shard_of(d, call_id);
    apr_time_t now = apr_time_now();
    apr_thread_mutex_lock(s->lock);
    shard_sweep(s, now);
    ep_dialog_entry_t *e = apr_hash_get(s->map, call_id, APR_HASH_KEY_STRING);
    if (!e && apr_hash_count(s->map) < EP_DIALOG_MAX_PER_SHARD && (e = calloc(1, sizeof *e)) != NULL) {
        if (!(e->call_id = strdup(call_id))) {
            free(e);
            e = NULL;
        } else {
            apr_hash_set(s->map, e->call_id, APR_HASH_KEY_STRING, e);
        }
    }
    if (e) {
        apr_cpystrn(e->profile, profile, sizeof e->profile);
        apr_cpystrn(e->endpoint, endpoint, sizeof e->endpoint);
        e->ttl = ttl;
        e->expires = now + apr_time_from_sec(ttl);
    }
    apr_thread_mutex_unlock(s->lock);
}

int ep_dialogs_get(ep_dialogs_t *d, const char *call_id, const char *profile, char *buf, apr_size_t len)
{
    ep_dialog_shard_t *s = shard_of(d, call_id);
    apr_time_t now = apr_time_now();
    int found = 0;
    apr_thread_mutex_lock(s->lock);
    ep_dialog_entry_t *e = apr_hash_get(s->map, call_id, APR_HASH_KEY_STRING);
    if (e && e->expires <= now) {
        entry_free(s, e);
        e = NULL;
    }
    if (e && !strcmp(e->profile, profile)) {
        apr_cpystrn(buf, e->endpoint, len);
        e->expires = now + apr_time_from_sec(e->ttl);
        found = 1;
    }
    apr_thread_mutex_unlock(s->lock);
    return found;
}

void ep_dialogs_remove(ep_dialogs_t *d, const char *call_id)
{
    ep_dialog_shard_t *s = shard_of(d, call_id);
    apr_thread_mutex_lock(s->lock);
    ep_dialog_entry_t *e = apr_hash_get(s->map, call_id, APR_HASH_KEY_STRING);
    if (e)
        entry_free(s, e);
    apr_thread_mutex_unlock(s->lock);
}

apr_size_t ep_dialogs_count(ep_dialogs_t *d)
{
    apr_size_t n = 0;
    for (int i = 0; i < EP_DIALOG_SHARDS; i++) {
        apr_thread_mutex_lock(d->shards[i].lock);
        n += apr_hash_count(d->shards[i].map);
        apr_thread_mutex_unlock(d->shards[i].lock);
    }
    return n;
}
