/*
 * reg_rules.h — the registrar's pure rules: expiry arithmetic and binding matching.
 * No sofia, no threads: unit-tested alone.
 */
#ifndef REG_RULES_H
#define REG_RULES_H

#include "mod_location/loc_api.h"
#include "reg_outcome.h"

typedef struct reg_limits {
    int min_expires, max_expires, default_expires;
} reg_limits_t;

/** Profile limits overridden by the AOR's non-zero ones. */
void reg_limits_merge(reg_limits_t *out, const reg_limits_t *profile, const loc_aor_conf_t *aor);

/**
 * The expiry of one contact: its `expires` param (@p param, NULL if absent), else the
 * Expires header (@p header, -1 if absent), else default-expires; capped at max-expires.
 * A value below min-expires (and not 0) → REG_TOO_BRIEF. A param that is not a number is
 * ignored (RFC 3261 §10.3 treats it as absent).
 */
reg_outcome_t reg_expiry_compute(const char *param, long header, const reg_limits_t *lim, long *granted);

/** q param ("0.5") → q × 1000, -1 when absent or malformed. */
int reg_q_parse(const char *q);

/**
 * The existing binding a new contact updates: the one with the same +sip.instance (and the
 * same reg-id when both have one), else the one with the same URI (case-insensitive), or NULL.
 */
const loc_contact_t *reg_binding_match(const loc_contact_t *const *cur, int n, const char *uri, const char *instance,
                                       const char *reg_id);

/** Eviction order for remove-existing: soonest-expiring first. */
void reg_sort_by_expiry(const loc_contact_t **v, int n);

#endif
