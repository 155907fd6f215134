/*
 * check_esl_queue.c — a connection's outgoing queue: wire order of replies, events and log
 * lines, and the overflow policy (esl_queue.c).
 */
#include "../check_common.h"
#include <stdint.h>
#include <stdlib.h>

#include "esl_queue.h"

#define P(i) ((void *)(uintptr_t)(i))

START_TEST(fifo_across_growth_and_wrap)
{
    esl_queue_t *q = esl_queue_create(pool, 1000);
    esl_item_t it;
    int i, next = 1, pushed = 1;

    /* interleave pushes and takes so the ring wraps while it grows */
    for (i = 0; i < 300; i++) {
        ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_EVENT, P(pushed++)), APR_SUCCESS);
        ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_LOG, P(pushed++)), APR_SUCCESS);
        ck_assert(esl_queue_take(q, &it));
        ck_assert_ptr_eq(it.ptr, P(next));
        next++;
    }
    while (esl_queue_take(q, &it)) {
        ck_assert_ptr_eq(it.ptr, P(next));
        ck_assert_int_eq(it.kind, (next % 2) ? ESL_ITEM_EVENT : ESL_ITEM_LOG);
        next++;
    }
    ck_assert_int_eq(next, pushed);
    ck_assert_uint_eq(esl_queue_len(q), 0);
    ck_assert(!esl_queue_ready(q));
}
END_TEST

START_TEST(overflow_latches)
{
    esl_queue_t *q = esl_queue_create(pool, 100);
    esl_item_t it;
    int i;
    for (i = 0; i < 100; i++)
        ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_EVENT, P(i + 1)), APR_SUCCESS);
    ck_assert(!esl_queue_overflowed(q));
    ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_EVENT, P(101)), AORTA_EFULL);
    ck_assert(esl_queue_overflowed(q));
    /* even with room again, the subscriber stays condemned: no silent gap in its stream */
    ck_assert(esl_queue_take(q, &it));
    ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_EVENT, P(102)), AORTA_EFULL);
    ck_assert_uint_eq(esl_queue_lost(q), 2);
    ck_assert_uint_eq(esl_queue_len(q), 99);
}
END_TEST

START_TEST(tiny_bound)
{
    esl_queue_t *q = esl_queue_create(pool, 1);
    ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_LOG, P(1)), APR_SUCCESS);
    ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_LOG, P(2)), AORTA_EFULL);
}
END_TEST

START_TEST(replies_are_not_bounded_by_max)
{
    esl_queue_t *q = esl_queue_create(pool, 1);
    esl_item_t it;
    int i;
    for (i = 0; i < 200; i++) {
        esl_queue_begin_command(q);
        ck_assert_int_eq(esl_queue_reply(q, P(i + 1)), APR_SUCCESS);
    }
    for (i = 0; i < 200; i++) {
        ck_assert(esl_queue_take(q, &it));
        ck_assert_int_eq(it.kind, ESL_ITEM_REPLY);
        ck_assert_ptr_eq(it.ptr, P(i + 1));
    }
    ck_assert(!esl_queue_overflowed(q));
}
END_TEST

START_TEST(one_reply_per_begun_command)
{
    esl_queue_t *q = esl_queue_create(pool, 10);
    ck_assert_int_eq(esl_queue_reply(q, P(1)), APR_EINVAL);
    ck_assert_uint_eq(esl_queue_begin_command(q), 1);
    ck_assert_uint_eq(esl_queue_begin_command(q), 2);
    ck_assert_uint_eq(esl_queue_unanswered(q), 2);
    ck_assert_int_eq(esl_queue_reply(q, P(1)), APR_SUCCESS);
    ck_assert_int_eq(esl_queue_reply(q, P(2)), APR_SUCCESS);
    ck_assert_uint_eq(esl_queue_unanswered(q), 0);
    ck_assert_int_eq(esl_queue_reply(q, P(3)), APR_EINVAL);
}
END_TEST

/* What a command causes waits for the command's reply; the reply goes ahead of everything
 * still queued, even what was queued before the command began. */
START_TEST(reply_precedes_what_its_command_caused)
{
    esl_queue_t *q = esl_queue_create(pool, 100);
    esl_item_t it;

    esl_queue_begin_command(q); /* the greeting */
    ck_assert(!esl_queue_ready(q));
    ck_assert_int_eq(esl_queue_reply(q, P(100)), APR_SUCCESS);
    ck_assert(esl_queue_take(q, &it));
    ck_assert_ptr_eq(it.ptr, P(100));

    ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_EVENT, P(1)), APR_SUCCESS); /* before command 2 */
    esl_queue_begin_command(q);                                             /* e.g. bgapi */
    ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_EVENT, P(2)), APR_SUCCESS); /* its BACKGROUND_JOB */
    ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_LOG, P(3)), APR_SUCCESS);

    /* while command 2 runs, nothing goes */
    ck_assert(!esl_queue_ready(q));
    ck_assert(!esl_queue_take(q, &it));

    ck_assert_int_eq(esl_queue_reply(q, P(200)), APR_SUCCESS);
    ck_assert(esl_queue_ready(q));
    ck_assert(esl_queue_take(q, &it));
    ck_assert_int_eq(it.kind, ESL_ITEM_REPLY);
    ck_assert_ptr_eq(it.ptr, P(200));
    ck_assert_uint_eq(it.stamp, 2);
    ck_assert(esl_queue_take(q, &it));
    ck_assert_ptr_eq(it.ptr, P(1));
    ck_assert(esl_queue_take(q, &it));
    ck_assert_ptr_eq(it.ptr, P(2));
    ck_assert(esl_queue_take(q, &it));
    ck_assert_ptr_eq(it.ptr, P(3));
    ck_assert(!esl_queue_take(q, &it));
}
END_TEST

/* Replies pushed back to back (nothing taken in between) keep their order ahead of the items. */
START_TEST(replies_keep_their_order)
{
    esl_queue_t *q = esl_queue_create(pool, 100);
    esl_item_t it;
    const int want[] = {10, 20, 30, 1, 2, 3};
    int i;

    for (i = 1; i <= 3; i++) {
        esl_queue_begin_command(q);
        ck_assert_int_eq(esl_queue_push(q, ESL_ITEM_EVENT, P(i)), APR_SUCCESS);
        ck_assert_int_eq(esl_queue_reply(q, P(i * 10)), APR_SUCCESS);
    }
    for (i = 0; i < 6; i++) {
        ck_assert(esl_queue_take(q, &it));
        ck_assert_ptr_eq(it.ptr, P(want[i]));
    }
    ck_assert(!esl_queue_take(q, &it));
}
END_TEST

static int disposed;
static void dispose(esl_item_t *it)
{
    (void)it;
    disposed++;
}

START_TEST(drop_one_kind_keeps_the_others_in_order)
{
    esl_queue_t *q = esl_queue_create(pool, 100);
    esl_item_t it;
    int i;

    for (i = 1; i <= 10; i++)
        ck_assert_int_eq(esl_queue_push(q, i % 2 ? ESL_ITEM_EVENT : ESL_ITEM_LOG, P(i)), APR_SUCCESS);
    disposed = 0;
    esl_queue_drop(q, ESL_ITEM_EVENT, dispose);
    ck_assert_int_eq(disposed, 5);
    ck_assert_uint_eq(esl_queue_len(q), 5);
    for (i = 2; i <= 10; i += 2) {
        ck_assert(esl_queue_take(q, &it));
        ck_assert_ptr_eq(it.ptr, P(i));
    }
    ck_assert(!esl_queue_pop(q, &it));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("esl_queue");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, fifo_across_growth_and_wrap);
    tcase_add_test(tc, overflow_latches);
    tcase_add_test(tc, tiny_bound);
    tcase_add_test(tc, replies_are_not_bounded_by_max);
    tcase_add_test(tc, one_reply_per_begun_command);
    tcase_add_test(tc, reply_precedes_what_its_command_caused);
    tcase_add_test(tc, replies_keep_their_order);
    tcase_add_test(tc, drop_one_kind_keeps_the_others_in_order);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
