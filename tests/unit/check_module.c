/*
 * check_module.c — the loader: load, show, dependencies, interfaces, unload order, and a
 * clear reason for each kind of failure (missing file, ABI mismatch, missing dependency,
 * load() error).
 */
#include "check_common.h"
#include <apr_thread_proc.h>

apr_status_t aorta_core_init(void);
apr_status_t aorta_api_init(apr_pool_t *pool);
apr_status_t aorta_event_init(apr_pool_t *pool, apr_size_t queue_size);
apr_status_t aorta_modules_init(apr_pool_t *pool, const char *mod_dir);
void aorta_modules_show(aorta_stream_t *out, int json);
void aorta_log_set_console(int on);


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

typedef struct unloader {
    apr_pool_t *pool;
    apr_status_t st;
    const char *why;
} unloader_t;

static void *APR_THREAD_FUNC unload_unit(apr_thread_t *t, void *data)
{
    unloader_t *u = data;
    aorta_stream_t *why = aorta_stream_create(u->pool);
    u->st = aorta_module_unload("mod_unit", why);
    u->why = aorta_stream_data(why, NULL);
    return NULL;
}

/* A counted interface reference makes `module unload` of its provider wait for the release. */
START_TEST(test_interface_acquire_holds_unload)
{
    aorta_stream_t *why = aorta_stream_create(pool);
    ck_assert_int_eq(aorta_module_load("mod_unit", 0, why), APR_SUCCESS);
    aorta_module_t *provider = (aorta_module_t *)1, *other;
    ck_assert_ptr_null(aorta_interface_acquire("nosuch", &provider));
    ck_assert_ptr_null(provider);
    const int *magic = aorta_interface_acquire("unit", &provider);
    ck_assert_ptr_nonnull(magic);
    ck_assert_int_eq(*magic, 4242);
    ck_assert_str_eq(aorta_module_name(provider), "mod_unit");

    unloader_t u = {.st = APR_EGENERAL};
    apr_pool_create(&u.pool, pool);
    apr_thread_t *thread;
    ck_assert_int_eq(apr_thread_create(&thread, NULL, unload_unit, &u, pool), APR_SUCCESS);
    /* once the unload has begun, no new reference is handed out */
    int closed = 0;
    for (int i = 0; i < 4000 && !closed; i++) {
        const void *t = aorta_interface_acquire("unit", &other);
        aorta_interface_release(other);
        closed = t == NULL;
        if (!closed)
            apr_sleep(1000);
    }
    ck_assert_msg(closed, "the unload never started");
    /* ... and it waits for ours: the module is still there and answers */
    ck_assert_ptr_nonnull(aorta_interface_get("unit"));
    ck_assert_str_eq(api("unit ping"), "pong from mod_unit\n");
    ck_assert_int_eq(*magic, 4242);
    aorta_interface_release(provider);
    apr_status_t rv;
    apr_thread_join(&rv, thread);
    ck_assert_int_eq(u.st, APR_SUCCESS);
    ck_assert_ptr_null(aorta_interface_get("unit"));
}
END_TEST

/* A reference never released costs a refused unload (bounded wait), not a hung loader. */
START_TEST(test_interface_reference_refuses_unload)
{
    aorta_stream_t *why = aorta_stream_create(pool);
    ck_assert_int_eq(aorta_module_load("mod_unit", 0, why), APR_SUCCESS);
    aorta_module_t *provider, *again;
    ck_assert_ptr_nonnull(aorta_interface_acquire("unit", &provider));
    aorta_stream_reset(why);
    ck_assert_int_eq(aorta_module_unload("mod_unit", why), AORTA_EINUSE);
    ck_assert_str_eq(aorta_stream_data(why, NULL), "mod_unit is in use: 1 call still holds its interfaces; try again");
    ck_assert(aorta_module_is_loaded("mod_unit"));
    ck_assert_ptr_nonnull(aorta_interface_acquire("unit", &again)); /* reopened */
    aorta_interface_release(again);
    aorta_interface_release(provider);
    aorta_stream_reset(why);
    ck_assert_int_eq(aorta_module_unload("mod_unit", why), APR_SUCCESS);
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
    TCase *refs = tcase_create("interface references");
    tcase_add_checked_fixture(refs, setup, NULL);
    tcase_set_timeout(refs, 30); /* the refused unload waits its bound (5 s) first */
    tcase_add_test(refs, test_interface_acquire_holds_unload);
    tcase_add_test(refs, test_interface_reference_refuses_unload);
    suite_add_tcase(s, refs);
    return run_suite(s) ? 1 : 0;
}
