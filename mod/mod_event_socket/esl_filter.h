/*
 * esl_filter.h — the `filter` list of one connection (ESL.md §6).
 *
 * Once any filter exists an event passes only when at least one positive filter matches and
 * no negative filter matches. A value may start with '+' (positive, the default) or '-'
 * (negative); after that, "/re/" (flags: i) is a pcre2 regular expression, anything else a
 * case-insensitive equality. An event without the header never matches that filter.
 * Memory: each filter is malloc()ed with its compiled regex and freed on delete or with the
 * pool given to esl_filters_create(). Not thread-safe: the connection locks around it.
 */
#ifndef ESL_FILTER_H
#define ESL_FILTER_H

#include <aorta/aorta.h>

typedef struct esl_filters esl_filters_t;

/** Returns the value of header @p name of the thing being filtered, or NULL. */
typedef const char *(*esl_header_get_fn)(void *ctx, const char *name);

esl_filters_t *esl_filters_create(apr_pool_t *pool);

/**
 * Add filter @p name = @p value. AORTA_ESYNTAX if the regular expression does not compile;
 * then *err (static or in @p pool) says why.
 */
apr_status_t esl_filters_add(esl_filters_t *f, const char *name, const char *value, const char **err,
                             apr_pool_t *pool);

/** Remove filters on @p name (case-insensitive) whose raw value equals @p value (NULL: all of
 * them). Returns how many were removed. */
int esl_filters_delete(esl_filters_t *f, const char *name, const char *value);

void esl_filters_clear(esl_filters_t *f);
int esl_filters_count(const esl_filters_t *f);

/** 1 if the thing whose headers @p get returns passes the filters (always 1 without filters). */
int esl_filters_match(esl_filters_t *f, esl_header_get_fn get, void *ctx);

#endif
