/*
 * esl_acl.h — `apply-inbound-acl`: the CIDR list a peer must be in to get an auth/request.
 *
 * Entries are "addr/bits", "addr/netmask" or a bare address (IPv4 or IPv6), parsed with
 * APR's apr_ipsubnet_*. A peer is allowed if it matches any entry; an empty list allows
 * everyone (the listener binds 127.0.0.1 by default, which is the first line of defence).
 * IPv4-mapped IPv6 peers (::ffff:a.b.c.d) are matched as IPv4. Immutable once parsed.
 */
#ifndef ESL_ACL_H
#define ESL_ACL_H

#include <aorta/aorta.h>
#include <apr_tables.h>

typedef struct esl_acl esl_acl_t;

/**
 * Parse @p entries (const char *) into *acl (in @p pool). On a bad entry returns
 * AORTA_ESYNTAX with *bad set to it.
 */
apr_status_t esl_acl_parse(const apr_array_header_t *entries, apr_pool_t *pool, esl_acl_t **acl, const char **bad);

/** 1 if @p ip (numeric) may connect; @p scratch holds temporaries. */
int esl_acl_allows(const esl_acl_t *acl, const char *ip, apr_pool_t *scratch);

/** Number of entries. */
int esl_acl_count(const esl_acl_t *acl);

#endif
