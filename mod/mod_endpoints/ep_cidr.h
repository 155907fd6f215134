/*
 * ep_cidr.h — pure CIDR matching for the `ip` identifier: a table of (network, prefix length,
 * value) entries and a lookup that returns the value of the most specific entry containing an
 * address. No sockets, no sofia-sip, no locks: a table is built once per configuration
 * generation (in its pool) and is read-only afterwards, so any number of threads may match.
 *
 * IPv4 and IPv6 are both accepted; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches IPv4
 * entries. A bare address is a /32 (or /128). Ties between equally specific entries go to the
 * one added first.
 */
#ifndef EP_CIDR_H
#define EP_CIDR_H

#include <apr.h>
#include <apr_pools.h>
#include <apr_tables.h>

typedef struct ep_cidr_table ep_cidr_table_t;

/** A parsed network: family 4 or 6, address bytes (network order), prefix length. */
typedef struct ep_cidr {
    int family;             /**< 4 or 6 */
    unsigned char addr[16]; /**< the first 4 bytes for IPv4; host bits cleared */
    int bits;               /**< 0..32 or 0..128 */
} ep_cidr_t;

/**
 * Parse "a.b.c.d", "a.b.c.d/n", "v6", "v6/n" (surrounding blanks ignored) into @p out.
 * Returns APR_SUCCESS, or APR_EINVAL with a short reason in *why (static string).
 */
apr_status_t ep_cidr_parse(const char *text, ep_cidr_t *out, const char **why);

/** Parse a numeric address (no prefix) into @p out as a full-length network. */
apr_status_t ep_cidr_parse_addr(const char *text, ep_cidr_t *out);

/** 1 if @p addr (a full-length network from ep_cidr_parse_addr) lies in @p net. */
int ep_cidr_contains(const ep_cidr_t *net, const ep_cidr_t *addr);

/** An empty table allocated in @p pool. */
ep_cidr_table_t *ep_cidr_table_create(apr_pool_t *pool);
/** Add @p net with @p value (not copied). */
void ep_cidr_table_add(ep_cidr_table_t *t, const ep_cidr_t *net, const void *value);
/** Number of entries. */
int ep_cidr_table_count(const ep_cidr_table_t *t);
/**
 * The value of the most specific entry containing the numeric address @p ip, or NULL.
 * *bits (optional) receives its prefix length.
 */
const void *ep_cidr_table_match(const ep_cidr_table_t *t, const char *ip, int *bits);
/** Same, with an already parsed address. */
const void *ep_cidr_table_match_addr(const ep_cidr_table_t *t, const ep_cidr_t *addr, int *bits);

/** Format @p net as "addr/bits" into @p buf (at least 64 bytes). */
const char *ep_cidr_format(const ep_cidr_t *net, char *buf, apr_size_t len);

#endif
