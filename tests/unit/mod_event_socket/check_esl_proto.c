/*
 * check_esl_proto.c — framing of client packets and reply-header escaping (esl_proto.c).
 */
#include "../check_common.h"
#include <stdlib.h>
#include <string.h>

#include "esl_proto.h"

static esl_packet_t *parse_ok(const char *buf, apr_size_t len, apr_size_t *used)
{
    esl_packet_t *p = NULL;
    ck_assert_int_eq(esl_packet_parse(buf, len, pool, &p, used), APR_SUCCESS);
    ck_assert_ptr_nonnull(p);
    return p;
}

START_TEST(simple_command)
{
    const char *in = "api status\n\n";
    apr_size_t used = 0;
    esl_packet_t *p = parse_ok(in, strlen(in), &used);
    ck_assert_str_eq(p->command, "api status");
    ck_assert_int_eq(p->headers->nelts, 0);
    ck_assert_ptr_null(p->body);
    ck_assert_uint_eq(used, strlen(in));
}
END_TEST

START_TEST(trailing_space_kept_for_the_handler)
{
    /* modesl: "bgapi status \nJob-UUID: x\n\n"; the handler trims, the parser does not */
    const char *in = "bgapi status \nJob-UUID: 1234\n\n";
    apr_size_t used = 0;
    esl_packet_t *p = parse_ok(in, strlen(in), &used);
    ck_assert_str_eq(p->command, "bgapi status ");
    ck_assert_str_eq(esl_packet_header(p, "job-uuid"), "1234");
    ck_assert_str_eq(esl_trim(p->command, pool), "bgapi status");
}
END_TEST

START_TEST(crlf_and_blank_lines)
{
    const char *in = "\n\r\n\nauth secret\r\n\r\nexit\n\n";
    apr_size_t used = 0, len = strlen(in);
    esl_packet_t *p = parse_ok(in, len, &used);
    ck_assert_str_eq(p->command, "auth secret");
    p = parse_ok(in + used, len - used, &used);
    ck_assert_str_eq(p->command, "exit");
}
END_TEST

START_TEST(incomplete_needs_more)
{
    esl_packet_t *p = NULL;
    apr_size_t used = 99;
    ck_assert_int_eq(esl_packet_parse("api sta", 7, pool, &p, &used), APR_INCOMPLETE);
    ck_assert_ptr_null(p);
    ck_assert_uint_eq(used, 0);
    ck_assert_int_eq(esl_packet_parse("api status\n", 11, pool, &p, &used), APR_INCOMPLETE);
    /* only blank lines: consumed, still incomplete */
    ck_assert_int_eq(esl_packet_parse("\n\n\n", 3, pool, &p, &used), APR_INCOMPLETE);
    ck_assert_uint_eq(used, 3);
}
END_TEST

START_TEST(body_by_content_length)
{
    const char *in = "sendevent CUSTOM\nEvent-Subclass: a::b\nx: 1\nContent-Length: 5\n\nh\xc3\xa9lo"
                     "exit\n\n";
    apr_size_t used = 0, len = strlen(in);
    esl_packet_t *p = parse_ok(in, len, &used);
    ck_assert_str_eq(p->command, "sendevent CUSTOM");
    ck_assert_int_eq(p->headers->nelts, 3);
    ck_assert_str_eq(esl_packet_header(p, "Event-Subclass"), "a::b");
    ck_assert_uint_eq(p->body_len, 5);
    ck_assert_mem_eq(p->body, "h\xc3\xa9lo", 5);
    p = parse_ok(in + used, len - used, &used);
    ck_assert_str_eq(p->command, "exit");
}
END_TEST

START_TEST(body_incomplete)
{
    const char *in = "sendevent CUSTOM\nContent-Length: 10\n\nabc";
    esl_packet_t *p = NULL;
    apr_size_t used = 0;
    ck_assert_int_eq(esl_packet_parse(in, strlen(in), pool, &p, &used), APR_INCOMPLETE);
}
END_TEST

START_TEST(header_values_not_decoded)
{
    const char *in = "sendevent CUSTOM\nfoo: a%20b:c\n\n";
    apr_size_t used = 0;
    esl_packet_t *p = parse_ok(in, strlen(in), &used);
    ck_assert_str_eq(esl_packet_header(p, "foo"), "a%20b:c");
}
END_TEST

START_TEST(limits)
{
    esl_packet_t *p = NULL;
    apr_size_t used = 0, big = ESL_MAX_HEADER_BYTES + 10;
    char *buf = malloc(big);
    const char *cl = "sendevent X\nContent-Length: 16777217\n\n";
    memset(buf, 'a', big);
    ck_assert_int_eq(esl_packet_parse(buf, big, pool, &p, &used), AORTA_ESYNTAX);
    free(buf);
    ck_assert_int_eq(esl_packet_parse(cl, strlen(cl), pool, &p, &used), AORTA_ESYNTAX);
    cl = "sendevent X\nContent-Length: -3\n\n";
    ck_assert_int_eq(esl_packet_parse(cl, strlen(cl), pool, &p, &used), AORTA_ESYNTAX);
}
END_TEST

START_TEST(escape_reply_headers)
{
    const char *plain = "+OK accepted";
    ck_assert_ptr_eq(esl_header_escape(plain, pool), plain);
    ck_assert_str_eq(esl_header_escape("-ERR 100% bad", pool), "-ERR 100%25 bad");
    ck_assert_str_eq(esl_header_escape("a\nb\rc", pool), "a%0Ab%0Dc");
    ck_assert_str_eq(esl_header_escape("[a b]=[+c/d?]", pool), "[a b]=[+c/d?]");
    ck_assert_str_eq(esl_header_escape(NULL, pool), "");
}
END_TEST

START_TEST(words)
{
    const char *rest = NULL;
    ck_assert_str_eq(esl_word("  event  json CUSTOM a::b", &rest, pool), "event");
    ck_assert_str_eq(rest, "json CUSTOM a::b");
    ck_assert_str_eq(esl_word("noevents", &rest, pool), "noevents");
    ck_assert_str_eq(rest, "");
    ck_assert_str_eq(esl_trim(" \t x y \r\n", pool), "x y");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("esl_proto");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, simple_command);
    tcase_add_test(tc, trailing_space_kept_for_the_handler);
    tcase_add_test(tc, crlf_and_blank_lines);
    tcase_add_test(tc, incomplete_needs_more);
    tcase_add_test(tc, body_by_content_length);
    tcase_add_test(tc, body_incomplete);
    tcase_add_test(tc, header_values_not_decoded);
    tcase_add_test(tc, limits);
    tcase_add_test(tc, escape_reply_headers);
    tcase_add_test(tc, words);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
