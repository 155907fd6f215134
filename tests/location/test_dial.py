"""dial_contacts and resolve (SPEC §8): static, dynamic, multi-AOR, unregistered, request
user, NAT and Path routes, and the one contact order."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "registrar"))
import aorta_test as at  # noqa: E402
from aorta_test import check  # noqa: E402
import reglib as rl  # noqa: E402

DEADLINE = 120


def _conf():
    return rl.sip_conf(
        rl.endpoint("5000", "5000") + rl.endpoint("7000", "7000") + rl.endpoint("both", "6000,5000") +
        rl.endpoint("empty", "6000"),
        rl.aor("5000", max_contacts=10) + rl.aor("6000", max_contacts=1, remove_existing="true") +
        rl.aor("7000", contact=["sip:7000@192.0.2.7:5060", "sip:7000@192.0.2.8:5060"]),
        location={"store": "memory"})


def test_dial_contacts_order_and_cases():
    d = rl.daemon(_conf())
    check(d.api("dial_contacts 5000").strip() == "error/user_not_registered", "none registered")
    # three phones; q decides first, then the most recent registration
    rl.register(d, [{"contacts": ["<sip:5000@192.0.2.1:5060>;q=0.5"], "expires": 600, "expect": 200}])
    rl.register(d, [{"contacts": ["<sip:5000@192.0.2.2:5060>"], "expires": 600, "expect": 200}])
    rl.register(d, [{"contacts": ["<sip:5000@192.0.2.3:5060>"], "expires": 600, "expect": 200}])
    legs = d.api("dial_contacts 5000").strip().split(",[")
    uris = [l.split("]")[-1] for l in legs]
    check(uris == ["sip/5000/sip:5000@192.0.2.3:5060", "sip/5000/sip:5000@192.0.2.2:5060",
                   "sip/5000/sip:5000@192.0.2.1:5060"], f"order: {legs}")
    # the contacts registered from 127.0.0.1 (SIPp) but advertise 192.0.2.x: NAT route on each leg
    check(all("sip_network_destination=sip:127.0.0.1:" in l for l in legs), legs)
    # the same order in show contacts and the 200 OK of a query
    rows = [l.split("|")[1] for l in d.api("show contacts 5000").splitlines() if l.startswith("5000|")]
    check(rows == ["sip:5000@192.0.2.3:5060", "sip:5000@192.0.2.2:5060", "sip:5000@192.0.2.1:5060"], rows)
    r = rl.register(d, [{"expect": 200}])
    check(list(rl.contact_expires(r[-1])) == rows, r[-1][1])
    # request_user rewrites the user part
    check("sip/5000/sip:alice@192.0.2.3:5060" in d.api("dial_contacts 5000 * alice"), "request user")
    # static contacts
    check(d.api("dial_contacts 7000").strip() ==
          "sip/7000/sip:7000@192.0.2.7:5060,sip/7000/sip:7000@192.0.2.8:5060", d.api("dial_contacts 7000"))
    # several AORs: every contact of each, in the endpoint's AOR order; an explicit AOR list
    rl.register(d, [{"contacts": ["<sip:6000@127.0.0.1:5099>"], "to": "6000", "expect": 200}], user="both")
    both = d.api("dial_contacts both").strip().split(",")
    check(both[0].endswith("sip/both/sip:6000@127.0.0.1:5099"), f"AOR 6000 first: {both}")
    check(len([l for l in d.api("dial_contacts both").split(",") if "sip/both/" in l]) == 4, both)
    check(d.api("dial_contacts both 5000").count("sip/both/") == 3, "only AOR 5000")
    check(d.api("dial_contacts nosuch").startswith("-ERR"), "unknown endpoint")
    d.stop()


def test_resolve():
    d = rl.daemon(_conf(), modules=rl.MODULES + ["mod_dialplan"])  # resolve parses with mod_dialplan
    out = d.api("resolve sip/5000")
    check("error/user_not_registered" in out and "none of endpoint 5000" in out, out)
    rl.register(d, [{"contacts": ["<sip:5000@127.0.0.1:5077>;q=0.9"], "expires": 600, "expect": 200}])
    rl.register(d, [{"contacts": ["<sip:5000@127.0.0.1:5078>;q=0.2"], "expires": 600, "expect": 200}])
    out = d.api("resolve sip/5000")
    check("-> " in out and "sip:5000@127.0.0.1:5077" in out and "first of 2 contacts of AOR 5000" in out, out)
    out = json.loads(d.api("resolve sip/5000/5000 as json"))
    check(out[0]["uri"] == "sip:5000@127.0.0.1:5077" and out[0]["aor"] == "5000", out)
    out = d.api("resolve sip/5000/sip:bob@198.51.100.1:5060")
    check("-> sip:bob@198.51.100.1:5060 (explicit URI" in out, out)
    out = d.api("resolve sip/7000")
    check("-> sip:7000@192.0.2.7:5060 (static contact of AOR 7000" in out, out)
    # an endpoint whose first AOR is empty falls through to the next
    out = json.loads(d.api("resolve sip/both as json"))
    check(out[0]["aor"] == "5000" and "earlier AORs" in out[0]["why"], out)
    # a whole dial string: one line per leg
    out = d.api("resolve {x=y}sip/7000,sip/5000|error/user_not_registered")
    check(len(out.strip().splitlines()) == 3 and "error leg" in out, out)
    d.stop()
