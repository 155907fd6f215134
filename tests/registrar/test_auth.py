"""Digest authentication of REGISTER: MD5 with SIPp's own [authentication] (an MD5-only
client must register with the default auth-algorithms), SHA-256 (RFC 8760) and nonce
handling with a Python client (SIPp 3.6 has no SHA-256), wrong credentials, unidentified
users answered exactly like wrong passwords."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aorta_test as at  # noqa: E402
from aorta_test import check  # noqa: E402
import reglib as rl  # noqa: E402

DEADLINE = 120

AUTHS = ('<auth name="5000"><param name="username" value="5000"/><param name="password" value="secret5000"/></auth>'
         '<auth name="ha1"><param name="username" value="ha1"/>'
         '<param name="ha1" value="%s"/></auth>')


def _conf(**reg):
    import hashlib
    ha1 = hashlib.md5(b"ha1:127.0.0.1:pw-ha1").hexdigest()
    return rl.sip_conf(rl.endpoint("5000", "5000", auth="5000") + rl.endpoint("ha1", "ha1", auth="ha1"),
                       rl.aor("5000", max_contacts=10) + rl.aor("ha1", max_contacts=1),
                       registrar=reg or None, auths=AUTHS % ha1)


def test_both_algorithms_offered_when_configured():
    d = rl.daemon(_conf(**{"auth-algorithms": "MD5,SHA-256"}))
    r = rl.register(d, [{"contacts": ["<sip:5000@192.0.2.82>"], "expires": 300, "expect": 401},
                        {"contacts": ["<sip:5000@192.0.2.82>"], "expires": 300, "auth": ("5000", "secret5000"),
                         "expect": 200}])
    chals = rl.hdr(r[0], "www-authenticate")
    check(len(chals) == 2, f"one challenge per algorithm: {chals}")
    p0, p1 = rl.parse_challenge(chals[0]), rl.parse_challenge(chals[1])
    check(p0["algorithm"] == "MD5" and p1["algorithm"] == "SHA-256", chals)
    check(p0["qop"] == "auth" and p0["realm"] == "127.0.0.1" and p0["nonce"] == p1["nonce"], chals)
    d.stop()


def test_md5_with_sipp_default_algorithms():
    d = rl.daemon(_conf())
    ev = rl.Events(d)
    r = rl.register(d, [{"contacts": ["<sip:5000@192.0.2.80>"], "expires": 300, "expect": 401},
                        {"contacts": ["<sip:5000@192.0.2.80>"], "expires": 300, "auth": ("5000", "secret5000"),
                         "expect": 200}])
    chals = rl.hdr(r[0], "www-authenticate")
    check(len(chals) == 1, f"the default challenges with MD5 only: {chals}")
    p0 = rl.parse_challenge(chals[0])
    check(p0["algorithm"] == "MD5" and p0["qop"] == "auth" and p0["realm"] == "127.0.0.1", chals)
    e = ev.wait("registrar::register")
    check(e.get("username") == "5000" and e.get("realm") == "127.0.0.1", e)
    # wrong password: 403 and a register_failure, never another 401
    rl.register(d, [{"contacts": ["<sip:5000@192.0.2.81>"], "expires": 300, "expect": 401},
                    {"contacts": ["<sip:5000@192.0.2.81>"], "expires": 300, "auth": ("5000", "wrong"),
                     "expect": 403}])
    e = ev.wait("registrar::register_failure")
    check(e.get("reason") == "authentication failed" and e.get("status-code") == "403" and
          e.get("network-ip") == "127.0.0.1", e)
    check("192.0.2.81" not in d.api("show contacts 5000"), "nothing stored")
    # an stored HA1 instead of a password
    rl.register(d, [{"contacts": ["<sip:ha1@192.0.2.82>"], "expect": 401},
                    {"contacts": ["<sip:ha1@192.0.2.82>"], "auth": ("ha1", "pw-ha1"), "expect": 200}], user="ha1")
    ev.close()
    d.stop()


def test_unidentified_looks_like_wrong_password():
    d = rl.daemon(_conf())
    ev = rl.Events(d)
    known = rl.register(d, [{"contacts": ["<sip:5000@192.0.2.83>"], "expect": 401},
                            {"contacts": ["<sip:5000@192.0.2.83>"], "auth": ("5000", "bad"), "expect": 403}])
    unknown = rl.register(d, [{"contacts": ["<sip:nobody@192.0.2.84>"], "expect": 401},
                              {"contacts": ["<sip:nobody@192.0.2.84>"], "auth": ("nobody", "x"), "expect": 403}],
                          user="nobody")
    shape = lambda resp: (resp[0], sorted(k for k, _ in resp[1] if k not in ("via", "from", "to", "call-id", "cseq")),
                          [sorted(rl.parse_challenge(v)) for v in rl.hdr(resp, "www-authenticate")])
    check(shape(known[0]) == shape(unknown[0]), f"401s differ:\n{known[0][2]}\n{unknown[0][2]}")
    check(shape(known[1]) == shape(unknown[1]), f"403s differ:\n{known[1][2]}\n{unknown[1][2]}")
    check(known[1][2].split("\n")[0] == unknown[1][2].split("\n")[0], "same status line")
    ev.wait("registrar::register_failure")
    ev.wait("registrar::register_failure")
    ev.close()
    d.stop()


def test_sha256_stale_and_replay():
    d = rl.daemon(_conf(**{"nonce-ttl": "1", "auth-algorithms": "MD5,SHA-256"}))
    c = rl.SipClient(d)
    try:
        st, h = c.register()
        check(st == 401, st)
        chal = {rl.parse_challenge(v)["algorithm"]: rl.parse_challenge(v) for v in h["www-authenticate"]}
        uri = f"sip:127.0.0.1:{d.sip_port}"
        auth = rl.digest_authorization(chal["SHA-256"], "5000", "secret5000", uri, alg="SHA-256")
        st, h = c.register(authorization=auth)
        check(st == 200, f"SHA-256 accepted: {st} {h}")
        # the same nonce-count again: a replay, refused with a fresh stale challenge
        st, h = c.register(authorization=auth)
        check(st == 401 and "stale=true" in h["www-authenticate"][0], f"replay: {st} {h}")
        # the next nonce-count is fine
        auth2 = rl.digest_authorization(chal["SHA-256"], "5000", "secret5000", uri, alg="SHA-256", nc="00000002")
        st, h = c.register(authorization=auth2)
        check(st in (200, 401), st)
        # wait until the 1-second nonce is stale (a wall-clock condition, not a fixed sleep)
        import time
        t_issue = time.monotonic()
        at.wait_for(lambda: time.monotonic() - t_issue > 2.2, timeout=5, what="nonce-ttl to pass")
        auth3 = rl.digest_authorization(chal["MD5"], "5000", "secret5000", uri, alg="MD5", nc="00000003")
        st, h = c.register(authorization=auth3)
        check(st == 401 and all("stale=true" in v for v in h["www-authenticate"]), f"stale: {st} {h}")
        # a stale nonce with a wrong password is still a 403 (credentials are checked first)
        bad = rl.digest_authorization(chal["MD5"], "5000", "nope", uri, alg="MD5", nc="00000004")
        st, h = c.register(authorization=bad)
        check(st == 403, f"wrong password on stale nonce: {st}")
        # a nonce we never issued: a fresh challenge, not stale
        forged = dict(chal["MD5"], nonce="0" * 48)
        st, h = c.register(authorization=rl.digest_authorization(forged, "5000", "secret5000", uri))
        check(st == 401 and "stale" not in h["www-authenticate"][0], f"forged: {st} {h}")
    finally:
        c.close()
    d.stop()


def test_algorithm_list_is_configurable():
    d = rl.daemon(_conf(**{"auth-algorithms": "SHA-256"}))
    c = rl.SipClient(d)
    try:
        st, h = c.register()
        check(st == 401 and len(h["www-authenticate"]) == 1 and "algorithm=SHA-256" in h["www-authenticate"][0], h)
        chal = rl.parse_challenge(h["www-authenticate"][0])
        uri = f"sip:127.0.0.1:{d.sip_port}"
        # MD5 answers are not accepted when MD5 is not offered
        st, h = c.register(authorization=rl.digest_authorization(chal, "5000", "secret5000", uri, alg="MD5"))
        check(st == 401, st)
    finally:
        c.close()
    d.stop()
