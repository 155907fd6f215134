"""test_bench_short — the benchmark harness (bench/bench.py) works: its short mode runs once,
against Kamailio and aorta, and appends rows with the expected columns for both servers.

No timed assertion: the figures themselves are not judged here (that is docs/performance.md's
job); only that every scenario produced a row per server, that Kamailio's rows are real
measurements (the harness itself works), and that aorta's rows are measurements or say
"not available: <reason>".
"""
import csv
import os
import subprocess
import sys

import aorta_test as at

DEADLINE = 400

SCENARIOS = ["register", "reregister", "unregister", "auth-memory", "auth-sqlite", "auth-sqlite-full"]
COLUMNS = ["run", "mode", "server", "version", "scenario", "profile", "calls", "ok", "failed", "transactions",
           "retransmissions", "elapsed_s", "rate_per_s", "cpu_ms", "cpu_ms_per_1000", "contacts", "idle_pss_kb",
           "pss_kb", "bytes_per_contact", "settled_pss_kb", "startup_s", "stop_s", "note"]


def _number(v):
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def test_bench_short_mode():
    tmp = at.scratch_dir("bench-test-")
    out_csv = os.path.join(tmp, "results.csv")
    md = os.path.join(tmp, "summary.md")
    env = dict(os.environ)
    env.setdefault("AORTA_PREFIX", at.PREFIX)
    p = subprocess.run([sys.executable, os.path.join(at.SRCDIR, "bench", "bench.py"), "--short", "--csv", out_csv,
                        "--markdown", md], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                       timeout=DEADLINE - 20)
    text = p.stdout.decode(errors="replace")
    at.check(p.returncode == 0, f"bench.py --short exit {p.returncode}:\n{text[-4000:]}")

    with open(out_csv, newline="") as f:
        reader = csv.DictReader(f)
        at.check(reader.fieldnames == COLUMNS, f"CSV columns: {reader.fieldnames}")
        rows = list(reader)
    at.check(len({r["run"] for r in rows}) == 1, "one run in a fresh CSV")
    at.check(all(r["mode"] == "short" for r in rows), "rows are marked short")

    for sc in SCENARIOS:
        mine = {r["server"]: r for r in rows if r["scenario"] == sc}
        at.check("kamailio" in mine and "aorta" in mine, f"{sc}: rows for both servers: {sorted(mine)}\n{text[-3000:]}")
        k, a = mine["kamailio"], mine["aorta"]
        at.check(int(k["ok"]) > 0 and _number(k["rate_per_s"]) and _number(k["cpu_ms_per_1000"]),
                 f"{sc}: Kamailio row is a measurement: {k}")
        at.check(int(k["calls"]) == (10000 if sc == "register" else 2000), f"{sc}: short-mode call count: {k['calls']}")
        if a["note"].startswith("not available:"):
            at.check(len(a["note"]) > len("not available: "), f"{sc}: aorta's row says why: {a}")
        else:
            at.check(int(a["ok"]) > 0 and _number(a["cpu_ms_per_1000"]), f"{sc}: aorta row is a measurement: {a}")
            at.check("aorta/kamailio" in mine and _number(mine["aorta/kamailio"]["cpu_ms_per_1000"]),
                     f"{sc}: ratio row present: {mine.get('aorta/kamailio')}")
        if sc == "register":
            at.check(_number(k["bytes_per_contact"]) and int(k["contacts"]) > 0 and int(k["idle_pss_kb"]) > 0,
                     f"memory measured for Kamailio: {k}")

    with open(md) as f:
        summary = f.read()
    at.check("| scenario | server |" in summary and "kamailio" in summary, f"summary table: {summary[:500]}")
