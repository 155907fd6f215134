/*
 * check_ep_cidr.c — CIDR parsing and most-specific matching used by the `ip` identifier.
 */
#include "../check_common.h"
#include <stdlib.h>
#include <apr_general.h>

#include "mod_endpoints/ep_cidr.h"

START_TEST(parse_forms)
{
    ep_cidr_t c;
    const char *why;
    char buf[80];
    ck_assert_int_eq(ep_cidr_parse("192.0.2.0/24", &c, &why), APR_SUCCESS);
    ck_assert_int_eq(c.family, 4);
    ck_assert_int_eq(c.bits, 24);
    ck_assert_str_eq(ep_cidr_format(&c, buf, sizeof buf), "192.0.2.0/24");
    /* host bits are cleared */
    ck_assert_int_eq(ep_cidr_parse(" 10.1.2.3/8 ", &c, &why), APR_SUCCESS);
    ck_assert_str_eq(ep_cidr_format(&c, buf, sizeof buf), "10.0.0.0/8");
    /* a bare address is a host route */
    ck_assert_int_eq(ep_cidr_parse("198.51.100.9", &c, &why), APR_SUCCESS);
    ck_assert_int_eq(c.bits, 32);
    ck_assert_int_eq(ep_cidr_parse("2001:db8::/32", &c, &why), APR_SUCCESS);
    ck_assert_int_eq(c.family, 6);
    ck_assert_int_eq(c.bits, 32);
    /* "any" is allowed (0 bits), unlike apr_ipsubnet_create */
    ck_assert_int_eq(ep_cidr_parse("0.0.0.0/0", &c, &why), APR_SUCCESS);
    ck_assert_int_eq(c.bits, 0);
    /* v4-mapped v6 becomes v4 */
    ck_assert_int_eq(ep_cidr_parse("::ffff:192.0.2.1/120", &c, &why), APR_SUCCESS);
    ck_assert_int_eq(c.family, 4);
    ck_assert_int_eq(c.bits, 24);
}
END_TEST

START_TEST(parse_errors)
{
    ep_cidr_t c;
    const char *why = NULL;
    ck_assert_int_eq(ep_cidr_parse("192.0.2.0/33", &c, &why), APR_EINVAL);
    ck_assert_ptr_nonnull(why);
    ck_assert_int_eq(ep_cidr_parse("192.0.2.0/", &c, &why), APR_EINVAL);
    ck_assert_int_eq(ep_cidr_parse("192.0.2.0/x", &c, &why), APR_EINVAL);
    ck_assert_int_eq(ep_cidr_parse("example.com", &c, &why), APR_EINVAL);
    ck_assert_int_eq(ep_cidr_parse("", &c, &why), APR_EINVAL);
    ck_assert_int_eq(ep_cidr_parse("2001:db8::/129", &c, &why), APR_EINVAL);
    ck_assert_int_eq(ep_cidr_parse("300.1.1.1", &c, &why), APR_EINVAL);
}
END_TEST

START_TEST(most_specific_wins)
{
    ep_cidr_table_t *t = ep_cidr_table_create(pool);
    ep_cidr_t c;
    int bits = -1;
    /* added from broad to narrow and back, so the order of <match> lines does not matter */
    ep_cidr_parse("10.0.0.0/8", &c, NULL);
    ep_cidr_table_add(t, &c, "wide");
    ep_cidr_parse("10.1.2.3", &c, NULL);
    ep_cidr_table_add(t, &c, "host");
    ep_cidr_parse("10.1.0.0/16", &c, NULL);
    ep_cidr_table_add(t, &c, "mid");
    ck_assert_int_eq(ep_cidr_table_count(t), 3);
    ck_assert_str_eq(ep_cidr_table_match(t, "10.1.2.3", &bits), "host");
    ck_assert_int_eq(bits, 32);
    ck_assert_str_eq(ep_cidr_table_match(t, "10.1.9.9", &bits), "mid");
    ck_assert_int_eq(bits, 16);
    ck_assert_str_eq(ep_cidr_table_match(t, "10.200.0.1", NULL), "wide");
    ck_assert_ptr_null(ep_cidr_table_match(t, "11.0.0.1", NULL));
    ck_assert_ptr_null(ep_cidr_table_match(t, "not-an-ip", NULL));
    ck_assert_ptr_null(ep_cidr_table_match(t, "2001:db8::1", NULL));
    /* a v4-mapped source address matches the v4 entries */
    ck_assert_str_eq(ep_cidr_table_match(t, "::ffff:10.1.2.3", NULL), "host");
}
END_TEST

START_TEST(ties_go_to_first)
{
    ep_cidr_table_t *t = ep_cidr_table_create(pool);
    ep_cidr_t c;
    ep_cidr_parse("192.0.2.0/24", &c, NULL);
    ep_cidr_table_add(t, &c, "first");
    ep_cidr_parse("192.0.2.128/24", &c, NULL); /* same network after masking */
    ep_cidr_table_add(t, &c, "second");
    ck_assert_str_eq(ep_cidr_table_match(t, "192.0.2.200", NULL), "first");
}
END_TEST

START_TEST(ipv6_and_odd_prefixes)
{
    ep_cidr_table_t *t = ep_cidr_table_create(pool);
    ep_cidr_t c;
    ep_cidr_parse("2001:db8::/32", &c, NULL);
    ep_cidr_table_add(t, &c, "v6wide");
    ep_cidr_parse("2001:db8:ab00::/41", &c, NULL);
    ep_cidr_table_add(t, &c, "v6odd");
    ep_cidr_parse("192.0.2.64/27", &c, NULL);
    ep_cidr_table_add(t, &c, "v4odd");
    ck_assert_str_eq(ep_cidr_table_match(t, "2001:db8:ab7f::1", NULL), "v6odd");
    ck_assert_str_eq(ep_cidr_table_match(t, "2001:db8:ab80::1", NULL), "v6wide");
    ck_assert_str_eq(ep_cidr_table_match(t, "192.0.2.95", NULL), "v4odd");
    ck_assert_ptr_null(ep_cidr_table_match(t, "192.0.2.96", NULL));
    ck_assert_ptr_null(ep_cidr_table_match(t, "192.0.2.63", NULL));
}
END_TEST

START_TEST(zero_prefix_matches_all_of_its_family)
{
    ep_cidr_table_t *t = ep_cidr_table_create(pool);
    ep_cidr_t c;
    ep_cidr_parse("0.0.0.0/0", &c, NULL);
    ep_cidr_table_add(t, &c, "any4");
    ck_assert_str_eq(ep_cidr_table_match(t, "203.0.113.7", NULL), "any4");
    ck_assert_ptr_null(ep_cidr_table_match(t, "::1", NULL));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ep_cidr");
    TCase *tc = tcase_create("cidr");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, parse_forms);
    tcase_add_test(tc, parse_errors);
    tcase_add_test(tc, most_specific_wins);
    tcase_add_test(tc, ties_go_to_first);
    tcase_add_test(tc, ipv6_and_odd_prefixes);
    tcase_add_test(tc, zero_prefix_matches_all_of_its_family);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
