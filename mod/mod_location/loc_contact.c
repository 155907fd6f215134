/*
 * loc_contact.c — contact objects and the one contact order.
 *
 * A contact is one block (loc_mem_alloc): the struct followed by copies of its strings, so a
 * binding costs one allocation and no pool. Contacts are immutable and reference-counted
 * (atomic), so readers and the writer thread can hold one while the AOR changes.
 *
 * The order (SPEC §8), used by the 200 OK, show contacts, resolve and dial_contacts:
 * reachable before unreachable, registered before static, higher q first (no q = 1.0),
 * then the most recently registered, then by URI so that the order is total.
 */
#include "loc_internal.h"
#include <apr_atomic.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

#define LOC_NSTR 12

static const char **contact_str(loc_contact_t *c, int i)
{
    const char **f[LOC_NSTR] = {&c->aor,      &c->uri,      &c->params,  &c->path,
                                &c->user_agent, &c->call_id, &c->instance, &c->reg_id,
                                &c->endpoint, &c->profile,  &c->src_ip,  &c->transport};
    return f[i];
}

loc_contact_t *loc_contact_new(const loc_contact_t *tmpl)
{
    loc_contact_t tmp = *tmpl;
    apr_size_t len[LOC_NSTR], total = sizeof(loc_contact_t);
    for (int i = 0; i < LOC_NSTR; i++) {
        const char *s = *contact_str(&tmp, i);
        len[i] = (s && *s) ? strlen(s) + 1 : 0;
        total += len[i];
    }
    loc_contact_t *c = loc_mem_alloc(total);
    *c = tmp;
    char *p = (char *)(c + 1);
    for (int i = 0; i < LOC_NSTR; i++) {
        const char **dst = contact_str(c, i);
        if (len[i]) {
            memcpy(p, *contact_str(&tmp, i), len[i]);
            *dst = p;
            p += len[i];
        } else {
            *dst = NULL;
        }
    }
    c->refs = 1;
    return c;
}

const loc_contact_t *loc_contact_ref(const loc_contact_t *c)
{
    if (c)
        apr_atomic_inc32((volatile apr_uint32_t *)&c->refs);
    return c;
}

void loc_contact_unref(const loc_contact_t *c)
{
    if (c && !apr_atomic_dec32((volatile apr_uint32_t *)&c->refs))
        loc_mem_free((void *)c);
}

loc_contact_t *loc_contact_static(const char *aor, const char *profile, const char *uri)
{
    loc_contact_t t;
    memset(&t, 0, sizeof t);
    t.aor = aor;
    t.profile = profile;
    t.uri = uri;
    t.q = -1;
    t.is_static = 1;
    return loc_contact_new(&t);
}

int loc_contact_cmp(const loc_contact_t *a, const loc_contact_t *b)
{
    int ua = a->qualify == LOC_QUALIFY_UNREACHABLE, ub = b->qualify == LOC_QUALIFY_UNREACHABLE;
    if (ua != ub)
        return ua - ub;
    if (a->is_static != b->is_static)
        return a->is_static - b->is_static;
    int qa = a->q < 0 ? 1000 : a->q, qb = b->q < 0 ? 1000 : b->q;
    if (qa != qb)
        return qb - qa;
    if (a->registered != b->registered)
        return a->registered > b->registered ? -1 : 1;
    return strcmp(a->uri ? a->uri : "", b->uri ? b->uri : "");
}

void loc_contact_sort(const loc_contact_t **v, int n)
{
    for (int i = 1; i < n; i++) {
        const loc_contact_t *x = v[i];
        int j = i - 1;
        while (j >= 0 && loc_contact_cmp(v[j], x) > 0) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
}
