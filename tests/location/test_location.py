"""The location service against the real daemon: persistence across kill -9, expiry by
the timer (event + purge at restart), admin unregister, listings, and the memory store."""
import json
import re
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "registrar"))
import aorta_test as at  # noqa: E402
from aorta_test import check  # noqa: E402
import reglib as rl  # noqa: E402

DEADLINE = 120


def _conf(store="sqlite", **reg):
    return rl.sip_conf(rl.endpoint("5000", "5000") + rl.endpoint("7000", "7000"),
                       rl.aor("5000", max_contacts=10) + rl.aor("7000", contact="sip:7000@192.0.2.7:5060"),
                       registrar=reg or None, location={"store": store})


def test_survives_kill9():
    d = rl.daemon(_conf())
    uris = ["sip:5000@192.0.2.%d:5060" % i for i in (1, 2, 3)]
    for u in uris:
        rl.register(d, [{"contacts": [f"<{u}>"], "expires": 600, "expect": 200}])
    before = d.api("show contacts 5000")
    d.kill9()
    d.restart()
    after = d.api("show contacts 5000")
    for u in uris:
        check(u in after, f"{u} lost after kill -9:\n{after}")
    check(d.api("dial_contacts 5000").count("sip/5000/") == 3, d.api("dial_contacts 5000"))
    # the fields survive too: same rows as before (expires may have ticked down by a second)
    strip = lambda s: sorted(l.split("|")[0:2] + l.split("|")[3:] for l in s.splitlines() if "|sip:" in l)
    check(strip(before) == strip(after), f"{before}\n---\n{after}")
    d.stop()


def test_expiry_timer_event_and_purge():
    d = rl.daemon(_conf(**{"min-expires": "1"}))
    ev = rl.Events(d)
    rl.register(d, [{"contacts": ["<sip:5000@192.0.2.50>"], "expires": 2, "expect": 200}])
    rl.register(d, [{"contacts": ["<sip:5000@192.0.2.51>"], "expires": 600, "expect": 200}])
    e = ev.wait("registrar::expire", timeout=10)
    check(e.get("contact") == "sip:5000@192.0.2.50" and e.get("aor") == "5000" and e.get("reason") == "expired", e)
    check(e.get("contact-count") == "1", e)
    out = d.api("show contacts 5000")
    check("192.0.2.50" not in out and "192.0.2.51" in out, out)
    # a contact that expires while the daemon is down is purged at start-up
    rl.register(d, [{"contacts": ["<sip:5000@192.0.2.52>"], "expires": 1, "expect": 200}])
    t0 = time.monotonic()
    ev.close()
    d.kill9()
    at.wait_for(lambda: time.monotonic() - t0 > 1.5, timeout=5, what="the 1 s contact to expire")
    d.restart()
    d.wait_log(r"purged 1 expired contacts")
    out = d.api("show contacts 5000")
    check("192.0.2.52" not in out and "192.0.2.51" in out, out)
    d.stop()


def test_admin_unregister_and_listings():
    d = rl.daemon(_conf(store="memory"))
    ev = rl.Events(d)
    rl.register(d, [{"contacts": ["<sip:5000@192.0.2.60>", "<sip:5000@192.0.2.61>"], "expires": 600,
                     "expect": 200}])
    aors = json.loads(d.api("show aors as json"))
    a = {x["name"]: x for x in aors}
    check(a["5000"]["contacts"] == 2 and a["5000"]["max_contacts"] == 10, aors)
    check(a["7000"]["static_contacts"] == ["sip:7000@192.0.2.7:5060"], aors)
    regs = json.loads(d.api("show registrations as json"))
    check(sorted(r["uri"] for r in regs) == ["sip:5000@192.0.2.60", "sip:5000@192.0.2.61"], regs)
    check(all(r["endpoint"] == "5000" and r["network_proto"] == "udp" and 0 < r["expires"] <= 600 for r in regs), regs)
    contacts = json.loads(d.api("show contacts 7000 as json"))
    check(contacts == [{"aor": "7000", "uri": "sip:7000@192.0.2.7:5060", "type": "static", "profile": "internal",
                        "status": "unknown"}], contacts)
    check(d.api("show contacts nope").startswith("-ERR"), "unknown aor")
    out = d.api("registrar unregister 5000 sip:5000@192.0.2.60")
    check(out.strip() == "+OK removed 1 contact", out)
    e = ev.wait("registrar::unregister", reason="admin")
    check(e.get("contact") == "sip:5000@192.0.2.60", e)
    check(d.api("registrar unregister 5000 sip:5000@192.0.2.99").startswith("-ERR"), "no such contact")
    out = d.api("registrar unregister 5000 all")
    check(out.strip() == "+OK removed 1 contact", out)
    check(json.loads(d.api("show registrations as json")) == [], "empty")
    ev.close()
    d.stop()


def test_store_failure_answers_503_and_reverts():
    import sqlite3
    d = rl.daemon(_conf())
    ev = rl.Events(d)
    rl.register(d, [{"contacts": ["<sip:5000@192.0.2.70>"], "expires": 600, "expect": 200}])
    # another process holds the database's write lock: the commit cannot happen
    db = sqlite3.connect(os.path.join(d.data_dir, "location.db"), isolation_level=None, timeout=1)
    db.execute("BEGIN EXCLUSIVE")
    try:
        r = rl.register(d, [{"contacts": ["<sip:5000@192.0.2.71>"], "expires": 600, "expect": 503}])
        check(rl.hdr(r[-1], "retry-after") == ["5"], r[-1][1])
        e = ev.wait("registrar::register_failure", timeout=20)
        check(e.get("reason") == "store failure" and e.get("status-code") == "503", e)
    finally:
        db.execute("ROLLBACK")
        db.close()
    out = d.api("show contacts 5000")
    check("192.0.2.71" not in out and "192.0.2.70" in out, f"reverted: {out}")
    # no register event was fired for the change that never became durable
    check(not [x for x in ev.drain() if x.get("Event-Subclass") == "registrar::register" and
               x.get("contact") == "sip:5000@192.0.2.71"], "no event for the failed change")
    # and the store works again
    rl.register(d, [{"contacts": ["<sip:5000@192.0.2.72>"], "expires": 600, "expect": 200}])
    ev.close()
    d.kill9()
    d.restart()
    out = d.api("show contacts 5000")
    check("192.0.2.72" in out and "192.0.2.70" in out and "192.0.2.71" not in out, out)
    d.stop()


def test_sqlite_synchronous_full():
    # full: each group commit is fsync'ed before its 200 OKs; the bindings behave as ever
    conf = rl.sip_conf(rl.endpoint("5000", "5000"), rl.aor("5000", max_contacts=10),
                       location={"store": "sqlite", "sqlite-synchronous": "full"})
    d = rl.daemon(conf)
    try:
        for i in (1, 2):
            r = rl.register(d, [{"contacts": [f"<sip:5000@192.0.2.{i}:5060>"], "expires": 600, "expect": 200}])
            check(r and r[-1][0] == 200, f"REGISTER {i}: {r}")
        d.kill9()
        d.restart()
        after = d.api("show contacts 5000")
        check("192.0.2.1" in after and "192.0.2.2" in after, after)
    finally:
        d.stop()
    # anything else is refused where it is written
    bad = conf.replace('value="full"', 'value="sometimes"')
    d = at.Daemon(modules=rl.MODULES, conf={"autoload_configs/sip.conf.xml": bad})
    rc, out = at.run_check(d.conf_dir, "--mod-dir", d.mod_dir)
    check(rc == 1, f"--check exit {rc}: {out}")
    check(re.search(r"sip\.conf\.xml:\d+: .*sqlite-synchronous.*must be normal or full", out), out)
