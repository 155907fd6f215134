/*
 * check_task.c — workers and serializers: tasks of one key run in push order and never
 * at the same time; tasks of different keys run in parallel (proved by two tasks that can
 * only finish if both run at once); draining runs everything queued.
 */
#include "check_common.h"
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_time.h>

apr_status_t aorta_core_init(void);

typedef struct order_ctx {
    apr_thread_mutex_t *lock;
    int running[4];
    int max_running[4];
    int seen[4][200];
    int nseen[4];
} order_ctx_t;

typedef struct order_task {
    order_ctx_t *ctx;
    int key;
    int seq;
} order_task_t;

static void order_run(void *arg)
{
    order_task_t *t = arg;
    order_ctx_t *c = t->ctx;
    apr_thread_mutex_lock(c->lock);
    c->running[t->key]++;
    if (c->running[t->key] > c->max_running[t->key])
        c->max_running[t->key] = c->running[t->key];
    apr_thread_mutex_unlock(c->lock);
    apr_sleep(200); /* widen the window in which an ordering bug would show */
    ck_assert_ptr_nonnull(aorta_task_scratch());
    apr_palloc(aorta_task_scratch(), 1000);
    apr_thread_mutex_lock(c->lock);
    c->seen[t->key][c->nseen[t->key]++] = t->seq;
    c->running[t->key]--;
    apr_thread_mutex_unlock(c->lock);
}

START_TEST(test_serialized_per_key)
{
    ck_assert_int_eq(aorta_core_init(), APR_SUCCESS);
    aorta_workers_t *w;
    ck_assert_int_eq(aorta_workers_create(&w, 4, aorta_core_pool()), APR_SUCCESS);
    order_ctx_t c = {0};
    apr_thread_mutex_create(&c.lock, APR_THREAD_MUTEX_DEFAULT, aorta_core_pool());
    static const char *keys[4] = {"alice", "bob", "carol", "dave"};
    order_task_t tasks[4][200];
    for (int i = 0; i < 200; i++)
        for (int k = 0; k < 4; k++) {
            tasks[k][i] = (order_task_t){&c, k, i};
            ck_assert_int_eq(aorta_workers_push(w, keys[k], strlen(keys[k]), order_run, &tasks[k][i]), APR_SUCCESS);
        }
    aorta_workers_drain(w);
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(c.nseen[k], 200);
        ck_assert_int_eq(c.max_running[k], 1);
        for (int i = 0; i < 200; i++)
            ck_assert_int_eq(c.seen[k][i], i);
    }
    ck_assert_int_eq(aorta_workers_push(w, NULL, 0, order_run, &tasks[0][0]), AORTA_ESHUTDOWN);
}
END_TEST

typedef struct rendezvous {
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;
    int arrived;
    int ok;
} rendezvous_t;

/* Finishes only if the other task arrives within 5 s: i.e. both run at the same time. */
static void meet(void *arg)
{
    rendezvous_t *r = arg;
    apr_thread_mutex_lock(r->lock);
    r->arrived++;
    apr_thread_cond_broadcast(r->cond);
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(5);
    while (r->arrived < 2 && apr_time_now() < deadline)
        apr_thread_cond_timedwait(r->cond, r->lock, apr_time_from_msec(50));
    if (r->arrived >= 2)
        r->ok++;
    apr_thread_mutex_unlock(r->lock);
}

START_TEST(test_different_keys_in_parallel)
{
    ck_assert_int_eq(aorta_core_init(), APR_SUCCESS);
    aorta_workers_t *w;
    ck_assert_int_eq(aorta_workers_create(&w, 2, aorta_core_pool()), APR_SUCCESS);
    rendezvous_t r = {0};
    apr_thread_mutex_create(&r.lock, APR_THREAD_MUTEX_DEFAULT, aorta_core_pool());
    apr_thread_cond_create(&r.cond, aorta_core_pool());
    aorta_workers_push(w, "k1", 2, meet, &r);
    aorta_workers_push(w, "k2", 2, meet, &r);
    aorta_workers_drain(w);
    ck_assert_int_eq(r.ok, 2);
}
END_TEST

START_TEST(test_same_key_never_parallel)
{
    ck_assert_int_eq(aorta_core_init(), APR_SUCCESS);
    aorta_workers_t *w;
    ck_assert_int_eq(aorta_workers_create(&w, 2, aorta_core_pool()), APR_SUCCESS);
    rendezvous_t r = {0};
    apr_thread_mutex_create(&r.lock, APR_THREAD_MUTEX_DEFAULT, aorta_core_pool());
    apr_thread_cond_create(&r.cond, aorta_core_pool());
    /* with one key the second task starts only after the first gave up waiting */
    aorta_workers_push(w, "same", 4, meet, &r);
    aorta_workers_push(w, "same", 4, meet, &r);
    aorta_workers_drain(w);
    ck_assert_int_eq(r.ok, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("workers");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_serialized_per_key);
    tcase_add_test(tc, test_different_keys_in_parallel);
    tcase_add_test(tc, test_same_key_never_parallel);
    suite_add_tcase(s, tc);
    return run_suite(s) ? 1 : 0;
}
