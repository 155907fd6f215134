/*
 * check_dp_expand.c — ${var} and ${api(args)} expansion through the core's real API
 * dispatcher, \$ escapes, the configure-time syntax check, nesting bounds, and $N captures.
 */
#include "dp_expand.h"
#include <aorta/aorta.h>
#include <apr_strings.h>
#include "../check_common.h"
#include <stdlib.h>
#include <string.h>

apr_status_t aorta_core_init(void);
apr_status_t aorta_api_init(apr_pool_t *pool);
apr_status_t aorta_event_init(apr_pool_t *pool, apr_size_t queue_size);

static apr_table_t *vars;

/* A test command: prints its arguments in brackets, with a trailing newline as commands do. */
static apr_status_t cmd_echo(const char *args, aorta_stream_t *out, apr_pool_t *p)
{
    aorta_stream_printf(out, "[%s]\n\n", args);
    return APR_SUCCESS;
}

static apr_status_t cmd_fail(const char *args, aorta_stream_t *out, apr_pool_t *p)
{
    aorta_stream_puts(out, "-ERR nope\n");
    return AORTA_ENOTFOUND;
}

static const aorta_api_command_t cmds[] = {
    {"dp_echo", "<x>", "echo", cmd_echo}, {"dp_fail", "", "fails", cmd_fail}, {NULL, NULL, NULL, NULL}};

static void setup(void)
{
    ck_assert_int_eq(aorta_core_init(), APR_SUCCESS);
    pool = aorta_core_pool();
    ck_assert_int_eq(aorta_event_init(pool, 1000), APR_SUCCESS);
    ck_assert_int_eq(aorta_api_init(pool), APR_SUCCESS);
    for (const aorta_api_command_t *c = cmds; c->name; c++)
        ck_assert_int_eq(aorta_api_register(NULL, c), APR_SUCCESS);
    vars = apr_table_make(pool, 4);
    apr_table_set(vars, "destination_number", "5000");
    apr_table_set(vars, "who", "destination_number");
    apr_table_set(vars, "tricky", "${who}");
}

static const char *x(const char *in)
{
    const char *out, *err;
    ck_assert_msg(dp_expand(in, vars, pool, &out, &err) == APR_SUCCESS, "'%s': %s", in, err);
    return out;
}

START_TEST(test_variables)
{
    ck_assert_str_eq(x("plain text"), "plain text");
    ck_assert_str_eq(x("${destination_number}"), "5000");
    ck_assert_str_eq(x("a${destination_number}b${missing}c"), "a5000bc");
    ck_assert_str_eq(x("${${who}}"), "5000");   /* the name is expanded first */
    ck_assert_str_eq(x("${tricky}"), "${who}"); /* values are not re-expanded */
    ck_assert_str_eq(x("\\${destination_number}"), "${destination_number}");
    ck_assert_str_eq(x("[sip_route=<a>\\,<b>]sip/x"), "[sip_route=<a>\\,<b>]sip/x"); /* other escapes kept */
    ck_assert_str_eq(x("$1 and $ and ${}"), "$1 and $ and ");
}
END_TEST

START_TEST(test_api_calls)
{
    ck_assert_str_eq(x("${dp_echo(${destination_number})}"), "[5000]"); /* trailing newlines removed */
    ck_assert_str_eq(x("<${dp_echo(a b)}|${dp_echo()}>"), "<[a b]|[]>");
    ck_assert_str_eq(x("${dp_echo(${dp_echo(x)})}"), "[[x]]");
    ck_assert_str_eq(x("${dp_fail()}"), "-ERR nope");
    ck_assert_str_eq(x("${no_such_api(1)}"), "-ERR no_such_api Command not found!");
    ck_assert_str_eq(x("${not an api(1)}"), ""); /* not an API name: a variable that does not exist */
}
END_TEST

START_TEST(test_syntax_errors)
{
    const char *out, *err;
    ck_assert_int_eq(dp_expand("ab${destination_number", vars, pool, &out, &err), AORTA_ESYNTAX);
    ck_assert_str_eq(err, "offset 2: unterminated '${' (no matching '}')");
    ck_assert_int_eq(dp_expand_check("x ${dp_echo(${y)}", pool, &err), AORTA_ESYNTAX);
    ck_assert_ptr_nonnull(strstr(err, "unterminated"));
    ck_assert_int_eq(dp_expand_check("${a}${b(${c})}", pool, &err), APR_SUCCESS);
    char *deep = apr_pstrdup(pool, "");
    for (int i = 0; i < DP_EXPAND_MAX_DEPTH + 2; i++)
        deep = apr_pstrcat(pool, "${", deep, "}", NULL);
    ck_assert_int_eq(dp_expand_check(deep, pool, &err), AORTA_ESYNTAX);
    ck_assert_ptr_nonnull(strstr(err, "nested deeper"));
}
END_TEST

START_TEST(test_captures)
{
    const char *caps[] = {"5000", "5", NULL};
    ck_assert_str_eq(dp_expand_captures("sip/$0/$1,$2$9", caps, 3, pool), "sip/5000/5,");
    ck_assert_str_eq(dp_expand_captures("${dial_contacts($0)}", caps, 3, pool), "${dial_contacts(5000)}");
    ck_assert_str_eq(dp_expand_captures("\\$1 costs $", caps, 3, pool), "\\$1 costs $");
    ck_assert_str_eq(dp_expand_captures("none", NULL, 0, pool), "none");
    ck_assert_str_eq(x(dp_expand_captures("\\$1", caps, 3, pool)), "$1");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dp_expand");
    TCase *tc = tcase_create("expand");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_variables);
    tcase_add_test(tc, test_api_calls);
    tcase_add_test(tc, test_syntax_errors);
    tcase_add_test(tc, test_captures);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
