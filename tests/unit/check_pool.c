/*
 * check_pool.c — pools are children of the root pool by default (or unmanaged when asked),
 * carry the fatal out-of-memory handler, and aorta's status codes have readable texts.
 */
#include "check_common.h"

apr_status_t aorta_core_init(void);

START_TEST(test_tagged_children)
{
    ck_assert_int_eq(aorta_core_init(), APR_SUCCESS);
    apr_pool_t *p, *u;
    /* (APR keeps the file:line tag only for its debugger and pool-debug builds: no getter) */
    ck_assert_int_eq(aorta_pool_create(&p, NULL), APR_SUCCESS);
    ck_assert_ptr_eq(apr_pool_parent_get(p), aorta_core_pool());
    ck_assert_int_eq(aorta_pool_create_unmanaged(&u), APR_SUCCESS);
    ck_assert_ptr_null(apr_pool_parent_get(u));
    ck_assert_ptr_nonnull(apr_palloc(u, 100));
    apr_pool_destroy(u);
    ck_assert(apr_pool_abort_get(p) == aorta_pool_abort);
    apr_pool_destroy(p);
}
END_TEST

START_TEST(test_strerror)
{
    char buf[128];
    ck_assert_str_eq(aorta_strerror(AORTA_ENOTFOUND, buf, sizeof buf), "not found");
    ck_assert_str_eq(aorta_strerror(AORTA_ESHUTDOWN, buf, sizeof buf), "shutting down");
    ck_assert_str_eq(aorta_strerror(AORTA_EABI, buf, sizeof buf), "module built for another ABI");
    ck_assert_ptr_nonnull(strstr(aorta_strerror(APR_ENOENT, buf, sizeof buf), "No such file"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, test_tagged_children);
    tcase_add_test(tc, test_strerror);
    suite_add_tcase(s, tc);
    return run_suite(s) ? 1 : 0;
}
