/*
 * check_stream.c — output streams grow without bound and keep bytes exact; JSON output.
 */
#include "check_common.h"
#include <jansson.h>

START_TEST(test_growth_and_reset)
{
    apr_initialize();
    apr_pool_t *pool;
    apr_pool_create(&pool, NULL);
    aorta_stream_t *s = aorta_stream_create(pool);
    for (int i = 0; i < 10000; i++)
        aorta_stream_printf(s, "%05d,", i);
    apr_size_t len;
    const char *d = aorta_stream_data(s, &len);
    ck_assert_uint_eq(len, 60000);
    ck_assert(strncmp(d + 6 * 9999, "09999,", 6) == 0);
    aorta_stream_write(s, "\0x", 2);
    aorta_stream_data(s, &len);
    ck_assert_uint_eq(len, 60002);
    aorta_stream_reset(s);
    ck_assert_str_eq(aorta_stream_data(s, &len), "");
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    aorta_stream_printf(s, "%s!", big);
    ck_assert_uint_eq(strlen(aorta_stream_data(s, NULL)), 5000);
    aorta_stream_reset(s);
    aorta_stream_json(s, json_pack("{s:s, s:i}", "b", "x", "a", 1));
    ck_assert_str_eq(aorta_stream_data(s, NULL), "{\n  \"b\": \"x\",\n  \"a\": 1\n}\n");
    apr_pool_destroy(pool);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("stream");
    tcase_add_test(tc, test_growth_and_reset);
    suite_add_tcase(s, tc);
    return run_suite(s) ? 1 : 0;
}
