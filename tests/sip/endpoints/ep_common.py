"""Shared helpers for the mod_endpoints integration tests: sip.conf builders, a daemon with
optional test module, and a small SIP client (UDP/TCP/TLS from any 127.x.y.z source) for
the cases SIPp cannot express (chosen source addresses, garbage, broken headers, TLS: the
Debian SIPp is built without TLS)."""
import os
import random
import re
import socket
import ssl
import subprocess
import time

from aorta_test import BUILDDIR, Daemon, TestFailure

HERE = os.path.dirname(os.path.abspath(__file__))


def scenario(name):
    return os.path.join(HERE, name)


def sip_conf(settings="", endpoints="", auths="", identify="", profile="internal", extra_profiles=""):
    return f"""<configuration name="sip.conf">
  <profiles>
    <profile name="{profile}">
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="$${{sip_port}}"/>
        {settings}
      </settings>
      <endpoints>
        {endpoints}
      </endpoints>
      <auths>
        {auths}
      </auths>
      <identify>
        {identify}
      </identify>
    </profile>{extra_profiles}
  </profiles>
</configuration>
"""


def endpoint(name, **params):
    body = "".join(f'<param name="{k.replace("_", "-")}" value="{v}"/>' for k, v in params.items())
    return f'<endpoint name="{name}">{body}</endpoint>\n'


def ep_daemon(conf_text, modules=("mod_endpoints",), test_module=False, **kw):
    """A daemon with mod_endpoints (and mod_ep_test, built in tests/unit/mod_endpoints)."""
    mods = list(modules) + (["mod_ep_test"] if test_module else [])
    d = Daemon(modules=mods, conf={"autoload_configs/sip.conf.xml": conf_text}, **kw)
    if test_module:
        src = os.path.join(BUILDDIR, "tests", "unit", "mod_endpoints", ".libs", "mod_ep_test.so")
        if not os.path.exists(src):
            raise TestFailure(f"test module not built: {src} (make -C tests check TESTS=)")
        os.symlink(src, os.path.join(d.mod_dir, "mod_ep_test.so"))
    return d


def identified(d, endpoint_name, by, timeout=5):
    return d.wait_log(rf"identified as endpoint {re.escape(endpoint_name)} by {re.escape(by)}\b", timeout)


class Response:
    def __init__(self, raw):
        self.raw = raw
        head = raw.split("\r\n\r\n", 1)[0]
        lines = head.split("\r\n")
        m = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", lines[0])
        if not m:
            raise TestFailure(f"not a SIP response: {raw[:200]!r}")
        self.status = int(m.group(1))
        self.phrase = m.group(2)
        self.headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.append((name.strip(), value.strip()))

    def get(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<{self.status} {self.phrase}>"


class SipClient:
    """One transport connection/socket to the daemon, sending requests and reading responses."""

    def __init__(self, port, transport="udp", src_ip="127.0.0.1", host="127.0.0.1", tls_ctx=None, timeout=5):
        self.transport = transport
        self.dest = (host, port)
        self.timeout = timeout
        self.buf = b""
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((src_ip, 0))
        else:
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            raw.bind((src_ip, 0))
            raw.settimeout(timeout)
            raw.connect(self.dest)
            if transport == "tls":
                raw = (tls_ctx or insecure_tls()).wrap_socket(raw, server_hostname=None)
            self.sock = raw
        self.sock.settimeout(timeout)
        self.local = self.sock.getsockname()

    def close(self):
        self.sock.close()

    def build(self, method, ruri=None, from_user="alice", from_host="127.0.0.1", to_user=None, headers=(),
              call_id=None, to_tag=None, cseq=1, body="", branch=None):
        ip, port = self.local
        proto = {"udp": "UDP", "tcp": "TCP", "tls": "TLS"}[self.transport]
        ruri = ruri or f"sip:{to_user or 'service'}@{self.dest[0]}:{self.dest[1]}"
        branch = branch or "z9hG4bK" + "%016x" % random.getrandbits(64)
        call_id = call_id or "%016x@ep-test" % random.getrandbits(64)
        to = f"<sip:{to_user or from_user}@{from_host}>" + (f";tag={to_tag}" if to_tag else "")
        lines = [f"{method} {ruri} SIP/2.0",
                 f"Via: SIP/2.0/{proto} {ip}:{port};branch={branch};rport",
                 "Max-Forwards: 70",
                 f"From: <sip:{from_user}@{from_host}>;tag=f{random.getrandbits(32):08x}",
                 f"To: {to}",
                 f"Call-ID: {call_id}",
                 f"CSeq: {cseq} {method}",
                 f"Contact: <sip:{from_user}@{ip}:{port};transport={self.transport}>"]
        lines += list(headers)
        lines.append(f"Content-Length: {len(body.encode())}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def send_raw(self, data):
        if self.transport == "udp":
            self.sock.sendto(data, self.dest)
        else:
            self.sock.sendall(data)

    def _read_stream_message(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise TestFailure("connection closed by the daemon")
            self.buf += chunk
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        m = re.search(rb"(?im)^(?:Content-Length|l)\s*:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        while len(rest) < n:
            rest += self.sock.recv(65536)
        self.buf = rest[n:]
        return (head + b"\r\n\r\n" + rest[:n]).decode(errors="replace")

    def read_response(self):
        if self.transport == "udp":
            data, _ = self.sock.recvfrom(65536)
            return Response(data.decode(errors="replace"))
        return Response(self._read_stream_message())

    def final(self):
        """Read responses until a final one (>= 200); provisional ones are skipped."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            r = self.read_response()
            if r.status >= 200:
                return r
        raise TestFailure("no final response")

    def request(self, method, **kw):
        self.send_raw(self.build(method, **kw))
        return self.final()


def insecure_tls():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def make_tls_dir(base):
    """A self-signed certificate + key in <base>/tls/agent.pem, as sofia's TPTAG_CERTIFICATE wants."""
    tls = os.path.join(base, "tls")
    os.makedirs(tls, exist_ok=True)
    key, crt = os.path.join(tls, "key.pem"), os.path.join(tls, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", "/CN=127.0.0.1"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    with open(os.path.join(tls, "agent.pem"), "w") as out:
        out.write(open(crt).read() + open(key).read())
    return tls


def profiles_json(d):
    import json
    out = d.api("show profiles as json")
    return json.loads(out)["profiles"]
