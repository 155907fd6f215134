/*
 * check_esl_filter.c — `filter` semantics of ESL.md §6 (esl_filter.c).
 */
#include "../check_common.h"
#include <stdlib.h>
#include <string.h>

#include "esl_filter.h"

static esl_filters_t *fs;

/* A fake event: NULL-terminated name/value pairs. */
static const char *get(void *ctx, const char *name)
{
    const char **kv = ctx;
    for (; kv[0]; kv += 2)
        if (strcasecmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

static void setup(void)
{
    pool_setup();
    fs = esl_filters_create(pool);
}

static void teardown(void)
{
    pool_teardown();
}

static void add(const char *n, const char *v)
{
    ck_assert_int_eq(esl_filters_add(fs, n, v, NULL, pool), APR_SUCCESS);
}

static const char *ev_a[] = {"Event-Name", "CUSTOM", "Event-Subclass", "registrar::register", "aor", "1000", NULL};
static const char *ev_b[] = {"Event-Name", "CUSTOM", "Event-Subclass", "registrar::expire", "aor", "2000", NULL};
static const char *ev_c[] = {"Event-Name", "HEARTBEAT", NULL};

START_TEST(no_filters_pass_everything)
{
    ck_assert(esl_filters_match(fs, get, ev_a));
    ck_assert_int_eq(esl_filters_count(fs), 0);
}
END_TEST

START_TEST(positive_equality_case_insensitive)
{
    add("event-subclass", "REGISTRAR::REGISTER");
    ck_assert(esl_filters_match(fs, get, ev_a));
    ck_assert(!esl_filters_match(fs, get, ev_b));
    ck_assert(!esl_filters_match(fs, get, ev_c)); /* lacks the header: never matches */
}
END_TEST

START_TEST(several_positives_any_matches)
{
    add("aor", "1000");
    add("aor", "+2000");
    ck_assert(esl_filters_match(fs, get, ev_a));
    ck_assert(esl_filters_match(fs, get, ev_b));
    ck_assert(!esl_filters_match(fs, get, ev_c));
}
END_TEST

START_TEST(negative_vetoes)
{
    add("Event-Name", "CUSTOM");
    add("aor", "-2000");
    ck_assert(esl_filters_match(fs, get, ev_a));
    ck_assert(!esl_filters_match(fs, get, ev_b));
}
END_TEST

START_TEST(only_negative_sends_nothing)
{
    add("aor", "-2000");
    ck_assert(!esl_filters_match(fs, get, ev_a));
    ck_assert(!esl_filters_match(fs, get, ev_b));
}
END_TEST

START_TEST(regex)
{
    add("Event-Subclass", "/^registrar::(register|unregister)$/");
    ck_assert(esl_filters_match(fs, get, ev_a));
    ck_assert(!esl_filters_match(fs, get, ev_b));
    esl_filters_clear(fs);
    add("Event-Subclass", "/^REGISTRAR::/i");
    ck_assert(esl_filters_match(fs, get, ev_b));
    esl_filters_clear(fs);
    add("Event-Name", "CUSTOM");
    add("aor", "-/^2/");
    ck_assert(esl_filters_match(fs, get, ev_a));
    ck_assert(!esl_filters_match(fs, get, ev_b));
}
END_TEST

START_TEST(bad_regex)
{
    const char *err = NULL;
    ck_assert_int_eq(esl_filters_add(fs, "aor", "/(unclosed/", &err, pool), AORTA_ESYNTAX);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(esl_filters_count(fs), 0);
}
END_TEST

START_TEST(delete)
{
    add("aor", "1000");
    add("aor", "2000");
    add("Event-Name", "HEARTBEAT");
    ck_assert_int_eq(esl_filters_delete(fs, "AOR", "2000"), 1);
    ck_assert(!esl_filters_match(fs, get, ev_b));
    ck_assert_int_eq(esl_filters_delete(fs, "aor", NULL), 1);
    ck_assert_int_eq(esl_filters_count(fs), 1);
    ck_assert(esl_filters_match(fs, get, ev_c));
    ck_assert_int_eq(esl_filters_delete(fs, "nothing", NULL), 0);
    esl_filters_clear(fs);
    ck_assert(esl_filters_match(fs, get, ev_b));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("esl_filter");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, no_filters_pass_everything);
    tcase_add_test(tc, positive_equality_case_insensitive);
    tcase_add_test(tc, several_positives_any_matches);
    tcase_add_test(tc, negative_vetoes);
    tcase_add_test(tc, only_negative_sends_nothing);
    tcase_add_test(tc, regex);
    tcase_add_test(tc, bad_regex);
    tcase_add_test(tc, delete);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
