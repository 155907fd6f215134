/*
 * loc_expire.c — the expiry timer: a thread that, once a second, finds AORs holding a
 * contact whose time is up and removes it through an ordinary edit (reason expired), so
 * the removal is persisted and its `registrar::expire` event fires once, after the commit.
 *
 * Readers never see an expired contact even between two sweeps: every read filters on the
 * current time. Expiry arithmetic is in whole seconds rounded up, so a contact granted 60 s
 * reports 60 right after its REGISTER and never 0 while it is still live.
 */
#include "loc_internal.h"
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

int loc_expire_remaining(const loc_contact_t *c, apr_time_t now)
{
    if (!c->expires)
        return 0;
    if (c->expires <= now)
        return 0;
    return (int)((c->expires - now + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC);
}

int loc_expire_sweep(loc_t *loc, apr_time_t now)
{
    int total = 0;
    char **names = NULL;
    int nn = 0, cap = 0;
    apr_pool_t *tmp;
    aorta_pool_create_unmanaged(&tmp);
    for (int i = 0; i < LOC_STRIPES; i++) {
        loc_stripe_t *s = &loc->table->stripes[i];
        apr_thread_mutex_lock(s->lock);
        /* A stripe remembers its earliest expiry, so a sweep of 100k AORs that expire in an
         * hour touches nothing; the scan below recomputes it. An AOR found expired keeps its
         * stripe due again next second, in case its edit does not get through. */
        if (!s->next_expiry || s->next_expiry > now) {
            apr_thread_mutex_unlock(s->lock);
            continue;
        }
        apr_time_t next = 0;
        for (apr_hash_index_t *hi = apr_hash_first(tmp, s->aors); hi; hi = apr_hash_next(hi)) {
            loc_aor_state_t *st = apr_hash_this_val(hi);
            for (int j = 0; j < st->n; j++) {
                apr_time_t e = st->c[j]->expires, due = e <= now ? now + APR_USEC_PER_SEC : e;
                if (e && (!next || due < next))
                    next = due;
            }
            for (int j = 0; j < st->n; j++) {
                if (st->c[j]->expires && st->c[j]->expires <= now) {
                    if (nn == cap) {
                        cap = cap ? cap * 2 : 16;
                        names = realloc(names, (size_t)cap * sizeof *names);
                        if (!names)
                            abort();
                    }
                    names[nn++] = apr_pstrdup(tmp, st->name);
                    break;
                }
            }
        }
        s->next_expiry = next;
        apr_thread_mutex_unlock(s->lock);
    }
    for (int i = 0; i < nn; i++) {
        loc_editor_t *ed;
        if (loc_edit_begin(names[i], &ed) == APR_SUCCESS) {
            int n;
            loc_edit_contacts(ed, &n);
            loc_edit_commit(ed, NULL, NULL, NULL);
            total++;
        }
    }
    free(names);
    apr_pool_destroy(tmp);
    return total;
}

static void *APR_THREAD_FUNC expire_main(apr_thread_t *thr, void *data)
{
    aorta_thread_name("loc-expire");
    loc_t *loc = data;
    apr_thread_mutex_lock(loc->expire_lock);
    while (!loc->stopping) {
        apr_thread_cond_timedwait(loc->expire_cond, loc->expire_lock, apr_time_from_sec(1));
        if (loc->stopping)
            break;
        apr_thread_mutex_unlock(loc->expire_lock);
        loc_expire_sweep(loc, apr_time_now());
        loc_qualify_tick(loc, apr_time_now());
        apr_thread_mutex_lock(loc->expire_lock);
    }
    apr_thread_mutex_unlock(loc->expire_lock);
    return NULL;
}

apr_status_t loc_expire_start(loc_t *loc)
{
    apr_status_t rv;
    if ((rv = apr_thread_mutex_create(&loc->expire_lock, APR_THREAD_MUTEX_DEFAULT, loc->pool)) != APR_SUCCESS ||
        (rv = apr_thread_cond_create(&loc->expire_cond, loc->pool)) != APR_SUCCESS ||
        (rv = aorta_pool_create(&loc->qualify_pool, loc->pool)) != APR_SUCCESS)
        return rv;
    return apr_thread_create(&loc->expire_thread, NULL, expire_main, loc, loc->pool);
}

void loc_expire_stop(loc_t *loc)
{
    apr_status_t rv;
    if (!loc->expire_thread)
        return;
    apr_thread_mutex_lock(loc->expire_lock);
    loc->stopping = 1;
    apr_thread_cond_signal(loc->expire_cond);
    apr_thread_mutex_unlock(loc->expire_lock);
    apr_thread_join(&rv, loc->expire_thread);
    loc->expire_thread = NULL;
}
