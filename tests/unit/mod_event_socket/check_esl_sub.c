/*
 * check_esl_sub.c — the `event` / `nixevent` / `noevents` rules of ESL.md §5 (esl_sub.c).
 */
#include "../check_common.h"
#include <stdlib.h>

#include "esl_sub.h"

static esl_sub_t *sub;
static aorta_event_format_t fmt;

static void setup(void)
{
    pool_setup();
    sub = esl_sub_create(pool);
    fmt = AORTA_EVENT_FORMAT_PLAIN;
}

static void teardown(void)
{
    pool_teardown();
}

START_TEST(format_token_and_no_keywords)
{
    ck_assert_int_eq(esl_sub_event(sub, "json", &fmt), 0);
    ck_assert_int_eq(fmt, AORTA_EVENT_FORMAT_JSON); /* changed even without keywords */
    ck_assert_int_eq(sub->active, 0);
    ck_assert_int_eq(esl_sub_event(sub, "", &fmt), 0);
    ck_assert_int_eq(esl_sub_event(sub, "XML HEARTBEAT", &fmt), 1);
    ck_assert_int_eq(fmt, AORTA_EVENT_FORMAT_XML);
    /* only the first token is a format; later "plain" is an unknown name */
    ck_assert_int_eq(esl_sub_event(sub, "HEARTBEAT plain", &fmt), 1);
    ck_assert_int_eq(fmt, AORTA_EVENT_FORMAT_XML);
}
END_TEST

START_TEST(names_case_insensitive_unknown_ignored)
{
    ck_assert_int_eq(esl_sub_event(sub, "plain heartbeat NO_SUCH_EVENT switch_event_reloadxml", &fmt), 2);
    ck_assert(esl_sub_match(sub, AORTA_EVENT_HEARTBEAT, NULL));
    ck_assert(esl_sub_match(sub, AORTA_EVENT_RELOADXML, NULL));
    ck_assert(!esl_sub_match(sub, AORTA_EVENT_API, NULL));
    ck_assert(!esl_sub_match(sub, AORTA_EVENT_CUSTOM, "x::y"));
}
END_TEST

START_TEST(custom_mode_takes_everything_after)
{
    /* CHANNEL_ANSWER after CUSTOM is a subclass (node-esl #49) */
    ck_assert_int_eq(esl_sub_event(sub, "json CUSTOM sofia::register CHANNEL_ANSWER", &fmt), 1);
    ck_assert(esl_sub_match(sub, AORTA_EVENT_CUSTOM, "sofia::register"));
    ck_assert(esl_sub_match(sub, AORTA_EVENT_CUSTOM, "CHANNEL_ANSWER"));
    ck_assert(!esl_sub_match(sub, AORTA_EVENT_CHANNEL_ANSWER, NULL));
    ck_assert(!esl_sub_match(sub, AORTA_EVENT_CUSTOM, "Sofia::Register")); /* case-sensitive */
    ck_assert(esl_sub_match(sub, AORTA_EVENT_CUSTOM, NULL));              /* CUSTOM without subclass */
}
END_TEST

START_TEST(accumulate_modesl_pattern)
{
    /* modesl: post-auth subscription, then subscribe() re-sends BACKGROUND_JOB after CUSTOM */
    ck_assert_int_eq(esl_sub_event(sub, "json BACKGROUND_JOB CHANNEL_EXECUTE_COMPLETE", &fmt), 2);
    ck_assert_int_eq(esl_sub_event(sub, "json CUSTOM x::y BACKGROUND_JOB CHANNEL_EXECUTE_COMPLETE", &fmt), 1);
    ck_assert(esl_sub_match(sub, AORTA_EVENT_BACKGROUND_JOB, NULL));
    ck_assert(esl_sub_match(sub, AORTA_EVENT_CUSTOM, "x::y"));
    ck_assert(!esl_sub_match(sub, AORTA_EVENT_CUSTOM, "x::z"));
}
END_TEST

START_TEST(custom_alone_only_unsubclassed)
{
    ck_assert_int_eq(esl_sub_event(sub, "CUSTOM", &fmt), 1);
    ck_assert(esl_sub_match(sub, AORTA_EVENT_CUSTOM, NULL));
    ck_assert(!esl_sub_match(sub, AORTA_EVENT_CUSTOM, "a::b"));
}
END_TEST

START_TEST(all_includes_every_subclass)
{
    ck_assert_int_eq(esl_sub_event(sub, "ALL", &fmt), 1);
    ck_assert(esl_sub_match(sub, AORTA_EVENT_CUSTOM, "any::thing"));
    ck_assert(esl_sub_match(sub, AORTA_EVENT_HEARTBEAT, NULL));
}
END_TEST

START_TEST(nixevent_rules)
{
    ck_assert_int_eq(esl_sub_nix(sub, "NOPE"), 0);
    esl_sub_event(sub, "ALL", &fmt);
    /* ALL minus HEARTBEAT */
    ck_assert_int_eq(esl_sub_nix(sub, "HEARTBEAT"), 1);
    ck_assert(!esl_sub_match(sub, AORTA_EVENT_HEARTBEAT, NULL));
    ck_assert(esl_sub_match(sub, AORTA_EVENT_API, NULL));
    /* without ALL a subclassed CUSTOM needs its subclass now */
    ck_assert(!esl_sub_match(sub, AORTA_EVENT_CUSTOM, "a::b"));
    ck_assert_int_eq(esl_sub_nix(sub, "ALL"), 1);
    ck_assert(!esl_sub_match(sub, AORTA_EVENT_API, NULL));

    esl_sub_event(sub, "CUSTOM a::b c::d", &fmt);
    ck_assert_int_eq(esl_sub_nix(sub, "CUSTOM a::b"), 1);
    ck_assert(!esl_sub_match(sub, AORTA_EVENT_CUSTOM, "a::b"));
    ck_assert(esl_sub_match(sub, AORTA_EVENT_CUSTOM, "c::d"));
}
END_TEST

START_TEST(noevents_clears)
{
    ck_assert_int_eq(esl_sub_clear(sub), 0);
    esl_sub_event(sub, "CUSTOM a::b", &fmt);
    ck_assert_int_eq(esl_sub_clear(sub), 1);
    ck_assert(!esl_sub_match(sub, AORTA_EVENT_CUSTOM, "a::b"));
    ck_assert(!esl_sub_match(sub, AORTA_EVENT_CUSTOM, NULL));
    /* subscribing again works after the clear */
    esl_sub_event(sub, "CUSTOM a::b", &fmt);
    ck_assert(esl_sub_match(sub, AORTA_EVENT_CUSTOM, "a::b"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("esl_sub");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, format_token_and_no_keywords);
    tcase_add_test(tc, names_case_insensitive_unknown_ignored);
    tcase_add_test(tc, custom_mode_takes_everything_after);
    tcase_add_test(tc, accumulate_modesl_pattern);
    tcase_add_test(tc, custom_alone_only_unsubclassed);
    tcase_add_test(tc, all_includes_every_subclass);
    tcase_add_test(tc, nixevent_rules);
    tcase_add_test(tc, noevents_clears);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
