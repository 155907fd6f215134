/*
 * esl_queue.c — bounded ring buffer with a latching overflow (see esl_queue.h).
 */
#include "esl_queue.h"

#include <stdlib.h>
#include <string.h>

#define ESL_QUEUE_INITIAL 64

struct esl_queue {
    esl_item_t *slots;
    apr_size_t cap, head, len, max;
    int overflowed;
    apr_uint64_t lost;
};

static apr_status_t esl_queue_cleanup(void *data)
{
    esl_queue_t *q = data;
    free(q->slots);
    q->slots = NULL;
    return APR_SUCCESS;
}

esl_queue_t *esl_queue_create(apr_pool_t *pool, apr_size_t max)
{
    esl_queue_t *q = apr_pcalloc(pool, sizeof(*q));
    q->max = max ? max : 1;
    apr_pool_cleanup_register(pool, q, esl_queue_cleanup, apr_pool_cleanup_null);
    return q;
}

static int esl_queue_grow(esl_queue_t *q)
{
    apr_size_t ncap = q->cap ? q->cap * 2 : ESL_QUEUE_INITIAL, i;
    esl_item_t *n;
    if (ncap > q->max)
        ncap = q->max;
    n = malloc(ncap * sizeof(*n));
    if (!n)
        return 0;
    for (i = 0; i < q->len; i++)
        n[i] = q->slots[(q->head + i) % q->cap];
    free(q->slots);
    q->slots = n;
    q->cap = ncap;
    q->head = 0;
    return 1;
}

apr_status_t esl_queue_push(esl_queue_t *q, esl_item_kind_t kind, void *ptr, int *was_empty)
{
    if (was_empty)
        *was_empty = 0;
    if (q->overflowed || q->len >= q->max || (q->len == q->cap && !esl_queue_grow(q))) {
        q->overflowed = 1;
        q->lost++;
        return AORTA_EFULL;
    }
    q->slots[(q->head + q->len) % q->cap].kind = kind;
    q->slots[(q->head + q->len) % q->cap].ptr = ptr;
    q->len++;
    if (was_empty)
        *was_empty = q->len == 1;
    return APR_SUCCESS;
}

int esl_queue_pop(esl_queue_t *q, esl_item_t *out)
{
    if (q->len == 0)
        return 0;
    *out = q->slots[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return 1;
}

apr_size_t esl_queue_len(const esl_queue_t *q)
{
    return q->len;
}

int esl_queue_overflowed(const esl_queue_t *q)
{
    return q->overflowed;
}

apr_uint64_t esl_queue_lost(const esl_queue_t *q)
{
    return q->lost;
}
