/*
 * loc_aor.c — the AOR table (lock stripes of AOR states) and per-AOR edits.
 *
 * Invariants:
 * - An AOR state's contact array is only read or replaced under its stripe's mutex; the
 *   array is kept in the canonical order, and every element holds one reference.
 * - An edit works on a private copy of the array and swaps it in at commit, bumping the
 *   state's version; the batch it produces keeps the previous array so that a failed store
 *   commit can put it back (only if the version is still the edit's).
 * - Contacts whose time is up but which the sweeper has not reached yet are invisible to
 *   readers; an edit that meets one removes it as expired, so its event still fires once.
 */
#include "loc_internal.h"
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

loc_t *loc_global;

struct loc_editor {
    loc_stripe_t *s;
    loc_aor_state_t *st;
    apr_time_t now;
    const loc_contact_t **orig; /* unexpired at begin (borrowed from the state) */
    int norig;
    const loc_contact_t **work; /* references */
    int nwork, capwork;
    loc_op_t *ops;
    int nops, capops;
    loc_change_rec_t *ch;
    int nch, capch;
};

#define GROW(arr, n, cap)                                                      \
    do {                                                                       \
        if ((n) >= (cap)) {                                                    \
            (cap) = (cap) ? (cap) * 2 : 4;                                     \
            void *np_ = realloc((void *)(arr), (size_t)(cap) * sizeof(*(arr))); \
            if (!np_)                                                          \
                abort();                                                       \
            (arr) = np_;                                                       \
        }                                                                      \
    } while (0)

apr_status_t loc_table_create(loc_table_t **out, apr_pool_t *pool)
{
    loc_table_t *t = apr_pcalloc(pool, sizeof *t);
    for (int i = 0; i < LOC_STRIPES; i++) {
        apr_status_t rv = apr_thread_mutex_create(&t->stripes[i].lock, APR_THREAD_MUTEX_DEFAULT, pool);
        if (rv != APR_SUCCESS)
            return rv;
        /* apr_hash_set() allocates from the hash's pool, and stripes are written under
         * different locks at once: each stripe's hash needs a pool of its own */
        apr_pool_t *sp;
        if ((rv = aorta_pool_create(&sp, pool)) != APR_SUCCESS)
            return rv;
        t->stripes[i].aors = apr_hash_make(sp);
    }
    *out = t;
    return APR_SUCCESS;
}

void loc_table_destroy(loc_table_t *t)
{
    if (!t)
        return;
    for (int i = 0; i < LOC_STRIPES; i++) {
        loc_stripe_t *s = &t->stripes[i];
        apr_thread_mutex_lock(s->lock);
        /* the hash reads its keys (st->name) while clearing: free the states afterwards */
        unsigned n = apr_hash_count(s->aors), k = 0;
        loc_aor_state_t **all = malloc((n ? n : 1) * sizeof *all);
        for (apr_hash_index_t *hi = apr_hash_first(NULL, s->aors); hi && all; hi = apr_hash_next(hi))
            all[k++] = apr_hash_this_val(hi);
        apr_hash_clear(s->aors);
        for (unsigned x = 0; x < k; x++) {
            loc_aor_state_t *st = all[x];
            for (int j = 0; j < st->n; j++)
                loc_contact_unref(st->c[j]);
            loc_mem_free(st->c);
            loc_mem_free(st->name);
            loc_mem_free(st);
        }
        free(all);
        s->contacts = 0;
        apr_thread_mutex_unlock(s->lock);
    }
}

loc_stripe_t *loc_table_stripe(loc_table_t *t, const char *aor)
{
    /* FNV-1a: cheap, and the stripe count is a power of two */
    apr_uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)aor; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &t->stripes[h & (LOC_STRIPES - 1)];
}

loc_aor_state_t *loc_table_state(loc_stripe_t *s, const char *aor, int create)
{
    loc_aor_state_t *st = apr_hash_get(s->aors, aor, APR_HASH_KEY_STRING);
    if (!st && create) {
        st = loc_mem_calloc(sizeof *st);
        st->name = loc_mem_strdup(aor);
        apr_hash_set(s->aors, st->name, APR_HASH_KEY_STRING, st);
    }
    return st;
}

void loc_state_set(loc_stripe_t *s, loc_aor_state_t *st, const loc_contact_t **v, int n)
{
    for (int i = 0; i < st->n; i++)
        loc_contact_unref(st->c[i]);
    s->contacts -= (apr_size_t)st->n;
    loc_mem_free(st->c);
    st->c = v;
    st->n = st->cap = n;
    s->contacts += (apr_size_t)n;
    st->version++;
    for (int i = 0; i < n; i++)
        if (v[i]->expires && (!s->next_expiry || v[i]->expires < s->next_expiry))
            s->next_expiry = v[i]->expires;
}

void loc_table_load_row(loc_contact_t *c, void *user)
{
    loc_t *loc = user;
    loc_stripe_t *s = loc_table_stripe(loc->table, c->aor);
    apr_thread_mutex_lock(s->lock);
    loc_aor_state_t *st = loc_table_state(s, c->aor, 1);
    const loc_contact_t **v = loc_mem_alloc((size_t)(st->n + 1) * sizeof *v);
    for (int i = 0; i < st->n; i++)
        v[i] = loc_contact_ref(st->c[i]);
    v[st->n] = c;
    int n = st->n + 1;
    loc_contact_sort(v, n);
    loc_state_set(s, st, v, n);
    apr_thread_mutex_unlock(s->lock);
}

void loc_table_replace(loc_t *loc, const char *aor, const loc_contact_t **v, int n)
{
    loc_stripe_t *s = loc_table_stripe(loc->table, aor);
    const loc_contact_t **nv = loc_mem_alloc((size_t)(n + 1) * sizeof *nv);
    memcpy(nv, v, (size_t)n * sizeof *nv);
    loc_contact_sort(nv, n);
    apr_thread_mutex_lock(s->lock);
    loc_aor_state_t *st = loc_table_state(s, aor, 1);
    loc_state_set(s, st, nv, n);
    apr_thread_mutex_unlock(s->lock);
}

void loc_table_resync(loc_t *loc, apr_hash_t *rows)
{
    apr_pool_t *tmp;
    aorta_pool_create_unmanaged(&tmp);
    for (int i = 0; i < LOC_STRIPES; i++) {
        loc_stripe_t *s = &loc->table->stripes[i];
        apr_thread_mutex_lock(s->lock);
        for (apr_hash_index_t *hi = apr_hash_first(tmp, s->aors); hi; hi = apr_hash_next(hi)) {
            loc_aor_state_t *st = apr_hash_this_val(hi);
            apr_array_header_t *a = apr_hash_get(rows, st->name, APR_HASH_KEY_STRING);
            int n = a ? a->nelts : 0;
            const loc_contact_t **nv = loc_mem_alloc((size_t)(n + 1) * sizeof *nv);
            if (n)
                memcpy(nv, a->elts, (size_t)n * sizeof *nv);
            loc_contact_sort(nv, n);
            loc_state_set(s, st, nv, n);
            if (a)
                apr_hash_set(rows, st->name, APR_HASH_KEY_STRING, NULL);
        }
        apr_thread_mutex_unlock(s->lock);
        apr_pool_clear(tmp);
    }
    for (apr_hash_index_t *hi = apr_hash_first(tmp, rows); hi; hi = apr_hash_next(hi)) {
        apr_array_header_t *a = apr_hash_this_val(hi);
        loc_table_replace(loc, apr_hash_this_key(hi), (const loc_contact_t **)a->elts, a->nelts);
    }
    apr_pool_destroy(tmp);
}

/* ---- edits ---------------------------------------------------------------------------- */

static void ed_op(loc_editor_t *ed, loc_op_kind_t kind, const loc_contact_t *c)
{
    GROW(ed->ops, ed->nops, ed->capops);
    ed->ops[ed->nops].kind = kind;
    ed->ops[ed->nops].contact = loc_contact_ref(c);
    ed->nops++;
}

static void ed_change(loc_editor_t *ed, loc_change_kind_t kind, loc_reason_t reason, const loc_contact_t *c)
{
    GROW(ed->ch, ed->nch, ed->capch);
    ed->ch[ed->nch].kind = kind;
    ed->ch[ed->nch].reason = reason;
    ed->ch[ed->nch].contact = loc_contact_ref(c);
    ed->ch[ed->nch].skip = 0;
    ed->nch++;
}

apr_status_t loc_edit_begin(const char *aor, loc_editor_t **out)
{
    loc_t *loc = loc_global;
    if (!loc || !aor || !*aor)
        return APR_EINVAL;
    loc_editor_t *ed = calloc(1, sizeof *ed);
    if (!ed)
        abort();
    ed->now = apr_time_now();
    ed->s = loc_table_stripe(loc->table, aor);
    apr_thread_mutex_lock(ed->s->lock);
    ed->st = loc_table_state(ed->s, aor, 1);
    ed->orig = malloc((size_t)(ed->st->n + 1) * sizeof *ed->orig);
    if (!ed->orig)
        abort();
    for (int i = 0; i < ed->st->n; i++) {
        const loc_contact_t *c = ed->st->c[i];
        if (c->expires && c->expires <= ed->now) {
            ed_op(ed, LOC_OP_DEL, c);
            ed_change(ed, LOC_CHANGE_REMOVE, LOC_REASON_EXPIRED, c);
            continue;
        }
        ed->orig[ed->norig++] = c;
        GROW(ed->work, ed->nwork, ed->capwork);
        ed->work[ed->nwork++] = loc_contact_ref(c);
    }
    *out = ed;
    return APR_SUCCESS;
}

const loc_contact_t *const *loc_edit_contacts(loc_editor_t *ed, int *n)
{
    *n = ed->norig;
    return ed->orig;
}

static int ed_find(loc_editor_t *ed, const loc_contact_t *c)
{
    for (int i = 0; i < ed->nwork; i++)
        if (ed->work[i] == c)
            return i;
    return -1;
}

apr_status_t loc_edit_put(loc_editor_t *ed, const loc_contact_t *tmpl, const loc_contact_t *old)
{
    loc_contact_t t = *tmpl;
    t.aor = ed->st->name;
    t.is_static = 0;
    int at = -1;
    if (old && (at = ed_find(ed, old)) < 0)
        return APR_EINVAL;
    loc_contact_t *c = loc_contact_new(&t);
    if (at >= 0) {
        if (strcmp(old->uri, c->uri))
            ed_op(ed, LOC_OP_DEL, old); /* same instance, new URI: a different row */
        loc_contact_unref(ed->work[at]);
        ed->work[at] = c;
        ed_change(ed, LOC_CHANGE_REFRESH, LOC_REASON_NONE, c);
    } else {
        GROW(ed->work, ed->nwork, ed->capwork);
        ed->work[ed->nwork++] = c;
        ed_change(ed, LOC_CHANGE_NEW, LOC_REASON_NONE, c);
    }
    ed_op(ed, LOC_OP_PUT, c);
    return APR_SUCCESS;
}

apr_status_t loc_edit_remove(loc_editor_t *ed, const loc_contact_t *old, loc_reason_t reason)
{
    int at = ed_find(ed, old);
    if (at < 0)
        return APR_EINVAL;
    ed_op(ed, LOC_OP_DEL, old);
    ed_change(ed, LOC_CHANGE_REMOVE, reason, old);
    loc_contact_unref(ed->work[at]);
    memmove(&ed->work[at], &ed->work[at + 1], (size_t)(ed->nwork - at - 1) * sizeof *ed->work);
    ed->nwork--;
    return APR_SUCCESS;
}

static void ed_free(loc_editor_t *ed)
{
    for (int i = 0; i < ed->nwork; i++)
        loc_contact_unref(ed->work[i]);
    for (int i = 0; i < ed->nops; i++)
        loc_contact_unref(ed->ops[i].contact);
    for (int i = 0; i < ed->nch; i++)
        loc_contact_unref(ed->ch[i].contact);
    free(ed->work);
    free(ed->ops);
    free(ed->ch);
    free(ed->orig);
    free(ed);
}

void loc_edit_abort(loc_editor_t *ed)
{
    apr_thread_mutex_unlock(ed->s->lock);
    ed_free(ed);
}

apr_status_t loc_edit_commit(loc_editor_t *ed, void *ctx, loc_done_fn done, void *user)
{
    loc_t *loc = loc_global;
    if (!ed->nops) {
        /* nothing to write: answer with the current state at once */
        int n = ed->nwork;
        const loc_contact_t **v = ed->work;
        ed->work = NULL;
        ed->nwork = 0;
        apr_thread_mutex_unlock(ed->s->lock);
        if (done)
            done(APR_SUCCESS, v, n, user);
        for (int i = 0; i < n; i++)
            loc_contact_unref(v[i]);
        free(v);
        ed_free(ed);
        return APR_SUCCESS;
    }
    loc_contact_sort(ed->work, ed->nwork);

    loc_batch_t *b = calloc(1, sizeof *b);
    if (!b || !(b->aor = strdup(ed->st->name)))
        abort();
    /* the previous array moves into the batch (for a revert); the state takes a copy of work */
    b->before = ed->st->c;
    b->nbefore = ed->st->n;
    ed->s->contacts -= (apr_size_t)ed->st->n;
    ed->st->c = NULL;
    ed->st->n = 0;
    const loc_contact_t **v = loc_mem_alloc((size_t)(ed->nwork + 1) * sizeof *v);
    for (int i = 0; i < ed->nwork; i++)
        v[i] = loc_contact_ref(ed->work[i]);
    loc_state_set(ed->s, ed->st, v, ed->nwork);
    b->version = ed->st->version;
    b->count_after = ed->nwork;
    apr_thread_mutex_unlock(ed->s->lock);

    b->ops = ed->ops;
    b->nops = ed->nops;
    b->changes = ed->ch;
    b->nchanges = ed->nch;
    b->ctx = ctx;
    b->done = done;
    b->user = user;
    ed->ops = NULL;
    ed->nops = 0;
    ed->ch = NULL;
    ed->nch = 0;
    ed_free(ed);
    loc_persist_submit(loc, b);
    return APR_SUCCESS;
}

/* ---- reads ---------------------------------------------------------------------------- */

static apr_status_t unref_cleanup(void *data)
{
    loc_contact_unref(data);
    return APR_SUCCESS;
}

apr_status_t loc_contacts_get(const char *aor, apr_pool_t *pool, apr_array_header_t **out)
{
    loc_t *loc = loc_global;
    apr_array_header_t *arr = apr_array_make(pool, 8, sizeof(const loc_contact_t *));
    apr_time_t now = apr_time_now();
    loc_stripe_t *s = loc_table_stripe(loc->table, aor);
    apr_thread_mutex_lock(s->lock);
    loc_aor_state_t *st = loc_table_state(s, aor, 0);
    for (int i = 0; st && i < st->n; i++) {
        const loc_contact_t *c = st->c[i];
        if (c->expires && c->expires <= now)
            continue;
        APR_ARRAY_PUSH(arr, const loc_contact_t *) = loc_contact_ref(c);
    }
    apr_thread_mutex_unlock(s->lock);
    for (int i = 0; i < arr->nelts; i++)
        apr_pool_cleanup_register(pool, APR_ARRAY_IDX(arr, i, const loc_contact_t *), unref_cleanup,
                                  apr_pool_cleanup_null);

    aorta_config_gen_t *gen = NULL;
    const loc_conf_t *conf = loc_conf_acquire(&gen);
    const loc_aor_conf_t *ac = conf ? apr_hash_get(conf->aors, aor, APR_HASH_KEY_STRING) : NULL;
    for (int i = 0; ac && ac->static_contacts && i < ac->static_contacts->nelts; i++) {
        loc_contact_t *c = loc_contact_static(ac->name, ac->profile, APR_ARRAY_IDX(ac->static_contacts, i, const char *));
        apr_pool_cleanup_register(pool, c, unref_cleanup, apr_pool_cleanup_null);
        APR_ARRAY_PUSH(arr, const loc_contact_t *) = c;
    }
    if (gen)
        aorta_module_config_release(gen);
    *out = arr;
    return APR_SUCCESS;
}

void loc_iterate(loc_each_fn fn, void *user)
{
    loc_t *loc = loc_global;
    apr_time_t now = apr_time_now();
    apr_pool_t *tmp = NULL;
    /* apr_hash_first(NULL, ...) would share one iterator between threads: use our own pool */
    aorta_pool_create_unmanaged(&tmp);
    for (int i = 0; i < LOC_STRIPES; i++) {
        loc_stripe_t *s = &loc->table->stripes[i];
        int stop = 0;
        apr_thread_mutex_lock(s->lock);
        for (apr_hash_index_t *hi = apr_hash_first(tmp, s->aors); hi && !stop; hi = apr_hash_next(hi)) {
            loc_aor_state_t *st = apr_hash_this_val(hi);
            for (int j = 0; j < st->n && !stop; j++) {
                if (st->c[j]->expires && st->c[j]->expires <= now)
                    continue;
                stop = fn(st->c[j], user);
            }
        }
        apr_thread_mutex_unlock(s->lock);
        apr_pool_clear(tmp);
        if (stop)
            break;
    }
    apr_pool_destroy(tmp);
}

apr_size_t loc_count(void)
{
    loc_t *loc = loc_global;
    apr_size_t n = 0;
    for (int i = 0; i < LOC_STRIPES; i++) {
        loc_stripe_t *s = &loc->table->stripes[i];
        apr_thread_mutex_lock(s->lock);
        n += s->contacts;
        apr_thread_mutex_unlock(s->lock);
    }
    return n;
}
