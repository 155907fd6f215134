"""Byte-exact event-socket protocol (ESL.md §1-§13) over a raw socket: framing of every
command's reply, plain/json/xml event bodies, URL-encoding, log/data frames, the disconnect
notice, the ACL's rude rejection, the auth deadline, max-clients, and a module that refuses
to start without a password.
"""
import json
import re
import socket
import time
import uuid

from aorta_test import Daemon, Esl, check, wait_for

DEADLINE = 120

GREETING = b"Content-Type: auth/request\n\n"
NOTICE_BYE = b"Content-Type: text/disconnect-notice\nContent-Length: 23\n\nDisconnected, goodbye.\n"


def reply(text):
    return b"Content-Type: command/reply\nReply-Text: " + text.encode() + b"\n\n"


def api_frame(body):
    b = body.encode() if isinstance(body, str) else body
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(b) + b


def esl_conf(**params):
    p = {"listen-ip": "$${event_socket_ip}", "listen-port": "$${event_socket_port}",
         "password": "$${event_socket_password}"}
    p.update({k.replace("_", "-"): v for k, v in params.items()})
    return {"autoload_configs/event_socket.conf.xml":
            '<configuration name="event_socket.conf">\n  <settings>\n' +
            "".join(f'    <param name="{k}" value="{v}"/>\n' for k, v in p.items()) +
            "  </settings>\n</configuration>\n"}


def daemon(**params):
    return Daemon(modules=["mod_event_socket", "mod_test"], test_modules=["mod_test"],
                  conf=esl_conf(**params) if params else None).start()


def raw(d):
    """A connected client that has read nothing yet."""
    return Client(d.esl_port)


def cmd(e, text):
    e.send(text + "\n\n")
    return e.read_raw_frame()


def expect_eof(e, timeout=10):
    e.sock.settimeout(timeout)
    check(e.buf == b"", f"unexpected bytes before close: {e.buf!r}")
    check(e.sock.recv(4096) == b"", "the server must close the connection")


def authed(d):
    e = raw(d)
    check(e.read_raw_frame() == GREETING, "greeting")
    check(cmd(e, "auth " + d.esl_password) == reply("+OK accepted"), "auth reply")
    return e


class Client(Esl):
    """Esl that sets aside events arriving while it waits for a reply."""

    def __init__(self, *a, **kw):
        self.pending = []
        super().__init__(*a, **kw)

    def fire(self, args):
        """api test_fire <args>; events read on the way are kept for next_event()."""
        self.send("api test_fire " + args + "\n\n")
        while True:
            f = self.read_raw_frame()
            if f.startswith(b"Content-Type: api/response\n"):
                check(f.endswith(b"\n\n+OK\n"), f"test_fire: {f!r}")
                return
            self.pending.append(f)

    def next_event(self):
        return self.pending.pop(0) if self.pending else self.read_raw_frame()


def split(raw_frame):
    end = raw_frame.index(b"\n\n")
    hdrs = {}
    for line in raw_frame[:end].decode().split("\n"):
        k, _, v = line.partition(": ")
        hdrs[k] = v
    return hdrs, raw_frame[end + 2:]


def test_greeting_auth_and_preauth_commands():
    d = daemon()
    try:
        e = raw(d)
        check(e.read_raw_frame() == GREETING, "greeting")
        # before auth only auth/userauth/exit exist; the connection stays open
        check(cmd(e, "api status") == reply("-ERR command not found"), "api before auth")
        check(cmd(e, "event plain ALL") == reply("-ERR command not found"), "event before auth")
        check(cmd(e, "auth " + d.esl_password) == reply("+OK accepted"), "auth")
        check(cmd(e, "auth " + d.esl_password) == reply("-ERR command not found"), "auth again")
        e.close()

        e = raw(d)
        e.read_raw_frame()
        check(cmd(e, "auth wrong") == reply("-ERR invalid"), "wrong password")
        check(e.read_raw_frame() == NOTICE_BYE, "disconnect notice after a failed auth")
        expect_eof(e)
        d.wait_log(r"failed to authenticate \(wrong password\)")

        e = raw(d)
        e.read_raw_frame()
        check(cmd(e, "userauth 1000@example.com:pw") == reply("-ERR invalid"), "userauth unsupported")
        check(e.read_raw_frame() == NOTICE_BYE, "notice")
        expect_eof(e)

        e = raw(d)
        e.read_raw_frame()
        check(cmd(e, "exit") == reply("+OK bye"), "exit before auth")
        check(e.read_raw_frame() == NOTICE_BYE, "notice")
        expect_eof(e)
    finally:
        d.stop()


def test_api_framing():
    d = daemon()
    try:
        e = authed(d)
        text = "h\u00e9llo w\u00f6rld"
        check(cmd(e, "api echo " + text) == api_frame(text + "\n"), "api echo: Content-Length counts bytes")
        # surrounding whitespace of command and arguments is trimmed (modesl sends "bgapi status ")
        check(cmd(e, "api   echo  spaced  ") == api_frame("spaced\n"), "trimmed")
        check(cmd(e, "api nonsense arg") == api_frame("-ERR nonsense Command not found!\n"), "unknown api")
        check(cmd(e, "api test_silent") == api_frame("-ERR no reply\n"), "empty output")
        check(cmd(e, "api echo 100% sure") == api_frame("100% sure\n"), "a % in a body is fine")
        # CRLF and stray blank lines between commands are tolerated
        e.send("\n\napi echo crlf\r\n\r\n")
        check(e.read_raw_frame() == api_frame("crlf\n"), "CRLF framing")
        # pipelined commands: exactly one reply each, in order
        e.send("api echo one\n\napi echo two\n\nnoevents\n\napi echo three\n\n")
        got = [e.read_raw_frame() for _ in range(4)]
        check(got == [api_frame("one\n"), api_frame("two\n"), reply("-ERR not listening for events"),
                      api_frame("three\n")], f"pipelined: {got}")
        # fs_cli sends console_execute: true
        e.send("api echo fs\nconsole_execute: true\n\n")
        check(e.read_raw_frame() == api_frame("fs\n"), "console_execute")
        check(cmd(e, "frobnicate") == reply("-ERR command not found"), "unknown command")
        check(cmd(e, "sendmsg") == reply("-ERR invalid session id []"), "sendmsg without a session")
        check(cmd(e, "myevents") == reply("-ERR not controlling a session"), "myevents")
        check(cmd(e, "api module unload mod_event_socket").startswith(b"Content-Type: api/response\n"),
              "self-unload answered")
        check("mod_event_socket.so" in d.api("show modules"), "module still loaded")
        check(cmd(e, "exit") == reply("+OK bye"), "exit")
        check(e.read_raw_frame() == NOTICE_BYE, "notice")
        expect_eof(e)
    finally:
        d.stop()


def test_bgapi_reply_then_background_job():
    d = daemon()
    try:
        e = authed(d)
        check(cmd(e, "event plain BACKGROUND_JOB") == reply("+OK event listener enabled plain"), "subscribe")
        job = str(uuid.uuid4())
        e.send(f"bgapi echo bg one \nJob-UUID: {job}\n\n")
        # the reply comes first, with the client's Job-UUID twice
        check(e.read_raw_frame() == b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: " + job.encode() +
              b"\nJob-UUID: " + job.encode() + b"\n\n", "bgapi reply")
        hdrs, body = split(e.read_raw_frame())
        check(hdrs["Content-Type"] == "text/event-plain", f"{hdrs}")
        inner, ibody = split(body)
        check(inner["Event-Name"] == "BACKGROUND_JOB" and inner["Job-UUID"] == job, f"{inner}")
        check(inner["Job-Command"] == "echo" and inner["Job-Command-Arg"] == "bg%20one", f"{inner}")
        check("Job-Owner-UUID" not in inner, "no owner on an inbound connection")
        check(inner["Content-Length"] == "7" and ibody == b"bg one\n", f"body {ibody!r}")

        # without a Job-UUID the server makes one
        r = e.command("bgapi version")[0]
        m = re.fullmatch(r"\+OK Job-UUID: ([0-9a-f-]{36})", r["Reply-Text"])
        check(m and r["Job-UUID"] == m.group(1), f"generated uuid: {r}")
        inner, ibody = split(split(e.read_raw_frame())[1])
        check(inner["Job-UUID"] == m.group(1) and "Job-Command-Arg" not in inner, f"{inner}")
        check(ibody.startswith(b"aorta version"), f"{ibody!r}")

        # a slow job does not hold the connection: api answers meanwhile
        e.send("bgapi test_sleep 300\nJob-UUID: slow-1\n\n")
        check(e.read_raw_frame().endswith(b"Job-UUID: slow-1\n\n"), "slow bgapi reply")
        check(cmd(e, "api echo meanwhile") == api_frame("meanwhile\n"), "api while a job runs")
        inner, ibody = split(split(e.read_raw_frame())[1])
        check(inner["Job-UUID"] == "slow-1" and ibody == b"+OK\n", f"{inner} {ibody!r}")
        # a Job-UUID with a % is escaped in the reply header, never sent bare
        r = cmd(e, "bgapi echo x\nJob-UUID: a%b")
        check(r == b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: a%25b\nJob-UUID: a%25b\n\n", f"{r!r}")
        e.read_raw_frame()
    finally:
        d.stop()


def test_event_command_rules_and_formats():
    d = daemon()
    try:
        e = authed(d)
        check(cmd(e, "event json") == reply("-ERR no keywords supplied"), "format only")
        # ...but the format changed and persists
        check(cmd(e, "event CUSTOM t::json") == reply("+OK event listener enabled json"), "format persists")
        check(cmd(e, "event NOT_AN_EVENT") == reply("-ERR no keywords supplied"), "unknown names ignored")
        check(cmd(e, "nixevent NOT_AN_EVENT") == reply("-ERR no keywords supplied"), "nixevent nothing")

        e.fire("t::json k=v%20w n=42 body=b%C3%B6dy")
        hdrs, body = split(e.next_event())
        check(list(hdrs) == ["Content-Length", "Content-Type"] and hdrs["Content-Type"] == "text/event-json",
              f"envelope {hdrs}")
        check(int(hdrs["Content-Length"]) == len(body), "Content-Length counts bytes")
        obj = json.loads(body)
        keys = list(obj)
        check(keys[:13] == ["Event-Name", "Core-UUID", "FreeSWITCH-Hostname", "FreeSWITCH-Switchname",
                            "FreeSWITCH-IPv4", "FreeSWITCH-IPv6", "Event-Date-Local", "Event-Date-GMT",
                            "Event-Date-Timestamp", "Event-Calling-File", "Event-Calling-Function",
                            "Event-Calling-Line-Number", "Event-Sequence"], f"standard headers: {keys}")
        check(obj["Event-Subclass"] == "t::json" and obj["k"] == "v w" and obj["n"] == "42", f"{obj}")
        check(all(isinstance(v, str) for v in obj.values()), "all JSON values are strings")
        check(obj["_body"] == "b\u00f6dy" and obj["Content-Length"] == "5", f"{obj}")

        # plain: URL-encoded values, inner Content-Length, block ends with a blank line
        check(cmd(e, "event plain CUSTOM t::plain") == reply("+OK event listener enabled plain"), "plain")
        e.fire("t::plain odd=a%20b%25c%3A%2F%2C%21%0A utf=%C3%A9")
        hdrs, body = split(e.next_event())
        check(hdrs["Content-Type"] == "text/event-plain" and int(hdrs["Content-Length"]) == len(body), f"{hdrs}")
        check(b"\nodd: a%20b%25c%3A/,!%0A\n" in body, f"URL encoding: {body!r}")
        check(b"\nutf: %C3%A9\n" in body, f"UTF-8 encoding: {body!r}")
        check(body.startswith(b"Event-Name: CUSTOM\nCore-UUID: ") and body.endswith(b"\n\n"), f"{body!r}")
        # the subscription to t::json accumulated, in the current (plain) format
        e.fire("t::json body=xy")
        hdrs, body = split(e.next_event())
        inner, ibody = split(body)
        check(inner["Event-Subclass"] == "t%3A%3Ajson" and inner["Content-Length"] == "2" and ibody == b"xy",
              f"{inner} {ibody!r}")

        # xml
        check(cmd(e, "event xml CUSTOM t::xml") == reply("+OK event listener enabled xml"), "xml")
        e.fire("t::xml k=%3Cv%3E body=%3Cb%3E")
        hdrs, body = split(e.next_event())
        check(hdrs["Content-Type"] == "text/event-xml" and int(hdrs["Content-Length"]) == len(body), f"{hdrs}")
        text = body.decode()
        check(text.lstrip().startswith("<event>") and "<headers>" in text, f"{text}")
        check("<Event-Subclass>t%3A%3Axml</Event-Subclass>" in text, f"{text}")
        check("<body>&lt;b&gt;</body>" in text, f"{text}")

        # CUSTOM mode: every token after CUSTOM is a subclass, case-sensitive
        check(cmd(e, "event json CUSTOM c::one HEARTBEAT") == reply("+OK event listener enabled json"), "c")
        e.fire("C::ONE")
        e.fire("HEARTBEAT")  # a CUSTOM event whose subclass is "HEARTBEAT": subscribed as a subclass above
        e.fire("c::one marker=1")
        got = [json.loads(split(e.next_event())[1]).get("Event-Subclass") for _ in range(2)]
        check(got == ["HEARTBEAT", "c::one"], f"exact, case-sensitive subclasses only: {got}")
        check(not e.pending, f"nothing else: {e.pending}")

        # nixevent removes a subclass; noevents removes everything
        check(cmd(e, "nixevent CUSTOM c::one") == reply("+OK events nixed"), "nix")
        check(cmd(e, "noevents") == reply("+OK no longer listening for events"), "noevents")
        check(cmd(e, "noevents") == reply("-ERR not listening for events"), "noevents again")
        e.fire("c::one")
        e.fire("t::json")
        check(cmd(e, "api echo after") == api_frame("after\n") and not e.pending, "no events after noevents")

        # ALL includes every subclass (and API / LOG events, which the command itself causes)
        check(cmd(e, "event json ALL") == reply("+OK event listener enabled json"), "ALL")
        e.fire("any::thing")
        names = []
        while True:
            obj = json.loads(split(e.next_event())[1])
            names.append(obj["Event-Name"])
            if obj.get("Event-Subclass") == "any::thing":
                break
            check(len(names) < 100, f"any::thing never arrived: {names}")
        check("API" in names, f"the API event of test_fire arrives too: {names}")
        # nixevent on ALL turns it into "every id but these": subclassed CUSTOM events now need
        # their subclass (FreeSWITCH's rule), unsubclassed API events are gone
        check(cmd(e, "nixevent API LOG") == reply("+OK events nixed"), "ALL minus API and LOG")
        e.pending.clear()
        check(cmd(e, "event CUSTOM only::this") == reply("+OK event listener enabled json"), "add subclass")
        e.fire("any::thing")
        e.fire("only::this")
        seen = []
        while True:
            obj = json.loads(split(e.next_event())[1])
            seen.append((obj["Event-Name"], obj.get("Event-Subclass")))
            if obj.get("Event-Subclass") == "only::this":
                break
            check(len(seen) < 100, f"only::this never arrived: {seen}")
        check(("CUSTOM", "any::thing") not in seen and not any(n in ("API", "LOG") for n, _ in seen), f"{seen}")
    finally:
        d.stop()


def test_filter_replies_and_semantics():
    d = daemon()
    try:
        e = authed(d)
        check(cmd(e, "filter Event-Name") == reply("-ERR invalid syntax"), "value missing")
        check(cmd(e, "filter add tag") == reply("-ERR invalid syntax"), "add without value")
        check(cmd(e, "filter tag a") == reply("+OK filter added. [tag]=[a]"), "filter")
        check(cmd(e, "filter add tag -/^x/") == reply("+OK filter added. [tag]=[-/^x/]"), "filter add")
        check(cmd(e, "filter pct 100%") == reply("+OK filter added. [pct]=[100%25]"), "a % is escaped")
        bad = cmd(e, "filter tag /(oops/")
        check(bad.startswith(b"Content-Type: command/reply\nReply-Text: -ERR invalid regular expression"), f"{bad!r}")
        check(cmd(e, "filter delete pct") == reply("+OK filter deleted. [pct][]"), "delete by name")
        check(cmd(e, "event plain CUSTOM f::b") == reply("+OK event listener enabled plain"), "sub")
        for tag in ("b", "A", "xa", "a"):
            e.fire(f"f::b tag={tag}")
        got = [split(split(e.next_event())[1])[0]["tag"] for _ in range(2)]
        check(got == ["A", "a"], f"case-insensitive positive, others filtered: {got}")
        check(cmd(e, "filter delete all") == reply("+OK filter deleted. [all][]"), "delete all")
        e.fire("f::b tag=zzz")
        check(split(split(e.next_event())[1])[0]["tag"] == "zzz", "no filters: everything")
    finally:
        d.stop()


def test_log_and_nolog():
    d = daemon()
    try:
        e = authed(d)
        check(cmd(e, "log bogus") == reply("-ERR invalid log level"), "bad level")
        check(cmd(e, "nolog") == reply("-ERR not loging"), "nolog without log")
        check(cmd(e, "log") == reply("+OK log level  [7]"), "default level")
        check(cmd(e, "log info") == reply("+OK log level info [6]"), "log info")
        other = authed(d)  # logs "authenticated" at INFO
        frame = e.read_raw_frame()
        hdrs, body = split(frame)
        check(list(hdrs) == ["Content-Type", "Content-Length", "Log-Level", "Text-Channel", "Log-File", "Log-Func",
                             "Log-Line", "User-Data"], f"log/data headers: {hdrs}")
        check(hdrs["Content-Type"] == "log/data" and int(hdrs["Content-Length"]) == len(body), f"{hdrs}")
        check(hdrs["Log-Level"] == "6" and hdrs["Log-File"] == "esl_conn.c" and hdrs["User-Data"] == "", f"{hdrs}")
        check(b"authenticated" in body and body.endswith(b"\n"), f"{body!r}")
        check(cmd(e, "nolog") == reply("+OK no longer logging"), "nolog")
        other.close()
        check(cmd(e, "api echo quiet") == api_frame("quiet\n"), "no log frames after nolog")
    finally:
        d.stop()


def test_sendevent():
    d = daemon()
    try:
        e = authed(d)
        check(cmd(e, "event plain CUSTOM se::one") == reply("+OK event listener enabled plain"), "sub")
        e.send("sendevent CUSTOM\nEvent-Subclass: se::one\nEvent-Name: FAKE\nfoo: a b\nContent-Length: 5\n\nhello")
        r = e.read_raw_frame()
        m = re.fullmatch(rb"Content-Type: command/reply\nReply-Text: \+OK ([0-9a-f-]{36})\n\n", r)
        check(m, f"sendevent reply {r!r}")
        inner, body = split(split(e.read_raw_frame())[1])
        check(inner["Event-Name"] == "CUSTOM" and inner["Event-Subclass"] == "se%3A%3Aone", f"{inner}")
        check(inner["foo"] == "a%20b" and inner["Event-UUID"] == m.group(1).decode(), f"{inner}")
        check(inner["Command"] == "sendevent%20CUSTOM" and body == b"hello", f"{inner} {body!r}")
        check(list(inner).count("Event-Name") == 1, "standard headers are not duplicated")
        check(cmd(e, "sendevent NOT_AN_EVENT") == reply("-ERR invalid event name"), "bad name")
    finally:
        d.stop()


def test_rude_rejection_by_acl():
    d = daemon(apply_inbound_acl="192.0.2.0/24,2001:db8::/32")
    try:
        e = raw(d)
        body = b"Access Denied, go away.\n"
        check(e.read_raw_frame() == b"Content-Type: text/rude-rejection\nContent-Length: %d\n\n" % len(body) + body,
              "rude rejection")
        expect_eof(e)
        d.wait_log(r"127\.0\.0\.1:\d+ rejected by apply-inbound-acl")
    finally:
        d.stop()
    d = daemon(apply_inbound_acl="10.0.0.0/8, 127.0.0.0/8")
    try:
        authed(d).close()
    finally:
        d.stop()


def test_auth_deadline():
    d = daemon(auth_timeout="1")
    try:
        e = raw(d)
        check(e.read_raw_frame() == GREETING, "greeting")
        t0 = time.monotonic()
        check(e.read_raw_frame() == b"Content-Type: text/disconnect-notice\nContent-Length: 33\n\n"
              b"Authentication timeout, goodbye.\n", "notice")
        expect_eof(e)
        check(time.monotonic() - t0 < 5, "closed at the deadline")
        d.wait_log(r"did not authenticate within 1 s")
        authed(d).close()  # a prompt client is fine
    finally:
        d.stop()


def test_max_clients():
    d = daemon(max_clients="2")
    try:
        a, b = authed(d), authed(d)
        c = raw(d)
        check(c.read_raw_frame().startswith(b"Content-Type: text/rude-rejection\n"), "third is rejected")
        expect_eof(c)
        d.wait_log(r"max-clients \(2\) reached")
        a.command("exit")
        a.close()
        # the slot frees once the first client's thread is gone
        def try_connect():
            e = raw(d)
            first = e.read_raw_frame()
            e.close()
            return first == GREETING
        wait_for(try_connect, 10, "a free slot")
        b.close()
    finally:
        d.stop()


def test_refuses_to_start_without_password():
    d = Daemon(modules=["mod_event_socket"], vars={"event_socket_password": ""}).start()
    try:
        d.wait_log(r"mod_event_socket refuses to start: no password set in event_socket\.conf")
        check("mod_event_socket" not in d.api("show modules"), "module not loaded")
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", d.esl_port))
            listening = True
        except OSError:
            listening = False
        finally:
            s.close()
        check(not listening, "nothing listens on the event-socket port")
    finally:
        d.stop()


def test_bad_acl_is_a_config_error():
    d = Daemon(modules=["mod_event_socket"], conf=esl_conf(apply_inbound_acl="10.0.0.0/8,example.com")).start()
    try:
        d.wait_log(r"event_socket\.conf\.xml:\d+: apply-inbound-acl: 'example\.com' is not an IP address or CIDR")
        check("mod_event_socket" not in d.api("show modules"), "module not loaded")
    finally:
        d.stop()


def test_module_reload_and_shutdown_notify_clients():
    d = daemon()
    try:
        e = authed(d)
        check(cmd(e, "event json CUSTOM r::r") == reply("+OK event listener enabled json"), "sub")
        out = d.api("module reload mod_event_socket")
        check("-ERR" not in out, f"reload: {out!r}")
        notice = b"The system is being shut down.\n"
        check(e.read_raw_frame() == b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(notice) +
              notice, "notice at unload")
        expect_eof(e)
        # the reloaded module serves again
        e = authed(d)
        check(cmd(e, "api echo back") == api_frame("back\n"), "after reload")
        d.stop()
        check(e.read_raw_frame().startswith(b"Content-Type: text/disconnect-notice\n"), "notice at shutdown")
        expect_eof(e)
    finally:
        d.stop()
