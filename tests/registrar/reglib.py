"""reglib — helpers for the registrar and location tests: a sip.conf with our sections,
SIPp REGISTER scenarios generated per test step (the exact headers of each request are
part of what is tested), the responses SIPp saw (read back from its message trace), a
minimal Python SIP/UDP client for what SIPp 3.6 cannot do (SHA-256 digest, replayed
nonce-counts), and an event-socket subscriber for registrar events.
"""
import hashlib
import os
import re
import socket
import threading
import time
import queue
import uuid

import aorta_test as at

MODULES = ["mod_location", "mod_endpoints", "mod_registrar", "mod_event_socket"]


def sip_conf(endpoints, aors, registrar=None, location=None, auths="", settings=None):
    """A sip.conf with one profile 'internal'. endpoints/aors: XML fragments.
    registrar/location: dicts of params."""
    reg = {"realm": "$${domain}", "min-expires": "60", "max-expires": "7200", "default-expires": "3600"}
    reg.update(registrar or {})
    loc = {"store": "sqlite"}
    loc.update(location or {})
    p = lambda d: "".join(f'<param name="{k}" value="{v}"/>' for k, v in d.items())
    return f"""<configuration name="sip.conf"><profiles><profile name="internal">
<settings><param name="sip-ip" value="$${{local_ip}}"/><param name="sip-port" value="$${{sip_port}}"/>
<param name="transports" value="udp,tcp"/>{p(settings or {})}</settings>
<registrar>{p(reg)}</registrar>
<location>{p(loc)}</location>
<endpoints>{endpoints}</endpoints>
<aors>{aors}</aors>
<auths>{auths}</auths>
</profile></profiles></configuration>
"""


def endpoint(name, aors=None, auth=None):
    s = f'<endpoint name="{name}">'
    if aors is not None:
        s += f'<param name="aors" value="{aors}"/>'
    if auth:
        s += f'<param name="auth" value="{auth}"/>'
    return s + "</endpoint>"


def aor(name, **params):
    s = f'<aor name="{name}">'
    for k, v in params.items():
        for one in (v if isinstance(v, list) else [v]):
            s += f'<param name="{k.replace("_", "-")}" value="{one}"/>'
    return s + "</aor>"


def daemon(conf, modules=MODULES, **kw):
    d = at.Daemon(modules=modules, conf={"autoload_configs/sip.conf.xml": conf}, **kw)
    d.start()
    return d


# ---- SIPp ---------------------------------------------------------------------------

def _request(step, user, n):
    to = step.get("to", user)
    frm = step.get("from", user)
    lines = [f"REGISTER sip:127.0.0.1:[remote_port] SIP/2.0",
             "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
             "Max-Forwards: 70",
             f"From: <sip:{frm}@127.0.0.1>;tag=[pid]tag{n}",
             f"To: <sip:{to}@127.0.0.1>",
             "Call-ID: [call_id]",
             f"CSeq: {step['cseq']} REGISTER"]
    for c in step.get("contacts", []):
        lines.append(f"Contact: {c}")
    if step.get("expires") is not None:
        lines.append(f"Expires: {step['expires']}")
    for h in step.get("headers", []):
        lines.append(h)
    if step.get("auth"):
        lines.append(f"[authentication username={step['auth'][0]} password={step['auth'][1]}]")
    lines.append("User-Agent: aorta-test")
    lines.append("Content-Length: 0")
    return "\n".join(lines) + "\n\n"


def scenario(steps, user):
    out = ['<?xml version="1.0" encoding="ISO-8859-1" ?>', '<scenario name="register">']
    for n, s in enumerate(steps):
        out.append("<send><![CDATA[\n" + _request(s, user, n) + "]]></send>")
        auth = ' auth="true"' if s["expect"] == 401 else ""
        out.append(f'<recv response="{s["expect"]}"{auth}/>')
    out.append("</scenario>")
    return "\n".join(out) + "\n"


_cseq = [1000]


def register(d, steps, user="5000", transport="u1"):
    """Run REGISTER steps with SIPp and return the responses it received (in order).

    A step: {contacts: [...], expires: N|None, headers: [...], expect: status, call_id, cseq,
    auth: (user, password), to, from}. Missing call_id/cseq: one Call-ID for the run and
    increasing CSeqs."""
    cid = f"{uuid.uuid4()}@aorta-test"
    for s in steps:
        s.setdefault("call_id", cid)
        if "cseq" not in s:
            _cseq[0] += 1
            s["cseq"] = _cseq[0]
    call_ids = {s["call_id"] for s in steps}
    assert len(call_ids) == 1, "one SIPp run is one Call-ID"
    tmp = at.scratch_dir("sipp-reg-")
    path = os.path.join(tmp, "register.xml")
    with open(path, "w") as f:
        f.write(scenario(steps, user))
    p = at.sipp(path, "127.0.0.1:%d" % d.sip_port, "-t", transport,
                "-cid_str", call_ids.pop().replace("%", "%%"), cwd=tmp, timeout=30)
    return responses(tmp)


def responses(cwd):
    """The SIP responses in SIPp's message trace: [(status, [(name, value)...], raw)]."""
    out = []
    for f in sorted(os.listdir(cwd)):
        if not f.endswith("_messages.log"):
            continue
        text = open(os.path.join(cwd, f), errors="replace").read()
        for chunk in re.split(r"message received \[\d+\] bytes :\n\n", text)[1:]:
            msg = chunk.split("\n\n----------")[0]
            if not msg.startswith("SIP/2.0"):
                continue
            head = msg.replace("\r\n", "\n").split("\n\n")[0].split("\n")
            status = int(head[0].split()[1])
            hdrs = []
            for line in head[1:]:
                k, _, v = line.partition(":")
                hdrs.append((k.strip().lower(), v.strip()))
            out.append((status, hdrs, msg))
    return out


def hdr(resp, name):
    return [v for k, v in resp[1] if k == name.lower()]


def contact_expires(resp):
    """{uri: expires} from the Contact headers of a response."""
    out = {}
    for v in hdr(resp, "contact"):
        m = re.match(r"<([^>]+)>.*;expires=(\d+)", v)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


# ---- a small SIP client for what SIPp cannot do ------------------------------------------

class SipClient:
    """REGISTER over UDP from Python; answers are parsed into (status, {name: [values]})."""

    def __init__(self, d, user="5000"):
        self.d = d
        self.user = user
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.call_id = f"{uuid.uuid4()}@py"
        self.cseq = 0

    def register(self, contact=None, expires=60, authorization=None, extra=()):
        self.cseq += 1
        contact = contact or f"<sip:{self.user}@127.0.0.1:{self.port}>"
        lines = [f"REGISTER sip:127.0.0.1:{self.d.sip_port} SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};rport;branch=z9hG4bK{uuid.uuid4().hex}",
                 "Max-Forwards: 70",
                 f"From: <sip:{self.user}@127.0.0.1>;tag={uuid.uuid4().hex[:8]}",
                 f"To: <sip:{self.user}@127.0.0.1>",
                 f"Call-ID: {self.call_id}", f"CSeq: {self.cseq} REGISTER",
                 f"Contact: {contact}", f"Expires: {expires}"]
        if authorization:
            lines.append(f"Authorization: {authorization}")
        lines += list(extra)
        lines.append("Content-Length: 0")
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), ("127.0.0.1", self.d.sip_port))
        while True:
            data = self.sock.recv(65536).decode(errors="replace")
            head = data.split("\r\n\r\n")[0].split("\r\n")
            status = int(head[0].split()[1])
            if status < 200:
                continue
            hdrs = {}
            for line in head[1:]:
                k, _, v = line.partition(":")
                hdrs.setdefault(k.strip().lower(), []).append(v.strip())
            return status, hdrs

    def close(self):
        self.sock.close()


def parse_challenge(value):
    """Digest challenge parameters as a dict."""
    return {k: a or b for k, a, b in re.findall(r'([\w-]+)=(?:"([^"]*)"|([^,\s]+))', value)}


def digest_authorization(chal, user, password, uri, alg="MD5", nc="00000001", cnonce="0a4f113b", method="REGISTER"):
    h = (lambda s: hashlib.sha256(s.encode()).hexdigest()) if alg == "SHA-256" else \
        (lambda s: hashlib.md5(s.encode()).hexdigest())
    ha1 = h(f"{user}:{chal['realm']}:{password}")
    ha2 = h(f"{method}:{uri}")
    resp = h(f"{ha1}:{chal['nonce']}:{nc}:{cnonce}:auth:{ha2}")
    return (f'Digest username="{user}", realm="{chal["realm"]}", nonce="{chal["nonce"]}", uri="{uri}", '
            f'response="{resp}", algorithm={alg}, cnonce="{cnonce}", qop=auth, nc={nc}')


# ---- events --------------------------------------------------------------------------

class Events:
    """An event-socket subscriber collecting registrar events in the background."""

    SUBCLASSES = "registrar::register registrar::unregister registrar::expire registrar::register_failure"

    def __init__(self, d, extra=""):
        self.esl = at.Esl(d.esl_port, d.esl_password)
        hdrs, _ = self.esl.command("event plain CUSTOM " + self.SUBCLASSES + (" " + extra if extra else ""))
        at.check(hdrs.get("Reply-Text", "").startswith("+OK"), f"event subscribe: {hdrs}")
        self.q = queue.Queue()
        self.all = []
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        from urllib.parse import unquote
        try:
            while True:
                hdrs, body = self.esl.read_frame()
                if hdrs.get("Content-Type") != "text/event-plain":
                    continue
                ev = {}
                for line in body.decode().split("\n"):
                    k, _, v = line.partition(": ")
                    if k:
                        ev[k] = unquote(v)
                self.q.put(ev)
        except (EOFError, OSError):
            pass

    def wait(self, subclass, timeout=10, **match):
        """The next collected event of subclass whose headers match; earlier ones are kept."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.all:
                if ev.get("Event-Subclass") == subclass and all(ev.get(k) == v for k, v in match.items()) \
                        and not ev.get("_taken"):
                    ev["_taken"] = True
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise at.TestFailure(f"no {subclass} event matching {match}; got {[e.get('Event-Subclass') for e in self.all]}")
            try:
                self.all.append(self.q.get(timeout=left))
            except queue.Empty:
                pass

    def drain(self, settle_cmd=None):
        while not self.q.empty():
            self.all.append(self.q.get())
        return self.all

    def close(self):
        self.esl.close()
