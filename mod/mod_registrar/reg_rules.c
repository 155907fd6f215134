/*
 * reg_rules.c — expiry arithmetic and binding matching (RFC 3261 §10.3 steps 6–7,
 * RFC 5626 instance/reg-id).
 */
#include "reg_rules.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

void reg_limits_merge(reg_limits_t *out, const reg_limits_t *p, const loc_aor_conf_t *a)
{
    *out = *p;
    if (a && a->min_expires)
        out->min_expires = a->min_expires;
    if (a && a->max_expires)
        out->max_expires = a->max_expires;
    if (a && a->default_expires)
        out->default_expires = a->default_expires;
    if (out->default_expires > out->max_expires)
        out->default_expires = out->max_expires;
}

static int parse_delta(const char *s, long *out)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    unsigned long long v = strtoull(s, NULL, 10);
    *out = v > 4294967295ULL ? 4294967295L : (long)v;
    return 1;
}

reg_outcome_t reg_expiry_compute(const char *param, long header, const reg_limits_t *lim, long *granted)
{
    long e;
    if (!parse_delta(param, &e))
        e = header >= 0 ? header : lim->default_expires;
    if (e != 0 && e < lim->min_expires) {
        *granted = e;
        return REG_TOO_BRIEF;
    }
    if (lim->max_expires > 0 && e > lim->max_expires)
        e = lim->max_expires;
    *granted = e;
    return REG_OK;
}

int reg_q_parse(const char *q)
{
    if (!q || !*q)
        return -1;
    char *end;
    double v = strtod(q, &end);
    if (*end || v < 0 || v > 1)
        return -1;
    return (int)(v * 1000 + 0.5);
}

const loc_contact_t *reg_binding_match(const loc_contact_t *const *cur, int n, const char *uri, const char *instance,
                                       const char *reg_id)
{
    if (instance) {
        for (int i = 0; i < n; i++) {
            if (!cur[i]->instance || strcmp(cur[i]->instance, instance))
                continue;
            if (reg_id && cur[i]->reg_id && strcmp(reg_id, cur[i]->reg_id))
                continue;
            return cur[i];
        }
    }
    for (int i = 0; i < n; i++)
        if (!strcasecmp(cur[i]->uri, uri))
            return cur[i];
    return NULL;
}

void reg_sort_by_expiry(const loc_contact_t **v, int n)
{
    for (int i = 1; i < n; i++) {
        const loc_contact_t *x = v[i];
        int j = i - 1;
        while (j >= 0 && v[j]->expires > x->expires) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
}
