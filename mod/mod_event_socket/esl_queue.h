/*
 * esl_queue.h — one connection's outgoing items (events, log lines, command replies) and the
 * order they go on the wire in.
 *
 * Order (what the connection thread used to guarantee by writing replies itself): every
 * command is announced when its handling starts (esl_queue_begin_command) and answered by
 * exactly one reply. While a command is unanswered nothing is taken: whatever it causes
 * (bgapi → BACKGROUND_JOB, api → API, log lines) waits. Its reply then goes out ahead of
 * every event and log line still queued, which follow in the order they came. A batch the
 * writer has already taken is not affected: a reply never splits a frame.
 *
 * Policy: events and log lines are bounded (@p max): a push beyond the bound does not wait
 * and does not drop silently: the queue *latches* overflowed, refuses every later push, and
 * counts what it refused. The connection sees the latch and disconnects the subscriber
 * ("killed listener because of lost events"); other subscribers are untouched. Replies are
 * not bounded here: the connection thread waits for each reply to be written before it
 * reads the next command. Storage grows on demand (starting small), so an idle connection
 * costs little. Not thread-safe: the connection locks around it. The queue owns its slot
 * arrays (malloc, freed with the pool), never the items.
 */
#ifndef ESL_QUEUE_H
#define ESL_QUEUE_H

#include <aorta/aorta.h>

typedef enum esl_item_kind { ESL_ITEM_EVENT, ESL_ITEM_LOG, ESL_ITEM_REPLY } esl_item_kind_t;

typedef struct esl_item {
    esl_item_kind_t kind;
    apr_uint64_t stamp; /**< replies: the number of the command they answer; 0 otherwise */
    void *ptr;
} esl_item_t;

typedef struct esl_queue esl_queue_t;

/** A queue holding at most @p max events and log lines (max >= 1); its slots are freed with @p pool. */
esl_queue_t *esl_queue_create(apr_pool_t *pool, apr_size_t max);

/** A command's handling starts; returns its number (1, 2, ...). */
apr_uint64_t esl_queue_begin_command(esl_queue_t *q);

/**
 * Append an event or log line; APR_SUCCESS, or AORTA_EFULL when the bound is reached or the
 * queue already overflowed (the caller still owns @p ptr then).
 */
apr_status_t esl_queue_push(esl_queue_t *q, esl_item_kind_t kind, void *ptr);

/**
 * Append the reply of the oldest begun command not yet answered. APR_SUCCESS; APR_ENOMEM;
 * APR_EINVAL when every begun command already has its reply (the caller still owns @p ptr).
 */
apr_status_t esl_queue_reply(esl_queue_t *q, void *ptr);

/** Commands begun and not yet answered (esl_queue_reply). */
apr_uint64_t esl_queue_unanswered(const esl_queue_t *q);

/** 1 if esl_queue_take() would hand out an item now. */
int esl_queue_ready(const esl_queue_t *q);

/** Take the next item in wire order; 0 when empty or while a command waits for its reply. */
int esl_queue_take(esl_queue_t *q, esl_item_t *out);

/** Take any item, oldest event/log line first, then replies (for disposal); 0 when empty. */
int esl_queue_pop(esl_queue_t *q, esl_item_t *out);

/** Remove every queued item of @p kind (noevents, nolog), calling @p dispose on each. */
void esl_queue_drop(esl_queue_t *q, esl_item_kind_t kind, void (*dispose)(esl_item_t *it));

/** Events and log lines queued. */
apr_size_t esl_queue_len(const esl_queue_t *q);
/** 1 once a push was refused; stays 1. */
int esl_queue_overflowed(const esl_queue_t *q);
/** How many pushes were refused. */
apr_uint64_t esl_queue_lost(const esl_queue_t *q);

#endif
