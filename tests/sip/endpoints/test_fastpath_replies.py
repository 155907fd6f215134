"""A request run on the SIP thread (fast path), held, and answered 183 then 200 from a worker
before the SIP thread let go of it (mod_ep_fast pins that interleaving down): the 183 is
queued for the SIP thread while the 200 could be sent at once. The caller must get the 183
first and then the 200, every time, and the daemon must not touch a freed request (the
ASan run of the suite would report it)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aorta_test import BUILDDIR, Daemon, TestFailure, check  # noqa: E402
from ep_common import SipClient, endpoint, sip_conf  # noqa: E402

DEADLINE = 60


def test_provisional_from_a_worker_precedes_the_final_on_the_fast_path():
    d = Daemon(modules=["mod_endpoints", "mod_ep_fast"],
               conf={"autoload_configs/sip.conf.xml": sip_conf(endpoints=endpoint("5000"))})
    src = os.path.join(BUILDDIR, "tests", "unit", "mod_endpoints", ".libs", "mod_ep_fast.so")
    if not os.path.exists(src):
        raise TestFailure(f"test module not built: {src} (make -C tests check TESTS=)")
    os.symlink(src, os.path.join(d.mod_dir, "mod_ep_fast.so"))
    d.start()
    try:
        c = SipClient(d.sip_port)
        rounds = 20
        for i in range(rounds):
            c.send_raw(c.build("PUBLISH", from_user="5000", to_user="5000", headers=["Event: presence"]))
            first, second = c.read_response(), c.read_response()
            check(first.status == 183 and second.status == 200, f"round {i}: {first!r} then {second!r}")
            check(second.get("X-Fast-Path") == "held", f"round {i}: the worker's 200: {second.headers}")
        c.close()
        prof = json.loads(d.api("show profiles as json"))["profiles"][0]
        check(prof["on-sip-thread"] == rounds and prof["to-workers"] == 0,
              f"PUBLISH ran on the SIP thread: {prof['on-sip-thread']} / workers {prof['to-workers']}")
        check(prof["in-flight"] == 0, f"every request finished: {prof['in-flight']}")
    finally:
        d.stop()
