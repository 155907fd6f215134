/*
 * check_esl_queue.c — the bounded subscriber queue and its overflow policy (esl_queue.c).
 */
#include "../check_common.h"
#include <stdint.h>
#include <stdlib.h>

#include "esl_queue.h"

static apr_pool_t *pool;

static void setup(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
    apr_terminate();
}

#define P(i) ((void *)(uintptr_t)(i))

START_TEST(fifo_across_growth_and_wrap)
{
    esl_queue_t *q = esl_queue_create(pool, 1000);
    esl_item_t it;
    int i, next = 1, pushed = 1, empty;

    /* interleave pushes and pops so the ring wraps while it grows */
    for (i = 0; i < 300; i++) {
        ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_EVENT, P(pushed++), &empty), APR_SUCCESS);
        ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_LOG, P(pushed++), NULL), APR_SUCCESS);
        ck_assert(esl_queue_pop(q, &it));
        ck_assert_ptr_eq(it.ptr, P(next));
        next++;
    }
    while (esl_queue_pop(q, &it)) {
        ck_assert_ptr_eq(it.ptr, P(next));
        ck_assert_int_eq(it.kind, (next % 2) ? ESL_ITEM_EVENT : ESL_ITEM_LOG);
        next++;
    }
    ck_assert_int_eq(next, pushed);
    ck_assert_uint_eq(esl_queue_len(q), 0);
}
END_TEST

START_TEST(wake_only_when_it_was_empty)
{
    esl_queue_t *q = esl_queue_create(pool, 10);
    esl_item_t it;
    int empty = -1;
    esl_queue_push(q, ESL_ITEM_EVENT, P(1), &empty);
    ck_assert_int_eq(empty, 1);
    esl_queue_push(q, ESL_ITEM_EVENT, P(2), &empty);
    ck_assert_int_eq(empty, 0);
    esl_queue_pop(q, &it);
    esl_queue_pop(q, &it);
    esl_queue_push(q, ESL_ITEM_EVENT, P(3), &empty);
    ck_assert_int_eq(empty, 1);
}
END_TEST

START_TEST(overflow_latches)
{
    esl_queue_t *q = esl_queue_create(pool, 100);
    esl_item_t it;
    int i;
    for (i = 0; i < 100; i++)
        ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_EVENT, P(i + 1), NULL), APR_SUCCESS);
    ck_assert(!esl_queue_overflowed(q));
    ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_EVENT, P(101), NULL), AORTA_EFULL);
    ck_assert(esl_queue_overflowed(q));
    /* even with room again, the subscriber stays condemned: no silent gap in its stream */
    ck_assert(esl_queue_pop(q, &it));
    ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_EVENT, P(102), NULL), AORTA_EFULL);
    ck_assert_uint_eq(esl_queue_lost(q), 2);
    ck_assert_uint_eq(esl_queue_len(q), 99);
}
END_TEST

START_TEST(tiny_bound)
{
    esl_queue_t *q = esl_queue_create(pool, 1);
    ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_LOG, P(1), NULL), APR_SUCCESS);
    ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_LOG, P(2), NULL), AORTA_EFULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("esl_queue");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, fifo_across_growth_and_wrap);
    tcase_add_test(tc, wake_only_when_it_was_empty);
    tcase_add_test(tc, overflow_latches);
    tcase_add_test(tc, tiny_bound);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
