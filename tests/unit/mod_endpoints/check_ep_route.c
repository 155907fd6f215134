/*
 * check_ep_route.c — the proxy's pure helpers: recognising this profile in a Route or Via
 * (host forms, default ports, SIP and TLS ports) and splitting a route set such as a stored
 * Path ("<sip:p1;lr>,<sip:p2;lr>") with commas inside brackets kept; the transport a URI asks
 * for (double Record-Route); whether a caller's Contact is the address its request came from
 * (else the callee's requests go back by that source: NAT).
 */
#include "../check_common.h"
#include <stdlib.h>
#include <string.h>

#include "mod_endpoints/ep_route.h"

START_TEST(local_addresses)
{
    ck_assert_int_eq(ep_route_host_eq("127.0.0.1", "127.0.0.1"), 1);
    ck_assert_int_eq(ep_route_host_eq("[::1]", "::1"), 1);
    ck_assert_int_eq(ep_route_host_eq("[::1]x", "::1"), 0);
    ck_assert_int_eq(ep_route_host_eq("127.0.0.2", "127.0.0.1"), 0);
    ck_assert_int_eq(ep_route_host_eq(NULL, "127.0.0.1"), 0);
    ck_assert_int_eq(ep_route_is_local("127.0.0.1", "5070", 0, "127.0.0.1", 5070, 5071), 1);
    ck_assert_int_eq(ep_route_is_local("127.0.0.1", "5071", 0, "127.0.0.1", 5070, 5071), 1); /* TLS port */
    ck_assert_int_eq(ep_route_is_local("127.0.0.1", "5072", 0, "127.0.0.1", 5070, 5071), 0);
    ck_assert_int_eq(ep_route_is_local("127.0.0.1", NULL, 0, "127.0.0.1", 5060, 5061), 1); /* default 5060 */
    ck_assert_int_eq(ep_route_is_local("127.0.0.1", NULL, 1, "127.0.0.1", 5070, 5061), 1); /* sips: 5061 */
    ck_assert_int_eq(ep_route_is_local("127.0.0.1", NULL, 0, "127.0.0.1", 5070, 5071), 0);
    ck_assert_int_eq(ep_route_is_local("10.0.0.1", "5070", 0, "127.0.0.1", 5070, 5071), 0);
}
END_TEST

START_TEST(route_sets)
{
    char *items[4];
    char s1[] = "<sip:p1.example.com;lr>,<sip:p2.example.com;lr>";
    ck_assert_int_eq(ep_route_set_split(s1, items, 4), 2);
    ck_assert_str_eq(items[0], "<sip:p1.example.com;lr>");
    ck_assert_str_eq(items[1], "<sip:p2.example.com;lr>");
    char s2[] = " <sip:a;lr;x=\"1,2\">,  <sip:b,c;lr> ,";
    ck_assert_int_eq(ep_route_set_split(s2, items, 4), 2); /* commas inside <> kept, empty tail skipped */
    ck_assert_str_eq(items[0], "<sip:a;lr;x=\"1,2\">");
    ck_assert_str_eq(items[1], "<sip:b,c;lr> ");
    char s3[] = "";
    ck_assert_int_eq(ep_route_set_split(s3, items, 4), 0);
    char s4[] = "<sip:a;lr>,<sip:b;lr>,<sip:c;lr>";
    ck_assert_int_eq(ep_route_set_split(s4, items, 2), -1); /* too many */
    char s5[] = "<sip:a;lr";
    ck_assert_int_eq(ep_route_set_split(s5, items, 4), -1); /* unbalanced */
    char s6[] = "sip:a;lr>";
    ck_assert_int_eq(ep_route_set_split(s6, items, 4), -1);
}
END_TEST

START_TEST(transports)
{
    char t[16];
    ck_assert_int_eq(ep_route_transport("sip:127.0.0.1:5070;transport=TCP", t, sizeof t), 0);
    ck_assert_str_eq(t, "tcp");
    ck_assert_int_eq(ep_route_transport("sip:5000@127.0.0.1:5070", t, sizeof t), 0);
    ck_assert_str_eq(t, "udp");
    ck_assert_int_eq(ep_route_transport("sips:5000@example.com", t, sizeof t), 0);
    ck_assert_str_eq(t, "tls");
    ck_assert_int_eq(ep_route_transport("<sip:edge;lr;transport=tls>,<sip:p2;transport=tcp;lr>", t, sizeof t), 0);
    ck_assert_str_eq(t, "tls"); /* the first entry only */
    ck_assert_int_eq(ep_route_transport("<sip:edge;lr>,<sip:p2;transport=tcp;lr>", t, sizeof t), 0);
    ck_assert_str_eq(t, "udp");
    ck_assert_int_eq(ep_route_transport("sip:a;transport=ws?x=1", t, sizeof t), 0);
    ck_assert_str_eq(t, "ws");
    ck_assert_int_eq(ep_route_transport("sip:a;transport=", t, sizeof t), -1);
    ck_assert_int_eq(ep_route_transport("sip:a;transport=averyveryverylongname", t, sizeof t), -1);
    ck_assert_int_eq(ep_route_transport(NULL, t, sizeof t), -1);
}
END_TEST

START_TEST(contact_is_source)
{
    ck_assert_int_eq(ep_route_uri_is_source("127.0.0.1", "5062", 0, "127.0.0.1", 5062), 1);
    ck_assert_int_eq(ep_route_uri_is_source("127.0.0.1", NULL, 0, "127.0.0.1", 5060), 1); /* default port */
    ck_assert_int_eq(ep_route_uri_is_source("127.0.0.1", NULL, 1, "127.0.0.1", 5061), 1); /* sips: 5061 */
    ck_assert_int_eq(ep_route_uri_is_source("127.0.0.1", NULL, 0, "127.0.0.1", 5061), 0);
    ck_assert_int_eq(ep_route_uri_is_source("[::1]", "5062", 0, "::1", 5062), 1);
    ck_assert_int_eq(ep_route_uri_is_source("192.168.1.20", "5060", 0, "203.0.113.5", 40001), 0); /* NAT */
    ck_assert_int_eq(ep_route_uri_is_source("127.0.0.1", "5999", 0, "127.0.0.1", 40001), 0); /* port mapped */
    ck_assert_int_eq(ep_route_uri_is_source("phone.example.com", "5060", 0, "203.0.113.5", 5060), 0);
    ck_assert_int_eq(ep_route_uri_is_source(NULL, "5060", 0, "203.0.113.5", 5060), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ep_route");
    TCase *tc = tcase_create("route");
    tcase_add_test(tc, local_addresses);
    tcase_add_test(tc, route_sets);
    tcase_add_test(tc, transports);
    tcase_add_test(tc, contact_is_source);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
