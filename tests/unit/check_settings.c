/*
 * check_settings.c — settings tables: defaults, each type's conversion, range and enum
 * checks, unknown parameters, and that every error carries file:line.
 */
#include "check_common.h"
#include <stddef.h>

typedef struct demo {
    const char *name;
    int port;
    int on;
    int mode;
    apr_array_header_t *list;
    apr_array_header_t *multi;
} demo_t;

static const aorta_setting_t demo_table[] = {
    {"name", AORTA_SETTING_STRING, "anon", offsetof(demo_t, name), NULL, 0, 0, NULL, 1, "a name"},
    {"port", AORTA_SETTING_INT, "5060", offsetof(demo_t, port), NULL, 1, 65535, NULL, 0, "a port"},
    {"on", AORTA_SETTING_BOOL, "false", offsetof(demo_t, on), NULL, 0, 0, NULL, 1, "a switch"},
    {"mode", AORTA_SETTING_ENUM, "challenge", offsetof(demo_t, mode), "challenge|403", 0, 0, NULL, 1, "a mode"},
    {"list", AORTA_SETTING_LIST, "a, b", offsetof(demo_t, list), NULL, 0, 0, NULL, 1, "a list"},
    {"contact", AORTA_SETTING_MULTI, NULL, offsetof(demo_t, multi), NULL, 0, 0, NULL, 1, "repeatable"},
    {NULL, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

static aorta_conf_t *load(const char *params, aorta_conf_errors_t *errs)
{
    char *d = tmpdir_make();
    tmpfile_write(d, "aorta.xml",
                  apr_pstrcat(pool, "<document>\n<section name=\"configuration\">\n<configuration name=\"demo.conf\">\n"
                                    "<settings>\n",
                              params, "</settings>\n</configuration>\n</section>\n</document>\n", NULL));
    aorta_conf_t *conf;
    ck_assert_int_eq(aorta_conf_load(&conf, apr_pstrcat(pool, d, "/aorta.xml", NULL), NULL, pool, errs), APR_SUCCESS);
    return conf;
}

START_TEST(test_defaults)
{
    demo_t d;
    aorta_conf_errors_t *errs = aorta_conf_errors_create(pool);
    ck_assert_int_eq(aorta_settings_apply(demo_table, &d, NULL, NULL, pool, errs), APR_SUCCESS);
    ck_assert_str_eq(d.name, "anon");
    ck_assert_int_eq(d.port, 5060);
    ck_assert_int_eq(d.on, 0);
    ck_assert_int_eq(d.mode, 0);
    ck_assert_int_eq(d.list->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(d.list, 1, const char *), "b");
    ck_assert_int_eq(d.multi->nelts, 0);
}
END_TEST

START_TEST(test_values)
{
    demo_t d;
    aorta_conf_errors_t *errs = aorta_conf_errors_create(pool);
    aorta_conf_t *conf = load("<param name=\"name\" value=\"x\"/>\n<param name=\"port\" value=\"5070\"/>\n"
                              "<param name=\"on\" value=\"yes\"/>\n<param name=\"mode\" value=\"403\"/>\n"
                              "<param name=\"list\" value=\" udp ,tcp,, tls\"/>\n"
                              "<param name=\"contact\" value=\"sip:a@b\"/>\n<param name=\"contact\" value=\"sip:c@d\"/>\n",
                              errs);
    xmlNode *s = aorta_xml_child(aorta_conf_configuration(conf, "demo.conf"), "settings");
    ck_assert_int_eq(aorta_settings_apply(demo_table, &d, conf, s, pool, errs), APR_SUCCESS);
    ck_assert_str_eq(d.name, "x");
    ck_assert_int_eq(d.port, 5070);
    ck_assert_int_eq(d.on, 1);
    ck_assert_int_eq(d.mode, 1);
    ck_assert_int_eq(d.list->nelts, 3);
    ck_assert_str_eq(APR_ARRAY_IDX(d.list, 2, const char *), "tls");
    ck_assert_int_eq(d.multi->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(d.multi, 1, const char *), "sip:c@d");
}
END_TEST

START_TEST(test_errors_have_file_line)
{
    demo_t d;
    aorta_conf_errors_t *errs = aorta_conf_errors_create(pool);
    aorta_conf_t *conf = load("<param name=\"port\" value=\"99999\"/>\n<param name=\"colour\" value=\"red\"/>\n"
                              "<param name=\"mode\" value=\"maybe\"/>\n<param name=\"on\" value=\"perhaps\"/>\n"
                              "<param name=\"port\"/>\n",
                              errs);
    xmlNode *s = aorta_xml_child(aorta_conf_configuration(conf, "demo.conf"), "settings");
    ck_assert_int_eq(aorta_settings_apply(demo_table, &d, conf, s, pool, errs), AORTA_ECONFIG);
    ck_assert_int_eq(aorta_conf_errors_count(errs), 5);
    ck_assert_msg(strstr(aorta_conf_errors_get(errs, 0), "aorta.xml:5: port: 99999 is out of range [1, 65535]"),
                  "%s", aorta_conf_errors_get(errs, 0));
    ck_assert_msg(strstr(aorta_conf_errors_get(errs, 1), "aorta.xml:6: unknown parameter \"colour\""), "%s",
                  aorta_conf_errors_get(errs, 1));
    ck_assert_ptr_nonnull(strstr(aorta_conf_errors_get(errs, 2), ":7: mode: \"maybe\" is not one of challenge|403"));
    ck_assert_ptr_nonnull(strstr(aorta_conf_errors_get(errs, 3), ":8: on: \"perhaps\" is not a boolean"));
    ck_assert_ptr_nonnull(strstr(aorta_conf_errors_get(errs, 4), ":9: <param> needs both name and value"));
}
END_TEST

START_TEST(test_document)
{
    aorta_stream_t *out = aorta_stream_create(pool);
    aorta_settings_document(demo_table, out);
    const char *md = aorta_stream_data(out, NULL);
    ck_assert_ptr_nonnull(strstr(md, "| `port` | integer 1–65535 | `5060` | module reload | a port |"));
    ck_assert_ptr_nonnull(strstr(md, "| `mode` | one of `challenge\\|403`"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("settings");
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_errors_have_file_line);
    tcase_add_test(tc, test_document);
    suite_add_tcase(s, tc);
    return run_suite(s) ? 1 : 0;
}
