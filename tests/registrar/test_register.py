"""REGISTER against the real daemon (SIPp): RFC 3261 §10.3 rules and SPEC §7, with the
registrar events checked through an event-socket subscriber."""
import os
import sys
import re

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aorta_test as at  # noqa: E402
from aorta_test import check  # noqa: E402
import reglib as rl  # noqa: E402

DEADLINE = 120


def _basic_conf(**reg):
    return rl.sip_conf(
        rl.endpoint("5000", "5000") + rl.endpoint("multi", "5000,6000") + rl.endpoint("noaors") +
        rl.endpoint("ghost", "9999") + rl.endpoint("7000", "7000") + rl.endpoint("8000", "8000") +
        rl.endpoint("pathy", "pathy") + rl.endpoint("6000", "6000"),
        rl.aor("5000", max_contacts=10) + rl.aor("6000", max_contacts=1, remove_existing="true") +
        rl.aor("7000", contact="sip:7000@192.0.2.7:5060") + rl.aor("8000", max_contacts=2) +
        rl.aor("pathy", max_contacts=5, support_path="true"),
        registrar=reg or None)


def test_register_refresh_query_unregister():
    d = rl.daemon(_basic_conf())
    ev = rl.Events(d)
    c1 = "<sip:5000@192.0.2.10:5060>"
    r = rl.register(d, [{"contacts": [c1], "expires": 120, "expect": 200}])
    ok = r[-1]
    check(rl.contact_expires(ok).get("sip:5000@192.0.2.10:5060") in (119, 120), f"200 OK contacts: {ok[1]}")
    check(rl.hdr(ok, "date"), "200 OK has a Date")
    e = ev.wait("registrar::register", **{"registration-type": "new"})
    for k, v in {"aor": "5000", "endpoint": "5000", "contact": "sip:5000@192.0.2.10:5060", "expires": "120",
                 "network-ip": "127.0.0.1", "network-proto": "udp", "from-user": "5000", "profile-name": "internal",
                 "contact-count": "1", "user-agent": "aorta-test"}.items():
        check(e.get(k) == v, f"register event {k}={e.get(k)!r}, want {v!r}: {e}")
    check("path" not in e and "reason" not in e and "instance-id" not in e, f"empty headers are left out: {e}")
    check(e.get("call-id") and e.get("network-port"), e)

    out = d.api("show contacts 5000")
    check("sip:5000@192.0.2.10:5060" in out and "|udp:127.0.0.1:" in out, out)

    # refresh: same URI, new CSeq in the same Call-ID run
    r = rl.register(d, [{"contacts": [c1], "expires": 300, "expect": 200}])
    check(rl.contact_expires(r[-1])["sip:5000@192.0.2.10:5060"] in (299, 300), r[-1][1])
    ev.wait("registrar::register", **{"registration-type": "refresh", "expires": "300"})

    # a query: no Contact, the bindings come back with their remaining time
    r = rl.register(d, [{"expect": 200}])
    check(list(rl.contact_expires(r[-1])) == ["sip:5000@192.0.2.10:5060"], r[-1][1])

    # removal by its owner
    r = rl.register(d, [{"contacts": [c1], "expires": 0, "expect": 200}])
    check(rl.contact_expires(r[-1]) == {}, r[-1][1])
    e = ev.wait("registrar::unregister", reason="client")
    check(e.get("expires") == "0" and e.get("contact-count") == "0", e)
    check("sip:5000@192.0.2.10" not in d.api("show contacts 5000"), "removed")
    # exactly one event per change: new, refresh, unregister (the query changed nothing)
    got = [(x.get("Event-Subclass"), x.get("registration-type") or x.get("reason")) for x in ev.drain()]
    check(got == [("registrar::register", "new"), ("registrar::register", "refresh"),
                  ("registrar::unregister", "client")], got)
    ev.close()
    d.stop()


def test_expiry_rules():
    d = rl.daemon(_basic_conf(**{"min-expires": "60", "max-expires": "7200", "default-expires": "3600"}))
    ev = rl.Events(d)
    # below min-expires: 423 with Min-Expires, nothing stored, a register_failure event
    r = rl.register(d, [{"contacts": ["<sip:5000@192.0.2.11>"], "expires": 30, "expect": 423}])
    check(rl.hdr(r[-1], "min-expires") == ["60"], r[-1][1])
    e = ev.wait("registrar::register_failure")
    check(e.get("status-code") == "423" and e.get("reason") == "interval too brief", e)
    # the contact param wins over Expires; above max is capped; no expiry at all gets the default
    r = rl.register(d, [{"contacts": ["<sip:5000@192.0.2.12>;expires=90"], "expires": 600, "expect": 200}])
    check(rl.contact_expires(r[-1])["sip:5000@192.0.2.12"] in (89, 90), r[-1][1])
    r = rl.register(d, [{"contacts": ["<sip:5000@192.0.2.13>"], "expires": 99999, "expect": 200}])
    check(rl.contact_expires(r[-1])["sip:5000@192.0.2.13"] in (7199, 7200), r[-1][1])
    r = rl.register(d, [{"contacts": ["<sip:5000@192.0.2.14>"], "expect": 200}])
    exp = rl.contact_expires(r[-1])
    check(exp["sip:5000@192.0.2.14"] in (3599, 3600), r[-1][1])
    # every binding is listed
    check(set(exp) == {"sip:5000@192.0.2.12", "sip:5000@192.0.2.13", "sip:5000@192.0.2.14"}, exp)
    check("192.0.2.11" not in d.api("show contacts 5000"), "423 stored nothing")
    ev.close()
    d.stop()


def test_wildcard_contact():
    d = rl.daemon(_basic_conf())
    ev = rl.Events(d)
    rl.register(d, [{"contacts": ["<sip:5000@192.0.2.21>", "<sip:5000@192.0.2.22>"], "expires": 300, "expect": 200}])
    # * with a non-zero expiry, or with another contact: 400
    rl.register(d, [{"contacts": ["*"], "expires": 300, "expect": 400}])
    rl.register(d, [{"contacts": ["*", "<sip:5000@192.0.2.23>"], "expires": 0, "expect": 400}])
    rl.register(d, [{"contacts": ["*"], "expect": 400}])
    check(d.api("show contacts 5000").count("192.0.2.2") == 2, "400s removed nothing")
    r = rl.register(d, [{"contacts": ["*"], "expires": 0, "expect": 200}])
    check(rl.contact_expires(r[-1]) == {}, r[-1][1])
    ev.wait("registrar::unregister", reason="client")
    ev.wait("registrar::unregister", reason="client")
    check("192.0.2.2" not in d.api("show contacts 5000"), "all removed")
    ev.close()
    d.stop()


def test_callid_cseq_ordering():
    d = rl.daemon(_basic_conf())
    c = "<sip:5000@192.0.2.31>"
    rl.register(d, [{"contacts": [c], "expires": 300, "call_id": "order@t", "cseq": 5, "expect": 200}])
    r = rl.register(d, [{"contacts": [c], "expires": 100, "call_id": "order@t", "cseq": 5, "expect": 500}])
    check(rl.hdr(r[-1], "retry-after"), f"500 has Retry-After: {r[-1][1]}")
    rl.register(d, [{"contacts": [c], "expires": 100, "call_id": "order@t", "cseq": 4, "expect": 500}])
    out = d.api("show contacts 5000")
    check(re.search(r"\|sip:5000@192.0.2.31\|(29\d|300)\|", out), f"binding unchanged (300 s): {out}")
    # a higher CSeq, or another Call-ID, updates
    rl.register(d, [{"contacts": [c], "expires": 100, "call_id": "order@t", "cseq": 6, "expect": 200}])
    rl.register(d, [{"contacts": [c], "expires": 200, "call_id": "other@t", "cseq": 1, "expect": 200}])
    check(d.api("show contacts 5000").count("192.0.2.31") == 1, "one binding")
    d.stop()


def test_max_contacts_and_remove_existing():
    d = rl.daemon(_basic_conf())
    ev = rl.Events(d)
    rl.register(d, [{"contacts": ["<sip:8000@192.0.2.41>"], "expires": 100, "expect": 200}], user="8000")
    rl.register(d, [{"contacts": ["<sip:8000@192.0.2.42>"], "expires": 200, "expect": 200}], user="8000")
    rl.register(d, [{"contacts": ["<sip:8000@192.0.2.43>"], "expires": 300, "expect": 403}], user="8000")
    e = ev.wait("registrar::register_failure")
    check(e.get("status-code") == "403" and e.get("reason") == "too many contacts", e)
    out = d.api("show contacts 8000")
    check("192.0.2.43" not in out and "192.0.2.41" in out, out)
    # a refresh of an existing binding is not "more"
    rl.register(d, [{"contacts": ["<sip:8000@192.0.2.41>"], "expires": 100, "expect": 200}], user="8000")

    # remove-existing (max 1): the new phone replaces the old one
    rl.register(d, [{"contacts": ["<sip:6000@192.0.2.51>"], "expires": 100, "expect": 200}], user="6000")
    r = rl.register(d, [{"contacts": ["<sip:6000@192.0.2.52>"], "expires": 100, "expect": 200}], user="6000")
    check(list(rl.contact_expires(r[-1])) == ["sip:6000@192.0.2.52"], r[-1][1])
    e = ev.wait("registrar::unregister", reason="replaced", aor="6000")
    check(e.get("contact") == "sip:6000@192.0.2.51", e)
    ev.close()
    d.stop()


def test_instance_replacement():
    d = rl.daemon(_basic_conf())
    inst = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-000a95a0e128>";reg-id=1'
    rl.register(d, [{"contacts": [f"<sip:5000@192.0.2.61:5060>;{inst}"], "expires": 300, "expect": 200}])
    # the same phone from a new address and port, new Call-ID: replaces, no duplicate
    r = rl.register(d, [{"contacts": [f"<sip:5000@192.0.2.62:6000>;{inst}"], "expires": 300, "expect": 200}])
    check(list(rl.contact_expires(r[-1])) == ["sip:5000@192.0.2.62:6000"], r[-1][1])
    check('+sip.instance="<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"' in rl.hdr(r[-1], "contact")[0],
          "instance echoed")
    j = d.api("show contacts 5000 as json")
    check(j.count("192.0.2.6") == 1 and "urn:uuid:00000000-0000-1000-8000-000a95a0e128" in j, j)
    d.stop()


def test_path():
    d = rl.daemon(_basic_conf())
    path = ["Path: <sip:edge1.example.com;lr>", "Path: <sip:edge2.example.com;lr>"]
    r = rl.register(d, [{"contacts": ["<sip:pathy@10.1.1.1:5060>"], "expires": 300, "headers": path,
                         "expect": 200}], user="pathy")
    got = ",".join(rl.hdr(r[-1], "path"))
    check("edge1.example.com" in got and "edge2.example.com" in got, f"Path echoed: {r[-1][1]}")
    dial = d.api("dial_contacts pathy").strip()
    check(dial == "[sip_route=<sip:edge1.example.com;lr>\\,<sip:edge2.example.com;lr>]sip/pathy/sip:pathy@10.1.1.1:5060",
          dial)
    # an AOR without support-path: Require: path → 420 Unsupported: path
    r = rl.register(d, [{"contacts": ["<sip:5000@10.1.1.2>"], "expires": 300,
                         "headers": ["Require: path", path[0]], "expect": 420}])
    check(rl.hdr(r[-1], "unsupported") == ["path"], r[-1][1])
    # other extensions we do not know: 420 naming them
    r = rl.register(d, [{"contacts": ["<sip:5000@10.1.1.2>"], "expires": 300,
                         "headers": ["Require: foo"], "expect": 420}])
    check(rl.hdr(r[-1], "unsupported") == ["foo"], r[-1][1])
    # without Require, Path is simply not stored for that AOR
    r = rl.register(d, [{"contacts": ["<sip:5000@10.1.1.3>"], "expires": 300, "headers": [path[0]],
                         "expect": 200}])
    check(not rl.hdr(r[-1], "path"), r[-1][1])
    d.stop()


def test_aor_policy():
    d = rl.daemon(_basic_conf())
    ev = rl.Events(d)
    # To user not among the endpoint's aors
    rl.register(d, [{"contacts": ["<sip:x@192.0.2.71>"], "to": "6000", "expect": 403}], user="5000")
    e = ev.wait("registrar::register_failure")
    check(e.get("reason") == "aor not allowed for endpoint" and e.get("aor") == "6000", e)
    # endpoint lists an AOR that does not exist
    rl.register(d, [{"contacts": ["<sip:x@192.0.2.72>"], "to": "9999", "expect": 404}], user="ghost")
    # endpoint without aors
    rl.register(d, [{"contacts": ["<sip:x@192.0.2.73>"], "to": "noaors", "expect": 403}], user="noaors")
    # max-contacts 0 (static only)
    rl.register(d, [{"contacts": ["<sip:x@192.0.2.74>"], "expect": 403}], user="7000")
    # an endpoint with several AORs may register each
    rl.register(d, [{"contacts": ["<sip:m@192.0.2.75>"], "to": "6000", "expect": 200}], user="multi")
    d.stop()


def test_tcp_transport():
    d = rl.daemon(_basic_conf())
    r = rl.register(d, [{"contacts": ["<sip:5000@192.0.2.90;transport=tcp>"], "expires": 300, "expect": 200}],
                    transport="t1")
    check("sip:5000@192.0.2.90;transport=tcp" in rl.contact_expires(r[-1]), r[-1][1])
    out = d.api("show contacts 5000")
    check("|tcp:127.0.0.1:" in out, out)
    d.stop()


def test_without_registrar_501():
    d = rl.daemon(_basic_conf(), modules=["mod_location", "mod_endpoints"])
    rl.register(d, [{"contacts": ["<sip:5000@192.0.2.91>"], "expires": 300, "expect": 501}])
    d.stop()
