"""Fan-out through the one writer thread (esl_writer.c): many subscribers each get every event,
in order and framed exactly, in every format; a subscriber whose socket is full waits for room
without holding up the others, and gets everything once it reads again; a command answered
while its connection's socket is full still gets exactly one reply.
"""
import fcntl
import json
import re
import selectors
import struct
import termios
import time

from aorta_test import Daemon, Esl, check, wait_for

DEADLINE = 180


class Reader:
    """One subscriber's socket, read by the caller's selector loop: complete frames are
    parsed (Content-Length framing, as modesl does) and kept in order."""

    def __init__(self, port, password, subscription):
        self.esl = Esl(port, password)
        hdrs, _ = self.esl.command(subscription)
        check(hdrs["Reply-Text"].startswith("+OK event listener enabled"), f"subscribe: {hdrs}")
        self.frames = []  # (headers, body)
        self.closed = False

    def pump(self):
        """Read what is there (non-blocking) and split off every complete frame."""
        sock = self.esl.sock
        sock.setblocking(False)
        try:
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    self.closed = True
                    break
                self.esl.buf += chunk
        except BlockingIOError:
            pass
        finally:
            sock.setblocking(True)
        buf = self.esl.buf
        while b"\n\n" in buf:
            end = buf.index(b"\n\n") + 2
            m = re.search(rb"^Content-Length: (\d+)$", buf[:end], re.M)
            n = int(m.group(1)) if m else 0
            if len(buf) < end + n:
                break
            hdrs = dict(line.split(": ", 1) for line in buf[:end - 2].decode().split("\n"))
            self.frames.append((hdrs, buf[end:end + n]))
            buf = buf[end + n:]
        self.esl.buf = buf

    def events(self):
        return [f for f in self.frames if f[0].get("Content-Type", "").startswith("text/event-")]


def seq_of(hdrs, body):
    """The seq header of one CUSTOM event frame, whatever its format."""
    if hdrs["Content-Type"] == "text/event-json":
        return int(json.loads(body)["seq"])
    m = re.search(rb"^seq: (\d+)$", body, re.M)
    check(m is not None, f"no seq in {body[:200]!r}")
    return int(m.group(1))


def pump_until(readers, done, timeout, what):
    sel = selectors.DefaultSelector()
    for i, r in enumerate(readers):
        sel.register(r.esl.sock, selectors.EVENT_READ, r)
    deadline = time.monotonic() + timeout
    try:
        while not done():
            check(time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}")
            for key, _ in sel.select(timeout=0.2):
                key.data.pump()
                if key.data.closed:
                    sel.unregister(key.data.esl.sock)
    finally:
        sel.close()


def test_many_subscribers_get_every_event_in_order():
    burst = 2000
    d = Daemon(modules=["mod_event_socket", "mod_test"], test_modules=["mod_test"]).start()
    try:
        readers = [Reader(d.esl_port, d.esl_password,
                          f"event {'json' if i % 2 else 'plain'} CUSTOM fan::out") for i in range(40)]
        check(d.api(f"test_burst fan::out {burst}") == "+OK\n", "burst")
        pump_until(readers, lambda: all(len(r.events()) >= burst for r in readers), 60,
                   f"{burst} events at each of {len(readers)} subscribers")
        for i, r in enumerate(readers):
            evs = r.events()
            check(len(evs) == burst, f"subscriber {i} got {len(evs)} events")
            check([seq_of(h, b) for h, b in evs] == list(range(1, burst + 1)), f"subscriber {i}: order")
            check(all(h["Content-Length"] == str(len(b)) for h, b in evs), f"subscriber {i}: framing")
            want = "text/event-json" if i % 2 else "text/event-plain"
            check(all(h["Content-Type"] == want for h, _ in evs), f"subscriber {i}: format")
            check(not r.closed, f"subscriber {i} was disconnected")
        # replies still follow every command on a busy connection
        check("is ready" in readers[0].esl.api("status"), "api status on a subscriber connection")
        for r in readers:
            r.esl.close()
    finally:
        d.stop()


def test_full_socket_waits_without_holding_up_others():
    burst = 10000  # ~5 MB of plain events: more than the socket buffers on both sides hold
    conf = {"autoload_configs/event_socket.conf.xml":
            '<configuration name="event_socket.conf">\n  <settings>\n'
            '    <param name="listen-ip" value="$${event_socket_ip}"/>\n'
            '    <param name="listen-port" value="$${event_socket_port}"/>\n'
            '    <param name="password" value="$${event_socket_password}"/>\n'
            '    <param name="max-queue" value="50000"/>\n'
            '  </settings>\n</configuration>\n'}
    d = Daemon(modules=["mod_event_socket", "mod_test"], test_modules=["mod_test"], conf=conf).start()
    try:
        paused = Reader(d.esl_port, d.esl_password, "event plain CUSTOM fan::full")
        other = Reader(d.esl_port, d.esl_password, "event json CUSTOM fan::full")
        check(d.api(f"test_burst fan::full {burst}") == "+OK\n", "burst")
        # the other subscriber gets the whole burst while the paused one reads nothing
        pump_until([other], lambda: len(other.events()) >= burst, 60, "the other subscriber's events")
        check([seq_of(h, b) for h, b in other.events()] == list(range(1, burst + 1)), "order at the other")
        waiting = struct.unpack("i", fcntl.ioctl(paused.esl.sock, termios.FIONREAD, b"\0" * 4))[0]

        # a command on the paused connection, whose socket is full: exactly one reply
        paused.esl.send("api status\n\n")
        check(d.api("test_burst fan::full 1000") == "+OK\n", "second burst")
        pump_until([paused], lambda: len(paused.events()) >= burst + 1000, 60, "the paused subscriber's events")
        evs = paused.events()
        check([seq_of(h, b) for h, b in evs] == list(range(1, burst + 1)) + list(range(1, 1001)),
              "every event, in order")
        replies = [f for f in paused.frames if f[0].get("Content-Type") == "api/response"]
        check(len(replies) == 1 and b"is ready" in replies[0][1], f"one api/response: {replies[:2]}")
        check(not paused.closed, "the paused subscriber was not dropped")
        # the writer really had to wait for room: the first burst did not fit in the socket
        first = sum(len(h["Content-Length"]) + len(b) + 50 for h, b in evs[:burst])
        check(waiting < first, f"{waiting} bytes were waiting, the burst is {first}: the test proves nothing")
        paused.esl.close()
        other.esl.close()
    finally:
        d.stop()
