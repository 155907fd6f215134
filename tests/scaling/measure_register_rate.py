#!/usr/bin/env python3
"""measure_register_rate — the REGISTER rate of two aorta nodes sharing one PostgreSQL
location, beside one node on SQLite (docs/scaling.md). Not a test: run it by hand.

    AORTA_PREFIX=... python3 tests/scaling/measure_register_rate.py [--users 20000] [--inflight 200]

Each configuration gets the same users (one endpoint + AOR each, max-contacts 10, no auth)
and SIPp's bench/sipp/register.xml, one unique user per call. sqlite: one SIPp against one
node. pgsql: a private PostgreSQL cluster, two nodes, two SIPp runs at once, each sending half
of the users to its node. Rate = contacts stored (counted in the store afterwards) divided by
the wall time from starting SIPp to the last SIPp exiting; every 200 OK there was committed
first, so the count is also the number of acknowledged registrations.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "harness"))
sys.path.insert(0, HERE)
import aorta_test as at  # noqa: E402
import pgcluster  # noqa: E402

SCENARIO = os.path.join(at.SRCDIR, "bench", "sipp", "register.xml")
MODULES = ["mod_location", "mod_endpoints", "mod_registrar"]


def users(n):
    return [f"u{i:06d}" for i in range(n)]


def sip_conf(names, store, dsn):
    eps = "".join(f'<endpoint name="{u}"><param name="aors" value="{u}"/></endpoint>' for u in names)
    aors = "".join(f'<aor name="{u}"><param name="max-contacts" value="10"/></aor>' for u in names)
    dsn_param = f'<param name="dsn" value="{dsn}"/>' if dsn else ""
    return f"""<configuration name="sip.conf"><profiles><profile name="internal">
<settings><param name="sip-ip" value="$${{local_ip}}"/><param name="sip-port" value="$${{sip_port}}"/></settings>
<registrar><param name="realm" value="$${{domain}}"/></registrar>
<location><param name="store" value="{store}"/>{dsn_param}</location>
<endpoints>{eps}</endpoints><aors>{aors}</aors><auths></auths>
</profile></profiles></configuration>
"""


def node(names, store, dsn, switchname, workers):
    d = at.Daemon(name=switchname, modules=MODULES, conf={"autoload_configs/sip.conf.xml": sip_conf(names, store, dsn)},
                  core_settings={"switchname": switchname, "log-level": "warning", "worker-threads": str(workers)})
    d.start(timeout=120)
    return d


def sipp_args(d, part, inflight):
    tmp = tempfile.mkdtemp(prefix="sipp-rate-")
    inf = os.path.join(tmp, "users.csv")
    with open(inf, "w") as f:
        f.write("SEQUENTIAL\n" + "".join(f"{u};x\n" for u in part))
    argv = ["sipp", f"127.0.0.1:{d.sip_port}", "-sf", SCENARIO, "-inf", inf, "-m", str(len(part)), "-l",
            str(inflight), "-r", "100000", "-rp", "1000", "-cid_str", "rate-%u@%s", "-i", "127.0.0.1", "-p",
            str(at.free_port(both=True)), "-nostdin", "-default_behaviors", "abortunexp", "-recv_timeout", "5000",
            "-timeout", "300s"]
    return argv, tmp


def run_sipps(jobs):
    t0 = time.monotonic()
    procs = [subprocess.Popen(a, cwd=c, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for a, c in jobs]
    for p in procs:
        p.wait(timeout=400)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--inflight", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    names = users(args.users)

    # one node, SQLite
    d = node(names, "sqlite", None, "solo", args.workers)
    try:
        secs = run_sipps([sipp_args(d, names, args.inflight)])
        stored = int(d.api("show registrations").strip().splitlines()[-1].split()[0])
    finally:
        d.stop()
    print(f"sqlite, 1 node:          {stored} stored in {secs:.2f} s = {stored / secs:,.0f} REGISTER/s", flush=True)

    # two nodes, one PostgreSQL
    pg = pgcluster.cluster()
    a = b = None
    try:
        a = node(names, "pgsql", pg.dsn, "node-a", args.workers)
        b = node(names, "pgsql", pg.dsn, "node-b", args.workers)
        half = len(names) // 2
        secs = run_sipps([sipp_args(a, names[:half], args.inflight), sipp_args(b, names[half:], args.inflight)])
        stored = int(pg.psql("SELECT count(*) FROM aorta_location"))
        seen_b = int(b.api("show registrations").strip().splitlines()[-1].split()[0])
    finally:
        for x in (a, b):
            if x:
                x.stop()
        pg.destroy()
    print(f"pgsql, 2 nodes, 1 PG:    {stored} stored in {secs:.2f} s = {stored / secs:,.0f} REGISTER/s "
          f"(node B lists {seen_b})", flush=True)


if __name__ == "__main__":
    main()
