"""`bridge` to sip/ legs over real SIP (SIPp on loopback): aorta as a stateful forking proxy.
Phones are SIPp UAS processes that REGISTER from the port they then listen on; the caller is
a SIPp UAC whose ACK and BYE follow aorta's Record-Route to the callee's Contact."""
import errno
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aorta_test as at  # noqa: E402
from aorta_test import check  # noqa: E402
import dplib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

DIALPLAN = r"""<include>
  <context name="default">
    <extension name="local">
      <condition field="destination_number" expression="^(5000|5002)$">
        <action application="bridge" data="${dial_contacts($1)}"/>
      </condition>
    </extension>
    <extension name="path">
      <condition field="destination_number" expression="^path$">
        <action application="bridge" data="${dial_contacts(5001)}"/>
      </condition>
    </extension>
    <extension name="failover">
      <condition field="destination_number" expression="^failover$">
        <action application="bridge" data="sip/5000/5000|sip/5001/5001"/>
      </condition>
    </extension>
    <extension name="timeout">
      <condition field="destination_number" expression="^timeout$">
        <action application="bridge" data="[leg_timeout=1]sip/5000/5000|sip/5001/5001"/>
      </condition>
    </extension>
    <extension name="nobody">
      <condition field="destination_number" expression="^nobody$">
        <action application="bridge" data="sip/5000/5000,sip/5001"/>
      </condition>
    </extension>
    <extension name="busy-or-timeout">
      <condition field="destination_number" expression="^worst$">
        <action application="bridge" data="sip/5000/5000,[leg_timeout=1]sip/5001/5001"/>
      </condition>
    </extension>
    <extension name="enterprise">
      <condition field="destination_number" expression="^enterprise$">
        <action application="bridge" data="sip/5000/5000|sip/5001/5001:_:sip/5002/5002"/>
      </condition>
    </extension>
    <extension name="enterprise-fail">
      <condition field="destination_number" expression="^enterprise-fail$">
        <action application="bridge" data="sip/5000/5000:_:sip/5001/5001"/>
      </condition>
    </extension>
    <extension name="busy-then-voicemail">
      <condition field="destination_number" expression="^vm$">
        <action application="set" data="continue_on_fail=USER_BUSY"/>
        <action application="bridge" data="sip/5000/5000"/>
        <action application="log" data="INFO bridge failed: ${originate_disposition}"/>
        <action application="respond" data="480 Voicemail Later"/>
      </condition>
    </extension>
  </context>
</include>
"""

ENDPOINTS = ('<endpoint name="5000"><param name="aors" value="5000"/></endpoint>'
             '<endpoint name="5001"><param name="aors" value="5001"/></endpoint>'
             '<endpoint name="5002"><param name="aors" value="5002"/></endpoint>'
             '<endpoint name="6000"><param name="aors" value="6000"/></endpoint>')
AORS = ('<aor name="5000"><param name="max-contacts" value="10"/></aor>'
        '<aor name="5001"><param name="max-contacts" value="10"/></aor>'
        '<aor name="5002"><param name="max-contacts" value="10"/></aor>'
        '<aor name="6000"><param name="max-contacts" value="1"/></aor>')


def daemon():
    return dplib.daemon(dialplan=DIALPLAN, sip=dplib.sip_conf(ENDPOINTS, AORS))


def sipp_argv(scenario, d, port, args, timeout):
    return ["sipp", f"127.0.0.1:{d.sip_port}", "-sf", os.path.join(HERE, scenario), "-i", "127.0.0.1",
            "-p", str(port), "-m", "1", "-timeout", f"{timeout}s", "-timeout_error", "-trace_err", "-trace_msg",
            "-nostdin", "-nd"] + list(args)


def port_bound(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError as e:
        return e.errno == errno.EADDRINUSE
    finally:
        s.close()


class Sipp:
    """A SIPp process in the background on a known port; wait() checks its exit status."""

    def __init__(self, d, scenario, port, *args, timeout=20):
        self.cwd = at.scratch_dir("sipp-bridge-")
        self.scenario = scenario
        self.proc = subprocess.Popen(sipp_argv(scenario, d, port, args, timeout), cwd=self.cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.port = port

    def logs(self):
        text = ""
        for f in sorted(os.listdir(self.cwd)):
            if f.endswith(("_errors.log", "_messages.log")):
                with open(os.path.join(self.cwd, f), errors="replace") as fh:
                    text += f"--- {f}\n" + fh.read()[-5000:]
        return text

    def wait(self, rc=0, timeout=30):
        try:
            out = self.proc.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out = self.proc.communicate()[0]
        check(self.proc.returncode == rc, f"sipp {self.scenario} exit {self.proc.returncode} (want {rc}):\n"
              f"{out.decode(errors='replace')[-2000:]}\n{self.logs()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def phone(d, aor, scenario, name):
    """REGISTER aor from a fresh port, then run the UAS scenario on that port."""
    if not __import__("shutil").which("sipp"):
        raise at.Skip("sipp not installed")
    port = at.free_port(socket.SOCK_DGRAM, both=True)
    reg = Sipp(d, "register.xml", port, "-key", "from_user", aor)
    reg.wait()
    p = Sipp(d, scenario, port, "-key", "phone_name", name)
    at.wait_for(lambda: port_bound(port), timeout=10, what=f"phone {name} listening")
    return p


def call(d, to, code=None, rc=0):
    """The caller (endpoint 6000): bridge_uac.xml for an answered call, else invite_final.xml."""
    port = at.free_port(socket.SOCK_DGRAM, both=True)
    if code is None:
        return Sipp(d, "bridge_uac.xml", port, "-s", to, "-key", "from_user", "6000")
    path = dplib.invite_scenario(code)
    c = Sipp(d, path, port, "-s", to, "-key", "from_user", "6000")
    return c


def stop_all(procs):
    for p in procs:
        p.stop()


class Bridge:
    """One test's started daemon and the SIPp processes it starts: `with Bridge() as (d, br)`;
    leaving the block stops every process, then the daemon, whatever the test did."""

    def __init__(self, d=None):
        self.d = (d or daemon()).start()
        self.procs = []

    def __enter__(self):
        return self.d, self

    def __exit__(self, *exc):
        stop_all(self.procs)
        self.d.stop()

    def add(self, proc):
        self.procs.append(proc)
        return proc

    def phone(self, aor, scenario, name):
        return self.add(phone(self.d, aor, scenario, name))

    def phones(self, *specs):
        """Register and start the (aor, scenario, name) phones one after another: each is
        listening before the next registers, and all before the test starts its call."""
        return [self.phone(*spec) for spec in specs]

    def call(self, to, code=None):
        return self.add(call(self.d, to, code))

    def caller(self, scenario, to, *args, kind=socket.SOCK_DGRAM):
        """The caller (endpoint 6000) running its own UAC scenario from a fresh port."""
        port = at.free_port(kind, both=True)
        return self.add(Sipp(self.d, scenario, port, "-s", to, "-key", "from_user", "6000", *args))


def wait_all(*procs):
    """Wait for each process in the order given, checking its exit status."""
    for p in procs:
        p.wait()


def test_two_phones_on_one_aor_one_answers_the_other_is_cancelled():
    with Bridge() as (d, br):
        a, b = br.phones(("5000", "bridge_uas_answer.xml", "alpha"),
                         ("5000", "bridge_uas_cancel.xml", "bravo"))
        out = d.api("dialplan_test default 5000")
        check(out.count("sip/5000/sip:5000@127.0.0.1:") >= 2, out)
        c = br.call("5000")
        c.wait()      # 200 from alpha, ACK and BYE through aorta, 200 to the BYE
        a.wait()      # alpha: INVITE with Record-Route and Max-Forwards 69, ACK, BYE
        b.wait()      # bravo: CANCEL, 487 acknowledged
        d.wait_log(r"bridge \S+: answered by sip/5000/sip:5000@127\.0\.0\.1:%d" % a.port)
        d.wait_log(r"INVITE \S+ from endpoint 6000 .* extension local -> 200 OK \(bridge: answered by ")
        d.wait_log(r"proxy \S+: routing in-dialog ACK")
        d.wait_log(r"proxy \S+: routing in-dialog BYE")


def test_a_2xx_that_crossed_the_callers_cancel_is_forwarded_to_the_caller():
    """RFC 3261 §16.7 step 5: the callee's 200 arrives after the caller's CANCEL was answered
    (487); aorta still forwards it, and the caller ACKs and BYEs that dialog through aorta."""
    with Bridge() as (d, br):
        a = br.phone("5000", "bridge_uas_cancel_then_200.xml", "alpha")
        c = br.caller("bridge_uac_cancel_2xx.xml", "5000")
        c.wait()      # the caller: 200 to its CANCEL, 487, then the forwarded 200: ACK, BYE
        a.wait()      # the callee got that ACK and BYE through aorta
        d.wait_log(r"bridge \S+: sip/5000/\S+ answered 200 after the call's final answer: forwarded to the caller")
        d.wait_log(r"proxy \S+: routing in-dialog ACK")
        d.wait_log(r"proxy \S+: routing in-dialog BYE")


def test_a_second_2xx_is_forwarded_and_each_dialog_reaches_its_callee():
    """Two phones of one AOR: alpha answers at once and wins; bravo's 200 crosses the CANCEL
    aorta sends it. The caller gets both 200s (RFC 3261 §16.7 step 5), ACKs both and hangs up
    both dialogs, bravo's first: each ACK and BYE must reach its own phone, and the first BYE
    must not end the routing of the other dialog of the same Call-ID."""
    with Bridge() as (d, br):
        a, b = br.phones(("5000", "bridge_uas_answer.xml", "alpha"),
                         ("5000", "bridge_uas_cancel_then_200.xml", "bravo"))
        c = br.caller("bridge_uac_two_2xx.xml", "5000")
        c.wait()      # 200 (alpha's X-Phone), ACK, 200, ACK, BYE 200, BYE 200
        a.wait()      # alpha: ACK and BYE
        b.wait()      # bravo: CANCEL, then its 200's ACK and BYE
        d.wait_log(r"bridge \S+: answered by sip/5000/sip:5000@127\.0\.0\.1:%d" % a.port)
        d.wait_log(r"bridge \S+: sip/5000/sip:5000@127\.0\.0\.1:%d\S* answered 200 after the call's final answer: "
                   r"forwarded to the caller" % b.port)
        at.wait_for(lambda: len(re.findall(r"proxy \S+: routing in-dialog BYE", d.log())) == 2, timeout=10,
                    what="both dialogs' BYE routed")


def test_a_retransmitted_2xx_reaches_the_caller():
    with Bridge() as (d, br):
        a = br.phone("5000", "bridge_uas_answer.xml", "alpha")   # retransmits 200 until the ACK
        wait_all(br.caller("bridge_uac_slow_ack.xml", "5000"), a)
        d.wait_log(r"proxy \S+: forwarding a retransmitted 2xx statelessly")


def test_a_reinvite_follows_the_dialog_through_the_proxy():
    with Bridge() as (d, br):
        a = br.phone("5000", "bridge_uas_answer_reinvite.xml", "alpha")
        wait_all(br.caller("bridge_uac_reinvite.xml", "5000"), a)
        d.wait_log(r"proxy \S+: routing in-dialog INVITE")
        d.wait_log(r"proxy \S+: routing in-dialog BYE")


def test_unloading_mod_dialplan_stops_a_ringing_call():
    with Bridge() as (d, br):
        a = br.phone("5000", "bridge_uas_cancel.xml", "alpha")
        path = dplib.invite_scenario(503, provisional=180)
        with open(path) as f:
            text = f.read().replace('<recv response="180"/>', '<recv response="180" optional="true"/>')
        with open(path, "w") as f:
            f.write(text)
        c = br.caller(path, "5000")
        d.wait_log(r"bridge \S+: leg sip/5000/\S+ -> ")
        out = d.api("module unload mod_dialplan", timeout=30)
        check("-ERR" not in out, out)
        c.wait()      # 503 to the caller
        a.wait()      # the ringing phone got CANCEL
        d.wait_log(r"bridge \S+: unloading: cancelling 1 leg")
        d.wait_log(r"-> 503 Service Unavailable \(bridge: mod_dialplan is unloading\)")


def test_the_callee_hangs_up_through_the_proxy():
    with Bridge() as (d, br):
        a = br.phone("5000", "bridge_uas_answer_bye.xml", "alpha")
        c = br.caller("bridge_uac_bye_in.xml", "5000")
        c.wait()      # the callee's BYE reached the caller through aorta
        a.wait()      # ... and the caller's 200 came back
        d.wait_log(r"proxy \S+: routing in-dialog BYE")


def test_legs_follow_the_nat_source_and_the_registered_path():
    """dial_contacts writes sip_network_destination (REGISTER from another address than its
    Contact) and sip_route (Path) into the legs; the INVITE must follow them."""
    import test_outgoing as to
    aors = AORS.replace('<aor name="5001"><param name="max-contacts" value="10"/>',
                        '<aor name="5001"><param name="max-contacts" value="10"/><param name="support-path" value="true"/>')
    with Bridge(dplib.daemon(dialplan=DIALPLAN, sip=dplib.sip_conf(ENDPOINTS, aors))) as (d, br):
        # NAT: the phone registers from its port with a Contact where nobody listens
        nat = at.free_port(socket.SOCK_DGRAM, both=True)
        dead = at.free_port(socket.SOCK_DGRAM, both=True)
        to.register_from(d, nat, user="5000", contact_port=dead)
        out = d.api("dial_contacts 5000")
        check(f"sip_network_destination=sip:127.0.0.1:{nat}" in out, out)
        a = br.add(Sipp(d, "bridge_uas_answer.xml", nat, "-key", "phone_name", "natted"))
        at.wait_for(lambda: port_bound(nat), timeout=10, what="phone listening")
        wait_all(br.call("5000"), a)
        d.wait_log(r"leg sip/5000/sip:5000@127\.0\.0\.1:%d -> sip:5000@127\.0\.0\.1:%d via sip:127\.0\.0\.1:%d;"
                   % (dead, dead, nat))
        d.wait_log(r"bridge \S+: answered by sip/5000/sip:5000@127\.0\.0\.1:%d \(200 OK\)" % dead)
        # Path: registered through an edge proxy (the SIPp phone here), Contact unreachable
        src = at.free_port(socket.SOCK_DGRAM, both=True)
        edge = at.free_port(socket.SOCK_DGRAM, both=True)
        to.register_from(d, src, user="5001", contact_port=dead, path=f"<sip:127.0.0.1:{edge};lr>")
        out = d.api("dial_contacts 5001")
        check(f"sip_route=<sip:127.0.0.1:{edge};lr>" in out, out)
        b = br.add(Sipp(d, "bridge_uas_answer.xml", edge, "-key", "phone_name", "behind-edge"))
        at.wait_for(lambda: port_bound(edge), timeout=10, what="edge listening")
        wait_all(br.call("path"), b)
        d.wait_log(r"leg sip/5001/sip:5001@127\.0\.0\.1:%d -> sip:5001@127\.0\.0\.1:%d route <sip:127\.0\.0\.1:%d;lr>"
                   % (dead, dead, edge))
        d.wait_log(r"bridge \S+: answered by sip/5001/sip:5001@127\.0\.0\.1:%d \(200 OK\)" % dead)


def test_a_tcp_caller_reaches_a_udp_phone():
    with Bridge() as (d, br):
        a = br.phone("5000", "bridge_uas_answer.xml", "alpha")   # UDP
        c = br.caller("bridge_uac.xml", "5000", "-t", "t1", kind=socket.SOCK_STREAM)
        c.wait()      # over TCP: 200 with Record-Route ;transport=tcp, ACK and BYE back over TCP
        a.wait()
        d.wait_log(r"INVITE \S+ from 127\.0\.0\.1:\d+/tcp identified as endpoint 6000")
        d.wait_log(r"proxy \S+: routing in-dialog BYE")


def test_the_callers_bye_reaches_a_callee_behind_nat():
    """The callee's Contact (in its REGISTER and its 200) is a port where nobody listens; it is
    reached at its source address for the INVITE and, remembered per dialog, for the caller's
    ACK and BYE (the Request-URI stays the Contact)."""
    import test_outgoing as to
    with Bridge() as (d, br):
        nat = at.free_port(socket.SOCK_DGRAM, both=True)
        dead = at.free_port(socket.SOCK_DGRAM, both=True)
        to.register_from(d, nat, user="5000", contact_port=dead)
        a = br.add(Sipp(d, "bridge_uas_answer_nat.xml", nat, "-key", "phone_name", "natted",
                        "-key", "contact_port", str(dead)))
        at.wait_for(lambda: port_bound(nat), timeout=10, what="phone listening")
        c = br.call("5000")
        c.wait()      # the BYE's 200 came back from the phone
        a.wait()      # the phone got the ACK and the BYE
        d.wait_log(r"proxy \S+: routing in-dialog ACK via sip:127\.0\.0\.1:%d;transport=udp" % nat)
        d.wait_log(r"proxy \S+: routing in-dialog BYE via sip:127\.0\.0\.1:%d;transport=udp" % nat)


def register_tcp(d, port, user):
    """REGISTER over TCP from 127.0.0.1:port with a Contact ;transport=tcp on that same port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", d.sip_port))
        cid = os.urandom(8).hex()
        s.sendall((f"REGISTER sip:127.0.0.1:{d.sip_port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bK{cid}\r\n"
                   f"From: <sip:{user}@127.0.0.1>;tag={cid[:8]}\r\nTo: <sip:{user}@127.0.0.1>\r\n"
                   f"Call-ID: {cid}\r\nCSeq: 1 REGISTER\r\n"
                   f"Contact: <sip:{user}@127.0.0.1:{port};transport=tcp>\r\n"
                   "Expires: 600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65535)
            check(chunk, f"REGISTER over TCP: connection closed after {data!r}")
            data += chunk
        check(data.startswith(b"SIP/2.0 200"), f"REGISTER over TCP: {data!r}")
    finally:
        s.close()


def test_a_udp_caller_reaches_a_tcp_phone_with_double_record_route():
    """UDP caller, TCP callee: aorta record-routes twice (RFC 5658). The phone checks both entries
    (TCP on top) and answers with a Contact without a transport: the caller's ACK and BYE, sent to
    aorta over UDP, reach it over TCP because of the Route entry aorta left for the callee side."""
    if not __import__("shutil").which("sipp"):
        raise at.Skip("sipp not installed")
    with Bridge() as (d, br):
        port = at.free_port(socket.SOCK_STREAM, both=True)
        register_tcp(d, port, "5000")
        out = d.api("dial_contacts 5000")
        check(f"sip:5000@127.0.0.1:{port};transport=tcp" in out and "sip_network_destination" not in out, out)
        a = br.add(Sipp(d, "bridge_uas_answer_tcp.xml", port, "-key", "phone_name", "tcp", "-t", "t1"))

        def tcp_listening():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                return s.connect_ex(("127.0.0.1", port)) == 0
            finally:
                s.close()
        at.wait_for(tcp_listening, timeout=10, what="tcp phone listening")
        wait_all(br.call("5000"), a)   # the caller on UDP
        d.wait_log(r"proxy \S+: routing in-dialog ACK via sip:127\.0\.0\.1:%d;transport=tcp" % port)
        d.wait_log(r"proxy \S+: routing in-dialog BYE via sip:127\.0\.0\.1:%d;transport=tcp" % port)


def test_failover_after_486():
    with Bridge() as (d, br):
        a, b = br.phones(("5000", "bridge_uas_busy.xml", "alpha"),
                         ("5001", "bridge_uas_answer.xml", "bravo"))
        wait_all(br.call("failover"), a, b)
        d.wait_log(r"bridge \S+: leg sip/5000/5000 failed: 486 Busy Here")
        d.wait_log(r"bridge \S+: answered by sip/5001/5001")


def test_busy_callee_486_is_relayed_with_its_headers():
    """RFC 3261 §16.7 step 6: the only leg answers 486 with Retry-After and X-Callee; the
    caller gets that response as received (phrase, To tag, headers), not a synthesized 486."""
    with Bridge() as (d, br):
        a = br.phone("5000", "bridge_uas_busy_headers.xml", "alpha")
        wait_all(br.caller("bridge_uac_busy_headers.xml", "5000"), a)
        d.wait_log(r"bridge \S+: leg sip/5000\S* failed: 486 Busy Phone Here")
        d.wait_log(r"extension local -> 486 Busy Phone Here \(bridge: USER_BUSY\)")


def test_continue_on_fail_resumes_the_dialplan_after_a_486():
    with Bridge() as (d, br):
        a = br.phone("5000", "bridge_uas_busy.xml", "alpha")
        wait_all(br.call("vm", 480), a)
        d.wait_log(r"bridge failed: USER_BUSY")
        d.wait_log(r"extension busy-then-voicemail -> 480 Voicemail Later \(respond 480\)")


def test_failover_after_leg_timeout():
    with Bridge() as (d, br):
        a, b = br.phones(("5000", "bridge_uas_cancel.xml", "alpha"),   # rings until cancelled
                         ("5001", "bridge_uas_answer.xml", "bravo"))
        c = br.call("timeout")
        c.wait()
        a.wait()      # got the CANCEL when leg_timeout (1 s) passed
        b.wait()
        d.wait_log(r"bridge \S+: leg sip/5000/5000 failed: 408 Request Timeout \(leg_timeout\)")
        d.wait_log(r"bridge \S+: answered by sip/5001/5001")


def test_no_contacts_480_and_best_response():
    with Bridge() as (d, br):
        call(d, "5000", 480).wait()       # dial_contacts: error/user_not_registered
        call(d, "nobody", 480).wait()     # sip/ legs that resolve to no contact
        d.wait_log(r"leg sip/5001 fails at once: 480 \(no AOR of endpoint 5001 has a contact\)")
        # 486 from one leg, no answer within leg_timeout from the other: 486 is the best (4xx < 480? no:
        # both 4xx; RFC 3261 §16.7 picks among the lowest class; dp_best_status prefers the first lowest)
        a, b = br.phones(("5000", "bridge_uas_busy.xml", "alpha"),
                         ("5001", "bridge_uas_cancel.xml", "bravo"))
        wait_all(br.call("worst", 486), a, b)


def test_caller_cancel_cancels_every_leg():
    with Bridge() as (d, br):
        a, b = br.phones(("5000", "bridge_uas_cancel.xml", "alpha"),
                         ("5000", "bridge_uas_cancel.xml", "bravo"))
        wait_all(br.caller("bridge_uac_cancel.xml", "5000"), a, b)
        d.wait_log(r"bridge \S+: CANCEL from the caller: cancelling 2 legs")
        d.wait_log(r"extension local -> 487 Request Terminated \(bridge: the caller cancelled\)")


def test_failed_legs_challenges_are_merged_into_one_401():
    """RFC 3261 §16.7 step 7: both phones of the AOR answer 401, realms alpha and bravo; the
    caller gets one 401 carrying both WWW-Authenticate challenges."""
    with Bridge() as (d, br):
        a, b = br.phones(("5000", "bridge_uas_challenge.xml", "alpha"),
                         ("5000", "bridge_uas_challenge.xml", "bravo"))
        wait_all(br.caller("bridge_uac_challenges.xml", "5000"), a, b)
        d.wait_log(r"bridge \S+: 401 Unauthorized relayed with the challenges of 1 other leg")
        d.wait_log(r"extension local -> 401 Unauthorized \(bridge: CALL_REJECTED\)")


def test_enterprise_branches_ring_independently():
    """sip/5000/5000|sip/5001/5001 :_: sip/5002/5002: both branches start at once. In the first,
    5000 is busy, so 5001 rings next and answers, while 5002 of the second branch is still
    ringing: it is cancelled. (Tried one after another, 5002 would never ring.)"""
    with Bridge() as (d, br):
        a, b, e = br.phones(("5000", "bridge_uas_busy.xml", "alpha"),
                            ("5001", "bridge_uas_answer.xml", "bravo"),
                            ("5002", "bridge_uas_cancel.xml", "echo"))
        c = br.call("enterprise")
        c.wait()      # 200 from bravo, ACK and BYE
        a.wait()      # 486
        b.wait()
        e.wait()      # rang from the start; CANCEL when bravo answered
        d.wait_log(r"bridge \S+: leg sip/5000/5000 failed: 486 Busy Here")
        d.wait_log(r"bridge \S+: answered by sip/5001/5001")
        d.wait_log(r"extension enterprise -> 200 OK \(bridge: answered by sip/5001/5001\)")


def test_enterprise_branches_fail_together_with_the_best_response():
    """Both branches fail (486 and 401): the call fails once both are over, with the best of
    every leg's response (RFC 3261 §16.7: 401 is preferred among 4xx)."""
    with Bridge() as (d, br):
        a, b = br.phones(("5000", "bridge_uas_busy.xml", "alpha"),
                         ("5001", "bridge_uas_challenge.xml", "bravo"))
        wait_all(br.call("enterprise-fail", 401), a, b)
        d.wait_log(r"bridge \S+: leg sip/5000/5000 failed: 486 Busy Here")
        d.wait_log(r"bridge \S+: leg sip/5001/5001 failed: 401 Unauthorized")
        d.wait_log(r"extension enterprise-fail -> 401 Unauthorized \(bridge: CALL_REJECTED\)")


def test_the_callees_bye_reaches_a_caller_behind_nat():
    """The caller's Via and Contact name a port where nobody listens (behind NAT); the callee's
    BYE, routed through aorta to that Contact, must go to the address the INVITE came from:
    over UDP its source address, over TCP the caller's own connection."""
    if not __import__("shutil").which("sipp"):
        raise at.Skip("sipp not installed")
    with Bridge() as (d, br):
        for aor, transport, kind, sipp_t in (("5000", "udp", socket.SOCK_DGRAM, "u1"),
                                             ("5002", "tcp", socket.SOCK_STREAM, "t1")):
            a = br.phone(aor, "bridge_uas_answer_bye.xml", "alpha-" + transport)   # the phone is on UDP
            port = at.free_port(kind, both=True)
            dead = at.free_port(kind, both=True)
            c = br.add(Sipp(d, "bridge_uac_bye_in_nat.xml", port, "-s", aor, "-key", "from_user", "6000",
                            "-key", "dead_port", str(dead), "-t", sipp_t))
            c.wait()      # the BYE arrived at the caller's real socket
            a.wait()      # and its 200 came back to the phone
            d.wait_log(r"proxy \S+: routing in-dialog BYE via sip:127\.0\.0\.1:%d;transport=%s" % (port, transport))
