/*
 * check_module.c — the loader: load, show, dependencies, interfaces, unload order, and a
 * clear reason for each kind of failure (missing file, ABI mismatch, missing dependency,
 * load() error).
 */
#include "check_common.h"

apr_status_t aorta_core_init(void);
apr_status_t aorta_api_init(apr_pool_t *pool);
apr_status_t aorta_event_init(apr_pool_t *pool, apr_size_t queue_size);
apr_status_t aorta_modules_init(apr_pool_t *pool, const char *mod_dir);
void aorta_modules_show(aorta_stream_t *out, int json);
void aorta_log_set_console(int on);

static apr_pool_t *pool;

static void setup(void)
{
    ck_assert_int_eq(aorta_core_init(), APR_SUCCESS);
    aorta_log_set_console(0);
    pool = aorta_core_pool();
    ck_assert_int_eq(aorta_event_init(pool, 1000), APR_SUCCESS);
    ck_assert_int_eq(aorta_api_init(pool), APR_SUCCESS);
    ck_assert_int_eq(aorta_modules_init(pool, TEST_MODDIR), APR_SUCCESS);
}

static const char *api(const char *line)
{
    aorta_stream_t *out = aorta_stream_create(pool);
    aorta_api_execute(line, out, pool);
    return aorta_stream_data(out, NULL);
}

START_TEST(test_load_use_unload)
{
    aorta_stream_t *why = aorta_stream_create(pool);
    ck_assert_int_eq(aorta_module_load("mod_unit", 0, why), APR_SUCCESS);
    ck_assert(aorta_module_is_loaded("mod_unit"));
    ck_assert_str_eq(api("unit ping"), "pong from mod_unit\n");
    ck_assert_ptr_nonnull(aorta_interface_get("unit"));
    ck_assert_int_eq(aorta_module_load("mod_unit", 0, why), AORTA_EEXIST);

    ck_assert_int_eq(aorta_module_load("mod_unit_user", 0, why), APR_SUCCESS);
    aorta_stream_t *show = aorta_stream_create(pool);
    aorta_modules_show(show, 0);
    const char *table = aorta_stream_data(show, NULL);
    ck_assert_ptr_nonnull(strstr(table, "mod_unit "));
    ck_assert_ptr_nonnull(strstr(table, "mod_unit_user"));
    ck_assert_ptr_nonnull(strstr(table, "2 modules loaded."));

    aorta_stream_reset(why);
    ck_assert_int_eq(aorta_module_unload("mod_unit", why), AORTA_EINUSE);
    ck_assert_str_eq(aorta_stream_data(why, NULL), "mod_unit is used by mod_unit_user: unload that first");
    ck_assert_int_eq(aorta_module_unload("mod_unit_user", why), APR_SUCCESS);
    ck_assert_int_eq(aorta_module_reload("mod_unit", why), APR_SUCCESS);
    ck_assert_int_eq(aorta_module_unload("mod_unit", why), APR_SUCCESS);
    ck_assert(!aorta_module_is_loaded("mod_unit"));
    ck_assert_ptr_null(aorta_interface_get("unit"));
    ck_assert_str_eq(api("unit ping"), "-ERR unit Command not found!\n");
}
END_TEST

START_TEST(test_failures_say_why)
{
    aorta_stream_t *why = aorta_stream_create(pool);
    ck_assert_int_eq(aorta_module_load("mod_nowhere", 0, why), APR_EDSOOPEN);
    ck_assert_ptr_nonnull(strstr(aorta_stream_data(why, NULL), "cannot open " TEST_MODDIR "/mod_nowhere.so"));

    aorta_stream_reset(why);
    ck_assert_int_eq(aorta_module_load("mod_badabi", 0, why), AORTA_EABI);
    ck_assert_ptr_nonnull(strstr(aorta_stream_data(why, NULL), "was built for ABI 99"));

    aorta_stream_reset(why);
    ck_assert_int_eq(aorta_module_load("mod_unit_user", 0, why), AORTA_EDEPEND);
    ck_assert_str_eq(aorta_stream_data(why, NULL), "mod_unit_user needs mod_unit, which is not loaded (missing dependency)");

    aorta_stream_reset(why);
    ck_assert_int_eq(aorta_module_load("../etc", 0, why), APR_EINVAL);
    ck_assert_ptr_nonnull(strstr(aorta_stream_data(why, NULL), "invalid module name"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("module");
    TCase *tc = tcase_create("loader");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_load_use_unload);
    tcase_add_test(tc, test_failures_say_why);
    suite_add_tcase(s, tc);
    return run_suite(s) ? 1 : 0;
}
