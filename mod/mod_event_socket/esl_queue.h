/*
 * esl_queue.h — the bounded per-connection queue between the core's dispatch thread (and any
 * thread that logs) and the connection's own writer thread, with its overflow policy.
 *
 * Policy: a push beyond the bound does not wait and does not drop silently: the queue
 * *latches* overflowed, refuses every later push, and counts what it refused. The connection
 * sees the latch and disconnects the subscriber ("killed listener because of lost events");
 * other subscribers are untouched. Storage grows on demand (starting small) up to the bound,
 * so an idle connection costs little. Not thread-safe: the connection locks around it.
 * The queue owns its slot array (malloc, freed with the pool), never the items.
 */
#ifndef ESL_QUEUE_H
#define ESL_QUEUE_H

#include <aorta/aorta.h>

typedef enum esl_item_kind { ESL_ITEM_EVENT, ESL_ITEM_LOG } esl_item_kind_t;

typedef struct esl_item {
    esl_item_kind_t kind;
    void *ptr;
} esl_item_t;

typedef struct esl_queue esl_queue_t;

/** A queue holding at most @p max items (max >= 1); its slots are freed with @p pool. */
esl_queue_t *esl_queue_create(apr_pool_t *pool, apr_size_t max);

/**
 * Append; APR_SUCCESS, or AORTA_EFULL when the bound is reached or the queue already
 * overflowed (the caller still owns @p ptr then). *was_empty (may be NULL) tells whether the
 * consumer needs a wake-up.
 */
apr_status_t esl_queue_push(esl_queue_t *q, esl_item_kind_t kind, void *ptr, int *was_empty);

/** Take the oldest item; 0 when empty. */
int esl_queue_pop(esl_queue_t *q, esl_item_t *out);

apr_size_t esl_queue_len(const esl_queue_t *q);
/** 1 once a push was refused; stays 1. */
int esl_queue_overflowed(const esl_queue_t *q);
/** How many pushes were refused. */
apr_uint64_t esl_queue_lost(const esl_queue_t *q);

#endif
