/*
 * check_api.c — API dispatch: one- and two-word names, trimmed arguments, unknown
 * commands, duplicate names, "as json" stripping, argument splitting, and owners.
 */
#include "check_common.h"

apr_status_t aorta_core_init(void);
apr_status_t aorta_api_init(apr_pool_t *pool);
apr_status_t aorta_event_init(apr_pool_t *pool, apr_size_t queue_size);

static apr_status_t cmd_echo_args(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    aorta_stream_printf(out, "[%s]", args);
    return APR_SUCCESS;
}

static apr_status_t cmd_show_things(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    int json = aorta_api_want_json(&args, pool);
    aorta_stream_printf(out, "things(%s,%d)", args, json);
    return APR_SUCCESS;
}

static const aorta_api_command_t cmds[] = {
    {"say", "<text>", "says", cmd_echo_args},
    {"show things", "[<name>] [as json]", "shows", cmd_show_things},
    {NULL, NULL, NULL, NULL},
};


static void setup(void)
{
    ck_assert_int_eq(aorta_core_init(), APR_SUCCESS);
    pool = aorta_core_pool();
    ck_assert_int_eq(aorta_event_init(pool, 1000), APR_SUCCESS);
    ck_assert_int_eq(aorta_api_init(pool), APR_SUCCESS);
    for (const aorta_api_command_t *c = cmds; c->name; c++)
        ck_assert_int_eq(aorta_api_register(NULL, c), APR_SUCCESS);
}

static const char *run(const char *line, apr_status_t *st)
{
    aorta_stream_t *out = aorta_stream_create(pool);
    apr_status_t s = aorta_api_execute(line, out, pool);
    if (st)
        *st = s;
    return aorta_stream_data(out, NULL);
}

START_TEST(test_dispatch)
{
    apr_status_t st;
    ck_assert_str_eq(run("  say   hello  world \n", &st), "[hello  world]");
    ck_assert_int_eq(st, APR_SUCCESS);
    ck_assert_str_eq(run("say", NULL), "[]");
    ck_assert_str_eq(run("show things 5000 as json", NULL), "things(5000,1)");
    ck_assert_str_eq(run("show   things", NULL), "things(,0)");
    ck_assert_str_eq(run("show things as json", NULL), "things(,1)");
    ck_assert_str_eq(run("show things alias json", NULL), "things(alias json,0)");
    ck_assert_str_eq(run("nonsense here", &st), "-ERR nonsense Command not found!\n");
    ck_assert_int_eq(st, AORTA_ENOTFOUND);
    ck_assert_str_eq(run("show nothing", NULL), "-ERR show Command not found!\n");
    ck_assert_str_eq(run("   ", NULL), "-ERR no command given\n");
}
END_TEST

START_TEST(test_duplicate_refused)
{
    ck_assert_int_eq(aorta_api_register(NULL, &cmds[0]), AORTA_EEXIST);
}
END_TEST

START_TEST(test_split)
{
    char *argv[3];
    ck_assert_int_eq(aorta_api_split("  a  b c d ", pool, argv, 3), 3);
    ck_assert_str_eq(argv[0], "a");
    ck_assert_str_eq(argv[1], "b");
    ck_assert_str_eq(argv[2], "c d");
    ck_assert_int_eq(aorta_api_split("", pool, argv, 3), 0);
}
END_TEST

static void count_cmd(const aorta_api_command_t *cmd, const char *owner, void *user)
{
    ck_assert_str_eq(owner, "core");
    (*(int *)user)++;
}

START_TEST(test_each_and_unregister)
{
    int n = 0;
    aorta_api_each(count_cmd, &n);
    ck_assert_int_eq(n, 2);
    aorta_api_unregister_owner(NULL);
    ck_assert_str_eq(run("say hi", NULL), "-ERR say Command not found!\n");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_dispatch);
    tcase_add_test(tc, test_duplicate_refused);
    tcase_add_test(tc, test_split);
    tcase_add_test(tc, test_each_and_unregister);
    suite_add_tcase(s, tc);
    return run_suite(s) ? 1 : 0;
}
