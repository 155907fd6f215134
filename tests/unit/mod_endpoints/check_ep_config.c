/*
 * check_ep_config.c — parsing of sip.conf's <settings>, <endpoints>, <auths>, <identify>:
 * defaults, cross references, and that every mistake is reported with file:line.
 */
#include "../check_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_strings.h>

#include "mod_endpoints/ep_internal.h"

static char dir[64];

static void setup(void)
{
    pool_setup();
    strcpy(dir, "/tmp/check_ep_config.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    pool_teardown();
}

/* Write aorta.xml around @p profiles and parse it; returns the status, errors in *errs. */
static apr_status_t parse(const char *profiles, ep_config_t **cfg, aorta_conf_errors_t **errs)
{
    char *path = apr_pstrcat(pool, dir, "/aorta.xml", NULL);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "<?xml version=\"1.0\"?>\n<document type=\"aorta/xml\">\n<section name=\"configuration\">\n"
            "<configuration name=\"sip.conf\">\n<profiles>\n%s</profiles>\n</configuration>\n</section>\n"
            "</document>\n",
            profiles);
    fclose(f);
    aorta_conf_t *conf = NULL;
    *errs = aorta_conf_errors_create(pool);
    apr_status_t st = aorta_conf_load(&conf, path, NULL, pool, *errs);
    ck_assert_int_eq(st, APR_SUCCESS);
    *cfg = NULL;
    return ep_config_parse(conf, pool, *errs, cfg);
}

static int has_error(aorta_conf_errors_t *errs, const char *needle)
{
    for (int i = 0; i < aorta_conf_errors_count(errs); i++)
        if (strstr(aorta_conf_errors_get(errs, i), needle))
            return 1;
    return 0;
}

START_TEST(defaults_and_endpoints)
{
    ep_config_t *cfg;
    aorta_conf_errors_t *errs;
    apr_status_t st = parse("<profile name=\"internal\">\n"
                            "  <settings><param name=\"sip-port\" value=\"5070\"/></settings>\n"
                            "  <endpoints>\n"
                            "    <endpoint name=\"5000\"><param name=\"aors\" value=\"5000, 5001\"/>\n"
                            "      <param name=\"auth\" value=\"a5000\"/><param name=\"allow\" value=\"ulaw,alaw\"/>\n"
                            "    </endpoint>\n"
                            "    <endpoint name=\"trunk\"/>\n"
                            "    <endpoint name=\"anonymous\"><param name=\"context\" value=\"public\"/></endpoint>\n"
                            "  </endpoints>\n"
                            "  <auths><auth name=\"a5000\"><param name=\"password\" value=\"s\"/></auth></auths>\n"
                            "  <identify>\n"
                            "    <match endpoint=\"trunk\" ip=\"192.0.2.0/24, 198.51.100.9\"/>\n"
                            "    <match endpoint=\"trunk\" header=\"X-Tenant\" regex=\"^acme$\"/>\n"
                            "  </identify>\n"
                            "</profile>\n",
                            &cfg, &errs);
    for (int i = 0; i < aorta_conf_errors_count(errs); i++)
        fprintf(stderr, "%s\n", aorta_conf_errors_get(errs, i));
    ck_assert_int_eq(st, APR_SUCCESS);
    const ep_profile_conf_t *pc = ep_config_profile(cfg, "internal");
    ck_assert_ptr_nonnull(pc);
    ck_assert_int_eq(pc->set.sip_port, 5070);
    ck_assert_str_eq(pc->set.sip_ip, "127.0.0.1");
    ck_assert_int_eq(pc->set.transports->nelts, 2);
    ck_assert_int_eq(pc->set.identify_order->nelts, 4);
    ck_assert_str_eq(APR_ARRAY_IDX(pc->set.identify_order, 0, const char *), "ip");
    ck_assert_int_eq(pc->set.unidentified_response, EP_UNIDENTIFIED_CHALLENGE);
    ck_assert_int_eq(pc->set.t1x64, 32000);

    const ep_endpoint_ext_t *e = apr_hash_get(cfg->endpoints, "5000", APR_HASH_KEY_STRING);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->pub.aors->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(e->pub.aors, 1, const char *), "5001");
    ck_assert_ptr_nonnull(e->pub.auth);
    ck_assert_str_eq(e->pub.auth->username, "a5000"); /* defaults to the auth's name */
    ck_assert_str_eq(e->pub.auth->password, "s");
    ck_assert_str_eq(e->pub.context, "default");
    ck_assert_str_eq(e->pub.profile, "internal");
    ck_assert_ptr_eq(apr_hash_get(pc->by_auth_user, "a5000", APR_HASH_KEY_STRING), e);
    ck_assert_ptr_nonnull(pc->anonymous);
    ck_assert_str_eq(pc->anonymous->pub.context, "public");

    const ep_endpoint_ext_t *trunk = apr_hash_get(cfg->endpoints, "trunk", APR_HASH_KEY_STRING);
    ck_assert_int_eq(ep_cidr_table_count(pc->ip_rules), 2);
    ck_assert_ptr_eq(ep_cidr_table_match(pc->ip_rules, "198.51.100.9", NULL), trunk);
    ck_assert_ptr_null(ep_cidr_table_match(pc->ip_rules, "198.51.100.10", NULL));
    ck_assert_int_eq(pc->header_rules->nelts, 1);
    ck_assert_ptr_nonnull(APR_ARRAY_IDX(pc->header_rules, 0, ep_header_rule_t).code);
}
END_TEST

START_TEST(every_error_is_reported_with_its_line)
{
    ep_config_t *cfg;
    aorta_conf_errors_t *errs;
    apr_status_t st = parse("<profile name=\"a\">\n"
                            "  <settings><param name=\"transports\" value=\"udp,sctp\"/>\n"
                            "    <param name=\"unidentified-response\" value=\"drop\"/></settings>\n"
                            "  <endpoints>\n"
                            "    <endpoint name=\"x\"><param name=\"auth\" value=\"nope\"/></endpoint>\n"
                            "    <endpoint name=\"y\"><param name=\"colour\" value=\"red\"/></endpoint>\n"
                            "  </endpoints>\n"
                            "  <auths><auth name=\"two\"><param name=\"password\" value=\"p\"/>\n"
                            "    <param name=\"ha1\" value=\"0123456789abcdef0123456789abcdef\"/></auth></auths>\n"
                            "  <identify>\n"
                            "    <match endpoint=\"ghost\" ip=\"10.0.0.1\"/>\n"
                            "    <match endpoint=\"x\" ip=\"10.0.0.0/40\"/>\n"
                            "    <match endpoint=\"x\" header=\"X-A\" regex=\"(unclosed\"/>\n"
                            "  </identify>\n"
                            "</profile>\n"
                            "<profile name=\"b\"><endpoints><endpoint name=\"x\"/></endpoints></profile>\n",
                            &cfg, &errs);
    ck_assert_int_eq(st, AORTA_ECONFIG);
    for (int i = 0; i < aorta_conf_errors_count(errs); i++)
        fprintf(stderr, "  %s\n", aorta_conf_errors_get(errs, i));
    ck_assert(has_error(errs, "unknown transport 'sctp'"));
    ck_assert(has_error(errs, "unidentified-response"));
    ck_assert(has_error(errs, ":10: endpoint 'x': auth 'nope' is not defined"));
    ck_assert(has_error(errs, ":11: unknown parameter \"colour\""));
    ck_assert(has_error(errs, "exactly one of password, ha1, ha1-sha256"));
    ck_assert(has_error(errs, ":16: <match>: endpoint 'ghost' is not defined"));
    ck_assert(has_error(errs, ":17: <match ip>: '10.0.0.0/40': IPv4 prefix length above 32"));
    ck_assert(has_error(errs, ":18: <match regex=\"(unclosed\">: missing closing parenthesis"));
    ck_assert(has_error(errs, ":21: endpoint 'x' is already defined"));
}
END_TEST

START_TEST(no_sip_conf_means_no_profiles)
{
    ep_config_t *cfg = NULL;
    aorta_conf_errors_t *errs = aorta_conf_errors_create(pool);
    ck_assert_int_eq(ep_config_parse(NULL, pool, errs, &cfg), APR_SUCCESS);
    ck_assert_int_eq(cfg->profiles->nelts, 0);
}
END_TEST

START_TEST(transport_change_detection)
{
    ep_config_t *a, *b;
    aorta_conf_errors_t *errs;
    ck_assert_int_eq(parse("<profile name=\"p\"><settings><param name=\"sip-port\" value=\"5070\"/>"
                           "<param name=\"identify-order\" value=\"user\"/></settings></profile>\n",
                           &a, &errs),
                     APR_SUCCESS);
    ck_assert_int_eq(parse("<profile name=\"p\"><settings><param name=\"sip-port\" value=\"5070\"/>"
                           "<param name=\"identify-order\" value=\"ip,user\"/></settings></profile>\n",
                           &b, &errs),
                     APR_SUCCESS);
    /* identify-order is reloadable, the listeners are the same */
    ck_assert_int_eq(ep_settings_transport_differs(&ep_config_profile(a, "p")->set, &ep_config_profile(b, "p")->set),
                     0);
    ck_assert_int_eq(parse("<profile name=\"p\"><settings><param name=\"sip-port\" value=\"5071\"/></settings>"
                           "</profile>\n",
                           &b, &errs),
                     APR_SUCCESS);
    ck_assert_int_eq(ep_settings_transport_differs(&ep_config_profile(a, "p")->set, &ep_config_profile(b, "p")->set),
                     1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ep_config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults_and_endpoints);
    tcase_add_test(tc, every_error_is_reported_with_its_line);
    tcase_add_test(tc, no_sip_conf_means_no_profiles);
    tcase_add_test(tc, transport_change_detection);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
