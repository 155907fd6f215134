/*
 * check_reg.c — mod_registrar's pure logic: digest responses against the RFC examples,
 * stateless nonces (valid / stale / forged), nonce-count replays, expiry arithmetic,
 * q parsing, binding matching and the outcome table.
 */
#include "../check_common.h"
#include "mod_location/loc_internal.h"
#include "mod_registrar/reg_digest.h"
#include "mod_registrar/reg_rules.h"

START_TEST(test_rfc2617_md5)
{
    char ha1[REG_HEX_MAX], resp[REG_HEX_MAX];
    reg_digest_ha1(REG_ALG_MD5, "Mufasa", "testrealm@host.com", "Circle Of Life", ha1);
    reg_digest_response(REG_ALG_MD5, ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth", "GET",
                        "/dir/index.html", resp);
    ck_assert_str_eq(resp, "6629fae49393a05397450978507c4ef1");
}
END_TEST

START_TEST(test_rfc7616_sha256_and_md5)
{
    const char *realm = "http-auth@example.org", *nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
               *cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    char ha1[REG_HEX_MAX], resp[REG_HEX_MAX];
    reg_digest_ha1(REG_ALG_SHA256, "Mufasa", realm, "Circle of Life", ha1);
    reg_digest_response(REG_ALG_SHA256, ha1, nonce, "00000001", cnonce, "auth", "GET", "/dir/index.html", resp);
    ck_assert_str_eq(resp, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
    reg_digest_ha1(REG_ALG_MD5, "Mufasa", realm, "Circle of Life", ha1);
    reg_digest_response(REG_ALG_MD5, ha1, nonce, "00000001", cnonce, "auth", "GET", "/dir/index.html", resp);
    ck_assert_str_eq(resp, "8ca523f5e9506fed4657c9700eebdbec");
}
END_TEST

START_TEST(test_rfc2069_no_qop)
{
    /* RFC 2069 style (no qop): H(HA1:nonce:HA2) */
    char ha1[REG_HEX_MAX], resp[REG_HEX_MAX], ha2[REG_HEX_MAX], want[REG_HEX_MAX];
    reg_digest_ha1(REG_ALG_MD5, "u", "r", "p", ha1);
    reg_digest_response(REG_ALG_MD5, ha1, "n", NULL, NULL, NULL, "REGISTER", "sip:r", resp);
    reg_digest_hex(REG_ALG_MD5, "REGISTER:sip:r", 14, ha2);
    const char *s = apr_pstrcat(pool, ha1, ":n:", ha2, NULL);
    reg_digest_hex(REG_ALG_MD5, s, strlen(s), want);
    ck_assert_str_eq(resp, want);
    ck_assert_int_eq(reg_alg_parse(NULL), REG_ALG_MD5);
    ck_assert_int_eq(reg_alg_parse("sha-256"), REG_ALG_SHA256);
    ck_assert_int_eq(reg_alg_parse("SHA-512-256"), REG_ALG_UNKNOWN);
}
END_TEST

START_TEST(test_nonces)
{
    unsigned char key[REG_SECRET_LEN], other_key[REG_SECRET_LEN];
    memset(key, 7, sizeof key);
    memset(other_key, 8, sizeof other_key);
    reg_mac_t *secret, *other;
    ck_assert_int_eq(reg_mac_create(&secret, key, pool), APR_SUCCESS);
    ck_assert_int_eq(reg_mac_create(&other, other_key, pool), APR_SUCCESS);
    char n1[REG_NONCE_LEN + 1], n2[REG_NONCE_LEN + 1];
    apr_time_t now = apr_time_now();
    reg_nonce_make(secret, "example.com", now, n1);
    reg_nonce_make(secret, "example.com", now + 1, n2);
    ck_assert_uint_eq(strlen(n1), REG_NONCE_LEN);
    ck_assert_str_ne(n1, n2);
    ck_assert_int_eq(reg_nonce_check(secret, "example.com", n1, now, 60), REG_NONCE_VALID);
    ck_assert_int_eq(reg_nonce_check(secret, "example.com", n1, now + apr_time_from_sec(60), 60), REG_NONCE_VALID);
    ck_assert_int_eq(reg_nonce_check(secret, "example.com", n1, now + apr_time_from_sec(61), 60), REG_NONCE_STALE);
    ck_assert_int_eq(reg_nonce_check(secret, "other.com", n1, now, 60), REG_NONCE_INVALID);
    ck_assert_int_eq(reg_nonce_check(other, "example.com", n1, now, 60), REG_NONCE_INVALID);
    n1[20] = n1[20] == 'a' ? 'b' : 'a';
    ck_assert_int_eq(reg_nonce_check(secret, "example.com", n1, now, 60), REG_NONCE_INVALID);
    /* a forged, later issue time does not verify either */
    strcpy(n1, n2);
    n1[15] = n1[15] == '0' ? '1' : '0';
    ck_assert_int_eq(reg_nonce_check(secret, "example.com", n1, now, 60), REG_NONCE_INVALID);
    ck_assert_int_eq(reg_nonce_check(secret, "example.com", "short", now, 60), REG_NONCE_INVALID);
    ck_assert_int_eq(reg_nonce_check(secret, "example.com", NULL, now, 60), REG_NONCE_INVALID);
    /* known answer: HMAC-SHA256(0x07 x 32, "0000000000000001:example.com"), first 16 bytes */
    ck_assert_int_eq(reg_nonce_check(secret, "example.com", "0000000000000001" "8d632ffa04a3480543bf9c0438779ae9", 2, 60),
                     REG_NONCE_VALID);
}
END_TEST

/* Challenges issued in the same microsecond must still get distinct nonces: nonce-counts are
 * tracked per nonce, so a shared one made the second client's nc=1 look like a replay. */
START_TEST(test_nonces_unique_at_same_instant)
{
    unsigned char key[REG_SECRET_LEN];
    memset(key, 7, sizeof key);
    reg_mac_t *secret;
    ck_assert_int_eq(reg_mac_create(&secret, key, pool), APR_SUCCESS);
    apr_time_t now = apr_time_now() + apr_time_from_sec(1);
    char prev[REG_NONCE_LEN + 1] = "", cur[REG_NONCE_LEN + 1];
    for (int i = 0; i < 1000; i++) {
        reg_nonce_make(secret, "example.com", now, cur);
        ck_assert_str_ne(cur, prev);
        ck_assert_int_eq(reg_nonce_check(secret, "example.com", cur, now, 60), REG_NONCE_VALID);
        strcpy(prev, cur);
    }
}
END_TEST

START_TEST(test_nonce_count)
{
    reg_nc_table_t *t;
    apr_time_t now = apr_time_now();
    ck_assert_int_eq(reg_nc_create(&t, 60, pool), APR_SUCCESS);
    ck_assert_int_eq(reg_nc_accept(t, "nonceA", "00000001", now), 1);
    ck_assert_int_eq(reg_nc_accept(t, "nonceA", "00000001", now), 0); /* replay */
    ck_assert_int_eq(reg_nc_accept(t, "nonceA", "00000002", now), 1);
    ck_assert_int_eq(reg_nc_accept(t, "nonceA", "00000002", now), 0);
    ck_assert_int_eq(reg_nc_accept(t, "nonceB", "00000001", now), 1); /* per nonce */
    /* after one generation the entry is still known: no replay window */
    ck_assert_int_eq(reg_nc_accept(t, "nonceA", "00000002", now + apr_time_from_sec(61)), 0);
    ck_assert_int_eq(reg_nc_accept(t, "nonceA", "0000000a", now + apr_time_from_sec(62)), 1);
    reg_nc_destroy(t);
}
END_TEST

START_TEST(test_expiry)
{
    reg_limits_t lim = {60, 7200, 3600}, m;
    long g;
    ck_assert_int_eq(reg_expiry_compute("120", 300, &lim, &g), REG_OK);
    ck_assert_int_eq(g, 120); /* the param wins */
    ck_assert_int_eq(reg_expiry_compute(NULL, 300, &lim, &g), REG_OK);
    ck_assert_int_eq(g, 300); /* then the header */
    ck_assert_int_eq(reg_expiry_compute(NULL, -1, &lim, &g), REG_OK);
    ck_assert_int_eq(g, 3600); /* then the default */
    ck_assert_int_eq(reg_expiry_compute("99999", -1, &lim, &g), REG_OK);
    ck_assert_int_eq(g, 7200); /* capped */
    ck_assert_int_eq(reg_expiry_compute("30", -1, &lim, &g), REG_TOO_BRIEF);
    ck_assert_int_eq(reg_expiry_compute(NULL, 59, &lim, &g), REG_TOO_BRIEF);
    ck_assert_int_eq(reg_expiry_compute("0", 3600, &lim, &g), REG_OK);
    ck_assert_int_eq(g, 0); /* 0 is never too brief */
    ck_assert_int_eq(reg_expiry_compute("abc", 90, &lim, &g), REG_OK);
    ck_assert_int_eq(g, 90); /* a malformed param is ignored */
    ck_assert_int_eq(reg_expiry_compute("60", -1, &lim, &g), REG_OK);
    ck_assert_int_eq(g, 60); /* exactly min */

    loc_aor_conf_t a;
    memset(&a, 0, sizeof a);
    a.min_expires = 10;
    a.max_expires = 100;
    reg_limits_merge(&m, &lim, &a);
    ck_assert_int_eq(m.min_expires, 10);
    ck_assert_int_eq(m.max_expires, 100);
    ck_assert_int_eq(m.default_expires, 100); /* default never above max */
}
END_TEST

START_TEST(test_q_and_match)
{
    ck_assert_int_eq(reg_q_parse("0.5"), 500);
    ck_assert_int_eq(reg_q_parse("1"), 1000);
    ck_assert_int_eq(reg_q_parse("0.001"), 1);
    ck_assert_int_eq(reg_q_parse(NULL), -1);
    ck_assert_int_eq(reg_q_parse("2"), -1);
    ck_assert_int_eq(reg_q_parse("x"), -1);

    loc_contact_t t;
    memset(&t, 0, sizeof t);
    t.aor = "a";
    t.uri = "sip:a@10.0.0.1:5060";
    t.expires = 300;
    const loc_contact_t *v[3];
    v[0] = loc_contact_new(&t);
    t.uri = "sip:b@10.0.0.2:5060";
    t.instance = "<urn:uuid:1>";
    t.reg_id = "1";
    t.expires = 100;
    v[1] = loc_contact_new(&t);
    t.uri = "sip:c@10.0.0.3:5060";
    t.instance = "<urn:uuid:2>";
    t.reg_id = NULL;
    t.expires = 200;
    v[2] = loc_contact_new(&t);
    /* same URI (case-insensitive) */
    ck_assert_ptr_eq(reg_binding_match(v, 3, "SIP:A@10.0.0.1:5060", NULL, NULL), v[0]);
    /* same instance and reg-id, new address: replaces */
    ck_assert_ptr_eq(reg_binding_match(v, 3, "sip:b@192.0.2.1:7000", "<urn:uuid:1>", "1"), v[1]);
    /* same instance, other reg-id: a second flow, not a replacement */
    ck_assert_ptr_null(reg_binding_match(v, 3, "sip:b@192.0.2.1:7000", "<urn:uuid:1>", "2"));
    /* instance without reg-id (RFC 5627) */
    ck_assert_ptr_eq(reg_binding_match(v, 3, "sip:z@h", "<urn:uuid:2>", NULL), v[2]);
    ck_assert_ptr_null(reg_binding_match(v, 3, "sip:z@h", NULL, NULL));
    const loc_contact_t *s[3] = {v[0], v[1], v[2]};
    reg_sort_by_expiry(s, 3);
    ck_assert_ptr_eq(s[0], v[1]);
    ck_assert_ptr_eq(s[1], v[2]);
    ck_assert_ptr_eq(s[2], v[0]);
    for (int i = 0; i < 3; i++)
        loc_contact_unref(v[i]);
}
END_TEST

START_TEST(test_outcome_table)
{
    for (int o = 0; o < REG_OUTCOME_COUNT; o++)
        ck_assert_int_eq(reg_outcome_info((reg_outcome_t)o)->outcome, o);
    ck_assert_int_eq(reg_outcome_info(REG_TOO_BRIEF)->status, 423);
    ck_assert_int_eq(reg_outcome_info(REG_AOR_NOT_FOUND)->status, 404);
    ck_assert_int_eq(reg_outcome_info(REG_PATH_UNSUPPORTED)->status, 420);
    ck_assert_int_eq(reg_outcome_info(REG_OUT_OF_ORDER)->status, 500);
    ck_assert_int_eq(reg_outcome_info(REG_AUTH_FAILED)->status, reg_outcome_info(REG_UNIDENTIFIED)->status);
    ck_assert_int_eq(reg_outcome_info(REG_CHALLENGE)->failure_event, 0);
    ck_assert_int_eq(reg_outcome_info(REG_AUTH_FAILED)->failure_event, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mod_registrar");
    TCase *tc = tcase_create("registrar");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, test_rfc2617_md5);
    tcase_add_test(tc, test_rfc7616_sha256_and_md5);
    tcase_add_test(tc, test_rfc2069_no_qop);
    tcase_add_test(tc, test_nonces);
    tcase_add_test(tc, test_nonces_unique_at_same_instant);
    tcase_add_test(tc, test_nonce_count);
    tcase_add_test(tc, test_expiry);
    tcase_add_test(tc, test_q_and_match);
    tcase_add_test(tc, test_outcome_table);
    suite_add_tcase(s, tc);
    return run_suite(s) ? 1 : 0;
}
