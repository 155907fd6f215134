/*
 * ep_registry.c — who handles what: method services, endpoint identifiers, the challenger
 * for unidentified requests and the option tags announced in OPTIONS answers.
 *
 * Registrations happen when modules load and unload; lookups happen on every request. A
 * read-write lock separates them: a request takes the read side once for its whole
 * identify-and-dispatch step (one uncontended atomic pair per request), and
 * unregister_owner() takes the write side, so when it returns no worker is still inside a
 * callback of the module that is going away. Entries are allocated in the registry's pool
 * and never freed before it (module loads are rare; an unregistered entry is unlinked).
 */
#include "ep_internal.h"

#include <apr_strings.h>
#include <string.h>

typedef struct ep_method_entry {
    const char *method;
    ep_method_fn fn;
    void *user;
    aorta_module_t *owner;
    unsigned flags; /* EP_SERVICE_* */
} ep_method_entry_t;

typedef struct ep_tag_entry {
    const char *tag;
    aorta_module_t *owner;
} ep_tag_entry_t;

struct ep_registry {
    apr_pool_t *pool;
    apr_thread_rwlock_t *lock;
    apr_hash_t *methods;             /* method name -> ep_method_entry_t* */
    apr_array_header_t *identifiers; /* ep_identifier_t*, registration order */
    apr_array_header_t *tags;        /* ep_tag_entry_t* */
    ep_challenge_fn challenger;
    void *challenger_user;
    aorta_module_t *challenger_owner;
    unsigned challenger_flags;
};

apr_status_t ep_registry_create(ep_registry_t **out, apr_pool_t *pool)
{
    ep_registry_t *r = apr_pcalloc(pool, sizeof *r);
    apr_status_t st = apr_thread_rwlock_create(&r->lock, pool);
    if (st != APR_SUCCESS)
        return st;
    r->pool = pool;
    r->methods = apr_hash_make(pool);
    r->identifiers = apr_array_make(pool, 8, sizeof(ep_identifier_t *));
    r->tags = apr_array_make(pool, 4, sizeof(ep_tag_entry_t *));
    *out = r;
    return APR_SUCCESS;
}

void ep_registry_destroy(ep_registry_t *reg)
{
    if (reg && reg->lock)
        apr_thread_rwlock_destroy(reg->lock), reg->lock = NULL;
}

void ep_registry_rdlock(ep_registry_t *reg)
{
    apr_thread_rwlock_rdlock(reg->lock);
}

void ep_registry_unlock(ep_registry_t *reg)
{
    apr_thread_rwlock_unlock(reg->lock);
}

apr_status_t ep_registry_method_add(ep_registry_t *reg, aorta_module_t *owner, const char *method, ep_method_fn fn,
                                    void *user, unsigned flags)
{
    apr_status_t st = APR_SUCCESS;
    if (!method || !*method || !fn)
        return APR_EINVAL;
    apr_thread_rwlock_wrlock(reg->lock);
    if (apr_hash_get(reg->methods, method, APR_HASH_KEY_STRING)) {
        st = AORTA_EEXIST;
    } else {
        ep_method_entry_t *e = apr_pcalloc(reg->pool, sizeof *e);
        e->method = apr_pstrdup(reg->pool, method);
        e->fn = fn;
        e->user = user;
        e->owner = owner;
        e->flags = flags;
        apr_hash_set(reg->methods, e->method, APR_HASH_KEY_STRING, e);
    }
    apr_thread_rwlock_unlock(reg->lock);
    return st;
}

apr_status_t ep_registry_identifier_add(ep_registry_t *reg, aorta_module_t *owner, const char *name, ep_identify_fn fn,
                                        void *user, unsigned flags)
{
    apr_status_t st = APR_SUCCESS;
    if (!name || !*name || !fn)
        return APR_EINVAL;
    apr_thread_rwlock_wrlock(reg->lock);
    for (int i = 0; i < reg->identifiers->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(reg->identifiers, i, ep_identifier_t *)->name, name))
            st = AORTA_EEXIST;
    if (st == APR_SUCCESS) {
        ep_identifier_t *id = apr_pcalloc(reg->pool, sizeof *id);
        id->name = apr_pstrdup(reg->pool, name);
        id->fn = fn;
        id->user = user;
        id->owner = owner;
        id->flags = flags;
        APR_ARRAY_PUSH(reg->identifiers, ep_identifier_t *) = id;
    }
    apr_thread_rwlock_unlock(reg->lock);
    return st;
}

apr_status_t ep_registry_challenger_set(ep_registry_t *reg, aorta_module_t *owner, ep_challenge_fn fn, void *user,
                                        unsigned flags)
{
    apr_status_t st = APR_SUCCESS;
    apr_thread_rwlock_wrlock(reg->lock);
    if (reg->challenger && fn && reg->challenger_owner != owner) {
        st = AORTA_EEXIST;
    } else {
        reg->challenger = fn;
        reg->challenger_user = user;
        reg->challenger_owner = fn ? owner : NULL;
        reg->challenger_flags = fn ? flags : 0;
    }
    apr_thread_rwlock_unlock(reg->lock);
    return st;
}

apr_status_t ep_registry_option_tag_add(ep_registry_t *reg, aorta_module_t *owner, const char *tag)
{
    if (!tag || !*tag)
        return APR_EINVAL;
    apr_thread_rwlock_wrlock(reg->lock);
    ep_tag_entry_t *t = apr_pcalloc(reg->pool, sizeof *t);
    t->tag = apr_pstrdup(reg->pool, tag);
    t->owner = owner;
    APR_ARRAY_PUSH(reg->tags, ep_tag_entry_t *) = t;
    apr_thread_rwlock_unlock(reg->lock);
    return APR_SUCCESS;
}

void ep_registry_unregister_owner(ep_registry_t *reg, aorta_module_t *owner)
{
    apr_thread_rwlock_wrlock(reg->lock);
    for (apr_hash_index_t *hi = apr_hash_first(NULL, reg->methods); hi;) {
        ep_method_entry_t *e = apr_hash_this_val(hi);
        hi = apr_hash_next(hi); /* removing the current entry is allowed while iterating */
        if (e->owner == owner)
            apr_hash_set(reg->methods, e->method, APR_HASH_KEY_STRING, NULL);
    }
    int j = 0;
    for (int i = 0; i < reg->identifiers->nelts; i++) {
        ep_identifier_t *id = APR_ARRAY_IDX(reg->identifiers, i, ep_identifier_t *);
        if (id->owner != owner)
            APR_ARRAY_IDX(reg->identifiers, j++, ep_identifier_t *) = id;
    }
    reg->identifiers->nelts = j;
    j = 0;
    for (int i = 0; i < reg->tags->nelts; i++) {
        ep_tag_entry_t *t = APR_ARRAY_IDX(reg->tags, i, ep_tag_entry_t *);
        if (t->owner != owner)
            APR_ARRAY_IDX(reg->tags, j++, ep_tag_entry_t *) = t;
    }
    reg->tags->nelts = j;
    if (reg->challenger_owner == owner) {
        reg->challenger = NULL;
        reg->challenger_user = NULL;
        reg->challenger_owner = NULL;
        reg->challenger_flags = 0;
    }
    apr_thread_rwlock_unlock(reg->lock);
}

int ep_registry_method_find(ep_registry_t *reg, const char *method, ep_method_fn *fn, void **user)
{
    ep_method_entry_t *e = apr_hash_get(reg->methods, method, APR_HASH_KEY_STRING);
    if (!e)
        return 0;
    *fn = e->fn;
    *user = e->user;
    return 1;
}

int ep_registry_challenger(ep_registry_t *reg, ep_challenge_fn *fn, void **user)
{
    if (!reg->challenger)
        return 0;
    *fn = reg->challenger;
    *user = reg->challenger_user;
    return 1;
}

int ep_registry_nonblocking(ep_registry_t *reg, const char *method)
{
    const ep_method_entry_t *e = apr_hash_get(reg->methods, method, APR_HASH_KEY_STRING);
    if (!e || !(e->flags & EP_SERVICE_NONBLOCKING))
        return 0;
    for (int i = 0; i < reg->identifiers->nelts; i++)
        if (!(APR_ARRAY_IDX(reg->identifiers, i, ep_identifier_t *)->flags & EP_SERVICE_NONBLOCKING))
            return 0;
    return !reg->challenger || (reg->challenger_flags & EP_SERVICE_NONBLOCKING);
}

int ep_identify_order(const char *const *order, int norder, const char *const *names, int nnames, int *out)
{
    int n = 0;
    for (int i = 0; i < norder; i++) {
        for (int k = 0; k < nnames; k++) {
            if (strcmp(order[i], names[k]))
                continue;
            int dup = 0;
            for (int x = 0; x < n; x++)
                dup |= out[x] == k;
            if (!dup)
                out[n++] = k;
            break;
        }
    }
    for (int k = 0; k < nnames; k++) {
        int listed = 0;
        for (int i = 0; i < norder && !listed; i++)
            listed = !strcmp(order[i], names[k]);
        if (!listed)
            out[n++] = k;
    }
    return n;
}

#define EP_MAX_IDENTIFIERS 32

int ep_registry_identifiers(ep_registry_t *reg, const apr_array_header_t *order, const ep_identifier_t **out, int max)
{
    const char *names[EP_MAX_IDENTIFIERS];
    int idx[EP_MAX_IDENTIFIERS];
    int nn = reg->identifiers->nelts < EP_MAX_IDENTIFIERS ? reg->identifiers->nelts : EP_MAX_IDENTIFIERS;
    for (int i = 0; i < nn; i++)
        names[i] = APR_ARRAY_IDX(reg->identifiers, i, ep_identifier_t *)->name;
    int n =
        ep_identify_order(order ? (const char *const *)order->elts : NULL, order ? order->nelts : 0, names, nn, idx);
    if (n > max)
        n = max;
    for (int i = 0; i < n; i++)
        out[i] = APR_ARRAY_IDX(reg->identifiers, idx[i], ep_identifier_t *);
    return n;
}

const char *ep_registry_allow(ep_registry_t *reg, apr_pool_t *pool)
{
    /* OPTIONS is always answered; the rest is whatever has a service right now */
    static const char *const known[] = {"INVITE",   "ACK",       "BYE",    "CANCEL",  "OPTIONS",
                                        "REGISTER", "SUBSCRIBE", "NOTIFY", "REFER",   "MESSAGE",
                                        "INFO",     "UPDATE",    "PRACK",  "PUBLISH", NULL};
    char *s = "";
    for (int i = 0; known[i]; i++) {
        if (strcmp(known[i], "OPTIONS") && !apr_hash_get(reg->methods, known[i], APR_HASH_KEY_STRING))
            continue;
        s = apr_pstrcat(pool, s, *s ? ", " : "", known[i], NULL);
    }
    for (apr_hash_index_t *hi = apr_hash_first(pool, reg->methods); hi; hi = apr_hash_next(hi)) {
        const ep_method_entry_t *e = apr_hash_this_val(hi);
        int is_known = 0;
        for (int i = 0; known[i] && !is_known; i++)
            is_known = !strcmp(known[i], e->method);
        if (!is_known)
            s = apr_pstrcat(pool, s, ", ", e->method, NULL);
    }
    return s;
}

const char *ep_registry_supported(ep_registry_t *reg, apr_pool_t *pool)
{
    char *s = "";
    for (int i = 0; i < reg->tags->nelts; i++) {
        const char *t = APR_ARRAY_IDX(reg->tags, i, ep_tag_entry_t *)->tag;
        if (strstr(s, t)) /* announced by two modules: once is enough */
            continue;
        s = apr_pstrcat(pool, s, *s ? ", " : "", t, NULL);
    }
    return s;
}
