/*
 * check_ep_dialog.c — the Call-ID -> endpoint cache used for in-dialog requests: lookup by
 * Call-ID and profile, refresh, expiry, removal, and many entries across shards.
 */
#include "../check_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <apr_general.h>

#include "mod_endpoints/ep_internal.h"

static ep_dialogs_t *d;

static void setup(void)
{
    pool_setup();
    ck_assert_int_eq(ep_dialogs_create(&d, pool), APR_SUCCESS);
}

static void teardown(void)
{
    pool_teardown(); /* frees the entries through the cache's pool cleanup */
}

START_TEST(put_get_remove)
{
    char name[64];
    ep_dialogs_put(d, "call-1@host", "internal", "5000", 60);
    ck_assert_int_eq(ep_dialogs_get(d, "call-1@host", "internal", name, sizeof name), 1);
    ck_assert_str_eq(name, "5000");
    /* the same Call-ID on another profile is another dialog */
    ck_assert_int_eq(ep_dialogs_get(d, "call-1@host", "external", name, sizeof name), 0);
    ck_assert_int_eq(ep_dialogs_get(d, "call-2@host", "internal", name, sizeof name), 0);
    /* a second 2xx (re-INVITE) updates the entry instead of adding one */
    ep_dialogs_put(d, "call-1@host", "internal", "5001", 60);
    ck_assert_uint_eq(ep_dialogs_count(d), 1);
    ck_assert_int_eq(ep_dialogs_get(d, "call-1@host", "internal", name, sizeof name), 1);
    ck_assert_str_eq(name, "5001");
    ep_dialogs_remove(d, "call-1@host");
    ck_assert_int_eq(ep_dialogs_get(d, "call-1@host", "internal", name, sizeof name), 0);
    ck_assert_uint_eq(ep_dialogs_count(d), 0);
    ep_dialogs_remove(d, "never-there"); /* harmless */
}
END_TEST

START_TEST(expired_entries_are_not_returned)
{
    char name[64];
    ep_dialogs_put(d, "old@host", "internal", "5000", 0); /* expires at once */
    ck_assert_int_eq(ep_dialogs_get(d, "old@host", "internal", name, sizeof name), 0);
    ck_assert_uint_eq(ep_dialogs_count(d), 0); /* and dropped on the way */
}
END_TEST

START_TEST(many_dialogs)
{
    char cid[64], name[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(cid, sizeof cid, "c%d@x", i);
        ep_dialogs_put(d, cid, "internal", i % 2 ? "odd" : "even", 60);
    }
    ck_assert_uint_eq(ep_dialogs_count(d), 5000);
    for (int i = 0; i < 5000; i += 97) {
        snprintf(cid, sizeof cid, "c%d@x", i);
        ck_assert_int_eq(ep_dialogs_get(d, cid, "internal", name, sizeof name), 1);
        ck_assert_str_eq(name, i % 2 ? "odd" : "even");
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ep_dialog");
    TCase *tc = tcase_create("dialog");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, put_get_remove);
    tcase_add_test(tc, expired_entries_are_not_returned);
    tcase_add_test(tc, many_dialogs);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
