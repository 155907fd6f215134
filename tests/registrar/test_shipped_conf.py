"""The shipped sip.conf works out of the box: a phone registers as 5000 (the seed's example),
6000 keeps one contact, 7000 is static only."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aorta_test as at  # noqa: E402
from aorta_test import check  # noqa: E402
import reglib as rl  # noqa: E402


def test_shipped_sip_conf():
    with open(os.path.join(at.SRCDIR, "conf", "autoload_configs", "sip.conf.xml")) as f:
        conf = f.read()
    d = rl.daemon(conf)
    for i in (1, 2, 3):
        rl.register(d, [{"contacts": [f"<sip:5000@192.0.2.{i}:5060>"], "expires": 600, "expect": 200}])
    legs = d.api("dial_contacts 5000").strip().split(",")
    check(len(legs) == 3 and legs[0].endswith("sip/5000/sip:5000@192.0.2.3:5060"), legs)
    out = d.api("show contacts 7000")
    check("sip:7000@192.0.2.7:5060|static" in out, out)
    aors = d.api("show aors")
    check("6000|internal|1|true" in aors, aors)
    d.stop()
