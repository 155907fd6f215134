/*
 * check_log.c — log levels by name and number, bindings receive the lines their level
 * admits with file, function and line, and the macro skips lines nobody wants.
 */
#include "check_common.h"

apr_status_t aorta_core_init(void);
void aorta_log_set_console(int on);

typedef struct got {
    int n;
    int line;
    char text[256];
    char file[64];
    char func[64];
} got_t;

static void on_line(const aorta_log_line_t *l, void *user)
{
    got_t *g = user;
    g->n++;
    g->line = l->line;
    snprintf(g->text, sizeof g->text, "%s", l->text);
    snprintf(g->file, sizeof g->file, "%s", l->file);
    snprintf(g->func, sizeof g->func, "%s", l->func);
}

START_TEST(test_levels)
{
    aorta_log_level_t l;
    ck_assert_int_eq(aorta_log_level_parse("warning", &l), APR_SUCCESS);
    ck_assert_int_eq(l, AORTA_LOG_WARNING);
    ck_assert_int_eq(aorta_log_level_parse("7", &l), APR_SUCCESS);
    ck_assert_int_eq(l, AORTA_LOG_DEBUG);
    ck_assert_int_eq(aorta_log_level_parse("loud", &l), APR_EINVAL);
    ck_assert_str_eq(aorta_log_level_name(AORTA_LOG_ERR), "ERR");
}
END_TEST

START_TEST(test_binding)
{
    ck_assert_int_eq(aorta_core_init(), APR_SUCCESS);
    aorta_log_set_console(0);
    aorta_log_level_set(AORTA_LOG_ERR);
    got_t g = {0};
    aorta_log_binding_t *b;
    ck_assert_int_eq(aorta_log_bind(AORTA_LOG_INFO, on_line, &g, &b), APR_SUCCESS);
    aorta_log(AORTA_LOG_DEBUG, "not wanted");
    ck_assert_int_eq(g.n, 0);
    int line = __LINE__ + 1;
    aorta_log(AORTA_LOG_INFO, "hello %d", 42);
    ck_assert_int_eq(g.n, 1);
    ck_assert_str_eq(g.text, "hello 42\n");
    ck_assert_str_eq(g.file, "check_log.c");
    ck_assert_str_eq(g.func, "test_binding_fn"); /* Check names the function *_fn */
    ck_assert_int_eq(g.line, line);
    aorta_log_unbind(b);
    aorta_log(AORTA_LOG_INFO, "after unbind");
    ck_assert_int_eq(g.n, 1);
    ck_assert_int_eq(aorta_log_current_level, AORTA_LOG_ERR);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_test(tc, test_levels);
    tcase_add_test(tc, test_binding);
    suite_add_tcase(s, tc);
    return run_suite(s) ? 1 : 0;
}
