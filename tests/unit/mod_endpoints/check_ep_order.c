/*
 * check_ep_order.c — identifier ordering (identify-order first, then registration order) and
 * the registry around it: registration, duplicates, unregistering an owner.
 */
#include "../check_common.h"
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>

#include "mod_endpoints/ep_internal.h"

/* The registry's only link to the module is this global; the tests need none of it. */
ep_mod_t *ep_g;

static int order(const char *const *o, int no, const char *const *names, int nn, char *out)
{
    int idx[16];
    int n = ep_identify_order(o, no, names, nn, idx);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        strcat(out, names[idx[i]]);
        if (i + 1 < n)
            strcat(out, ",");
    }
    return n;
}

START_TEST(configured_order_first)
{
    const char *names[] = {"ip", "header", "user", "anonymous"};
    const char *o[] = {"user", "ip"};
    char out[128];
    ck_assert_int_eq(order(o, 2, names, 4, out), 4);
    ck_assert_str_eq(out, "user,ip,header,anonymous");
}
END_TEST

START_TEST(unknown_and_duplicate_names_ignored)
{
    const char *names[] = {"ip", "header", "user", "anonymous", "x-module"};
    const char *o[] = {"anonymous", "nosuch", "anonymous", "ip"};
    char out[128];
    ck_assert_int_eq(order(o, 4, names, 5, out), 5);
    ck_assert_str_eq(out, "anonymous,ip,header,user,x-module");
}
END_TEST

START_TEST(module_identifier_can_be_placed)
{
    const char *names[] = {"ip", "header", "user", "anonymous", "x-module"};
    const char *o[] = {"x-module", "ip", "header", "user", "anonymous"};
    char out[128];
    order(o, 5, names, 5, out);
    ck_assert_str_eq(out, "x-module,ip,header,user,anonymous");
}
END_TEST

START_TEST(empty_order_is_registration_order)
{
    const char *names[] = {"b", "a", "c"};
    char out[128];
    ck_assert_int_eq(order(NULL, 0, names, 3, out), 3);
    ck_assert_str_eq(out, "b,a,c");
}
END_TEST

static const ep_endpoint_t *dummy_id(ep_request_t *req, void *user)
{
    (void)req;
    (void)user;
    return NULL;
}

static void dummy_method(ep_request_t *req, void *user)
{
    (void)req;
    (void)user;
}

START_TEST(registry_roundtrip)
{
    ep_registry_t *reg;
    aorta_module_t *a = (aorta_module_t *)0x1, *b = (aorta_module_t *)0x2;
    ck_assert_int_eq(ep_registry_create(&reg, pool), APR_SUCCESS);
    ck_assert_int_eq(ep_registry_identifier_add(reg, a, "ip", dummy_id, NULL, 0), APR_SUCCESS);
    ck_assert_int_eq(ep_registry_identifier_add(reg, a, "user", dummy_id, NULL, 0), APR_SUCCESS);
    ck_assert_int_eq(ep_registry_identifier_add(reg, b, "custom", dummy_id, NULL, 0), APR_SUCCESS);
    ck_assert_int_eq(ep_registry_identifier_add(reg, b, "ip", dummy_id, NULL, 0), AORTA_EEXIST);
    ck_assert_int_eq(ep_registry_method_add(reg, b, "REGISTER", dummy_method, NULL, 0), APR_SUCCESS);
    ck_assert_int_eq(ep_registry_method_add(reg, a, "REGISTER", dummy_method, NULL, 0), AORTA_EEXIST);

    apr_array_header_t *o = apr_array_make(pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(o, const char *) = "custom";
    APR_ARRAY_PUSH(o, const char *) = "user";
    const ep_identifier_t *ids[8];
    ep_registry_rdlock(reg);
    int n = ep_registry_identifiers(reg, o, ids, 8);
    ep_registry_unlock(reg);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(ids[0]->name, "custom");
    ck_assert_str_eq(ids[1]->name, "user");
    ck_assert_str_eq(ids[2]->name, "ip");

    ep_method_fn fn;
    void *user;
    ck_assert_int_eq(ep_registry_method_find(reg, "REGISTER", &fn, &user), 1);
    /* OPTIONS is always answered (by mod_endpoints itself) */
    ck_assert_str_eq(ep_registry_allow(reg, pool), "OPTIONS, REGISTER");
    ep_registry_option_tag_add(reg, b, "path");
    ck_assert_str_eq(ep_registry_supported(reg, pool), "path");

    ep_registry_unregister_owner(reg, b);
    ck_assert_int_eq(ep_registry_method_find(reg, "REGISTER", &fn, &user), 0);
    ck_assert_str_eq(ep_registry_supported(reg, pool), "");
    n = ep_registry_identifiers(reg, o, ids, 8);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(ids[0]->name, "user");
    ck_assert_str_eq(ids[1]->name, "ip");
    /* the name is free again */
    ck_assert_int_eq(ep_registry_method_add(reg, a, "REGISTER", dummy_method, NULL, 0), APR_SUCCESS);
    ep_registry_destroy(reg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ep_order");
    TCase *tc = tcase_create("order");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, configured_order_first);
    tcase_add_test(tc, unknown_and_duplicate_names_ignored);
    tcase_add_test(tc, module_identifier_can_be_placed);
    tcase_add_test(tc, empty_order_is_registration_order);
    tcase_add_test(tc, registry_roundtrip);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
