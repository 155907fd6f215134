/*
 * check_dp_dialstring.c — the dial-string parser: the grammar's scopes and separators, the
 * leg forms of SPEC §8, what `dial_contacts` produces, malformed strings (error text with
 * the offset, never a crash), hangup causes and the best-response rule.
 */
#include "dp_dialstring.h"
#include <aorta/types.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "../check_common.h"
#include <stdlib.h>
#include <string.h>

static dp_dialstring_t *ok(const char *s)
{
    dp_dialstring_t *ds;
    const char *err;
    apr_status_t st = dp_dialstring_parse(s, pool, &ds, &err);
    ck_assert_msg(st == APR_SUCCESS, "'%s' failed: %s", s, err ? err : "(no error text)");
    ck_assert_ptr_nonnull(ds);
    return ds;
}

static const char *bad(const char *s)
{
    dp_dialstring_t *ds = (dp_dialstring_t *)1;
    const char *err = NULL;
    apr_status_t st = dp_dialstring_parse(s, pool, &ds, &err);
    ck_assert_msg(st == AORTA_ESYNTAX, "'%s' should not parse", s);
    ck_assert_ptr_null(ds);
    ck_assert_ptr_nonnull(err);
    return err;
}

#define BRANCH(ds, b) APR_ARRAY_IDX((ds)->branches, b, dp_branch_t *)
#define GROUP(br, g) APR_ARRAY_IDX((br)->groups, g, dp_group_t *)
#define LEG(gr, l) APR_ARRAY_IDX((gr)->legs, l, dp_leg_t *)

START_TEST(test_leg_forms)
{
    dp_dialstring_t *ds = ok("sip/5000,sip/5000/6000,sip/5000/sip:alice@127.0.0.1:5070;transport=tcp,error/user_busy");
    ck_assert_int_eq(ds->branches->nelts, 1);
    ck_assert_int_eq(ds->nlegs, 4);
    ck_assert_int_eq(ds->nerror, 1);
    dp_group_t *g = GROUP(BRANCH(ds, 0), 0);
    ck_assert_int_eq(g->legs->nelts, 4);
    dp_leg_t *l = LEG(g, 0);
    ck_assert_int_eq(l->kind, DP_LEG_SIP);
    ck_assert_str_eq(l->endpoint, "5000");
    ck_assert_ptr_null(l->aor);
    ck_assert_ptr_null(l->uri);
    l = LEG(g, 1);
    ck_assert_str_eq(l->endpoint, "5000");
    ck_assert_str_eq(l->aor, "6000");
    ck_assert_ptr_null(l->uri);
    l = LEG(g, 2);
    ck_assert_str_eq(l->uri, "sip:alice@127.0.0.1:5070;transport=tcp");
    ck_assert_str_eq(l->target, "sip/5000/sip:alice@127.0.0.1:5070;transport=tcp");
    l = LEG(g, 3);
    ck_assert_int_eq(l->kind, DP_LEG_ERROR);
    ck_assert_str_eq(l->cause, "USER_BUSY");
    ck_assert_uint_eq(l->offset, strlen("sip/5000,sip/5000/6000,sip/5000/sip:alice@127.0.0.1:5070;transport=tcp,"));
}
END_TEST

START_TEST(test_groups_and_branches)
{
    dp_dialstring_t *ds = ok("sip/a , sip/b | sip/c :_: sip/d|error/17");
    ck_assert_int_eq(ds->branches->nelts, 2);
    dp_branch_t *b0 = BRANCH(ds, 0), *b1 = BRANCH(ds, 1);
    ck_assert_int_eq(b0->groups->nelts, 2);
    ck_assert_int_eq(GROUP(b0, 0)->legs->nelts, 2);
    ck_assert_str_eq(LEG(GROUP(b0, 0), 1)->endpoint, "b");
    ck_assert_str_eq(LEG(GROUP(b0, 1), 0)->endpoint, "c");
    ck_assert_int_eq(b1->groups->nelts, 2);
    ck_assert_str_eq(LEG(GROUP(b1, 0), 0)->endpoint, "d");
    ck_assert_str_eq(LEG(GROUP(b1, 1), 0)->cause, "USER_BUSY"); /* Q.850 17 */
    ck_assert_int_eq(ds->nlegs, 5);
}
END_TEST

START_TEST(test_variable_scopes)
{
    dp_dialstring_t *ds = ok("<e=1,x=outer>{leg_timeout=20,x=branch}[x=leg,y=2]sip/a,sip/b:_:{z=3}sip/c");
    dp_leg_t *a = LEG(GROUP(BRANCH(ds, 0), 0), 0), *b = LEG(GROUP(BRANCH(ds, 0), 0), 1);
    dp_leg_t *c = LEG(GROUP(BRANCH(ds, 1), 0), 0);
    ck_assert_str_eq(dp_vars_get(a->vars, "x"), "leg");
    ck_assert_str_eq(dp_vars_get(a->vars, "y"), "2");
    ck_assert_str_eq(dp_vars_get(a->vars, "e"), "1");
    ck_assert_str_eq(dp_vars_get(a->vars, "leg_timeout"), "20");
    ck_assert_int_eq(a->vars->nelts, 4); /* x overridden in place, not duplicated */
    ck_assert_str_eq(dp_vars_get(b->vars, "x"), "branch");
    ck_assert_ptr_null(dp_vars_get(b->vars, "y"));
    ck_assert_str_eq(dp_vars_get(c->vars, "x"), "outer");
    ck_assert_str_eq(dp_vars_get(c->vars, "z"), "3");
    ck_assert_ptr_null(dp_vars_get(c->vars, "leg_timeout"));
    ck_assert_str_eq(dp_vars_get(ds->vars, "e"), "1");
    ck_assert_str_eq(dp_vars_get(BRANCH(ds, 0)->vars, "leg_timeout"), "20");
}
END_TEST

START_TEST(test_escapes_and_separators)
{
    /* what mod_location's dial_contacts writes for a contact registered through Path */
    dp_dialstring_t *ds =
        ok("[sip_route=<sip:p1;lr>\\,<sip:p2;lr>]sip/5000/sip:5000@10.0.0.5:5062,"
           "[sip_network_destination=sip:203.0.113.5:40001;transport=udp]sip/5000/sip:5000@192.168.1.9");
    dp_group_t *g = GROUP(BRANCH(ds, 0), 0);
    ck_assert_int_eq(g->legs->nelts, 2);
    ck_assert_str_eq(dp_vars_get(LEG(g, 0)->vars, "sip_route"), "<sip:p1;lr>,<sip:p2;lr>");
    ck_assert_str_eq(LEG(g, 0)->uri, "sip:5000@10.0.0.5:5062");
    ck_assert_str_eq(dp_vars_get(LEG(g, 1)->vars, "sip_network_destination"), "sip:203.0.113.5:40001;transport=udp");
    /* ^^: switches the separator; commas are then plain */
    ds = ok("{^^:a=1,2:b=x=y}sip/a");
    dp_leg_t *l = LEG(GROUP(BRANCH(ds, 0), 0), 0);
    ck_assert_str_eq(dp_vars_get(l->vars, "a"), "1,2");
    ck_assert_str_eq(dp_vars_get(l->vars, "b"), "x=y"); /* split at the first '=' */
    /* nested brackets of the same kind and an escaped closing bracket stay in the value */
    ds = ok("[h=[x]y,k=a\\]b]sip/a");
    l = LEG(GROUP(BRANCH(ds, 0), 0), 0);
    ck_assert_str_eq(dp_vars_get(l->vars, "h"), "[x]y");
    ck_assert_str_eq(dp_vars_get(l->vars, "k"), "a]b");
    /* empty lists, several lists, whitespace */
    ds = ok("{}  { a = 1 } [] [b=2] sip/a");
    l = LEG(GROUP(BRANCH(ds, 0), 0), 0);
    ck_assert_str_eq(dp_vars_get(l->vars, "a"), "1");
    ck_assert_str_eq(dp_vars_get(l->vars, "b"), "2");
    ck_assert_str_eq(LEG(GROUP(BRANCH(ok("error/USER_NOT_REGISTERED"), 0), 0), 0)->cause, "USER_NOT_REGISTERED");
}
END_TEST

static void bad_at(const char *s, const char *offset_and_text)
{
    const char *err = bad(s);
    ck_assert_msg(strstr(err, offset_and_text) != NULL, "'%s': error '%s' lacks '%s'", s, err, offset_and_text);
}

START_TEST(test_malformed)
{
    bad_at("", "offset 0: empty dial string");
    bad_at("   ", "offset 0: empty dial string");
    bad_at("{a=1", "offset 0: unbalanced '{': no matching '}'");
    bad_at("sip/a,[x=1sip/b", "offset 6: unbalanced '['");
    bad_at("<a=1>{b=2}[c=3", "offset 10: unbalanced '['");
    bad_at("sip/a,,sip/b", "offset 6: empty leg");
    bad_at("sip/a,", "offset 6: empty leg");
    bad_at("|sip/a", "offset 0: empty leg");
    bad_at("sip/a|", "offset 6: empty leg");
    bad_at("sip/a:_:", "offset 8: empty leg");
    bad_at("{a}sip/x", "offset 1: variable 'a' has no '='");
    bad_at("{=1}sip/x", "offset 1: variable with an empty name");
    bad_at("{a=1,}sip/x", "offset 5: empty variable");
    bad_at("{a b=1}sip/x", "variable name 'a b' contains whitespace");
    bad_at("{^^}sip/x", "offset 1: '^^' must be followed by the separator");
    bad_at("[a=1\\", "offset 4: a backslash at the end");
    bad_at("sip/a,{x=1}sip/b", "offset 6: '{' variables are allowed only at the start of a branch");
    bad_at("sip/a,<x=1>sip/b", "offset 6: '<' variables are allowed only at the start of the dial string");
    bad_at("sip/a[x=1]", "offset 5: unexpected '[' inside an endpoint string");
    bad_at("sip/a}", "offset 5: unexpected '}'");
    bad_at("sip/", "offset 4: sip/ leg without an endpoint name");
    bad_at("sip//6000", "offset 4: sip/ leg without an endpoint name");
    bad_at("sip/5000/", "offset 9: nothing after 'sip/5000/'");
    bad_at("sip/5000/sip:", "offset 9: URI 'sip:' has no host");
    bad_at("sip/5000/a/b", "offset 9: AOR 'a/b' contains '/'");
    bad_at("error/", "offset 0: error/ leg without a cause");
    bad_at("sip/a,error/no_such_cause", "offset 12: unknown hangup cause 'no_such_cause'");
    bad_at("sofia/internal/1000", "offset 0: unknown endpoint type 'sofia'");
    bad_at("5000", "offset 0: '5000' is not an endpoint string");
    bad_at("-ERR endpoint '9' not found", "whitespace inside the endpoint string");
    bad_at("sip/a sip/b", "offset 5: whitespace inside the endpoint string");
}
END_TEST

/* Every prefix and many mutations of valid strings: no crash, and a verdict either way. */
START_TEST(test_fuzz_no_crash)
{
    const char *seeds[] = {"<a=1>{^^:b=2:c=3}[d=\\,]sip/x/sip:u@h;p=1,error/17|sip/y/z:_:{}sip/w", "[[x]]]sip/a",
                           "{{}}sip/a", "\\\\,|:_:<>{}[]", NULL};
    const char alphabet[] = "<>{}[],|:_\\^=/ ase";
    srand(7);
    for (const char **sp = seeds; *sp; sp++) {
        apr_size_t n = strlen(*sp);
        for (apr_size_t cut = 0; cut <= n; cut++) {
            char *s = apr_pstrndup(pool, *sp, cut);
            dp_dialstring_t *ds;
            const char *err;
            apr_status_t st = dp_dialstring_parse(s, pool, &ds, &err);
            ck_assert(st == APR_SUCCESS ? ds != NULL : (err != NULL && ds == NULL));
            for (int k = 0; k < 50 && n; k++) {
                char *m = apr_pstrdup(pool, *sp);
                m[rand() % n] = alphabet[rand() % (sizeof alphabet - 1)];
                st = dp_dialstring_parse(m, pool, &ds, &err);
                ck_assert(st == APR_SUCCESS ? ds != NULL : (err != NULL && !strncmp(err, "offset ", 7)));
            }
        }
    }
}
END_TEST

START_TEST(test_describe)
{
    const char *d = dp_dialstring_describe(ok("{t=1}sip/a,error/user_not_registered|sip/b/sip:b@h"), pool);
    ck_assert_str_eq(d, "branch 1: 2 groups (tried in order)\n"
                        "  group 1: 2 legs (rung together)\n"
                        "    leg 1: sip endpoint=a\n"
                        "      t=1\n"
                        "    leg 2: error cause=USER_NOT_REGISTERED status=480\n"
                        "      t=1\n"
                        "  group 2: 1 leg (rung together)\n"
                        "    leg 1: sip endpoint=b uri=sip:b@h\n"
                        "      t=1\n");
}
END_TEST

START_TEST(test_causes)
{
    int q = -1;
    ck_assert_str_eq(dp_cause_lookup("user_not_registered", &q), "USER_NOT_REGISTERED");
    ck_assert_int_eq(q, 606);
    ck_assert_str_eq(dp_cause_lookup("17", NULL), "USER_BUSY");
    ck_assert_ptr_null(dp_cause_lookup("busy", NULL));
    ck_assert_ptr_null(dp_cause_lookup("", NULL));
    ck_assert_ptr_null(dp_cause_lookup("9999", NULL));
    ck_assert_int_eq(dp_cause_to_sip("USER_NOT_REGISTERED"), 480);
    ck_assert_int_eq(dp_cause_to_sip("USER_BUSY"), 486);
    ck_assert_int_eq(dp_cause_to_sip("NO_ROUTE_DESTINATION"), 404);
    ck_assert_int_eq(dp_cause_to_sip("UNALLOCATED_NUMBER"), 404);
    ck_assert_int_eq(dp_cause_to_sip("CALL_REJECTED"), 603);
    ck_assert_int_eq(dp_cause_to_sip("NO_USER_RESPONSE"), 408);
    ck_assert_int_eq(dp_cause_to_sip("NORMAL_TEMPORARY_FAILURE"), 503);
    ck_assert_int_eq(dp_cause_to_sip("NORMAL_CLEARING"), 480); /* FreeSWITCH's default */
    ck_assert_str_eq(dp_sip_phrase(480), "Temporarily Unavailable");
    ck_assert_str_eq(dp_sip_phrase(799), "Unknown");
}
END_TEST

START_TEST(test_best_status)
{
    int a[] = {486, 480, 503};
    ck_assert_int_eq(dp_best_status(a, 3), 486); /* lowest class; first of the class */
    int b[] = {503, 404, 603, 486};
    ck_assert_int_eq(dp_best_status(b, 4), 603); /* a 6xx wins */
    int c[] = {480, 407, 486};
    ck_assert_int_eq(dp_best_status(c, 3), 407); /* a 4xx the caller can fix is preferred */
    int d[] = {503, 302};
    ck_assert_int_eq(dp_best_status(d, 2), 302);
    ck_assert_int_eq(dp_best_status(NULL, 0), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dp_dialstring");
    TCase *tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, test_leg_forms);
    tcase_add_test(tc, test_groups_and_branches);
    tcase_add_test(tc, test_variable_scopes);
    tcase_add_test(tc, test_escapes_and_separators);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_fuzz_no_crash);
    tcase_add_test(tc, test_describe);
    tcase_add_test(tc, test_causes);
    tcase_add_test(tc, test_best_status);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
