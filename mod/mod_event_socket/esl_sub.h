/*
 * esl_sub.h — one connection's event subscription and the `event` / `nixevent` token rules
 * of ESL.md §5 (FreeSWITCH's parse_command), kept pure so they can be unit-tested.
 *
 * Invariants: subscriptions accumulate until nixevent/noevents; after CUSTOM every token is a
 * subclass (exact, case-sensitive); unknown names are ignored; only recognised event names
 * count as keywords. Not thread-safe: the connection locks around it.
 */
#ifndef ESL_SUB_H
#define ESL_SUB_H

#include <aorta/aorta.h>
#include <apr_hash.h>

typedef struct esl_sub {
    unsigned char ids[AORTA_EVENT_COUNT]; /**< 1 for each subscribed event id (ALL included) */
    apr_hash_t *subclasses;               /**< CUSTOM subclass names → non-NULL */
    apr_pool_t *pool;                     /**< owns the hash and its keys; recreated by clear */
    int active;                           /**< FreeSWITCH's LFLAG_EVENTS: events are delivered */
} esl_sub_t;

/** A new, empty subscription whose memory is a sub-pool of @p pool. */
esl_sub_t *esl_sub_create(apr_pool_t *pool);

/**
 * Apply the arguments of `event` (everything after the word "event"). A first token plain,
 * json or xml sets *format (even when no keyword follows). Returns the number of recognised
 * event names; when > 0 the subscription becomes active.
 */
int esl_sub_event(esl_sub_t *sub, const char *args, aorta_event_format_t *format);

/** Apply `nixevent` arguments; returns the keyword count (> 0 also activates, as FreeSWITCH). */
int esl_sub_nix(esl_sub_t *sub, const char *args);

/** `noevents`: forget everything; returns 1 if the subscription was active. */
int esl_sub_clear(esl_sub_t *sub);

/** 1 if an event @p id (with @p subclass for CUSTOM, or NULL) is subscribed. */
int esl_sub_match(const esl_sub_t *sub, aorta_event_id_t id, const char *subclass);

#endif
