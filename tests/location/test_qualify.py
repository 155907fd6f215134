"""Qualify: OPTIONS to registered contacts of an AOR with qualify-frequency; a contact that
answers is reachable, one that does not is unreachable, goes last in the contact order, and
each change fires location::contact_status."""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "registrar"))
import aorta_test as at  # noqa: E402
from aorta_test import check  # noqa: E402
import reglib as rl  # noqa: E402

DEADLINE = 60


class OptionsResponder:
    """A UDP phone that answers every request 200 OK (until stopped)."""

    def __init__(self, sock=None):
        self.sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if sock is None:
            self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.seen = 0
        self.running = True
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while self.running:
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            text = data.decode(errors="replace")
            if not text.startswith("OPTIONS "):
                continue
            self.seen += 1
            keep = [l for l in text.split("\r\n") if l.split(":")[0].lower() in ("via", "from", "to", "call-id", "cseq")]
            keep = [l + ";tag=phone" if l.lower().startswith("to:") else l for l in keep]
            self.sock.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n").encode(), addr)

    def stop(self):
        self.running = False
        self.t.join()
        self.sock.close()


def _register_from(d, client):
    """REGISTER from the phone's own socket, so its source and Contact agree (no NAT)."""
    st, _ = client.register(expires=600)
    check(st == 200, f"REGISTER: {st}")


def test_qualify_reachable_unreachable_order():
    conf = rl.sip_conf(rl.endpoint("5000", "5000"),
                       rl.aor("5000", max_contacts=5, qualify_frequency=1, qualify_timeout=1),
                       location={"store": "memory"}, settings={"transaction-linger": "2000"})
    d = rl.daemon(conf)
    ev = rl.Events(d, extra="location::contact_status")
    live, silent = rl.SipClient(d), rl.SipClient(d)
    # the silent one registers last, so without qualify it would be first
    _register_from(d, live)
    _register_from(d, silent)  # its socket stays open and never answers
    phone = OptionsResponder(live.sock)
    dead_port = silent.port
    try:
        e = ev.wait("location::contact_status", timeout=15, status="reachable")
        check(e.get("contact") == f"sip:5000@127.0.0.1:{phone.port}" and e.get("aor") == "5000" and
              e.get("rtt-ms") is not None, e)
        e = ev.wait("location::contact_status", timeout=15, status="unreachable")
        check(e.get("contact") == f"sip:5000@127.0.0.1:{dead_port}", e)
        legs = d.api("dial_contacts 5000").strip().split(",")
        check(legs[0].endswith(f"127.0.0.1:{phone.port}") and legs[1].endswith(f"127.0.0.1:{dead_port}"),
              f"unreachable last: {legs}")
        out = d.api("show contacts 5000")
        check("|reachable|" in out and "|unreachable|" in out, out)
        # the phone stops answering: it becomes unreachable too
        phone.stop()
        e = ev.wait("location::contact_status", timeout=15, status="unreachable",
                    contact=f"sip:5000@127.0.0.1:{phone.port}")
    finally:
        if phone.running:
            phone.stop()
        silent.close()
        ev.close()
    d.stop()
