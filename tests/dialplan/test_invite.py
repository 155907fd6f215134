"""INVITEs over real SIP (SIPp on loopback) answered by the dialplan of the calling
endpoint's context: 480 for an AOR without contacts (error/user_not_registered), 404 when
nothing matches, respond/hangup statuses, a provisional before the final answer, the
endpoint's context choosing the routes, and 481 for a BYE outside a dialog. Bridging to
registered phones: test_bridge.py."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aorta_test as at  # noqa: E402
from aorta_test import check  # noqa: E402
import dplib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def test_invite_statuses_from_the_dialplan():
    d = dplib.daemon().start()
    try:
        dplib.invite(d, "5000", 480)                 # SPEC §12: error/user_not_registered → 480
        d.wait_log(r"INVITE \S+ from endpoint 5000 \(127\.0\.0\.1:\d+\) to '5000': context default, "
                   r"extension local -> 480 Temporarily Unavailable \(bridge: USER_NOT_REGISTERED\)")
        dplib.invite(d, "123", 404)                  # no extension matches
        dplib.invite(d, "5999", 404)                 # dial_contacts: no such endpoint
        dplib.invite(d, "busy", 486)                 # respond 486 Busy Here
        dplib.invite(d, "gone", 486)                 # hangup USER_BUSY
        dplib.invite(d, "ring", 603, provisional=180)  # respond 180, then 603
        d.wait_log(r"ringing 5000 from 127\.0\.0\.1 via 5000@internal")
        dplib.invite(d, "busy", 486, transport="t1")  # the same over TCP
    finally:
        d.stop()


def test_the_endpoints_context_selects_the_routes():
    d = dplib.daemon().start()
    try:
        dplib.invite(d, "busy", 404, from_user="6000")  # context "other" has no "busy"
        dplib.invite(d, "7", 488, from_user="6000")
        dplib.invite(d, "7", 404, from_user="5000")     # ... and "default" has no "7"
    finally:
        d.stop()


def test_reinvite_outside_a_dialog_gets_481():
    d = dplib.daemon().start()
    try:
        dplib.invite(d, "busy", 481, to_tag="nosuchdialog")
    finally:
        d.stop()


def test_bye_outside_a_dialog_gets_481():
    d = dplib.daemon().start()
    try:
        at.sipp(os.path.join(HERE, "bye_481.xml"), f"127.0.0.1:{d.sip_port}", "-s", "5000",
                "-key", "from_user", "5000")
    finally:
        d.stop()


def test_without_mod_dialplan_invite_gets_501():
    d = dplib.daemon(modules=["mod_location", "mod_endpoints", "mod_registrar"]).start()
    try:
        dplib.invite(d, "5000", 501)
    finally:
        d.stop()


def test_many_invites_at_once():
    """300 calls, up to 50 at a time, over UDP: every one gets its 480 (workers in parallel,
    one dialplan generation shared read-only, pcre2 match data per evaluation)."""
    d = dplib.daemon().start()
    try:
        p = at.sipp(dplib.invite_scenario(480), f"127.0.0.1:{d.sip_port}", "-s", "5000", "-key", "from_user", "5000",
                    "-m", "300", "-r", "300", "-l", "50", timeout=60)
        check(b"Successful call" in p.stdout or p.returncode == 0, p.stdout.decode(errors="replace")[-2000:])
        n = len([ln for ln in d.log().splitlines() if "extension local -> 480 Temporarily Unavailable" in ln])
        check(n == 300, f"{n} INVITEs logged as answered 480, want 300")
    finally:
        d.stop()
