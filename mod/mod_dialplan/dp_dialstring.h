/*
 * dp_dialstring.h — the FreeSWITCH bridge dial-string grammar (SPEC §8, ESL.md), parsed into
 * a tree that `bridge`, `resolve` and the outgoing requests share; hangup causes and their
 * SIP statuses.
 *
 *   dialstring := ('<' varlist '>')* branch (':_:' branch)*    ; enterprise: independent forks
 *   branch     := ('{' varlist '}')* group ('|' group)*         ; '|' sequential failover
 *   group      := leg (',' leg)*                                ; ',' ring together
 *   leg        := ('[' varlist ']')* endpoint-string
 *   varlist    := ['^^' SEP] name '=' value (SEP name '=' value)*   ; SEP ',' unless '^^X' sets X
 *   endpoint-string := 'sip/' endpoint ['/' (aor | sip-uri)] | 'error/' cause
 *
 * In a varlist a backslash makes the next character literal (`\,` is a comma inside a value,
 * `\]` a bracket); a bracket of the same kind nests. Whitespace around legs and separators is
 * ignored. Variable scopes: `<>` every branch, `{}` every leg of its branch, `[]` one leg;
 * the inner scope wins. Every leg carries its merged variables, so a leg alone says how to
 * reach its destination (e.g. sip_route, sip_network_destination from `dial_contacts`).
 *
 * Memory: everything is allocated in the pool given to the parser; the tree is immutable.
 * Errors: AORTA_ESYNTAX with a message "offset N: <what>" (N counts bytes from 0).
 *
 * Other modules reach the parser through the interface `dialstring` (dp_dialstring_api_t),
 * published by mod_dialplan; they include this header for the types only.
 */
#ifndef DP_DIALSTRING_H
#define DP_DIALSTRING_H

#include <apr_pools.h>
#include <apr_tables.h>

#define DP_DIALSTRING_API_NAME "dialstring"
#define DP_DIALSTRING_API_VERSION 1

/** One variable (name=value), both unescaped. */
typedef struct dp_var {
    const char *name;
    const char *value;
} dp_var_t;

typedef enum dp_leg_kind {
    DP_LEG_SIP,  /**< sip/<endpoint>[/<aor>|/<uri>] */
    DP_LEG_ERROR /**< error/<cause>: fails at once with that cause */
} dp_leg_kind_t;

/** One destination. */
typedef struct dp_leg {
    dp_leg_kind_t kind;
    const char *target;       /**< the endpoint string as written, trimmed ("sip/5000/sip:a@b") */
    apr_array_header_t *vars; /**< dp_var_t: merged <> {} [] variables, outer first, a name once (inner wins) */
    const char *endpoint;     /**< SIP: the endpoint name */
    const char *aor;          /**< SIP: the AOR when the leg names one, else NULL */
    const char *uri;          /**< SIP: the explicit sip:/sips: URI, else NULL */
    const char *cause;        /**< ERROR: canonical cause name ("USER_NOT_REGISTERED") */
    apr_size_t offset;        /**< where the leg starts in the parsed string */
} dp_leg_t;

/** Legs rung at the same time (',' separated). */
typedef struct dp_group {
    apr_array_header_t *legs; /**< dp_leg_t * */
} dp_group_t;

/** Groups tried one after another ('|' separated). */
typedef struct dp_branch {
    apr_array_header_t *vars;   /**< dp_var_t: its <> and {} variables merged */
    apr_array_header_t *groups; /**< dp_group_t * */
} dp_branch_t;

/** A parsed dial string: enterprise branches (':_:' separated), usually one. */
typedef struct dp_dialstring {
    apr_array_header_t *vars;     /**< dp_var_t: the <> variables */
    apr_array_header_t *branches; /**< dp_branch_t * */
    apr_array_header_t *legs;     /**< dp_leg_t *: every leg of every branch and group, in order */
    int nlegs;                    /**< legs in total */
    int nerror;                   /**< of which error/ legs */
} dp_dialstring_t;

/**
 * Parse @p s into *out (allocated in @p pool). On failure returns AORTA_ESYNTAX, *out is NULL
 * and *err (in @p pool) says "offset N: what is wrong". Never reads past the terminating NUL.
 */
apr_status_t dp_dialstring_parse(const char *s, apr_pool_t *pool, dp_dialstring_t **out, const char **err);

/** The value of @p name in @p vars (dp_var_t array), or NULL. */
const char *dp_vars_get(const apr_array_header_t *vars, const char *name);

/** Write @p ds as indented text (one line per branch, group, leg and variable) into a new string. */
const char *dp_dialstring_describe(const dp_dialstring_t *ds, apr_pool_t *pool);

/* ---- hangup causes (FreeSWITCH names and Q.850 numbers) --------------------------------- */

/**
 * Canonical upper-case cause name for a name (any case) or Q.850 number; NULL if unknown.
 * Also sets *q850 when @p q850 is not NULL.
 */
const char *dp_cause_lookup(const char *name_or_number, int *q850);
/** The SIP status for a canonical cause name (FreeSWITCH's hangup_cause_to_sip; default 480). */
int dp_cause_to_sip(const char *cause);
/** The standard reason phrase for a SIP status ("Temporarily Unavailable"), or "Unknown". */
const char *dp_sip_phrase(int status);
/**
 * The best final response among @p n statuses per RFC 3261 §16.7 step 6: any 6xx; else the
 * lowest class, preferring within 4xx 401, 407, 415, 420, 484 (they can be fixed by a retry);
 * 503 is turned into 500 by the caller if it forwards it. Returns 0 when n == 0.
 */
int dp_best_status(const int *statuses, int n);

/** The `dialstring` interface, for modules that accept dial strings (resolve, sip_notify...). */
typedef struct dp_dialstring_api {
    int version; /**< DP_DIALSTRING_API_VERSION */
    apr_status_t (*parse)(const char *s, apr_pool_t *pool, dp_dialstring_t **out, const char **err);
    const char *(*vars_get)(const apr_array_header_t *vars, const char *name);
    const char *(*cause_lookup)(const char *name_or_number, int *q850);
    int (*cause_to_sip)(const char *cause);
} dp_dialstring_api_t;

#endif
