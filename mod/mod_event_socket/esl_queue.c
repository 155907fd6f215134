/*
 * esl_queue.c — a connection's outgoing items in wire order (see esl_queue.h).
 *
 * Two rings: events and log lines (bounded, latching overflow) and replies (growing); a
 * reply is always taken before the other ring.
 */
#include "esl_queue.h"

#include <stdlib.h>
#include <string.h>

#define ESL_RING_INITIAL 64

typedef struct esl_ring {
    esl_item_t *slots;
    apr_size_t cap, head, len;
} esl_ring_t;

struct esl_queue {
    esl_ring_t items; /* events and log lines */
    esl_ring_t replies;
    apr_size_t max;
    apr_uint64_t begun;    /* commands begun */
    apr_uint64_t answered; /* replies pushed */
    int overflowed;
    apr_uint64_t lost;
};

static apr_status_t esl_queue_cleanup(void *data)
{
    esl_queue_t *q = data;
    free(q->items.slots);
    free(q->replies.slots);
    q->items.slots = q->replies.slots = NULL;
    return APR_SUCCESS;
}

esl_queue_t *esl_queue_create(apr_pool_t *pool, apr_size_t max)
{
    esl_queue_t *q = apr_pcalloc(pool, sizeof(*q));
    q->max = max ? max : 1;
    apr_pool_cleanup_register(pool, q, esl_queue_cleanup, apr_pool_cleanup_null);
    return q;
}

static esl_item_t *esl_ring_at(const esl_ring_t *r, apr_size_t i)
{
    return &r->slots[(r->head + i) % r->cap];
}

/* Room for one more; the ring never grows beyond @p max slots. */
static int esl_ring_reserve(esl_ring_t *r, apr_size_t max)
{
    apr_size_t ncap, i;
    esl_item_t *n;
    if (r->len < r->cap)
        return 1;
    ncap = r->cap ? r->cap * 2 : ESL_RING_INITIAL;
    if (ncap > max)
        ncap = max;
    if (ncap <= r->len)
        return 0;
    n = malloc(ncap * sizeof(*n));
    if (!n)
        return 0;
    for (i = 0; i < r->len; i++)
        n[i] = *esl_ring_at(r, i);
    free(r->slots);
    r->slots = n;
    r->cap = ncap;
    r->head = 0;
    return 1;
}

static void esl_ring_append(esl_ring_t *r, esl_item_kind_t kind, apr_uint64_t stamp, void *ptr)
{
    esl_item_t *it = &r->slots[(r->head + r->len) % r->cap];
    it->kind = kind;
    it->stamp = stamp;
    it->ptr = ptr;
    r->len++;
}

static void esl_ring_shift(esl_ring_t *r, esl_item_t *out)
{
    *out = r->slots[r->head];
    r->head = (r->head + 1) % r->cap;
    r->len--;
}

apr_uint64_t esl_queue_begin_command(esl_queue_t *q)
{
    return ++q->begun;
}

apr_status_t esl_queue_push(esl_queue_t *q, esl_item_kind_t kind, void *ptr)
{
    if (q->overflowed || q->items.len >= q->max || !esl_ring_reserve(&q->items, q->max)) {
        q->overflowed = 1;
        q->lost++;
        return AORTA_EFULL;
    }
    esl_ring_append(&q->items, kind, 0, ptr);
    return APR_SUCCESS;
}

apr_status_t esl_queue_reply(esl_queue_t *q, void *ptr)
{
    if (q->answered >= q->begun)
        return APR_EINVAL;
    if (!esl_ring_reserve(&q->replies, (apr_size_t)-1 / sizeof(esl_item_t)))
        return APR_ENOMEM;
    esl_ring_append(&q->replies, ESL_ITEM_REPLY, ++q->answered, ptr);
    return APR_SUCCESS;
}

apr_uint64_t esl_queue_unanswered(const esl_queue_t *q)
{
    return q->begun - q->answered;
}

/* Which ring the next item in wire order comes from, or NULL if none may go now. */
static esl_ring_t *esl_queue_next(const esl_queue_t *q)
{
    if (q->replies.len)
        return (esl_ring_t *)&q->replies;
    if (q->items.len && q->answered == q->begun)
        return (esl_ring_t *)&q->items;
    return NULL;
}

int esl_queue_ready(const esl_queue_t *q)
{
    return esl_queue_next(q) != NULL;
}

int esl_queue_take(esl_queue_t *q, esl_item_t *out)
{
    esl_ring_t *r = esl_queue_next(q);
    if (!r)
        return 0;
    esl_ring_shift(r, out);
    return 1;
}

int esl_queue_pop(esl_queue_t *q, esl_item_t *out)
{
    if (q->items.len) {
        esl_ring_shift(&q->items, out);
        return 1;
    }
    if (q->replies.len) {
        esl_ring_shift(&q->replies, out);
        return 1;
    }
    return 0;
}

void esl_queue_drop(esl_queue_t *q, esl_item_kind_t kind, void (*dispose)(esl_item_t *it))
{
    esl_ring_t *r = kind == ESL_ITEM_REPLY ? &q->replies : &q->items;
    apr_size_t i, kept = 0;

    /* compact in place: the kept items keep their order and stamps */
    for (i = 0; i < r->len; i++) {
        esl_item_t it = *esl_ring_at(r, i);
        if (it.kind == kind)
            dispose(&it);
        else
            *esl_ring_at(r, kept++) = it;
    }
    r->len = kept;
}

apr_size_t esl_queue_len(const esl_queue_t *q)
{
    return q->items.len;
}

int esl_queue_overflowed(const esl_queue_t *q)
{
    return q->overflowed;
}

apr_uint64_t esl_queue_lost(const esl_queue_t *q)
{
    return q->lost;
}
