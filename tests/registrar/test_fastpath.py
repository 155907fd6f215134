"""Where a REGISTER runs: on the profile's SIP thread when everything on its path is
non-blocking (the shipped modules), on the workers as soon as one identifier is not — and the
answer is the same either way, for the memory store (answered before the handler returns)
and for SQLite (held, answered from the location writer after the commit)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aorta_test as at  # noqa: E402
from aorta_test import check  # noqa: E402
import reglib as rl  # noqa: E402

DEADLINE = 90


def _conf(store):
    return rl.sip_conf(rl.endpoint("5000", "5000"), rl.aor("5000", max_contacts=5), location={"store": store})


def _where(d):
    prof = json.loads(d.api("show profiles as json"))["profiles"][0]
    return prof["on-sip-thread"], prof["to-workers"]


def _register_three(d):
    c = rl.SipClient(d)
    try:
        for i in range(3):
            status, hdrs = c.register(contact=f"<sip:5000@192.0.2.{10 + i}:5060>", expires=120)
            check(status == 200, f"REGISTER {i}: {status} {hdrs}")
            check(len(hdrs.get("contact", [])) == i + 1, f"REGISTER {i}: every binding listed: {hdrs.get('contact')}")
    finally:
        c.close()
    contacts = d.api("show contacts 5000")
    check(all(f"192.0.2.{10 + i}" in contacts for i in range(3)), contacts)


def test_register_runs_on_the_sip_thread():
    for store in ("memory", "sqlite"):
        d = rl.daemon(_conf(store), modules=["mod_location", "mod_endpoints", "mod_registrar"])
        try:
            _register_three(d)
            on_root, to_workers = _where(d)
            check(on_root == 3 and to_workers == 0, f"store {store}: on the SIP thread {on_root}, workers {to_workers}")
            check("run on the SIP thread 3, handed to workers 0" in d.api("show profiles"), d.api("show profiles"))
        finally:
            d.stop()


def test_a_blocking_identifier_sends_register_to_the_workers():
    # mod_ep_test registers an identifier without EP_SERVICE_NONBLOCKING: it may wait, so no
    # request may run on the SIP thread any more
    d = at.Daemon(modules=["mod_location", "mod_endpoints", "mod_registrar", "mod_ep_test"],
                  conf={"autoload_configs/sip.conf.xml": _conf("sqlite")})
    src = os.path.join(at.BUILDDIR, "tests", "unit", "mod_endpoints", ".libs", "mod_ep_test.so")
    if not os.path.exists(src):
        raise at.TestFailure(f"test module not built: {src} (make -C tests check TESTS=)")
    os.symlink(src, os.path.join(d.mod_dir, "mod_ep_test.so"))
    d.start()
    try:
        _register_three(d)
        on_root, to_workers = _where(d)
        check(on_root == 0 and to_workers == 3, f"on the SIP thread {on_root}, workers {to_workers}")
        # unloading the blocking module gives the fast path back
        check("-ERR" not in d.api("module unload mod_ep_test"), "unload mod_ep_test")
        c = rl.SipClient(d, "5000")
        try:
            status, _ = c.register(contact="<sip:5000@192.0.2.20:5060>", expires=120)
            check(status == 200, f"REGISTER after unload: {status}")
        finally:
            c.close()
        on_root, to_workers = _where(d)
        check(on_root == 1 and to_workers == 3, f"after unload: on the SIP thread {on_root}, workers {to_workers}")
    finally:
        d.stop()
