"""100k registrations through SIPp (1000 endpoints x 100 contacts, SQLite store with group
commit), then `show registrations as json` lists every one of them; they survive a
restart."""
import json
import shutil
import socket
import subprocess
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "registrar"))
import aorta_test as at  # noqa: E402
from aorta_test import check  # noqa: E402
import reglib as rl  # noqa: E402

DEADLINE = 300
USERS = 1000
PER_USER = 100
TOTAL = USERS * PER_USER

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register-inf">
<send retrans="500"><![CDATA[
REGISTER sip:127.0.0.1:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:[field0]@127.0.0.1>;tag=[call_number]
To: <sip:[field0]@127.0.0.1>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:[field0]@[field1]:5060>
Expires: 3600
Content-Length: 0

]]></send>
<recv response="200"/>
</scenario>
"""


def test_100k_registrations_listed():
    eps = "".join(rl.endpoint(f"u{i}", f"u{i}") for i in range(USERS))
    aors = "".join(rl.aor(f"u{i}", max_contacts=PER_USER) for i in range(USERS))
    d = rl.daemon(rl.sip_conf(eps, aors), modules=["mod_location", "mod_endpoints", "mod_registrar"])
    tmp = at.scratch_dir("sipp-100k-")
    inf = os.path.join(tmp, "users.csv")
    with open(inf, "w") as f:
        f.write("SEQUENTIAL\n")
        for n in range(TOTAL):
            u, k = n % USERS, n // USERS
            f.write(f"u{u};10.{k // 250}.{k % 250}.{u % 250 + 1}\n")
    sf = os.path.join(tmp, "reg.xml")
    with open(sf, "w") as f:
        f.write(SCENARIO)
    t0 = time.monotonic()
    # SIPp directly: the harness helper traces every message, 100 MB at this volume
    if shutil.which("sipp") is None:
        raise at.Skip("sipp not installed")
    p = subprocess.run(["sipp", "127.0.0.1:%d" % d.sip_port, "-sf", sf, "-inf", inf, "-i", "127.0.0.1",
                        "-p", str(at.free_port(socket.SOCK_DGRAM, both=True)), "-m", str(TOTAL), "-r", "4000",
                        "-l", "400", "-timeout", "180s", "-timeout_error", "-nostdin", "-nd", "-trace_err"],
                       cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=200)
    check(p.returncode == 0, f"sipp exit {p.returncode}: {p.stdout.decode(errors='replace')[-2000:]}")
    took = time.monotonic() - t0
    t1 = time.monotonic()
    out = d.api("show registrations as json", timeout=60)
    regs = json.loads(out)
    check(len(regs) == TOTAL, f"{len(regs)} listed, want {TOTAL}")
    check(len({(r["aor"], r["uri"]) for r in regs}) == TOTAL, "all distinct")
    print(f"  {TOTAL} REGISTERs in {took:.1f}s; listing in {time.monotonic() - t1:.1f}s ({len(out) >> 20} MB)")
    d.stop()
    # group commit: far fewer transactions than REGISTERs
    import re
    m = re.search(r"writer stopped after (\d+) edits in (\d+) transactions", d.log())
    check(m and int(m.group(1)) == TOTAL, f"writer stats: {m and m.group(0)}")
    print(f"  {m.group(1)} edits in {m.group(2)} transactions")
    check(int(m.group(2)) < TOTAL, "REGISTERs share transactions")
    d.restart()
    check(d.api("show registrations u7") .count("|sip:u7@") == PER_USER, "survived a restart")
    d.stop()
