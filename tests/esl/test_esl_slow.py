"""Slow subscribers never slow the core (SPEC §10, ESL.md §7): a subscriber that never reads
is disconnected with a logged reason once its bounded queue (max-queue) overflows, while a
second subscriber receives every event fired in the same period and the API keeps answering
promptly. Also: a long synchronous `api` on one connection delays only that connection.
"""
import json
import socket
import threading
import time

from aorta_test import Daemon, Esl, TestFailure, check, wait_for

DEADLINE = 180
BURST = 1000


def esl_conf(**params):
    p = {"listen-ip": "$${event_socket_ip}", "listen-port": "$${event_socket_port}",
         "password": "$${event_socket_password}"}
    p.update({k.replace("_", "-"): v for k, v in params.items()})
    return {"autoload_configs/event_socket.conf.xml":
            '<configuration name="event_socket.conf">\n  <settings>\n' +
            "".join(f'    <param name="{k}" value="{v}"/>\n' for k, v in p.items()) +
            "  </settings>\n</configuration>\n"}


class Collector(threading.Thread):
    """A subscriber that reads every frame as fast as it can and counts its events."""

    def __init__(self, port, password, subscription):
        super().__init__(daemon=True)
        self.esl = Esl(port, password)
        hdrs, _ = self.esl.command(subscription)
        check(hdrs["Reply-Text"].startswith("+OK event listener enabled"), f"subscribe: {hdrs}")
        self.esl.sock.settimeout(60)
        self.seqs = []
        self.times = []
        self.error = None
        self.lock = threading.Lock()

    def run(self):
        try:
            while True:
                hdrs, body = self.esl.read_frame()
                if hdrs.get("Content-Type") != "text/event-json":
                    continue
                obj = json.loads(body)
                with self.lock:
                    self.seqs.append(int(obj.get("seq", "0")))
                    self.times.append(time.monotonic())
        except (EOFError, OSError) as e:
            self.error = e

    def count(self):
        with self.lock:
            return len(self.seqs)


def stuck_subscriber(port, password, subscription):
    """Authenticates, subscribes, then never reads again (tiny receive buffer)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    buf = b""

    def frame():
        nonlocal buf
        while b"\n\n" not in buf:
            buf += s.recv(4096)
        end = buf.index(b"\n\n") + 2
        out, buf = buf[:end], buf[end:]
        return out

    check(frame() == b"Content-Type: auth/request\n\n", "greeting")
    s.sendall(f"auth {password}\n\n".encode())
    check(b"+OK accepted" in frame(), "auth")
    s.sendall(f"{subscription}\n\n".encode())
    check(b"+OK event listener enabled" in frame(), "subscribe")
    return s


def test_never_reading_subscriber_is_dropped_others_get_everything():
    d = Daemon(modules=["mod_event_socket", "mod_test"], test_modules=["mod_test"],
               conf=esl_conf(max_queue=str(BURST))).start()
    try:
        stuck = stuck_subscriber(d.esl_port, d.esl_password, "event plain CUSTOM slow::burst")
        stuck_port = stuck.getsockname()[1]
        good = Collector(d.esl_port, d.esl_password, "event json CUSTOM slow::burst")
        good.start()
        probe = Esl(d.esl_port, d.esl_password)

        fired = 0
        worst_api = 0.0
        for _ in range(30):
            out = d.api(f"test_burst slow::burst {BURST}", timeout=60)
            check(out == "+OK\n", f"test_burst: {out!r}")
            fired += BURST
            # a reading subscriber keeps up between bursts (its queue holds one whole burst);
            # the stuck one cannot, whatever the pace
            wait_for(lambda: good.count() >= fired or good.error, 30, f"{fired} events at the good subscriber")
            t0 = time.monotonic()
            check("is ready" in probe.api("status"), "status over the event socket")
            worst_api = max(worst_api, time.monotonic() - t0)
            if "killed listener because of lost events" in d.log():
                break
        line = d.wait_log(r"killed listener because of lost events: 127\.0\.0\.1:(\d+)")
        check(int(line.group(1)) == stuck_port, f"the stuck subscriber was dropped: {line.group(0)}")
        check(worst_api < 2.0, f"api status took {worst_api:.2f}s while a subscriber was stuck")

        # the reading subscriber receives every event fired in the same period, in order per burst
        wait_for(lambda: good.count() >= fired or good.error, 60, f"{fired} events at the good subscriber")
        check(good.error is None, f"good subscriber lost its connection: {good.error}")
        check(good.count() == fired, f"good subscriber got {good.count()} of {fired}")
        with good.lock:
            seqs = list(good.seqs)
        check(seqs == list(range(1, BURST + 1)) * (fired // BURST), "every event, each burst in order")

        # the stuck one is gone: draining its socket ends in EOF
        stuck.settimeout(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            chunk = stuck.recv(1 << 20)
            if not chunk:
                break
        else:
            check(False, "the stuck subscriber's connection was not closed")
        stuck.close()

        # and the server still serves new subscribers
        after = Collector(d.esl_port, d.esl_password, "event json CUSTOM slow::after")
        after.start()
        d.api("test_fire slow::after seq=7")
        wait_for(lambda: after.count() == 1, 10, "an event for a new subscriber")
        probe.close()
    finally:
        d.stop()


def test_slow_api_delays_only_its_own_connection():
    d = Daemon(modules=["mod_event_socket", "mod_test"], test_modules=["mod_test"]).start()
    try:
        busy = Esl(d.esl_port, d.esl_password)
        check(busy.command("event json CUSTOM slow::api")[0]["Reply-Text"] == "+OK event listener enabled json", "")
        other = Collector(d.esl_port, d.esl_password, "event json CUSTOM slow::api")
        other.start()

        busy.send("api test_sleep 1500\n\n")
        t0 = time.monotonic()
        d.api("test_fire slow::api seq=1")
        wait_for(lambda: other.count() == 1, 5, "event at the other subscriber")
        check(other.times[0] - t0 < 1.0, "the other subscriber is not held up by a slow api elsewhere")

        # the busy connection gets its reply first, then the event queued meanwhile
        hdrs, body = busy.read_frame()
        check(hdrs["Content-Type"] == "api/response" and body == b"+OK\n", f"{hdrs} {body!r}")
        check(time.monotonic() - t0 >= 1.4, "the api really ran synchronously")
        hdrs, body = busy.read_frame()
        check(hdrs["Content-Type"] == "text/event-json" and json.loads(body)["seq"] == "1", f"{hdrs}")
    finally:
        d.stop()


def test_connection_churn_during_bursts():
    """Clients that subscribe and vanish (some mid-frame) while events flow: no crash, no leak
    (the sanitizer build checks), the survivor gets every event, and the slots are reused."""
    d = Daemon(modules=["mod_event_socket", "mod_test"], test_modules=["mod_test"],
               conf=esl_conf(max_clients="8")).start()
    try:
        good = Collector(d.esl_port, d.esl_password, "event json CUSTOM churn::x")
        good.start()
        stop = threading.Event()
        errors = []

        def churn(i):
            while not stop.is_set():
                try:
                    e = Esl(d.esl_port, d.esl_password)
                except TestFailure as ex:
                    # max-clients may be reached while closed sockets are still being reaped
                    if "rude-rejection" not in str(ex):
                        errors.append(ex)
                    continue
                except OSError:
                    continue
                try:
                    e.sock.settimeout(0.5)
                    e.command("event plain ALL" if i % 2 else "event json CUSTOM churn::x")
                    if i % 3 == 0:
                        e.command("log debug")
                    e.sock.recv(1000)  # part of a frame, then vanish
                except (OSError, EOFError):
                    pass
                except Exception as ex:  # noqa: B902 - report anything unexpected
                    errors.append(ex)
                finally:
                    e.close()

        threads = [threading.Thread(target=churn, args=(i,), daemon=True) for i in range(5)]
        for t in threads:
            t.start()
        fired = 0
        for _ in range(5):
            check(d.api("test_burst churn::x 300") == "+OK\n", "burst")
            fired += 300
            wait_for(lambda: good.count() >= fired or good.error, 30, "the survivor keeps up")
        stop.set()
        for t in threads:
            t.join(10)
        check(not errors, f"churn errors: {errors}")
        check(good.error is None and good.count() == fired, f"survivor got {good.count()} of {fired}")
        # every churned connection is reaped: the slots are free again
        def seven_fit():
            conns = []
            try:
                for _ in range(7):
                    conns.append(Esl(d.esl_port, d.esl_password))
                return True
            except TestFailure:
                return False
            finally:
                for c in conns:
                    c.close()
        wait_for(seven_fit, 10, "free slots")
        check(d.running(), "daemon alive")
    finally:
        d.stop()
