/*
 * check_event.c — events: the standard header block, FreeSWITCH URL encoding, the three
 * serializers byte-exact against ESL.md's examples, name lookup, and dispatch (bindings by
 * name and subclass, order, firing never blocking, drops counted).
 */
#include "check_common.h"
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>

apr_status_t aorta_core_init(void);
apr_status_t aorta_event_init(apr_pool_t *pool, apr_size_t queue_size);
void aorta_event_shutdown(void);

static void setup(void)
{
    ck_assert_int_eq(aorta_core_init(), APR_SUCCESS);
}

/* ESL.md §13's event, with the example's values in the standard headers. */
static aorta_event_t *example_event(void)
{
    aorta_event_t *ev;
    ck_assert_int_eq(aorta_event_create_subclass(&ev, "x::y"), APR_SUCCESS);
    aorta_event_set_header(ev, "Core-UUID", "6f1c2d3e-0000-4000-8000-000000000001");
    aorta_event_set_header(ev, "FreeSWITCH-Hostname", "pbx1");
    aorta_event_set_header(ev, "FreeSWITCH-Switchname", "pbx1");
    aorta_event_set_header(ev, "FreeSWITCH-IPv4", "192.0.2.10");
    aorta_event_set_header(ev, "FreeSWITCH-IPv6", "::1");
    aorta_event_set_header(ev, "Event-Date-Local", "2025-01-02 03:04:05");
    aorta_event_set_header(ev, "Event-Date-GMT", "Thu, 02 Jan 2025 03:04:05 GMT");
    aorta_event_set_header(ev, "Event-Date-Timestamp", "1735787045123456");
    aorta_event_set_header(ev, "Event-Calling-File", "mod_x.c");
    aorta_event_set_header(ev, "Event-Calling-Function", "fire");
    aorta_event_set_header(ev, "Event-Calling-Line-Number", "42");
    aorta_event_set_header(ev, "Event-Sequence", "7");
    return ev;
}

START_TEST(test_standard_headers_in_order)
{
    aorta_event_t *ev;
    ck_assert_int_eq(aorta_event_create_subclass(&ev, "registrar::register"), APR_SUCCESS);
    static const char *const order[] = {"Event-Name", "Core-UUID", "FreeSWITCH-Hostname", "FreeSWITCH-Switchname",
                                        "FreeSWITCH-IPv4", "FreeSWITCH-IPv6", "Event-Date-Local", "Event-Date-GMT",
                                        "Event-Date-Timestamp", "Event-Calling-File", "Event-Calling-Function",
                                        "Event-Calling-Line-Number", "Event-Sequence", "Event-Subclass"};
    ck_assert_int_eq(aorta_event_header_count(ev), 14);
    for (int i = 0; i < 14; i++) {
        const char *n, *v;
        aorta_event_header_at(ev, i, &n, &v);
        ck_assert_str_eq(n, order[i]);
    }
    ck_assert_str_eq(aorta_event_get_header(ev, "event-name"), "CUSTOM");
    ck_assert_str_eq(aorta_event_get_header(ev, "Event-Subclass"), "registrar::register");
    ck_assert_str_eq(aorta_event_get_header(ev, "Event-Calling-File"), "check_event.c");
    ck_assert_str_eq(aorta_event_get_header(ev, "Core-UUID"), aorta_core_uuid());
    aorta_event_add_header(ev, "empty", "");
    ck_assert_ptr_null(aorta_event_get_header(ev, "empty"));
    aorta_event_unref(ev);
}
END_TEST

START_TEST(test_json_matches_esl_md_example)
{
    aorta_event_t *ev = example_event();
    const char *data;
    apr_size_t len;
    ck_assert_int_eq(aorta_event_serialize(ev, AORTA_EVENT_FORMAT_JSON, &data, &len), APR_SUCCESS);
    const char *want = "{\"Event-Name\":\"CUSTOM\",\"Core-UUID\":\"6f1c2d3e-0000-4000-8000-000000000001\","
                       "\"FreeSWITCH-Hostname\":\"pbx1\",\"FreeSWITCH-Switchname\":\"pbx1\",\"FreeSWITCH-IPv4\":"
                       "\"192.0.2.10\",\"FreeSWITCH-IPv6\":\"::1\",\"Event-Date-Local\":\"2025-01-02 03:04:05\","
                       "\"Event-Date-GMT\":\"Thu, 02 Jan 2025 03:04:05 GMT\",\"Event-Date-Timestamp\":"
                       "\"1735787045123456\",\"Event-Calling-File\":\"mod_x.c\",\"Event-Calling-Function\":\"fire\","
                       "\"Event-Calling-Line-Number\":\"42\",\"Event-Sequence\":\"7\",\"Event-Subclass\":\"x::y\"}";
    ck_assert_str_eq(data, want);
    ck_assert_uint_eq(len, 462);
    /* cached: the same pointer the second time */
    const char *again;
    aorta_event_serialize(ev, AORTA_EVENT_FORMAT_JSON, &again, NULL);
    ck_assert_ptr_eq(again, data);
    aorta_event_unref(ev);
}
END_TEST

START_TEST(test_plain_is_url_encoded)
{
    aorta_event_t *ev = example_event();
    aorta_event_add_header(ev, "contact", "<sip:5000@192.0.2.1:5060;transport=udp>");
    const char *data;
    apr_size_t len;
    aorta_event_serialize(ev, AORTA_EVENT_FORMAT_PLAIN, &data, &len);
    ck_assert_ptr_nonnull(strstr(data, "Event-Name: CUSTOM\nCore-UUID: 6f1c2d3e-0000-4000-8000-000000000001\n"));
    ck_assert_ptr_nonnull(strstr(data, "FreeSWITCH-IPv6: %3A%3A1\n"));
    ck_assert_ptr_nonnull(strstr(data, "Event-Date-GMT: Thu,%2002%20Jan%202025%2003%3A04%3A05%20GMT\n"));
    ck_assert_ptr_nonnull(strstr(data, "Event-Subclass: x%3A%3Ay\n"));
    ck_assert_ptr_nonnull(strstr(data, "contact: %3Csip%3A5000%40192.0.2.1%3A5060%3Btransport%3Dudp%3E\n\n"));
    ck_assert_uint_eq(len, strlen(data));
    ck_assert(data[len - 1] == '\n' && data[len - 2] == '\n');
    aorta_event_unref(ev);
}
END_TEST

START_TEST(test_body_in_every_format)
{
    aorta_event_t *ev = example_event();
    aorta_event_set_body(ev, "héllo <b>\n", strlen("héllo <b>\n"));
    const char *data;
    aorta_event_serialize(ev, AORTA_EVENT_FORMAT_PLAIN, &data, NULL);
    ck_assert_ptr_nonnull(strstr(data, "Event-Subclass: x%3A%3Ay\nContent-Length: 11\n\nhéllo <b>\n"));
    aorta_event_serialize(ev, AORTA_EVENT_FORMAT_JSON, &data, NULL);
    ck_assert_ptr_nonnull(strstr(data, "\"Event-Subclass\":\"x::y\",\"Content-Length\":\"11\",\"_body\":\"héllo <b>\\n\"}"));
    aorta_event_serialize(ev, AORTA_EVENT_FORMAT_XML, &data, NULL);
    ck_assert_ptr_nonnull(strstr(data, "<event>\n  <headers>\n    <Event-Name>CUSTOM</Event-Name>\n"));
    ck_assert_ptr_nonnull(strstr(data, "    <Event-Subclass>x%3A%3Ay</Event-Subclass>\n  </headers>\n"
                                       "  <Content-Length>11</Content-Length>\n  <body>héllo &lt;b&gt;\n</body>\n"
                                       "</event>\n"));
    aorta_event_unref(ev);
}
END_TEST

START_TEST(test_url_encode_rules)
{
    char out[256];
    aorta_url_encode("a b\"#%&+:;<=>?@[\\]^`{|}", out, sizeof out);
    ck_assert_str_eq(out, "a%20b%22%23%25%26%2B%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E%60%7B%7C%7D");
    aorta_url_encode("/,!$'()*-._~", out, sizeof out);
    ck_assert_str_eq(out, "/,!$'()*-._~");
    aorta_url_encode("100%25 done%zz\r\n\x7f", out, sizeof out);
    ck_assert_str_eq(out, "100%25%20done%25zz%0D%0A%7F");
    ck_assert_uint_eq(aorta_url_encode("::", NULL, 0), 6);
}
END_TEST

START_TEST(test_names)
{
    aorta_event_id_t id;
    ck_assert_int_eq(aorta_event_name_parse("background_job", &id), APR_SUCCESS);
    ck_assert_int_eq(id, AORTA_EVENT_BACKGROUND_JOB);
    ck_assert_int_eq(aorta_event_name_parse("SWITCH_EVENT_CHANNEL_EXECUTE_COMPLETE", &id), APR_SUCCESS);
    ck_assert_int_eq(id, AORTA_EVENT_CHANNEL_EXECUTE_COMPLETE);
    ck_assert_int_eq(aorta_event_name_parse("CERT_RELOAD", &id), APR_SUCCESS);
    ck_assert_int_eq(aorta_event_name_parse("ALL", &id), APR_SUCCESS);
    ck_assert_int_eq(id, AORTA_EVENT_ALL);
    ck_assert_int_eq(aorta_event_name_parse("sofia::register", &id), APR_EINVAL);
    ck_assert_str_eq(aorta_event_name(AORTA_EVENT_RELOADXML), "RELOADXML");
}
END_TEST

typedef struct seen {
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;
    int n;
    char log[256];
} seen_t;

static void on_event(aorta_event_t *ev, void *user)
{
    seen_t *s = user;
    apr_thread_mutex_lock(s->lock);
    const char *tag = aorta_event_get_header(ev, "tag");
    strncat(s->log, tag ? tag : "?", sizeof s->log - strlen(s->log) - 1);
    s->n++;
    apr_thread_cond_broadcast(s->cond);
    apr_thread_mutex_unlock(s->lock);
}

static void fire_tagged(aorta_event_id_t id, const char *subclass, const char *tag)
{
    aorta_event_t *ev;
    aorta_event_create_detailed(&ev, id, subclass, __FILE__, __func__, __LINE__);
    aorta_event_add_header(ev, "tag", tag);
    ck_assert_int_eq(aorta_event_fire(&ev), APR_SUCCESS);
    ck_assert_ptr_null(ev);
}

START_TEST(test_dispatch_by_name_and_subclass)
{
    ck_assert_int_eq(aorta_event_init(aorta_core_pool(), 1000), APR_SUCCESS);
    seen_t s = {0};
    apr_thread_mutex_create(&s.lock, APR_THREAD_MUTEX_DEFAULT, aorta_core_pool());
    apr_thread_cond_create(&s.cond, aorta_core_pool());
    aorta_event_binding_t *b1, *b2;
    ck_assert_int_eq(aorta_event_bind(AORTA_EVENT_CUSTOM, "a::b", on_event, &s, &b1), APR_SUCCESS);
    ck_assert_int_eq(aorta_event_bind(AORTA_EVENT_HEARTBEAT, NULL, on_event, &s, &b2), APR_SUCCESS);
    fire_tagged(AORTA_EVENT_CUSTOM, "a::b", "1");
    fire_tagged(AORTA_EVENT_CUSTOM, "a::c", "x");  /* other subclass: not delivered */
    fire_tagged(AORTA_EVENT_CUSTOM, "A::B", "x");  /* subclasses are case-sensitive */
    fire_tagged(AORTA_EVENT_HEARTBEAT, NULL, "2");
    fire_tagged(AORTA_EVENT_STARTUP, NULL, "x");
    fire_tagged(AORTA_EVENT_CUSTOM, "a::b", "3");
    aorta_event_shutdown(); /* delivers everything queued, then joins */
    ck_assert_str_eq(s.log, "123");
    aorta_event_t *late;
    aorta_event_create(&late, AORTA_EVENT_API);
    ck_assert_int_eq(aorta_event_fire(&late), AORTA_ESHUTDOWN);
}
END_TEST

static void on_block(aorta_event_t *ev, void *user)
{
    seen_t *s = user;
    apr_thread_mutex_lock(s->lock);
    while (s->n == 0) /* hold the dispatcher until the test releases it */
        apr_thread_cond_wait(s->cond, s->lock);
    apr_thread_mutex_unlock(s->lock);
}

START_TEST(test_full_queue_drops_without_blocking)
{
    ck_assert_int_eq(aorta_event_init(aorta_core_pool(), 4), APR_SUCCESS);
    seen_t s = {0};
    apr_thread_mutex_create(&s.lock, APR_THREAD_MUTEX_DEFAULT, aorta_core_pool());
    apr_thread_cond_create(&s.cond, aorta_core_pool());
    aorta_event_bind(AORTA_EVENT_ALL, NULL, on_block, &s, NULL);
    int dropped = 0;
    for (int i = 0; i < 20; i++) {
        aorta_event_t *ev;
        aorta_event_create(&ev, AORTA_EVENT_TRAP);
        if (aorta_event_fire(&ev) == AORTA_EFULL)
            dropped++;
    }
    ck_assert_int_ge(dropped, 15);
    apr_uint64_t fired, drops;
    aorta_event_stats(&fired, &drops);
    ck_assert_int_eq((int)drops, dropped);
    apr_thread_mutex_lock(s.lock);
    s.n = 1;
    apr_thread_cond_broadcast(s.cond);
    apr_thread_mutex_unlock(s.lock);
    aorta_event_shutdown();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("event");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_standard_headers_in_order);
    tcase_add_test(tc, test_json_matches_esl_md_example);
    tcase_add_test(tc, test_plain_is_url_encoded);
    tcase_add_test(tc, test_body_in_every_format);
    tcase_add_test(tc, test_url_encode_rules);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_dispatch_by_name_and_subclass);
    tcase_add_test(tc, test_full_queue_drops_without_blocking);
    suite_add_tcase(s, tc);
    return run_suite(s) ? 1 : 0;
}
