"""sip_notify and sip_message (SPEC §8) to a SIPp phone registered on AOR 5000: each of the
three destination forms reaches it, the final status of each destination is reported, and
destinations without a contact or with an error leg are reported without sending."""
import os
import socket
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aorta_test as at  # noqa: E402
from aorta_test import check, wait_for  # noqa: E402
import dplib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def register_from(d, port, user="5000", contact_port=None, path=None):
    """REGISTER from 127.0.0.1:port with a Contact on that same address (so no NAT route), or
    on contact_port (as a phone behind NAT would: then requests must go to the source)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.settimeout(5)
    cid = uuid.uuid4().hex
    msg = (f"REGISTER sip:127.0.0.1:{d.sip_port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{cid[:12]};rport\r\n"
           f"From: <sip:{user}@127.0.0.1>;tag={cid[:8]}\r\nTo: <sip:{user}@127.0.0.1>\r\n"
           f"Call-ID: {cid}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:{contact_port or port}>\r\n"
           + (f"Path: {path}\r\nSupported: path\r\n" if path else "")
           + "Expires: 600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    s.sendto(msg.encode(), ("127.0.0.1", d.sip_port))
    try:
        while True:
            data = s.recv(65535).decode(errors="replace")
            code = int(data.split(" ", 2)[1])
            if code >= 200:
                check(code == 200, f"REGISTER: {data}")
                return
    finally:
        s.close()


def udp_port_taken(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def phone(d, port, scenario, calls):
    """A SIPp UAS on 127.0.0.1:port answering `calls` requests; returns the Popen once bound."""
    cwd = at.scratch_dir("dp-phone-")
    p = subprocess.Popen(["sipp", f"127.0.0.1:{d.sip_port}", "-sf", os.path.join(HERE, scenario), "-i", "127.0.0.1",
                          "-p", str(port), "-m", str(calls), "-nostdin", "-nd", "-trace_err", "-timeout", "30s",
                          "-timeout_error"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    p.cwd = cwd
    wait_for(lambda: udp_port_taken(port) or p.poll() is not None, 10, "the SIPp phone to bind")
    if p.poll() is not None:
        raise at.TestFailure(f"sipp phone exited early: {p.stdout.read().decode(errors='replace')}")
    return p


def finish(p):
    try:
        out, _ = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise
    errs = "".join(open(os.path.join(p.cwd, f), errors="replace").read()
                   for f in os.listdir(p.cwd) if f.endswith("_errors.log"))
    check(p.returncode == 0, f"sipp phone exit {p.returncode}: {out.decode(errors='replace')[-2000:]}\n{errs}")


def test_notify_and_message_reach_a_registered_phone_in_each_form():
    import shutil
    if shutil.which("sipp") is None:
        raise at.Skip("sipp not installed")
    d = dplib.daemon().start()
    try:
        port = at.free_port(socket.SOCK_DGRAM, both=True)
        register_from(d, port)
        uri = f"sip:5000@127.0.0.1:{port}"
        p = phone(d, port, "uas_notify.xml", 3)
        for dest in ("sip/5000", "sip/5000/5000", f"sip/5000/{uri}"):
            out = d.api(f"sip_notify {dest} check-sync application/simple-message-summary reboot=true")
            check(out == f"{dest} -> {uri}: 200 OK\n", f"sip_notify {dest}: {out!r}")
        finish(p)
        p = phone(d, port, "uas_message.xml", 1)
        out = d.api("sip_message sip/5000 hello phone")
        check(out == f"sip/5000 -> {uri}: 200 OK\n", out)
        finish(p)
    finally:
        d.stop()


def test_destinations_that_cannot_be_reached_are_reported():
    d = dplib.daemon().start()
    try:
        out = d.api("sip_notify sip/5000,sip/6000/6000,sip/nobody,error/user_busy check-sync")
        check(out == "sip/5000 -> -: 480 Temporarily Unavailable (no AOR of endpoint 5000 has a contact)\n"
                     "sip/6000/6000 -> -: 480 Temporarily Unavailable (AOR 6000 has no contact)\n"
                     "sip/nobody -> -: 404 Not Found (endpoint 'nobody' not found)\n"
                     "error/user_busy -> -: 486 Busy Here (error leg USER_BUSY: not sent)\n", out)
        check(d.api("sip_notify sip/5000,,x check-sync").startswith("-ERR bad dial string: offset 9: empty leg"),
              "bad dial string")
        check(d.api("sip_notify sip/5000").startswith("-ERR usage"), "usage")
        check(d.api("sip_message sip/5000").startswith("-ERR usage"), "usage")
        # nobody listens on this port: the transaction times out or the send fails, and that is reported
        port = at.free_port(socket.SOCK_DGRAM, both=True)
        out = d.api(f"sip_message sip/5000/sip:5000@127.0.0.1:{port} are you there", timeout=60)
        check(out.startswith(f"sip/5000/sip:5000@127.0.0.1:{port} -> sip:5000@127.0.0.1:{port}: ")
              and (" 408 " in out or " 503 " in out), out)
    finally:
        d.stop()


def test_notify_follows_the_nat_source_and_leg_variables():
    import shutil
    if shutil.which("sipp") is None:
        raise at.Skip("sipp not installed")
    d = dplib.daemon().start()
    try:
        port = at.free_port(socket.SOCK_DGRAM, both=True)
        dead = at.free_port(socket.SOCK_DGRAM, both=True)   # the Contact's port: nobody listens there
        register_from(d, port, contact_port=dead)
        p = phone(d, port, "uas_notify.xml", 2)
        # the contact is reached at the REGISTER's source address, not at its Contact
        out = d.api("sip_notify sip/5000 check-sync text/plain reboot=true")
        check(out == f"sip/5000 -> sip:5000@127.0.0.1:{dead}: 200 OK\n", out)
        # a leg's own sip_network_destination (what dial_contacts writes) wins over the URI
        leg = f"[sip_network_destination=sip:127.0.0.1:{port};transport=udp]sip/5000/sip:5000@192.0.2.1:5060"
        out = d.api(f"sip_notify {leg} check-sync text/plain reboot=true")
        check(out == "sip/5000/sip:5000@192.0.2.1:5060 -> sip:5000@192.0.2.1:5060: 200 OK\n", out)
        finish(p)
        # and dial_contacts' own string works as the destination
        dc = d.api("dial_contacts 5000").strip()
        check(f"sip_network_destination=sip:127.0.0.1:{port}" in dc, dc)
        p = phone(d, port, "uas_message.xml", 1)
        out = d.api(f"sip_message {dc} hello phone")
        check(out.endswith(": 200 OK\n"), out)
        finish(p)
    finally:
        d.stop()


def test_notify_goes_through_the_registered_path():
    import shutil
    if shutil.which("sipp") is None:
        raise at.Skip("sipp not installed")
    aors = '<aor name="5000"><param name="max-contacts" value="10"/><param name="support-path" value="true"/></aor>'
    d = dplib.daemon(sip=dplib.sip_conf(aors=aors)).start()
    try:
        src = at.free_port(socket.SOCK_DGRAM, both=True)    # the REGISTER's source: closed afterwards
        edge = at.free_port(socket.SOCK_DGRAM, both=True)   # the edge proxy named by Path: the SIPp phone
        dead = at.free_port(socket.SOCK_DGRAM, both=True)   # the Contact: nobody there
        register_from(d, src, contact_port=dead, path=f"<sip:127.0.0.1:{edge};lr>")
        p = phone(d, edge, "uas_notify.xml", 1)
        out = d.api("sip_notify sip/5000/5000 check-sync text/plain reboot=true")
        check(out == f"sip/5000/5000 -> sip:5000@127.0.0.1:{dead}: 200 OK\n", out)
        finish(p)
    finally:
        d.stop()
