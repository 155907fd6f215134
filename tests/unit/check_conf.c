/*
 * check_conf.c — the pre-processor and configuration loading: includes with globs
 * relative to the including file, set, $${var} with --set winning, comments left alone,
 * <include> wrappers dissolved, and every error reported with its original file:line.
 */
#include "check_common.h"

static const char *root_xml = "<?xml version=\"1.0\"?>\n"
                              "<document>\n"
                              "  <X-PRE-PROCESS cmd=\"include\" data=\"vars.xml\"/>\n"
                              "  <section name=\"configuration\">\n"
                              "    <X-PRE-PROCESS cmd=\"include\" data=\"conf.d/*.xml\"/>\n"
                              "  </section>\n"
                              "</document>\n";

START_TEST(test_include_glob_and_set)
{
    char *d = tmpdir_make();
    tmpfile_write(d, "aorta.xml", root_xml);
    tmpfile_write(d, "vars.xml", "<include>\n  <X-PRE-PROCESS cmd=\"set\" data=\"port=5060\"/>\n"
                                 "  <X-PRE-PROCESS cmd=\"set\" data=\"ip=10.0.0.1\"/>\n</include>\n");
    tmpfile_write(d, "conf.d/a.xml", "<?xml version=\"1.0\"?>\n<include>\n<configuration name=\"a.conf\">\n"
                                     "  <param name=\"p\" value=\"$${ip}:$${port}\"/>\n</configuration>\n</include>\n");
    tmpfile_write(d, "conf.d/b.xml", "<configuration name=\"b.conf\"/>\n");
    apr_table_t *vars = apr_table_make(pool, 2);
    apr_table_set(vars, "port", "7070"); /* --set wins over vars.xml */
    aorta_conf_errors_t *errs = aorta_conf_errors_create(pool);
    aorta_conf_t *conf;
    ck_assert_int_eq(aorta_conf_load(&conf, apr_pstrcat(pool, d, "/aorta.xml", NULL), vars, pool, errs), APR_SUCCESS);
    ck_assert_int_eq(aorta_conf_errors_count(errs), 0);
    xmlNode *a = aorta_conf_configuration(conf, "a.conf");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(aorta_conf_configuration(conf, "b.conf"));
    ck_assert_ptr_null(aorta_conf_configuration(conf, "c.conf"));
    xmlNode *p = aorta_xml_child(a, "param");
    ck_assert_str_eq(aorta_xml_attr(p, "value"), "10.0.0.1:7070");
    ck_assert_str_eq(aorta_conf_var(conf, "port"), "7070");
    const char *file;
    int line;
    aorta_conf_where(conf, p, &file, &line);
    ck_assert_str_eq(file, apr_pstrcat(pool, d, "/conf.d/a.xml", NULL));
    ck_assert_int_eq(line, 4);
}
END_TEST

START_TEST(test_unknown_var_and_missing_include_all_reported)
{
    char *d = tmpdir_make();
    tmpfile_write(d, "aorta.xml", "<document>\n"
                                  "  <X-PRE-PROCESS cmd=\"include\" data=\"missing.xml\"/>\n"
                                  "  <section name=\"configuration\">\n"
                                  "    <configuration name=\"x.conf\"><param name=\"a\" value=\"$${nope}\"/>\n"
                                  "    </configuration>\n"
                                  "    <X-PRE-PROCESS cmd=\"frobnicate\" data=\"x\"/>\n"
                                  "  </section>\n</document>\n");
    aorta_conf_errors_t *errs = aorta_conf_errors_create(pool);
    aorta_conf_t *conf;
    char *root = apr_pstrcat(pool, d, "/aorta.xml", NULL);
    ck_assert_int_eq(aorta_conf_load(&conf, root, NULL, pool, errs), AORTA_ECONFIG);
    ck_assert_ptr_null(conf);
    ck_assert_int_eq(aorta_conf_errors_count(errs), 3);
    ck_assert_str_eq(aorta_conf_errors_get(errs, 0),
                     apr_pstrcat(pool, root, ":2: include \"missing.xml\": no such file", NULL));
    ck_assert_str_eq(aorta_conf_errors_get(errs, 1), apr_pstrcat(pool, root, ":4: unknown variable $${nope}", NULL));
    ck_assert_ptr_nonnull(strstr(aorta_conf_errors_get(errs, 2), ":6: unsupported X-PRE-PROCESS cmd"));
}
END_TEST

START_TEST(test_xml_error_in_included_file_has_its_line)
{
    char *d = tmpdir_make();
    tmpfile_write(d, "aorta.xml", root_xml);
    tmpfile_write(d, "vars.xml", "<include/>\n");
    tmpfile_write(d, "conf.d/bad.xml", "<include>\n\n<configuration name=\"bad.conf\">\n  <oops>\n</configuration>\n"
                                       "</include>\n");
    aorta_conf_errors_t *errs = aorta_conf_errors_create(pool);
    aorta_conf_t *conf;
    ck_assert_int_eq(aorta_conf_load(&conf, apr_pstrcat(pool, d, "/aorta.xml", NULL), NULL, pool, errs),
                     AORTA_ECONFIG);
    ck_assert_int_ge(aorta_conf_errors_count(errs), 1);
    const char *e = aorta_conf_errors_get(errs, 0);
    ck_assert_msg(strstr(e, "/conf.d/bad.xml:5: XML:") != NULL, "got %s", e);
}
END_TEST

START_TEST(test_comments_are_not_processed)
{
    char *d = tmpdir_make();
    tmpfile_write(d, "aorta.xml", "<document>\n<!-- $${undefined} and\n"
                                  "  <X-PRE-PROCESS cmd=\"include\" data=\"nothing.xml\"/> -->\n"
                                  "<section name=\"dialplan\"/>\n</document>\n");
    aorta_conf_errors_t *errs = aorta_conf_errors_create(pool);
    aorta_conf_t *conf;
    ck_assert_int_eq(aorta_conf_load(&conf, apr_pstrcat(pool, d, "/aorta.xml", NULL), NULL, pool, errs), APR_SUCCESS);
    ck_assert_ptr_nonnull(aorta_conf_section(conf, "dialplan"));
}
END_TEST

START_TEST(test_glob_matching_nothing_is_fine)
{
    char *d = tmpdir_make();
    tmpfile_write(d, "aorta.xml", "<document>\n<X-PRE-PROCESS cmd=\"include\" data=\"none/*.xml\"/>\n</document>\n");
    aorta_conf_errors_t *errs = aorta_conf_errors_create(pool);
    aorta_conf_t *conf;
    ck_assert_int_eq(aorta_conf_load(&conf, apr_pstrcat(pool, d, "/aorta.xml", NULL), NULL, pool, errs), APR_SUCCESS);
}
END_TEST

START_TEST(test_include_loop_is_an_error)
{
    char *d = tmpdir_make();
    tmpfile_write(d, "aorta.xml", "<document>\n<X-PRE-PROCESS cmd=\"include\" data=\"a.xml\"/>\n</document>\n");
    tmpfile_write(d, "a.xml", "<include>\n<X-PRE-PROCESS cmd=\"include\" data=\"a.xml\"/>\n</include>\n");
    aorta_conf_errors_t *errs = aorta_conf_errors_create(pool);
    aorta_conf_t *conf;
    ck_assert_int_eq(aorta_conf_load(&conf, apr_pstrcat(pool, d, "/aorta.xml", NULL), NULL, pool, errs),
                     AORTA_ECONFIG);
    ck_assert_ptr_nonnull(strstr(aorta_conf_errors_get(errs, 0), "nested deeper"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("preprocessor");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, test_include_glob_and_set);
    tcase_add_test(tc, test_unknown_var_and_missing_include_all_reported);
    tcase_add_test(tc, test_xml_error_in_included_file_has_its_line);
    tcase_add_test(tc, test_comments_are_not_processed);
    tcase_add_test(tc, test_glob_matching_nothing_is_fine);
    tcase_add_test(tc, test_include_loop_is_an_error);
    suite_add_tcase(s, tc);
    return run_suite(s) ? 1 : 0;
}
