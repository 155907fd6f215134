/*
 * check_esl_acl.c — apply-inbound-acl parsing and matching (esl_acl.c).
 */
#include "../check_common.h"
#include <stdlib.h>

#include "esl_acl.h"

static esl_acl_t *acl_of(const char *a, const char *b)
{
    apr_array_header_t *arr = apr_array_make(pool, 2, sizeof(const char *));
    esl_acl_t *acl = NULL;
    const char *bad = NULL;
    if (a)
        APR_ARRAY_PUSH(arr, const char *) = a;
    if (b)
        APR_ARRAY_PUSH(arr, const char *) = b;
    ck_assert_int_eq(esl_acl_parse(arr, pool, &acl, &bad), APR_SUCCESS);
    return acl;
}

START_TEST(empty_allows_all)
{
    esl_acl_t *acl = acl_of(NULL, NULL);
    ck_assert_int_eq(esl_acl_count(acl), 0);
    ck_assert(esl_acl_allows(acl, "203.0.113.9", pool));
    ck_assert(esl_acl_allows(NULL, "127.0.0.1", pool));
}
END_TEST

START_TEST(cidr_v4)
{
    esl_acl_t *acl = acl_of("192.0.2.0/24", "127.0.0.1");
    ck_assert_int_eq(esl_acl_count(acl), 2);
    ck_assert(esl_acl_allows(acl, "192.0.2.77", pool));
    ck_assert(esl_acl_allows(acl, "127.0.0.1", pool));
    ck_assert(!esl_acl_allows(acl, "127.0.0.2", pool));
    ck_assert(!esl_acl_allows(acl, "192.0.3.1", pool));
    ck_assert(esl_acl_allows(acl, "::ffff:192.0.2.5", pool));
    ck_assert(!esl_acl_allows(acl, "not-an-ip", pool));
}
END_TEST

START_TEST(cidr_v6)
{
    esl_acl_t *acl = acl_of("2001:db8::/32", "::1/128");
    ck_assert(esl_acl_allows(acl, "2001:db8:1::5", pool));
    ck_assert(esl_acl_allows(acl, "::1", pool));
    ck_assert(!esl_acl_allows(acl, "2001:db9::1", pool));
    ck_assert(!esl_acl_allows(acl, "127.0.0.1", pool));
}
END_TEST

START_TEST(bad_entries)
{
    const char *bads[] = {"10.1", "300.1.1.1/8", "example.com", "10.0.0.0/", "10.0.0.0/99", NULL};
    int i;
    for (i = 0; bads[i]; i++) {
        apr_array_header_t *arr = apr_array_make(pool, 1, sizeof(const char *));
        esl_acl_t *acl = NULL;
        const char *bad = NULL;
        APR_ARRAY_PUSH(arr, const char *) = bads[i];
        ck_assert_msg(esl_acl_parse(arr, pool, &acl, &bad) == AORTA_ESYNTAX, "%s accepted", bads[i]);
        ck_assert_str_eq(bad, bads[i]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("esl_acl");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, empty_allows_all);
    tcase_add_test(tc, cidr_v4);
    tcase_add_test(tc, cidr_v6);
    tcase_add_test(tc, bad_entries);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
