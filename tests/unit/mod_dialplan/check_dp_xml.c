/*
 * check_dp_xml.c — the dialplan parsed from real XML through the core's configuration loader,
 * hunted and run in dry-run mode: FreeSWITCH condition semantics (AND, anti-actions, break,
 * continue, inline set), capture substitution, the applications' decisions, continue_on_fail,
 * the best status over error legs, and configure-time errors with file:line.
 */
#include "dp_internal.h"
#include "../check_common.h"

apr_status_t aorta_core_init(void);
apr_status_t aorta_api_init(apr_pool_t *pool);
apr_status_t aorta_event_init(apr_pool_t *pool, apr_size_t queue_size);


static void setup(void)
{
    ck_assert_int_eq(aorta_core_init(), APR_SUCCESS);
    pool = aorta_core_pool();
    ck_assert_int_eq(aorta_event_init(pool, 1000), APR_SUCCESS);
    ck_assert_int_eq(aorta_api_init(pool), APR_SUCCESS);
}

/* Load aorta.xml with @p dialplan as its dialplan section; parse it into *dc. */
static apr_status_t load(const char *dialplan, dp_conf_t **dc, aorta_conf_errors_t **errs)
{
    char *dir = tmpdir_make();
    tmpfile_write(dir, "aorta.xml",
                  "<document type=\"aorta/xml\">\n"
                  "  <section name=\"dialplan\">\n"
                  "    <X-PRE-PROCESS cmd=\"include\" data=\"dialplan/*.xml\"/>\n"
                  "  </section>\n"
                  "</document>\n");
    tmpfile_write(dir, "dialplan/d.xml", dialplan);
    aorta_conf_t *conf;
    *errs = aorta_conf_errors_create(pool);
    ck_assert_int_eq(aorta_conf_load(&conf, apr_pstrcat(pool, dir, "/aorta.xml", NULL), NULL, pool, *errs),
                     APR_SUCCESS);
    return dp_conf_parse(conf, pool, *errs, dc);
}

static const char *route(const dp_conf_t *dc, const char *ctx, const char *dest, const char *const *vars,
                         const char **ext)
{
    dp_call_t call = {0};
    call.pool = pool;
    call.vars = apr_table_make(pool, 8);
    call.dry_run = 1;
    apr_table_set(call.vars, "destination_number", dest);
    for (; vars && *vars; vars++)
        dp_set_apply(call.vars, *vars, pool);
    dp_route(&call, dc, ctx, ext);
    return apr_psprintf(pool, "%d %s", call.status, call.phrase);
}

static const char *PLAN = "<include><context name=\"c\">\n"
                          "  <extension name=\"pre\" continue=\"true\">\n"
                          "    <condition field=\"destination_number\" expression=\"^(\\d)(\\d)(\\d+)?$\">\n"
                          "      <action application=\"set\" data=\"a=$1-$2-$3-$9\"/>\n"
                          "      <action application=\"set\" data=\"inl=$2\" inline=\"true\"/>\n"
                          "    </condition>\n"
                          "  </extension>\n"
                          "  <extension name=\"inline-seen\">\n"
                          "    <condition field=\"inl\" expression=\"^7$\">\n"
                          "      <action application=\"respond\" data=\"486 saw ${a}\"/>\n"
                          "    </condition>\n"
                          "  </extension>\n"
                          "  <extension name=\"and\">\n"
                          "    <condition field=\"destination_number\" expression=\"^2\"/>\n"
                          "    <condition field=\"${caller_id_number}x\" expression=\"^42x$\">\n"
                          "      <action application=\"hangup\" data=\"call_rejected\"/>\n"
                          "      <anti-action application=\"set\" data=\"anti=yes\"/>\n"
                          "    </condition>\n"
                          "  </extension>\n"
                          "  <extension name=\"on-true\">\n"
                          "    <condition field=\"destination_number\" expression=\"^3\" break=\"on-true\">\n"
                          "      <action application=\"respond\" data=\"410\"/>\n"
                          "    </condition>\n"
                          "    <condition field=\"destination_number\" expression=\"^never-evaluated$\"/>\n"
                          "  </extension>\n"
                          "  <extension name=\"bridges\">\n"
                          "    <condition field=\"destination_number\" expression=\"^b(\\d)$\">\n"
                          "      <action application=\"bridge\" data=\"${legs$1}\"/>\n"
                          "      <action application=\"respond\" data=\"404 after ${originate_disposition}\"/>\n"
                          "    </condition>\n"
                          "  </extension>\n"
                          "  <extension name=\"last\">\n"
                          "    <condition field=\"destination_number\" expression=\"^(.*)$\">\n"
                          "      <action application=\"respond\" data=\"403 ${anti}\"/>\n"
                          "    </condition>\n"
                          "  </extension>\n"
                          "</context></include>\n";

START_TEST(test_semantics)
{
    dp_conf_t *dc;
    aorta_conf_errors_t *errs;
    const char *ext;
    ck_assert_int_eq(load(PLAN, &dc, &errs), APR_SUCCESS);
    ck_assert_int_eq(dc->nextensions, 6);
    /* inline set is seen by a later condition; ${a} expanded at run time with $3 and $9 empty */
    ck_assert_str_eq(route(dc, "c", "174", NULL, &ext), "486 saw 1-7-4-");
    ck_assert_str_eq(ext, "pre,inline-seen");
    ck_assert_str_eq(route(dc, "c", "17", NULL, &ext), "486 saw 1-7--");
    /* both conditions of "and" true */
    const char *v42[] = {"caller_id_number=42", NULL};
    ck_assert_str_eq(route(dc, "c", "25", v42, &ext), "603 Decline");
    ck_assert_str_eq(ext, "pre,and");
    /* second condition false: anti-action runs, "and" does not match, "last" does */
    ck_assert_str_eq(route(dc, "c", "25", NULL, &ext), "403 yes");
    ck_assert_str_eq(ext, "pre,last");
    /* break=on-true: the next condition is never evaluated, the extension matched */
    ck_assert_str_eq(route(dc, "c", "3", NULL, &ext), "410 Gone");
    ck_assert_str_eq(ext, "on-true");
    /* no extension: 404; no context: 404 */
    dp_conf_t *empty;
    ck_assert_int_eq(load("<include><context name=\"e\"/></include>", &empty, &errs), APR_SUCCESS);
    ck_assert_str_eq(route(empty, "e", "1", NULL, &ext), "404 Not Found");
    ck_assert_ptr_null(ext);
    ck_assert_str_eq(route(dc, "nosuch", "1", NULL, &ext), "404 Not Found");
}
END_TEST

START_TEST(test_bridge_outcomes)
{
    dp_conf_t *dc;
    aorta_conf_errors_t *errs;
    const char *ext;
    ck_assert_int_eq(load(PLAN, &dc, &errs), APR_SUCCESS);
    const char *v1[] = {"legs1=error/user_not_registered", NULL};
    ck_assert_str_eq(route(dc, "c", "b1", v1, &ext), "480 Temporarily Unavailable");
    const char *v2[] = {"legs2=error/no_answer,error/user_busy|error/call_rejected", NULL};
    ck_assert_str_eq(route(dc, "c", "b2", v2, &ext), "603 Decline"); /* a 6xx wins over every 4xx */
    const char *v3[] = {"legs3=error/normal_temporary_failure,error/user_busy", NULL};
    ck_assert_str_eq(route(dc, "c", "b3", v3, &ext), "486 Busy Here"); /* lowest class */
    const char *v4[] = {"legs4=sip/5000", NULL};
    ck_assert_str_eq(route(dc, "c", "b4", v4, &ext), "200 OK"); /* dry run: the callees would decide */
    const char *v5[] = {"legs5=sip/5000,,sip/6000", NULL};
    ck_assert_str_eq(route(dc, "c", "b5", v5, &ext), "500 Server Internal Error");
    const char *v6[] = {"legs6=-ERR endpoint '5999' not found", NULL};
    ck_assert_str_eq(route(dc, "c", "b6", v6, &ext), "404 Not Found");
    /* continue_on_fail: a listed cause (name or Q.850 number) lets the next action run */
    const char *v7[] = {"legs7=error/user_busy", "continue_on_fail=NO_ANSWER,17", NULL};
    ck_assert_str_eq(route(dc, "c", "b7", v7, &ext), "404 after USER_BUSY");
    const char *v8[] = {"legs8=error/user_busy", "continue_on_fail=NO_ANSWER", NULL};
    ck_assert_str_eq(route(dc, "c", "b8", v8, &ext), "486 Busy Here");
    const char *v9[] = {"legs9=error/user_busy", "continue_on_fail=true", NULL};
    ck_assert_str_eq(route(dc, "c", "b9", v9, &ext), "404 after USER_BUSY");
}
END_TEST

/* A bridge that rings asynchronously: the run suspends, and resumes after the failure. */
static int rang;
static void fake_ring(dp_call_t *call, const dp_dialstring_t *ds, const char *dialstring)
{
    (void)dialstring;
    rang = ds->nlegs;
    call->suspended = 1;
}

START_TEST(test_bridge_suspends_and_resumes)
{
    dp_conf_t *dc;
    aorta_conf_errors_t *errs;
    const char *ext;
    ck_assert_int_eq(load(PLAN, &dc, &errs), APR_SUCCESS);
    dp_call_t call = {0};
    call.pool = pool;
    call.vars = apr_table_make(pool, 8);
    call.bridge_start = fake_ring;
    apr_table_set(call.vars, "destination_number", "b4");
    apr_table_set(call.vars, "legs4", "sip/5000,sip/6000|sip/7000");
    apr_table_set(call.vars, "continue_on_fail", "USER_BUSY");
    dp_route(&call, dc, "c", &ext);
    ck_assert_int_eq(rang, 3);
    ck_assert_int_eq(call.suspended, 1);
    ck_assert_int_eq(call.status, 0); /* undecided while ringing */
    /* every leg failed busy: continue_on_fail lets the next action run */
    call.suspended = 0;
    dp_bridge_fail(&call, "USER_BUSY", 486, "bridge: USER_BUSY");
    ck_assert_int_eq(call.status, 0);
    dp_exec_continue(&call);
    ck_assert_int_eq(call.status, 404);
    ck_assert_str_eq(call.phrase, "after USER_BUSY");
    /* without continue_on_fail the failure is the answer */
    dp_call_t c2 = {0};
    c2.pool = pool;
    c2.vars = apr_table_make(pool, 8);
    c2.bridge_start = fake_ring;
    apr_table_set(c2.vars, "destination_number", "b4");
    apr_table_set(c2.vars, "legs4", "sip/5000");
    dp_route(&c2, dc, "c", &ext);
    ck_assert_int_eq(c2.suspended, 1);
    c2.suspended = 0;
    dp_bridge_fail(&c2, "NO_ANSWER", 480, "bridge: NO_ANSWER");
    dp_exec_continue(&c2);
    ck_assert_int_eq(c2.status, 480);
}
END_TEST

START_TEST(test_runtime_data_checks)
{
    dp_conf_t *dc;
    aorta_conf_errors_t *errs;
    const char *ext;
    ck_assert_int_eq(load("<include><context name=\"r\"><extension name=\"x\"><condition>"
                          "<action application=\"set\" data=\"code=${destination_number}\"/>"
                          "<action application=\"respond\" data=\"${code}\"/>"
                          "</condition></extension></context></include>",
                          &dc, &errs),
                     APR_SUCCESS);
    ck_assert_str_eq(route(dc, "r", "200", NULL, &ext), "500 Server Internal Error"); /* 2xx refused */
    ck_assert_str_eq(route(dc, "r", "abc", NULL, &ext), "500 Server Internal Error");
    ck_assert_str_eq(route(dc, "r", "180", NULL, &ext), "480 Temporarily Unavailable"); /* no final answer */
    ck_assert_str_eq(route(dc, "r", "302", NULL, &ext), "302 Moved Temporarily");
}
END_TEST

START_TEST(test_configure_errors)
{
    dp_conf_t *dc;
    aorta_conf_errors_t *errs;
    ck_assert_int_eq(load("<include>\n"
                          "<context>\n"
                          "</context>\n"
                          "<context name=\"x\" bad=\"1\">\n"
                          "  <extension name=\"e\" continue=\"maybe\">\n"
                          "    <condition field=\"destination_number\" expression=\"(\">\n"
                          "      <action data=\"x\"/>\n"
                          "      <action application=\"log\" inline=\"true\" data=\"x\"/>\n"
                          "    </condition>\n"
                          "    <condition field=\"destination_number\"/>\n"
                          "    <condition expression=\"x\"/>\n"
                          "    <action application=\"log\"/>\n"
                          "  </extension>\n"
                          "  <nonsense/>\n"
                          "</context>\n"
                          "</include>\n",
                          &dc, &errs),
                     AORTA_ECONFIG);
    const char *want[] = {"d.xml:2: <context> without name=",
                          "d.xml:4: <context bad=...> is not supported",
                          "d.xml:5: continue=\"maybe\" is not a boolean",
                          "d.xml:6: expression \"(\": missing closing parenthesis at offset 1",
                          "d.xml:7: <action> without application=",
                          "d.xml:8: inline=\"true\" is supported for set only, not 'log'",
                          "d.xml:10: condition field=\"destination_number\" without expression=",
                          "d.xml:11: condition expression=\"x\" without field=",
                          "d.xml:12: unexpected <action> in <extension> (<condition> expected)",
                          "d.xml:14: unexpected <nonsense> in <context> (<extension> expected)",
                          NULL};
    int n = aorta_conf_errors_count(errs);
    for (const char **w = want; *w; w++) {
        int found = 0;
        for (int i = 0; i < n; i++)
            found |= strstr(aorta_conf_errors_get(errs, i), *w) != NULL;
        ck_assert_msg(found, "missing error '%s'", *w);
    }
    ck_assert_int_eq(n, 10);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dp_xml");
    TCase *tc = tcase_create("dialplan");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_semantics);
    tcase_add_test(tc, test_bridge_outcomes);
    tcase_add_test(tc, test_bridge_suspends_and_resumes);
    tcase_add_test(tc, test_runtime_data_checks);
    tcase_add_test(tc, test_configure_errors);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
