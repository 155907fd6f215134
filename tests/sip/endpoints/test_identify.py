"""Endpoint identification (SPEC §6 steps 3-4): each built-in identifier, identify-order,
most-specific CIDR, module identifiers appended in registration order, the unidentified
responses (challenge then 403; 403), the endpoint::unidentified event, per-source counters,
the dialog cache, and reloading identify rules with reloadxml."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aorta_test import Esl, check, scratch_dir, sipp, wait_for  # noqa: E402
from ep_common import (SipClient, endpoint, ep_daemon, identified, profiles_json, scenario,  # noqa: E402
                       sip_conf)

TRUNK = endpoint("trunk", context="from-trunk")


def target(d):
    return "127.0.0.1:%d" % d.sip_port


def test_ip_identifier_uses_source_address():
    d = ep_daemon(sip_conf(endpoints=TRUNK + endpoint("other"),
                           identify='<match endpoint="trunk" ip="127.0.0.1"/>'
                                    '<match endpoint="other" ip="127.0.0.2"/>')).start()
    try:
        sipp(scenario("options_200.xml"), target(d), "-key", "from_user", "nobody", "-key", "from_host", "x.invalid",
             "-key", "tenant", "none")
        identified(d, "trunk", "ip")
        # a header naming another address does not matter: only the packet's source counts
        c = SipClient(d.sip_port, src_ip="127.0.0.2")
        r = c.request("OPTIONS", from_user="nobody", headers=["X-Forwarded-For: 127.0.0.1"])
        check(r.status == 200, f"OPTIONS from 127.0.0.2: {r}")
        identified(d, "other", "ip")
    finally:
        d.stop()


def test_most_specific_cidr_wins():
    d = ep_daemon(sip_conf(endpoints=endpoint("wide") + endpoint("mid") + endpoint("host"),
                           identify='<match endpoint="wide" ip="127.0.0.0/8"/>'
                                    '<match endpoint="host" ip="10.9.9.9, 127.0.0.7"/>'
                                    '<match endpoint="mid" ip="127.0.0.0/24"/>',
                           settings='<param name="unidentified-response" value="403"/>')).start()
    try:
        for src, want in (("127.0.0.7", "host"), ("127.0.0.9", "mid"), ("127.1.2.3", "wide")):
            c = SipClient(d.sip_port, src_ip=src)
            r = c.request("OPTIONS", from_user="nobody", call_id=f"cidr-{src}@t")
            c.close()
            check(r.status == 200, f"{src}: {r}")
            d.wait_log(rf"OPTIONS cidr-{src}@t from {src}:\d+/udp identified as endpoint {want} by ip")
    finally:
        d.stop()


def test_header_identifier_regex():
    d = ep_daemon(sip_conf(endpoints=endpoint("acme") + endpoint("anonymous"),
                           identify='<match endpoint="acme" header="X-Tenant" regex="^acme$"/>')).start()
    try:
        sipp(scenario("options_200.xml"), target(d), "-key", "from_user", "nobody", "-key", "from_host", "x.invalid",
             "-key", "tenant", "acme")
        identified(d, "acme", "header")
        # "acme-corp" does not match ^acme$: falls through to the anonymous endpoint
        sipp(scenario("options_200.xml"), target(d), "-key", "from_user", "nobody", "-key", "from_host", "x.invalid",
             "-key", "tenant", "acme-corp")
        identified(d, "anonymous", "anonymous")
    finally:
        d.stop()


def test_header_identifier_on_a_known_header():
    d = ep_daemon(sip_conf(endpoints=endpoint("phones"),
                           identify='<match endpoint="phones" header="User-Agent" regex="^sipp-ep"/>')).start()
    try:
        sipp(scenario("options_200.xml"), target(d), "-key", "from_user", "nobody", "-key", "from_host", "x.invalid",
             "-key", "tenant", "none")
        identified(d, "phones", "header")
    finally:
        d.stop()


def test_user_identifier_user_at_domain_then_user_then_digest_username():
    auths = '<auth name="dave-auth"><param name="username" value="dave-digest"/>' \
            '<param name="password" value="x"/></auth>'
    d = ep_daemon(sip_conf(endpoints=endpoint("bob@example.com") + endpoint("bob") + endpoint("carol") +
                           endpoint("dave", auth="dave-auth"),
                           auths=auths, settings='<param name="unidentified-response" value="403"/>')).start()
    try:
        c = SipClient(d.sip_port)
        check(c.request("OPTIONS", from_user="bob", from_host="example.com", call_id="u1@t").status == 200, "bob@")
        d.wait_log(r"u1@t .* identified as endpoint bob@example\.com by user")
        check(c.request("OPTIONS", from_user="bob", from_host="other.org", call_id="u2@t").status == 200, "bob")
        d.wait_log(r"u2@t .* identified as endpoint bob by user")
        check(c.request("OPTIONS", from_user="carol", from_host="example.com", call_id="u3@t").status == 200, "carol")
        d.wait_log(r"u3@t .* identified as endpoint carol by user")
        # unknown From user, but the digest username is an auth's username
        r = c.request("OPTIONS", from_user="stranger", call_id="u4@t",
                      headers=['Authorization: Digest username="dave-digest", realm="x", nonce="n", '
                               'uri="sip:x", response="00000000000000000000000000000000"'])
        check(r.status == 200, f"digest username: {r}")
        d.wait_log(r"u4@t .* identified as endpoint dave by user")
        # nothing matches: 403 (unidentified-response=403)
        check(c.request("OPTIONS", from_user="mallory", call_id="u5@t").status == 403, "mallory")
    finally:
        d.stop()


def test_anonymous_endpoint():
    d = ep_daemon(sip_conf(endpoints=endpoint("5000") + endpoint("anonymous", context="public"))).start()
    try:
        sipp(scenario("options_200.xml"), target(d), "-key", "from_user", "someone", "-key", "from_host",
             "x.invalid", "-key", "tenant", "none")
        identified(d, "anonymous", "anonymous")
        out = d.api("show endpoints anonymous")
        check("public" in out, out)
    finally:
        d.stop()


def test_identify_order_setting():
    eps = endpoint("by-ip") + endpoint("alice")
    rules = '<match endpoint="by-ip" ip="127.0.0.1"/>'
    d = ep_daemon(sip_conf(endpoints=eps, identify=rules)).start()
    try:
        c = SipClient(d.sip_port)
        check(c.request("OPTIONS", from_user="alice", call_id="o1@t").status == 200, "default order")
        d.wait_log(r"o1@t .* identified as endpoint by-ip by ip")
    finally:
        d.stop()
    d = ep_daemon(sip_conf(endpoints=eps, identify=rules,
                           settings='<param name="identify-order" value="user,ip"/>')).start()
    try:
        c = SipClient(d.sip_port)
        check(c.request("OPTIONS", from_user="alice", call_id="o2@t").status == 200, "user first")
        d.wait_log(r"o2@t .* identified as endpoint alice by user")
    finally:
        d.stop()


def test_module_identifier_is_appended_unless_ordered():
    eps = endpoint("5000") + endpoint("anonymous")
    d = ep_daemon(sip_conf(endpoints=eps), test_module=True).start()
    try:
        c = SipClient(d.sip_port)
        r = c.request("OPTIONS", from_user="x", call_id="m1@t", headers=["X-Test-Endpoint: 5000"])
        check(r.status == 200, f"{r}")
        # registered after the built-ins: anonymous answers first
        d.wait_log(r"m1@t .* identified as endpoint anonymous by anonymous")
        check("x-ep-test" in (r.get("Supported") or ""), f"module option tag in Supported: {r.headers}")
        check("INVITE" in r.get("Allow") and "BYE" in r.get("Allow"), f"Allow lists module methods: {r.headers}")
    finally:
        d.stop()
    d = ep_daemon(sip_conf(endpoints=eps, settings='<param name="identify-order" value="x-test,ip,user"/>'),
                  test_module=True).start()
    try:
        c = SipClient(d.sip_port)
        check(c.request("OPTIONS", from_user="x", call_id="m2@t", headers=["X-Test-Endpoint: 5000"]).status == 200,
              "x-test first")
        d.wait_log(r"m2@t .* identified as endpoint 5000 by x-test")
    finally:
        d.stop()


def test_unidentified_challenge_then_403_and_counters():
    d = ep_daemon(sip_conf(endpoints=endpoint("5000"))).start()
    try:
        sipp(scenario("unidentified_challenge.xml"), target(d), "-key", "from_user", "intruder", "-key",
             "from_host", "127.0.0.1", "-au", "intruder", "-ap", "guess")
        prof = profiles_json(d)[0]
        check(prof["unidentified"] == 2, f"counter: {prof}")
        srcs = {s["ip"]: s["count"] for s in prof["unidentified-sources"]}
        check(srcs.get("127.0.0.1") == 2, f"per-source counter: {srcs}")
        text = d.api("show profiles")
        check("unidentified sources" in text and "127.0.0.1" in text, text)
    finally:
        d.stop()


def test_unidentified_uses_the_registered_challenger():
    d = ep_daemon(sip_conf(endpoints=endpoint("5000")), test_module=True).start()
    try:
        check("+OK" in d.api("ep_test_challenger on"), "challenger on")
        c = SipClient(d.sip_port)
        r = c.request("REGISTER", from_user="intruder")
        check(r.status == 407 and r.phrase == "Test Challenger", f"challenger answer: {r}")
        check("+OK" in d.api("ep_test_challenger off"), "challenger off")
        r = c.request("REGISTER", from_user="intruder")
        check(r.status == 401 and "Digest" in (r.get("WWW-Authenticate") or ""), f"built-in challenge: {r}")
    finally:
        d.stop()


def test_unidentified_403_mode():
    d = ep_daemon(sip_conf(endpoints=endpoint("5000"),
                           settings='<param name="unidentified-response" value="403"/>')).start()
    try:
        sipp(scenario("options_403.xml"), target(d), "-key", "from_user", "intruder", "-key", "from_host",
             "127.0.0.1")
        check(profiles_json(d)[0]["unidentified"] == 1, "counted")
    finally:
        d.stop()


def test_unidentified_event():
    d = ep_daemon(sip_conf(endpoints=endpoint("5000"), settings='<param name="unidentified-response" value="403"/>'),
                  modules=("mod_event_socket", "mod_endpoints")).start()
    try:
        esl = Esl(d.esl_port, d.esl_password)
        hdrs, _ = esl.command("event json CUSTOM endpoint::unidentified")
        check(hdrs.get("Reply-Text", "").startswith("+OK"), f"subscribe: {hdrs}")
        c = SipClient(d.sip_port, src_ip="127.0.0.3")
        check(c.request("OPTIONS", from_user="intruder", from_host="evil.example",
                        headers=["User-Agent: scanner/1.0"]).status == 403, "403")
        while True:
            h, body = esl.read_frame()
            if h.get("Content-Type") == "text/event-json":
                ev = json.loads(body)
                break
        check(ev["Event-Subclass"] == "endpoint::unidentified", f"{ev}")
        check(ev["network-ip"] == "127.0.0.3" and ev["network-port"] == str(c.local[1]), f"{ev}")
        check(ev["network-proto"] == "udp" and ev["method"] == "OPTIONS", f"{ev}")
        check(ev["from-user"] == "intruder" and ev["from-host"] == "evil.example", f"{ev}")
        check(ev["user-agent"] == "scanner/1.0" and ev["profile-name"] == "internal", f"{ev}")
        esl.close()
    finally:
        d.stop()


def test_dialog_cache_identifies_in_dialog_requests():
    d = ep_daemon(sip_conf(endpoints=endpoint("caller"),
                           identify='<match endpoint="caller" header="X-Caller" regex="yes"/>'),
                  test_module=True).start()
    try:
        c = SipClient(d.sip_port)
        r = c.request("INVITE", from_user="u", call_id="dlg1@t", headers=["X-Caller: yes"])
        check(r.status == 200, f"INVITE answered by the held request's reply from another thread: {r}")
        to_tag = r.get("To").split("tag=")[1]
        # in-dialog BYE without the identifying header: the cached endpoint is used
        r = c.request("BYE", from_user="u", call_id="dlg1@t", to_tag=to_tag, cseq=2)
        check(r.status == 200 and r.get("X-Identified") == "caller by dialog", f"BYE: {r} {r.headers}")
        # BYE ended the dialog: the same request is now unidentified
        r = c.request("BYE", from_user="u", call_id="dlg1@t", to_tag=to_tag, cseq=3)
        check(r.status == 401, f"after BYE: {r}")
        check(json.loads(d.api("show profiles as json"))["dialogs"] == 0, "cache emptied")
    finally:
        d.stop()


def test_reloadxml_updates_identify_rules_without_restarting_transports():
    eps = endpoint("first") + endpoint("second")
    d = ep_daemon(sip_conf(endpoints=eps, identify='<match endpoint="first" ip="127.0.0.1"/>')).start()
    try:
        c = SipClient(d.sip_port)
        check(c.request("OPTIONS", call_id="r1@t").status == 200, "before")
        d.wait_log(r"r1@t .* identified as endpoint first by ip")
        d.write_conf("autoload_configs/sip.conf.xml",
                     sip_conf(endpoints=eps + endpoint("third"),
                              identify='<match endpoint="second" ip="127.0.0.0/8"/>'))
        out = d.api("reloadxml")
        check("-ERR" not in out, f"reloadxml: {out}")
        d.wait_log(r"endpoints and identify rules reloaded \(3 endpoints\)")
        # the same socket keeps working: the listener was not restarted
        check(c.request("OPTIONS", call_id="r2@t").status == 200, "after")
        d.wait_log(r"r2@t .* identified as endpoint second by ip")
        check("third" in d.api("show endpoints"), "new endpoint listed")
        check(profiles_json(d)[0]["requests"] == 2, "same profile instance counts both requests")
        check("profile internal stopped" not in d.log(), "listener not restarted")
        # a listener change is not applied by reloadxml, and the log says so
        d.write_conf("autoload_configs/sip.conf.xml",
                     sip_conf(endpoints=eps, settings='<param name="transports" value="udp"/>',
                              identify='<match endpoint="second" ip="127.0.0.0/8"/>'))
        check("-ERR" not in d.api("reloadxml"), "second reload")
        d.wait_log(r"profile internal: listener settings changed .*module reload mod_endpoints")
        # a bad configuration is refused and the running one stays
        d.write_conf("autoload_configs/sip.conf.xml",
                     sip_conf(endpoints=eps, identify='<match endpoint="ghost" ip="127.0.0.1"/>'))
        out = d.api("reloadxml")
        check("-ERR" in out and "ghost" in out, f"bad reload: {out}")
        check(c.request("OPTIONS", call_id="r3@t").status == 200, "still serving")
    finally:
        d.stop()


def test_cancel_reaches_the_cancel_service():
    d = ep_daemon(sip_conf(endpoints=endpoint("caller"), identify='<match endpoint="caller" ip="127.0.0.1"/>'),
                  test_module=True).start()
    try:
        c = SipClient(d.sip_port)
        branch = "z9hG4bKcancel1"
        c.send_raw(c.build("INVITE", from_user="u", call_id="cancel1@t", branch=branch, headers=["X-Test-Hold: yes"]))
        r = c.read_response()
        while r.status < 180:
            r = c.read_response()
        check(r.status == 180, f"provisional from the held INVITE: {r}")
        cancel = c.build("CANCEL", from_user="u", call_id="cancel1@t", branch=branch).decode()
        c.send_raw(cancel.encode())
        got = sorted((c.final().status, c.final().status))
        check(got == [200, 487], f"CANCEL 200 and INVITE 487: {got}")
        d.wait_log(r"ep_test: CANCEL cancel1@t from endpoint caller reached the CANCEL service \(INVITE was parked\)")
        wait_for(lambda: profiles_json(d)[0]["in-flight"] == 0, 5, "both requests finished")
    finally:
        d.stop()


def test_documented_identifier_module_example_works():
    """docs/endpoints.md shows an identifier module: build it as written, load it, use it."""
    import re
    import shutil
    import subprocess
    from aorta_test import SRCDIR, Skip
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise Skip("no C compiler")
    doc = open(os.path.join(SRCDIR, "docs", "endpoints.md")).read()
    blocks = re.findall(r"```c\n(.*?)```", doc, re.S)
    check(blocks, "a C example in docs/endpoints.md")
    tmp = scratch_dir("ep-doc-")
    with open(os.path.join(tmp, "mod_token.c"), "w") as f:
        f.write(blocks[0])
    flags = subprocess.run(["pkg-config", "--cflags", "apr-1", "sofia-sip-ua", "libxml-2.0"], capture_output=True,
                           text=True).stdout.split()
    p = subprocess.run([cc, "-shared", "-fPIC", "-Wall", "-Werror", "-I", os.path.join(SRCDIR, "src", "include"),
                        "-I", os.path.join(SRCDIR, "mod"), *flags, "mod_token.c", "-o", "mod_token.so"],
                       cwd=tmp, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"example does not build:\n{p.stderr}")
    d = ep_daemon(sip_conf(endpoints=endpoint("token-users") + endpoint("anonymous"),
                           settings='<param name="identify-order" value="token,ip,header,user,anonymous"/>'),
                  modules=("mod_endpoints", "mod_token"))
    os.symlink(os.path.join(tmp, "mod_token.so"), os.path.join(d.mod_dir, "mod_token.so"))
    d.start()
    try:
        c = SipClient(d.sip_port)
        check(c.request("OPTIONS", call_id="tok1@t", headers=["X-Token: s3cret"]).status == 200, "with token")
        d.wait_log(r"tok1@t .* identified as endpoint token-users by token")
        check(c.request("OPTIONS", call_id="tok2@t", headers=["X-Token: wrong"]).status == 200, "without")
        d.wait_log(r"tok2@t .* identified as endpoint anonymous by anonymous")
    finally:
        d.stop()
