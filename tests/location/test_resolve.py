"""resolve parses with mod_dialplan's `dialstring` interface (the bridge grammar, SPEC §8):
variable scopes, `,` `|` and `:_:`, route variables from the dial string, malformed strings,
and what it answers when mod_dialplan is not loaded or is unloaded while it runs."""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "registrar"))
import aorta_test as at  # noqa: E402
from aorta_test import check  # noqa: E402
import reglib as rl  # noqa: E402

DEADLINE = 120
WITH_DIALPLAN = rl.MODULES + ["mod_dialplan"]
NO_DIALPLAN = "-ERR resolve needs the dial-string parser of mod_dialplan, which is not loaded"


def _conf():
    return rl.sip_conf(
        rl.endpoint("5000", "5000") + rl.endpoint("7000", "7000") + rl.endpoint("pathy", "pathy"),
        rl.aor("5000", max_contacts=10) + rl.aor("pathy", max_contacts=2, support_path="true") +
        rl.aor("7000", contact=["sip:7000@192.0.2.7:5060"]),
        location={"store": "memory"})


def _lines(out):
    return out.strip().splitlines()


def test_resolve_grammar():
    d = rl.daemon(_conf(), modules=WITH_DIALPLAN)
    try:
        rl.register(d, [{"contacts": ["<sip:5000@127.0.0.1:5077>"], "expires": 600, "expect": 200}])
        rl.register(d, [{"contacts": ["<sip:pathy@10.1.1.1:5060>"], "expires": 300, "expect": 200,
                         "headers": ["Path: <sip:edge1.example.com;lr>", "Path: <sip:edge2.example.com;lr>"]}],
                    user="pathy")
        # {} for every leg, [] for one, `,` together, `|` after: one line per leg, in order
        out = d.api("resolve {leg_timeout=5,x=a\\,b}sip/7000,[y=1]sip/5000|error/user_busy")
        ls = _lines(out)
        check(len(ls) == 3, out)
        check(ls[0].startswith("sip/7000 -> sip:7000@192.0.2.7:5060 (static contact of AOR 7000"), ls)
        # SIPp registered from another port than the Contact's: the NAT route comes along
        check(ls[1].startswith("sip/5000 -> [sip_network_destination=sip:127.0.0.1:") and
              "]sip:5000@127.0.0.1:5077 (first of 1 contacts of AOR 5000" in ls[1], ls)
        check(ls[2] == "error/user_busy -> error/user_not_registered (error leg (USER_BUSY, SIP 486): "
                       "no request is sent)", ls)
        # whitespace around separators, enterprise branches, <> variables, ^^ separators
        out = d.api("resolve <a=1> {^^:p=1:q=2} sip/7000 :_: sip/5000/5000 | sip/pathy")
        ls = _lines(out)
        check(len(ls) == 3 and ls[0].startswith("sip/7000 -> ") and ls[1].startswith("sip/5000/5000 -> ") and
              ls[2].startswith("sip/pathy -> "), out)
        # a contact behind Path carries its route, escaped as in dial_contacts
        check("[sip_route=<sip:edge1.example.com;lr>\\,<sip:edge2.example.com;lr>]sip:pathy@10.1.1.1:5060" in ls[2],
              ls[2])
    finally:
        d.stop()


def test_resolve_route_variables_win():
    """Route variables in the dial string win, as they do when bridge sends the request."""
    d = rl.daemon(_conf(), modules=WITH_DIALPLAN)
    try:
        out = json.loads(d.api("resolve {sip_network_destination=sip:198.51.100.9:5070;transport=tcp}"
                               "[sip_route=<sip:proxy.example.com;lr>]sip/7000,sip/5000/sip:bob@203.0.113.1 "
                               "as json"))
        check(len(out) == 2, out)
        check(out[0]["leg"] == "sip/7000" and out[0]["uri"] == "sip:7000@192.0.2.7:5060", out)
        check(out[0]["vars"] == "sip_route=<sip:proxy.example.com;lr>,"
                                "sip_network_destination=sip:198.51.100.9:5070;transport=tcp", out)
        check("route set by the dial string's sip_route" in out[0]["why"], out)
        check(out[1]["uri"] == "sip:bob@203.0.113.1" and out[1]["endpoint"] == "5000" and
              out[1]["vars"] == "sip_network_destination=sip:198.51.100.9:5070;transport=tcp", out)
    finally:
        d.stop()


def test_resolve_malformed():
    d = rl.daemon(_conf(), modules=WITH_DIALPLAN)
    try:
        cases = {
            "[x=1sip/7000": "-ERR invalid dial string: offset 0: unbalanced '['",
            "sip/7000,,sip/5000": "-ERR invalid dial string: offset 9: empty leg",
            "sip/7000,{x=1}sip/5000": "-ERR invalid dial string: offset 9: '{' variables are allowed only",
            "foo/bar": "-ERR invalid dial string: offset 0: unknown endpoint type 'foo'",
            "error/no_such_cause": "-ERR invalid dial string: offset 6: unknown hangup cause 'no_such_cause'",
            "sip/": "-ERR invalid dial string: offset 4: sip/ leg without an endpoint name",
            "[x]sip/7000": "-ERR invalid dial string: offset 1: variable 'x' has no '='",
        }
        for s, want in cases.items():
            out = d.api(f"resolve {s}")
            check(out.startswith(want) and len(_lines(out)) == 1, f"{s!r}: {out!r}")
            out = d.api(f"resolve {s} as json")
            check(out.startswith(want), f"{s!r} as json: {out!r}")
        check(d.api("resolve").startswith("-ERR usage: resolve <dialstring>"), "usage")
        check(d.api("resolve sip/nosuch").strip() ==
              "sip/nosuch -> error/user_not_registered (endpoint 'nosuch' not found)", d.api("resolve sip/nosuch"))
        check(d.api("echo alive").strip() == "alive", "daemon alive")
    finally:
        d.stop()


def test_resolve_without_dialplan():
    d = rl.daemon(_conf())   # mod_dialplan not loaded
    try:
        out = d.api("resolve sip/7000")
        check(out.startswith(NO_DIALPLAN) and len(_lines(out)) == 1, out)
        check(d.api("resolve sip/7000 as json").startswith(NO_DIALPLAN), "json too")
        # dial_contacts builds dial strings without parsing one: it needs no dialplan
        check(d.api("dial_contacts 7000").strip() == "sip/7000/sip:7000@192.0.2.7:5060", "dial_contacts")
        check(d.api("module load mod_dialplan").strip() == "+OK", "load")
        check(d.api("resolve sip/7000").startswith("sip/7000 -> sip:7000@192.0.2.7:5060"), "after load")
        check(d.api("module unload mod_dialplan").strip() == "+OK", "unload")
        out = d.api("resolve sip/7000")
        check(out.startswith(NO_DIALPLAN), f"after unload: {out}")
    finally:
        d.stop()


def test_resolve_while_dialplan_unloads():
    """Clients resolving while the operator unloads and loads mod_dialplan: every answer is a
    resolution or the clear -ERR, and the daemon lives (the parser is never unmapped under a
    running resolve)."""
    d = rl.daemon(_conf(), modules=WITH_DIALPLAN)
    bad, answers, stop = [], [0, 0], threading.Event()

    def client():
        esl = at.Esl(d.esl_port, d.esl_password)
        try:
            for _ in range(5000):
                if stop.is_set():
                    break
                out = esl.api("resolve {x=1}sip/7000|[y=2]error/user_busy")
                if out.startswith("sip/7000 -> sip:7000@192.0.2.7:5060") and "USER_BUSY" in out:
                    answers[0] += 1
                elif out.startswith(NO_DIALPLAN):
                    answers[1] += 1
                else:
                    bad.append(out)
                    break
        except Exception as e:  # noqa: B902 - a dropped connection is the failure we look for
            bad.append(repr(e))
        finally:
            esl.close()

    threads = [threading.Thread(target=client) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        at.wait_for(lambda: answers[0] > 0 or bad, 20, "the clients resolving")
        for _ in range(30):
            check(d.api("module unload mod_dialplan", timeout=30).strip() == "+OK", "unload")
            check(d.api("module load mod_dialplan", timeout=30).strip() == "+OK", "load")
        stop.set()
        for t in threads:
            t.join(60)
        check(not any(t.is_alive() for t in threads), "clients finished")
        check(not bad, f"unexpected answers: {bad[:3]}")
        print(f"resolve during unload/load cycles: {answers[0]} resolved, {answers[1]} refused")
        check(d.running() and d.api("echo alive").strip() == "alive", "daemon alive")
    finally:
        stop.set()
        d.stop()
