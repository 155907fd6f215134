#!/usr/bin/env python3
"""micro.py — aorta's micro-benchmarks from issue 7 that have no Kamailio counterpart.

  restart   time from process start to serving (console answers, contacts loaded) with N
            contacts in SQLite: 10,000 AORs x (N / 10,000) contacts each (full: 1M, short: 50k)
  dial      `dial_contacts` and `resolve` on an AOR with 10 registered contacts, timed inside the
            daemon with the core's `time <n> <command>` (mean per call, no I/O)
  fanout    REGISTER rate and server CPU per 1,000 with 0 and with 100 event-socket
            subscribers to `CUSTOM registrar::register`; the subscribers are one separate
            process with one epoll loop (subscriber_child), which counts every event each
            connection received; the counts are checked against SIPp's successful calls

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
import subprocess
import sys
import tempfile
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


def sqlite_server(args, workdir, aors, per_aor, extra_modules=()):
    """A started-then-stopped daemon whose SQLite store holds aors x per_aor contacts."""
    srv = AortaMicro(workdir, "sqlite", aors, args, per_aor=per_aor)
    srv.extra_modules = list(extra_modules)
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
    # mod_dialplan: resolve parses with its dial-string grammar
    srv, n = sqlite_server(args, workdir, 1, 10, extra_modules=["mod_dialplan"])
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


EVENT_MARK = b"Content-Type: text/event-plain\n"


def subscriber_child(port, password, n, subscription):
    """The fan-out benchmark's subscribers, run in a process of their own (`micro.py
    --subscribers ...`): n event-socket connections read by one epoll loop, so the apparatus
    costs one core at most and no lock is shared with the bench process. Protocol on stdio:
    prints "ready" once every connection is authenticated and subscribed; then reads a line
    "<expected>" from stdin and keeps reading until every connection has counted that many
    events (or 30 s pass, or stdin closes), then prints one JSON line with the per-connection
    counts, the bytes received and its own CPU time. Events are counted by their envelope
    line, also when a recv() splits it."""
    import json
    import resource
    import selectors

    sel = selectors.EpollSelector()
    socks, counts, tails = [], [0] * n, [b""] * n
    nbytes = 0
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        buf = b""
        s.sendall(f"auth {password}\n\n{subscription}\n\n".encode())
        while buf.count(b"Reply-Text:") < 2:
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit(f"subscriber {i}: connection closed during set-up: {buf!r}")
            buf += chunk
        if b"+OK event listener enabled" not in buf:
            raise SystemExit(f"subscriber {i}: subscription refused: {buf!r}")
        s.setblocking(False)
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, i)
    sel.register(sys.stdin, selectors.EVENT_READ, -1)
    print("ready", flush=True)
    expected, deadline, closed = None, None, 0
    buf = bytearray(1 << 20)
    keep = len(EVENT_MARK) - 1
    while True:
        if expected is not None and (min(counts) >= expected or time.monotonic() > deadline):
            break
        if closed == n:
            break
        for key, _ in sel.select(timeout=0.5):
            i = key.data
            if i < 0:
                line = sys.stdin.readline()
                sel.unregister(sys.stdin)
                expected = int(line) if line.strip() else 0
                deadline = time.monotonic() + 30
                continue
            try:
                got = socks[i].recv_into(buf)
            except BlockingIOError:
                continue
            except OSError:
                got = 0
            if got == 0:
                sel.unregister(socks[i])
                closed += 1
                continue
            nbytes += got
            # counted in place (no copy of the data); an envelope line split across two reads
            # is seen in the join of the previous tail and this head
            head = tails[i] + buf[:min(got, keep)]
            counts[i] += buf.count(EVENT_MARK, 0, got) + head.count(EVENT_MARK)
            tails[i] = bytes(head[-keep:]) if got < keep else bytes(buf[got - keep:got])
    for s in socks:
        s.close()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"counts": counts, "bytes": nbytes, "cpu_s": round(ru.ru_utime + ru.ru_stime, 2)}), flush=True)


class Subscribers:
    """The subscriber process seen from the bench: start (returns once all are subscribed),
    then collect(expected) -> (min count, max count, bytes, the child's CPU seconds)."""

    def __init__(self, port, password, n, subscription="event plain CUSTOM registrar::register"):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--subscribers", str(port), password,
                                      str(n), subscription],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"subscriber process failed to start: {line!r}")

    def collect(self, expected):
        import json
        out, _ = self.proc.communicate(f"{expected}\n", timeout=60)
        r = json.loads(out.strip().splitlines()[-1])
        return min(r["counts"]), max(r["counts"]), r["bytes"], r["cpu_s"]


def measure_fanout(args, workdir, subscribers):
    users = args.count
    srv = AortaMicro(workdir, "memory", users, args)
    # the event socket is loaded in both runs, so only the subscribers differ
    srv.extra_modules = ["mod_event_socket"]
    srv.extra_conf = {"autoload_configs/event_socket.conf.xml": """<configuration name="event_socket.conf">
  <settings>
    <param name="listen-ip" value="$${event_socket_ip}"/>
    <param name="listen-port" value="$${event_socket_port}"/>
    <param name="password" value="$${event_socket_password}"/>
    <param name="max-clients" value="256"/>
  </settings>
</configuration>
"""}
    srv.start()
    subs = Subscribers(srv.d.esl_port, srv.d.esl_password, subscribers) if subscribers else None
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
    note = ""
    if subs:
        lo, hi, nbytes, sub_cpu = subs.collect(st["ok"])
        note = (f"; every subscriber got {lo} events" if lo == hi else f"; subscribers got {lo}..{hi} events") + \
            f" (expected {st['ok']}); {nbytes / max(1, st['ok'] * subscribers):.0f} bytes per event; " \
            f"subscriber process CPU {sub_cpu:.1f} s"
    srv.stop()
    rate = st["ok"] / max(st["elapsed"], 1e-3)
    return {"benchmark": f"fanout-{subscribers}", "contacts": st["ok"],
            "value": round(cpu / max(1, st["ok"]) * 1000, 1), "unit": "CPU ms per 1,000",
            "note": f"rate {rate:.0f}/s; failed {st['failed']}{note}"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="small sizes for a quick check")
    ap.add_argument("--only", help="restart, dial or fanout")
    ap.add_argument("--csv", default=os.path.join(HERE, "results", "micro.csv"))
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--subscribers", nargs=4, metavar=("PORT", "PASSWORD", "N", "SUBSCRIPTION"),
                    help=argparse.SUPPRESS)  # the fan-out benchmark's subscriber process
    args = ap.parse_args(argv)
    if args.subscribers:
        port, password, n, subscription = args.subscribers
        subscriber_child(int(port), password, int(n), subscription)
        return 0
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
    lines = [f"Run {stamp} ({'short' if args.short else 'full'})", "",
             "| benchmark | contacts / registrations | value | unit | note |", "|---|---|---|---|---|"]
    lines += [f"| {r['benchmark']} | {r['contacts']:,} | {r['value']} | {r['unit']} | {r['note']} |" for r in rows]
    print("\n".join(lines))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
