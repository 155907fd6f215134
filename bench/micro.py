#!/usr/bin/env python3
"""micro.py — aorta's micro-benchmarks from issue 7 that have no Kamailio counterpart.

  restart   time from process start to serving (console answers, contacts loaded) with N
            contacts in SQLite: 10,000 AORs x (N / 10,000) contacts each (full: 1M, short: 50k)
  dial      `dial_contacts` and `resolve` on an AOR with 10 registered contacts, timed inside the
            daemon with the core's `time <n> <command>` (mean per call, no I/O)
  fanout    REGISTER rate and server CPU per 1,000 with 0 and with 100 event-socket
            subscribers to `CUSTOM registrar::register` (each subscriber reads every event;
            the count they received is checked)

Each run appends rows to bench/results/micro.csv and prints a Markdown table. Everything is
bounded and on loopback; servers are stopped by PID. Uses bench.py's helpers and aorta
configuration writer, so both scripts measure the same way.
"""
import argparse
import csv
import datetime
import os
import socket
import sqlite3
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402

bench.PROFILES["sqlite"] = {"auth": False, "store": "sqlite", "kamailio_children": 1}
AORS = 10000


class AortaMicro(bench.Aorta):
    """bench.Aorta with room for many contacts per AOR."""

    def __init__(self, workdir, profile, users, args, per_aor=10):
        super().__init__(workdir, profile, users, args)
        self.per_aor = per_aor

    def sip_conf(self, sip_port, data_dir):
        return super().sip_conf(sip_port, data_dir).replace('name="max-contacts" value="10"',
                                                          f'name="max-contacts" value="{self.per_aor}"')



def fill_store(db, aors, per_aor):
    """Write per_aor contacts for each of the first `aors` users into the SQLite store the
    daemon created, as if they had registered (one hour left)."""
    now_us = int(time.time() * 1e6)
    con = sqlite3.connect(db)
    cols = ("aor, uri, params, path, user_agent, call_id, cseq, expires, registered, q, src_ip, src_port, "
            "transport, instance, reg_id, endpoint, profile")
    rows = ((bench.user_name(a), f"sip:{bench.user_name(a)}@10.{(a >> 8) & 255}.{a & 255}.{c % 250 + 1}:{5060 + c}",
             None, None, "bench", f"c{a}-{c}", 1, now_us + 3600 * 1000000, now_us - c, None, "127.0.0.1",
             5060 + c, "udp", None, None, bench.user_name(a), "internal")
            for a in range(aors) for c in range(per_aor))
    con.executemany(f"INSERT OR REPLACE INTO location ({cols}) VALUES ({','.join('?' * 17)})", rows)
    con.commit()
    n = con.execute("SELECT count(*) FROM location").fetchone()[0]
    con.close()
    return n


def sqlite_server(args, workdir, aors, per_aor):
    """A started-then-stopped daemon whose SQLite store holds aors x per_aor contacts."""
    srv = AortaMicro(workdir, "sqlite", aors, args, per_aor=per_aor)
    srv.start()
    srv.stop()
    n = fill_store(os.path.join(srv.d.data_dir, "location.db"), aors, per_aor)
    return srv, n


def measure_restart(args, workdir):
    per_aor = max(1, args.contacts // AORS)
    srv, n = sqlite_server(args, workdir, AORS, per_aor)
    # restart on the same directories: time to a console that answers
    t0 = time.monotonic()
    srv.d.restart(wait=False)
    srv.d.wait_ready(timeout=120)
    ready = time.monotonic() - t0
    out = srv.d.api(f"show contacts {bench.user_name(AORS - 1)}")
    loaded = out.count(f"sip:{bench.user_name(AORS - 1)}@")
    pss = bench.tree_pss_kb(srv.pid)
    srv.stop()
    return {"benchmark": "restart", "contacts": n, "value": round(ready, 2), "unit": "s to serving",
            "note": f"last AOR shows {loaded}/{per_aor} contacts; PSS {pss // 1024} MB"}


def measure_dial(args, workdir):
    srv, n = sqlite_server(args, workdir, 1, 10)
    srv.d.restart()
    aor = bench.user_name(0)
    legs = srv.d.api(f"dial_contacts {aor}").strip().split(",")
    rows = []
    for cmd in (f"dial_contacts {aor}", f"resolve sip/{aor}"):
        out = srv.d.api(f"time {args.repeat} {cmd}")
        us = float(out.split(": ")[1].split()[0]) if " us per run" in out else None
        rows.append({"benchmark": cmd.split()[0], "contacts": n, "value": us, "unit": "us per call",
                     "note": f"{len(legs)} legs; {out.strip()}"})
    srv.stop()
    return rows


class Subscriber(threading.Thread):
    def __init__(self, port, password, stop):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.stop_ev = stop
        self.events = 0
        buf = b""
        self.sock.sendall(f"auth {password}\n\n".encode())
        self.sock.sendall(b"event plain CUSTOM registrar::register\n\n")
        while buf.count(b"Reply-Text:") < 2:
            buf += self.sock.recv(4096)
        self.sock.settimeout(0.5)

    def run(self):
        while not self.stop_ev.is_set():
            try:
                data = self.sock.recv(262144)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            self.events += data.count(b"Content-Type: text/event-plain")
        self.sock.close()


def measure_fanout(args, workdir, subscribers):
    users = args.count
    srv = AortaMicro(workdir, "memory", users, args)
    # the event socket is loaded in both runs, so only the subscribers differ
    orig = bench.Aorta.start

    def start_with_esl(self):
        import aorta_test
        real = aorta_test.Daemon.__init__

        def init(d, *a, **kw):
            kw["modules"] = list(kw.get("modules", [])) + ["mod_event_socket"]
            real(d, *a, **kw)
            d.write_conf("autoload_configs/event_socket.conf.xml", """<configuration name="event_socket.conf">
  <settings>
    <param name="listen-ip" value="$${event_socket_ip}"/>
    <param name="listen-port" value="$${event_socket_port}"/>
    <param name="password" value="$${event_socket_password}"/>
    <param name="max-clients" value="256"/>
  </settings>
</configuration>
""")
        aorta_test.Daemon.__init__ = init
        try:
            return orig(self)
        finally:
            aorta_test.Daemon.__init__ = real
    sys.path.insert(0, os.path.join(bench.SRCDIR, "tests", "harness"))
    bench.Aorta.start = start_with_esl
    try:
        srv.start()
    finally:
        bench.Aorta.start = orig
    stop = threading.Event()
    subs = [Subscriber(srv.d.esl_port, srv.d.esl_password, stop) for _ in range(subscribers)]
    for s in subs:
        s.start()
    ctx = bench.Ctx()
    ctx.args = args
    ctx.workdir = workdir
    ctx.users_file = os.path.join(workdir, "users.csv")
    bench.write_users(ctx.users_file, users)
    sc = bench.Scenario("register", "a", "memory", "sipp", "register", xml="register.xml", users="count")
    t0 = bench.tree_cpu_ticks(srv.pid)
    st = bench.run_sipp(ctx, sc, srv, users)
    bench.wait_quiet(srv.pid)
    cpu = (bench.tree_cpu_ticks(srv.pid) - t0) * 1000.0 / bench.CLK_TCK
    deadline = time.monotonic() + 20
    while subs and min(s.events for s in subs) < st["ok"] and time.monotonic() < deadline:
        time.sleep(0.1)
    got = min((s.events for s in subs), default=0)
    stop.set()
    for s in subs:
        s.join(5)
    srv.stop()
    rate = st["ok"] / max(st["elapsed"], 1e-3)
    return {"benchmark": f"fanout-{subscribers}", "contacts": st["ok"],
            "value": round(cpu / max(1, st["ok"]) * 1000, 1), "unit": "CPU ms per 1,000",
            "note": f"rate {rate:.0f}/s; failed {st['failed']}; every subscriber got >= {got} events"
                    if subs else f"rate {rate:.0f}/s; failed {st['failed']}"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="small sizes for a quick check")
    ap.add_argument("--only", help="restart, dial or fanout")
    ap.add_argument("--csv", default=os.path.join(HERE, "results", "micro.csv"))
    args = ap.parse_args(argv)
    args.contacts = 50000 if args.short else 1000000
    args.count = 2000 if args.short else 30000
    args.workers, args.inflight, args.rate, args.stop_timeout = 2, 200, 100000, 60
    args.repeat = 10000 if args.short else 100000
    workdir = tempfile.mkdtemp(prefix="aorta-micro-")
    rows = []
    if args.only in (None, "restart"):
        rows.append(measure_restart(args, workdir))
    if args.only in (None, "dial"):
        rows += measure_dial(args, workdir)
    if args.only in (None, "fanout"):
        base = measure_fanout(args, workdir, 0)
        full = measure_fanout(args, workdir, 100)
        rows += [base, full]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    os.makedirs(os.path.dirname(args.csv), exist_ok=True)
    new = not os.path.exists(args.csv)
    with open(args.csv, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["run", "mode", "benchmark", "contacts", "value", "unit", "note"])
        if new:
            w.writeheader()
        for r in rows:
            w.writerow(dict(r, run=stamp, mode="short" if args.short else "full"))
    print(f"Run {stamp} ({'short' if args.short else 'full'})\n")
    print("| benchmark | contacts / registrations | value | unit | note |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['benchmark']} | {r['contacts']:,} | {r['value']} | {r['unit']} | {r['note']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
