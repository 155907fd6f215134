"""Outgoing requests through the `endpoints` interface (request_send), exercised by the
`sip_options <endpoint> <uri> [<destination>|<route set>]` command against a SIPp UAS: the final status
comes back on a worker; destination (a NAT'd address) wins over the URI; the endpoint's
transport is used when the URI names none; no answer ends in 408."""
import os
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aorta_test import Skip, check, free_port, scratch_dir, wait_for  # noqa: E402
from ep_common import endpoint, ep_daemon, scenario, sip_conf  # noqa: E402


def start_uas(status=200, transport="u1"):
    """SIPp answering one OPTIONS; returns (process, port)."""
    if shutil.which("sipp") is None:
        raise Skip("sipp not installed")
    port = free_port(socket.SOCK_DGRAM, both=True)
    cwd = scratch_dir("sipp-uas-")
    p = subprocess.Popen(["sipp", "-sf", scenario(f"uas_options_{status}.xml"), "-i", "127.0.0.1", "-p", str(port),
                          "-m", "1", "-t", transport, "-nostdin", "-nd",
                          "-timeout", "30s", "-timeout_error", "-trace_err"],
                         cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listening():
        kind = socket.SOCK_DGRAM if transport == "u1" else socket.SOCK_STREAM
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
            return False
        except OSError:
            return True
        finally:
            s.close()
    wait_for(listening, 10, "sipp UAS listening")
    return p, port


def finish(p):
    try:
        rc = p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        rc = -1
    return rc


CONF = sip_conf(endpoints=endpoint("5000", aors="5000") + endpoint("tcp-phone", transport="tcp") +
                endpoint("branded", from_user="pbx", from_domain="example.com"),
                settings='<param name="transaction-linger" value="2000"/>')


def test_sip_options_gets_200_from_uas():
    d = ep_daemon(CONF).start()
    p = None
    try:
        p, port = start_uas()
        out = d.api(f"sip_options 5000 sip:ping@127.0.0.1:{port}")
        check(out.strip() == "200 OK", f"sip_options: {out!r}")
        check(finish(p) == 0, "uas saw one OPTIONS and answered")
        d.wait_log(rf"OPTIONS to sip:ping@127\.0\.0\.1:{port}: 200 OK")
    finally:
        if p and p.poll() is None:
            p.kill()
        d.stop()


def test_sip_options_reports_failure_status():
    d = ep_daemon(CONF).start()
    p = None
    try:
        p, port = start_uas(486)
        out = d.api(f"sip_options branded sip:ping@127.0.0.1:{port}")
        check(out.strip() == "486 Busy Here", f"sip_options: {out!r}")
        finish(p)
    finally:
        if p and p.poll() is None:
            p.kill()
        d.stop()


def test_destination_overrides_the_uri():
    d = ep_daemon(CONF).start()
    p = None
    try:
        p, port = start_uas()
        # the URI names an unreachable documentation address; the request goes to the destination
        out = d.api(f"sip_options 5000 sip:phone@192.0.2.1:5060 sip:127.0.0.1:{port};transport=udp")
        check(out.strip() == "200 OK", f"sip_options: {out!r}")
        check(finish(p) == 0, "uas answered")
    finally:
        if p and p.poll() is None:
            p.kill()
        d.stop()


def test_route_set_is_followed():
    d = ep_daemon(CONF).start()
    p = None
    try:
        p, port = start_uas()
        # a route set (e.g. a stored Path): its first loose-route hop is the next hop
        out = d.api(f"sip_options 5000 sip:phone@192.0.2.1:5060 <sip:127.0.0.1:{port};lr>")
        check(out.strip() == "200 OK", f"sip_options with a route set: {out!r}")
        check(finish(p) == 0, "uas answered")
    finally:
        if p and p.poll() is None:
            p.kill()
        d.stop()


def test_endpoint_transport_is_used():
    d = ep_daemon(CONF).start()
    p = None
    try:
        p, port = start_uas(transport="t1")
        out = d.api(f"sip_options tcp-phone sip:ping@127.0.0.1:{port}")
        check(out.strip() == "200 OK", f"sip_options over TCP: {out!r}")
        check(finish(p) == 0, "uas (TCP) answered")
    finally:
        if p and p.poll() is None:
            p.kill()
        d.stop()


def test_no_answer_is_408_and_bad_input_is_refused():
    d = ep_daemon(CONF).start()
    try:
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))  # receives, never answers
        out = d.api(f"sip_options 5000 sip:ping@127.0.0.1:{silent.getsockname()[1]}", timeout=30)
        check(out.startswith("408"), f"timeout: {out!r}")
        data, _ = silent.recvfrom(65536)
        check(data.startswith(b"OPTIONS sip:ping@127.0.0.1"), f"request: {data[:80]!r}")
        check(b"From: <sip:5000@127.0.0.1" in data and b"User-Agent: aorta" in data, f"{data!r}")
        silent.close()
        check(d.api("sip_options nosuch sip:x@127.0.0.1").startswith("-ERR no such endpoint"), "unknown endpoint")
        check(d.api("sip_options 5000 mailto:x@example.com").startswith("-ERR"), "bad uri")
        check(d.api("sip_options 5000").startswith("-ERR usage"), "usage")
    finally:
        d.stop()


def test_owned_requests_survive_their_owner_unloading():
    import json
    d = ep_daemon(sip_conf(endpoints=endpoint("5000"), settings='<param name="transaction-linger" value="2000"/>'),
                  test_module=True).start()
    p = None
    try:
        p, port = start_uas()
        check("+OK" in d.api(f"ep_test_send 5000 sip:ping@127.0.0.1:{port}"), "sent")
        d.wait_log(r"ep_test: response 200 OK")
        finish(p)
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        check("+OK" in d.api(f"ep_test_send 5000 sip:ping@127.0.0.1:{silent.getsockname()[1]}"), "sent")
        silent.settimeout(10)
        silent.recvfrom(65536)  # the request is out, its transaction open
        out = d.api("module unload mod_ep_test")
        check("-ERR" not in out, f"unload with a request pending: {out}")

        def pending():
            return json.loads(d.api("show profiles as json"))["profiles"][0]["outgoing-pending"]
        wait_for(lambda: pending() == 0, 10, "the pending request timed out")
        check("ep_test: response 408" not in d.log(), "the unloaded module's callback was not called")
        check(d.running(), "still running")
        silent.close()
    finally:
        if p and p.poll() is None:
            p.kill()
        d.stop()


def test_shutdown_with_requests_pending():
    d = ep_daemon(sip_conf(endpoints=endpoint("5000")), test_module=True).start()  # linger: 32 s
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        for _ in range(3):
            check("+OK" in d.api(f"ep_test_send 5000 sip:ping@127.0.0.1:{silent.getsockname()[1]}"), "sent")
        silent.settimeout(10)
        silent.recvfrom(65536)
        rc = d.stop()  # within the harness's 15 s, long before the 32 s transaction timeout
        check(rc == 0, f"clean exit while requests were pending: rc={rc}")
    finally:
        silent.close()
