/*
 * loc_persist.c — the single writer thread: group commit of AOR edits into the store, then
 * change notifications and done callbacks.
 *
 * Why one thread: the apr_dbd sqlite3 driver serializes every statement on a process-wide
 * mutex anyway, and batching many edits into one transaction is ~8x faster under WAL +
 * synchronous=NORMAL. The writer takes everything queued (up to LOC_GROUP_MAX batches),
 * writes it in one transaction, and only then notifies subscribers and calls the done
 * callbacks (which send the 200 OKs). A failed transaction reverts each batch's in-memory
 * change (when the AOR has not moved on since) and reports AORTA_ESTORE.
 *
 * A shared store (pgsql) applies the group through apply_group, which judges each batch on
 * its own (b->st: another node may have filled the AOR) and marks changes another node made
 * first (skip: no event from us).
 *
 * With the memory store there is no thread: a batch is finished on the committing thread.
 */
#include "loc_internal.h"
#include <stdlib.h>
#include <string.h>

#define LOC_GROUP_MAX 1024

struct loc_persist {
    loc_t *loc;
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;
    loc_batch_t *head, *tail;
    int stop;
    apr_thread_t *thread;
    apr_uint64_t groups, edits;
};

void loc_batch_free(loc_batch_t *b)
{
    for (int i = 0; i < b->nbefore; i++)
        loc_contact_unref(b->before[i]);
    for (int i = 0; i < b->nops; i++)
        loc_contact_unref(b->ops[i].contact);
    for (int i = 0; i < b->nchanges; i++)
        loc_contact_unref(b->changes[i].contact);
    loc_mem_free(b->before);
    free(b->ops);
    free(b->changes);
    free(b->aor);
    free(b);
}

/* Put the AOR back as it was before a batch whose commit failed. */
static void batch_revert(loc_t *loc, loc_batch_t *b)
{
    loc_stripe_t *s = loc_table_stripe(loc->table, b->aor);
    apr_thread_mutex_lock(s->lock);
    loc_aor_state_t *st = loc_table_state(s, b->aor, 0);
    if (st && st->version == b->version) {
        loc_state_set(s, st, b->before, b->nbefore);
        b->before = NULL;
        b->nbefore = 0;
    } else {
        aorta_log(AORTA_LOG_ERR, "location: AOR %s changed again before its failed commit; memory keeps the newer state",
                  b->aor);
    }
    apr_thread_mutex_unlock(s->lock);
}

void loc_notify(loc_t *loc, const loc_change_t *ch)
{
    apr_thread_rwlock_rdlock(loc->sub_lock);
    for (loc_sub_t *s = loc->subs; s; s = s->next)
        s->fn(ch, s->user);
    apr_thread_rwlock_unlock(loc->sub_lock);
}

void loc_batch_finish(loc_t *loc, loc_batch_t *b, apr_status_t st)
{
    if (st == APR_SUCCESS) {
        apr_thread_rwlock_rdlock(loc->sub_lock);
        for (int i = 0; i < b->nchanges; i++) {
            if (b->changes[i].skip)
                continue;
            loc_change_t ch = {b->changes[i].kind, b->changes[i].reason, b->changes[i].contact, b->count_after,
                               b->ctx, loc->node};
            for (loc_sub_t *s = loc->subs; s; s = s->next)
                s->fn(&ch, s->user);
        }
        apr_thread_rwlock_unlock(loc->sub_lock);
    } else {
        batch_revert(loc, b);
    }
    if (b->done) {
        /* the AOR's bindings as they are now (dynamic, unexpired), without a pool */
        const loc_contact_t **v = NULL;
        int n = 0;
        apr_time_t now = apr_time_now();
        loc_stripe_t *s = loc_table_stripe(loc->table, b->aor);
        apr_thread_mutex_lock(s->lock);
        loc_aor_state_t *as = loc_table_state(s, b->aor, 0);
        if (as && as->n) {
            v = malloc((size_t)as->n * sizeof *v);
            if (!v)
                abort();
            for (int i = 0; i < as->n; i++)
                if (!as->c[i]->expires || as->c[i]->expires > now)
                    v[n++] = loc_contact_ref(as->c[i]);
        }
        apr_thread_mutex_unlock(s->lock);
        b->done(st, v, n, b->user);
        for (int i = 0; i < n; i++)
            loc_contact_unref(v[i]);
        free(v);
    }
    loc_batch_free(b);
}

static void *APR_THREAD_FUNC writer_main(apr_thread_t *thr, void *data)
{
    aorta_thread_name("loc-writer");
    loc_persist_t *p = data;
    loc_t *loc = p->loc;
    loc_op_t *ops = NULL;
    int capops = 0;

    for (;;) {
        apr_thread_mutex_lock(p->lock);
        while (!p->head && !p->stop)
            apr_thread_cond_wait(p->cond, p->lock);
        if (!p->head && p->stop) {
            apr_thread_mutex_unlock(p->lock);
            break;
        }
        loc_batch_t *group = p->head, *last = group;
        int n = 1;
        while (last->next && n < LOC_GROUP_MAX) {
            last = last->next;
            n++;
        }
        p->head = last->next;
        if (!p->head)
            p->tail = NULL;
        last->next = NULL;
        apr_thread_mutex_unlock(p->lock);

        if (loc->store_ops->apply_group) {
            /* a shared store decides batch by batch (another node may have won an AOR) */
            for (loc_batch_t *b = group; b; b = b->next)
                b->st = APR_SUCCESS;
            apr_status_t gst = loc->store_ops->apply_group(loc->store, group);
            p->groups++;
            p->edits += (apr_uint64_t)n;
            while (group) {
                loc_batch_t *next = group->next;
                loc_batch_finish(loc, group, gst != APR_SUCCESS ? AORTA_ESTORE : group->st);
                group = next;
            }
            continue;
        }
        int nops = 0;
        for (loc_batch_t *b = group; b; b = b->next) {
            if (nops + b->nops > capops) {
                capops = (nops + b->nops) * 2;
                ops = realloc(ops, (size_t)capops * sizeof *ops);
                if (!ops)
                    abort();
            }
            memcpy(ops + nops, b->ops, (size_t)b->nops * sizeof *ops);
            nops += b->nops;
        }
        apr_status_t st = loc->store_ops->apply(loc->store, ops, nops);
        if (st != APR_SUCCESS) {
            char buf[120];
            aorta_log(AORTA_LOG_ERR, "location: store %s failed to commit %d edits: %s", loc->store_ops->name, n,
                      aorta_strerror(st, buf, sizeof buf));
            st = AORTA_ESTORE;
        }
        p->groups++;
        p->edits += (apr_uint64_t)n;
        while (group) {
            loc_batch_t *next = group->next;
            loc_batch_finish(loc, group, st);
            group = next;
        }
    }
    free(ops);
    return NULL;
}

apr_status_t loc_persist_start(loc_persist_t **out, loc_t *loc, apr_pool_t *pool)
{
    loc_persist_t *p = apr_pcalloc(pool, sizeof *p);
    apr_status_t rv;
    p->loc = loc;
    if ((rv = apr_thread_mutex_create(&p->lock, APR_THREAD_MUTEX_DEFAULT, pool)) != APR_SUCCESS ||
        (rv = apr_thread_cond_create(&p->cond, pool)) != APR_SUCCESS)
        return rv;
    if (loc->store_ops->durable && (rv = apr_thread_create(&p->thread, NULL, writer_main, p, pool)) != APR_SUCCESS)
        return rv;
    *out = p;
    return APR_SUCCESS;
}

void loc_persist_submit(loc_t *loc, loc_batch_t *b)
{
    loc_persist_t *p = loc->persist;
    if (!p->thread) {
        loc_batch_finish(loc, b, APR_SUCCESS);
        return;
    }
    apr_thread_mutex_lock(p->lock);
    if (p->tail)
        p->tail->next = b;
    else
        p->head = b;
    p->tail = b;
    apr_thread_cond_signal(p->cond);
    apr_thread_mutex_unlock(p->lock);
}

void loc_persist_stop(loc_persist_t *p)
{
    if (!p || !p->thread)
        return;
    apr_status_t rv;
    apr_thread_mutex_lock(p->lock);
    p->stop = 1;
    apr_thread_cond_signal(p->cond);
    apr_thread_mutex_unlock(p->lock);
    apr_thread_join(&rv, p->thread);
    p->thread = NULL;
    aorta_log(AORTA_LOG_INFO, "location: writer stopped after %" APR_UINT64_T_FMT " edits in %" APR_UINT64_T_FMT
              " transactions", p->edits, p->groups);
}
