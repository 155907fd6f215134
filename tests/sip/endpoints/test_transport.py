"""Profiles, transports and the request pipeline's edges: OPTIONS answered by mod_endpoints,
501 without a service (REGISTER with only mod_endpoints loaded, MESSAGE), UDP/TCP/TLS
listeners, bind and certificate failures that make load() fail with a reason, retransmissions
absorbed by the transaction layer, 400 for broken headers, and a garbage flood that does not
stop valid requests."""
import os
import random
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aorta_test import check, free_port, sipp  # noqa: E402
from ep_common import (SipClient, endpoint, ep_daemon, identified, make_tls_dir, profiles_json,  # noqa: E402
                       scenario, sip_conf)

KEYS = ["-key", "from_user", "5000", "-key", "from_host", "127.0.0.1", "-key", "tenant", "none"]


def phone_conf(settings=""):
    return sip_conf(endpoints=endpoint("5000", aors="5000", context="default"), settings=settings)


def test_options_200_with_allow_accept_supported():
    d = ep_daemon(phone_conf()).start()
    try:
        sipp(scenario("options_200.xml"), "127.0.0.1:%d" % d.sip_port, *KEYS)
        identified(d, "5000", "user")
        c = SipClient(d.sip_port)
        r = c.request("OPTIONS", from_user="5000")
        check(r.get("Allow") == "OPTIONS", f"only OPTIONS has a service: {r.headers}")
        check(r.get("Accept") == "application/sdp" and r.get("Supported") is not None, f"{r.headers}")
        check(r.get("Server") == "aorta", f"user-agent default: {r.headers}")
        check("tag=" in r.get("To"), "To tag added")
    finally:
        d.stop()


def test_register_gets_501_with_only_mod_endpoints():
    d = ep_daemon(phone_conf()).start()
    try:
        sipp(scenario("register_501.xml"), "127.0.0.1:%d" % d.sip_port, *KEYS)
        identified(d, "5000", "user")
    finally:
        d.stop()


def test_message_without_service_gets_501():
    d = ep_daemon(phone_conf()).start()
    try:
        sipp(scenario("message_501.xml"), "127.0.0.1:%d" % d.sip_port, *KEYS)
    finally:
        d.stop()


def test_tcp_transport():
    d = ep_daemon(phone_conf()).start()
    try:
        sipp(scenario("options_200.xml"), "127.0.0.1:%d" % d.sip_port, "-t", "t1", *KEYS)
        d.wait_log(r"OPTIONS \S+ from 127\.0\.0\.1:\d+/tcp identified as endpoint 5000 by user")
        c = SipClient(d.sip_port, transport="tcp")
        for i in range(3):  # several requests on one connection
            check(c.request("OPTIONS", from_user="5000", call_id=f"tcp{i}@t").status == 200, "tcp OPTIONS")
    finally:
        d.stop()


def test_udp_only_profile_refuses_tcp():
    d = ep_daemon(phone_conf('<param name="transports" value="udp"/>')).start()
    try:
        check(SipClient(d.sip_port).request("OPTIONS", from_user="5000").status == 200, "udp works")
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", d.sip_port))
            connected = True
        except OSError:
            connected = False
        finally:
            s.close()
        check(not connected, "no TCP listener when transports=udp")
    finally:
        d.stop()


def test_tls_transport():
    tls_port = free_port()
    d = ep_daemon(phone_conf(f'<param name="transports" value="udp,tcp,tls"/>'
                             f'<param name="tls-port" value="{tls_port}"/>'
                             f'<param name="tls-cert-dir" value="$${{conf_dir}}/tls"/>'))
    make_tls_dir(d.conf_dir)
    d.start()
    try:
        c = SipClient(tls_port, transport="tls")
        check(c.sock.version() is not None, "TLS handshake")
        r = c.request("OPTIONS", from_user="5000", call_id="tls1@t")
        check(r.status == 200, f"OPTIONS over TLS: {r}")
        d.wait_log(r"tls1@t from 127\.0\.0\.1:\d+/tls identified as endpoint 5000 by user")
        prof = profiles_json(d)[0]
        check(prof["tls-port"] == tls_port and "tls" in prof["transports"], f"{prof}")
        check(f"sips:127.0.0.1:{tls_port}" in d.api("show profiles"), "TLS listener shown")
    finally:
        d.stop()


def test_tls_without_certificate_fails_to_load():
    d = ep_daemon(phone_conf('<param name="transports" value="udp,tls"/>'
                             '<param name="tls-cert-dir" value="$${conf_dir}/no-such-dir"/>'))
    d.start()
    try:
        d.wait_log(r"profile internal: TLS needs .*no-such-dir/agent\.pem")
        check("mod_endpoints" not in d.api("show modules"), "module not loaded")
    finally:
        d.stop()


def test_bind_failure_names_address_and_reason():
    d = ep_daemon(phone_conf())
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind(("127.0.0.1", d.sip_port))
    try:
        d.start()
        d.wait_log(rf"profile internal: cannot bind sip:127\.0\.0\.1:{d.sip_port};transport=udp: "
                   r"Address already in use")
        check("mod_endpoints" not in d.api("show modules"), "load() failed")
    finally:
        squatter.close()
        d.stop()


def test_retransmission_is_absorbed_by_the_transaction():
    d = ep_daemon(phone_conf()).start()
    try:
        c = SipClient(d.sip_port)
        raw = c.build("OPTIONS", from_user="5000", branch="z9hG4bKretrans1", call_id="retrans@t")
        c.send_raw(raw)
        check(c.final().status == 200, "first")
        c.send_raw(raw)  # same branch: a retransmission, answered from the transaction
        check(c.final().status == 200, "retransmission answered")
        check(profiles_json(d)[0]["requests"] == 1, "the pipeline saw it once")
    finally:
        d.stop()


def test_broken_headers_get_400_with_reason():
    d = ep_daemon(phone_conf()).start()
    try:
        c = SipClient(d.sip_port)
        for hdr, phrase in (("Path: <<<garbage", "Bad Path Header"),           # registrar header: mask widened
                            ("Authorization: ===", "Bad Authorization Header"),
                            ("Expires: abc", "Bad Expires Header"),
                            ("Contact: <sip:", "Bad Contact Header")):
            r = c.request("REGISTER", from_user="5000", headers=[hdr])
            check(r.status == 400 and r.phrase == phrase, f"{hdr}: {r}")
        r = c.request("OPTIONS", from_user="5000", headers=["Call-ID: second-call-id@t"])
        check(r.status == 400, f"two Call-IDs: {r}")
        check(profiles_json(d)[0]["bad-requests"] >= 5, "counted")
    finally:
        d.stop()


def test_garbage_flood_then_valid_options():
    d = ep_daemon(phone_conf()).start()
    try:
        rnd = random.Random(4)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(3000):  # bounded flood: random bytes, truncated SIP, broken start lines
            kind = i % 3
            if kind == 0:
                data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 1200)))
            elif kind == 1:
                data = b"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP\r\n" + bytes(rnd.getrandbits(8) for _ in range(64))
            else:
                data = b"\r\n\r\n" + b"X" * rnd.randint(0, 3000) + b" SIP/9.9\r\n\r\n"
            s.sendto(data, ("127.0.0.1", d.sip_port))
        s.close()
        sipp(scenario("options_200.xml"), "127.0.0.1:%d" % d.sip_port, *KEYS)
        prof = profiles_json(d)[0]
        check(prof["bad-messages"] + prof["bad-requests"] >= 1000, f"garbage counted: {prof}")
        check(d.running(), "still running")
        # TCP garbage: the connection is dropped, the listener keeps serving
        t = socket.create_connection(("127.0.0.1", d.sip_port))
        t.sendall(b"\x00\xff" * 5000 + b"\r\n\r\n")
        t.close()
        c = SipClient(d.sip_port, transport="tcp")
        check(c.request("OPTIONS", from_user="5000").status == 200, "TCP after garbage")
    finally:
        d.stop()


def test_show_endpoints_and_profiles():
    import json
    conf = sip_conf(endpoints=endpoint("5000", aors="5000,5001", auth="a5000", allow="ulaw,alaw", context="office") +
                    endpoint("anonymous", context="public"),
                    auths='<auth name="a5000"><param name="password" value="pw"/></auth>',
                    identify='<match endpoint="5000" ip="192.0.2.0/24"/>'
                             '<match endpoint="5000" header="X-Tenant" regex="^acme$"/>')
    d = ep_daemon(conf).start()
    try:
        text = d.api("show endpoints")
        check("5000" in text and "office" in text and "a5000" in text and "2 endpoints" in text, text)
        one = json.loads(d.api("show endpoints 5000 as json"))["endpoints"]
        check(len(one) == 1 and one[0]["aors"] == ["5000", "5001"] and one[0]["allow"] == ["ulaw", "alaw"], f"{one}")
        check({"ip": "192.0.2.0/24"} in one[0]["identify"], f"{one}")
        check({"header": "X-Tenant", "regex": "^acme$"} in one[0]["identify"], f"{one}")
        check(d.api("show endpoints nosuch").startswith("-ERR"), "unknown endpoint")
        allj = json.loads(d.api("show endpoints as json"))["endpoints"]
        check([e["name"] for e in allj] == ["5000", "anonymous"], f"{allj}")
        prof = profiles_json(d)[0]
        check(prof["name"] == "internal" and prof["state"] == "RUNNING" and prof["sip-port"] == d.sip_port, f"{prof}")
        check(prof["identify-order"] == ["ip", "header", "user", "anonymous"], f"{prof}")
    finally:
        d.stop()


def test_module_reload_applies_listener_changes():
    d = ep_daemon(phone_conf()).start()
    try:
        check(SipClient(d.sip_port, transport="tcp").request("OPTIONS", from_user="5000").status == 200, "tcp")
        d.write_conf("autoload_configs/sip.conf.xml", phone_conf('<param name="transports" value="udp"/>'))
        check("-ERR" not in d.api("reloadxml"), "reloadxml")
        d.wait_log(r"listener settings changed")
        check(SipClient(d.sip_port, transport="tcp").request("OPTIONS", from_user="5000").status == 200,
              "reloadxml alone keeps the running listeners")
        out = d.api("module reload mod_endpoints")
        check("-ERR" not in out, f"module reload: {out}")
        check(SipClient(d.sip_port).request("OPTIONS", from_user="5000").status == 200, "udp after reload")
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", d.sip_port))
            connected = True
        except OSError:
            connected = False
        finally:
            s.close()
        check(not connected, "TCP listener gone after module reload")
    finally:
        d.stop()
