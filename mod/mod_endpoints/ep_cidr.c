/*
 * ep_cidr.c — CIDR parsing and most-specific-match lookup (see ep_cidr.h).
 *
 * The table keeps its entries sorted by prefix length, longest first (stable for equal
 * lengths), so the first containing entry is the most specific one. Tables are small
 * (an <identify> section), and a linear scan over a sorted array of 20-byte records beats
 * any tree at that size; it also keeps the matcher free of allocations.
 */
#include "ep_cidr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ep_cidr_table {
    apr_array_header_t *entries; /* ep_cidr_entry_t, longest prefix first */
};

typedef struct ep_cidr_entry {
    ep_cidr_t net;
    const void *value;
} ep_cidr_entry_t;

static void cidr_mask(ep_cidr_t *c)
{
    int len = c->family == 4 ? 4 : 16;
    for (int i = 0; i < len; i++) {
        int keep = c->bits - i * 8;
        unsigned char m = keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
        c->addr[i] &= m;
    }
    for (int i = len; i < 16; i++)
        c->addr[i] = 0;
}

/* Turn an IPv4-mapped IPv6 address into plain IPv4 so it meets IPv4 entries. */
static void cidr_unmap(ep_cidr_t *c)
{
    static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (c->family == 6 && c->bits >= 96 && memcmp(c->addr, prefix, 12) == 0) {
        memmove(c->addr, c->addr + 12, 4);
        memset(c->addr + 4, 0, 12);
        c->family = 4;
        c->bits -= 96;
    }
}

apr_status_t ep_cidr_parse(const char *text, ep_cidr_t *out, const char **why)
{
    char buf[80];
    const char *s = text, *e;
    const char *dummy;
    if (!why)
        why = &dummy;
    while (*s && isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    if (e == s) {
        *why = "empty address";
        return APR_EINVAL;
    }
    if ((apr_size_t)(e - s) >= sizeof buf) {
        *why = "address too long";
        return APR_EINVAL;
    }
    memcpy(buf, s, (apr_size_t)(e - s));
    buf[e - s] = '\0';

    char *slash = strchr(buf, '/');
    int bits = -1;
    if (slash) {
        char *end;
        *slash = '\0';
        if (!isdigit((unsigned char)slash[1])) {
            *why = "prefix length is not a number";
            return APR_EINVAL;
        }
        long n = strtol(slash + 1, &end, 10);
        if (*end || n < 0 || n > 128) {
            *why = "prefix length out of range";
            return APR_EINVAL;
        }
        bits = (int)n;
    }
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = 4;
        if (bits > 32) {
            *why = "IPv4 prefix length above 32";
            return APR_EINVAL;
        }
        out->bits = bits < 0 ? 32 : bits;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = 6;
        out->bits = bits < 0 ? 128 : bits;
    } else {
        *why = "not a numeric IPv4/IPv6 address (host names are not resolved)";
        return APR_EINVAL;
    }
    cidr_unmap(out);
    cidr_mask(out);
    return APR_SUCCESS;
}

apr_status_t ep_cidr_parse_addr(const char *text, ep_cidr_t *out)
{
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, text, out->addr) == 1) {
        out->family = 4;
        out->bits = 32;
        return APR_SUCCESS;
    }
    if (inet_pton(AF_INET6, text, out->addr) == 1) {
        out->family = 6;
        out->bits = 128;
        cidr_unmap(out);
        return APR_SUCCESS;
    }
    return APR_EINVAL;
}

int ep_cidr_contains(const ep_cidr_t *net, const ep_cidr_t *addr)
{
    if (net->family != addr->family)
        return 0;
    int full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(net->addr, addr->addr, (apr_size_t)full) != 0)
        return 0;
    if (rest) {
        unsigned char m = (unsigned char)(0xff << (8 - rest));
        if ((addr->addr[full] & m) != net->addr[full])
            return 0;
    }
    return 1;
}

ep_cidr_table_t *ep_cidr_table_create(apr_pool_t *pool)
{
    ep_cidr_table_t *t = apr_pcalloc(pool, sizeof *t);
    t->entries = apr_array_make(pool, 8, sizeof(ep_cidr_entry_t));
    return t;
}

void ep_cidr_table_add(ep_cidr_table_t *t, const ep_cidr_t *net, const void *value)
{
    ep_cidr_entry_t *e = apr_array_push(t->entries);
    ep_cidr_entry_t *base = (ep_cidr_entry_t *)t->entries->elts;
    int i = t->entries->nelts - 1;
    /* insertion sort: keep longest prefixes first, earlier entries first among equals */
    while (i > 0 && base[i - 1].net.bits < net->bits) {
        base[i] = base[i - 1];
        i--;
    }
    (void)e;
    base[i].net = *net;
    base[i].value = value;
}

int ep_cidr_table_count(const ep_cidr_table_t *t)
{
    return t ? t->entries->nelts : 0;
}

const void *ep_cidr_table_match_addr(const ep_cidr_table_t *t, const ep_cidr_t *addr, int *bits)
{
    if (!t)
        return NULL;
    const ep_cidr_entry_t *e = (const ep_cidr_entry_t *)t->entries->elts;
    for (int i = 0; i < t->entries->nelts; i++) {
        if (ep_cidr_contains(&e[i].net, addr)) {
            if (bits)
                *bits = e[i].net.bits;
            return e[i].value;
        }
    }
    return NULL;
}

const void *ep_cidr_table_match(const ep_cidr_table_t *t, const char *ip, int *bits)
{
    ep_cidr_t a;
    if (!ip || ep_cidr_parse_addr(ip, &a) != APR_SUCCESS)
        return NULL;
    return ep_cidr_table_match_addr(t, &a, bits);
}

const char *ep_cidr_format(const ep_cidr_t *net, char *buf, apr_size_t len)
{
    char a[64];
    inet_ntop(net->family == 4 ? AF_INET : AF_INET6, net->addr, a, sizeof a);
    snprintf(buf, len, "%s/%d", a, net->bits);
    return buf;
}
