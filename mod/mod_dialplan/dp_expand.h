/*
 * dp_expand.h — variable expansion in dialplan fields and action data (FreeSWITCH syntax).
 *
 *   ${name}             the call variable (empty when unset); the name may itself hold ${...}
 *   ${api(args)}        runs API command `api args` (args expanded first) and substitutes its
 *                       output without trailing whitespace; -ERR output is substituted as is
 *   \$                  a literal '$' (not expanded); any other backslash is kept, so `\,`
 *                       in a dial string survives
 *   $0 .. $9            capture groups: substituted by dp_expand_captures() when the
 *                       condition matched (at hunt time), not by dp_expand()
 *
 * Memory: results are allocated in the pool passed in. Expansion is bounded (nesting depth
 * DP_EXPAND_MAX_DEPTH): API output is never re-expanded, so it cannot loop.
 */
#ifndef DP_EXPAND_H
#define DP_EXPAND_H

#include <apr_pools.h>
#include <apr_tables.h>

#define DP_EXPAND_MAX_DEPTH 16

/**
 * Expand @p in with the variables in @p vars into *out. AORTA_ESYNTAX (with *err "offset N:
 * ...") for an unterminated ${ or a nesting deeper than DP_EXPAND_MAX_DEPTH.
 */
apr_status_t dp_expand(const char *in, const apr_table_t *vars, apr_pool_t *pool, const char **out, const char **err);

/** Syntax check only (no variable lookups, no API calls): what dp_expand would reject. */
apr_status_t dp_expand_check(const char *in, apr_pool_t *pool, const char **err);

/** Replace $0..$9 by @p caps[i] (NULL or i >= @p ncaps: empty). `\$` is kept for dp_expand. */
const char *dp_expand_captures(const char *in, const char *const *caps, int ncaps, apr_pool_t *pool);

#endif
