#!/usr/bin/env python3
"""bench.py — Kamailio 5.6 and aorta side by side under the same SIPp load.

Owns: installing what the benchmark needs (sip-tester, kamailio, kamailio-sqlite-modules),
writing both servers' configurations, starting each server in the foreground on a free
loopback port, running the scenario table against each, measuring, and appending the results
to a CSV (bench/results/results.csv by default; git-ignored) with a Markdown summary.

What is measured, per scenario and server (see docs/performance.md):
  ok / failed          SIPp calls (one registration each: one REGISTER, or two with digest auth)
  rate                 successful registrations per second, from SIPp's own start/end times
  CPU per 1,000        user+sys of the server's whole process tree (/proc/<pid>/stat of every
                       descendant, threads included), read before SIPp starts and after the
                       server has gone quiet, per 1,000 successful registrations
  bytes per contact    PSS of the process tree (/proc/<pid>/smaps_rollup) after the contacts
                       are registered, minus the PSS measured idle just after start-up (with
                       the same configuration loaded), divided by the registered contacts
  ratio                aorta / Kamailio for rate, CPU per 1,000 and bytes per contact

Invariants: nothing runs unbounded (SIPp has -m, -timeout and per-message timeouts, every wait
polls against a deadline); every process is started here and stopped by its PID; only loopback
addresses are used. A server that cannot answer REGISTER yields rows whose note says
"not available: <reason>", and the other server is still measured.

Scenarios are a table (SCENARIOS): a new kind of measurement (e.g. a micro-benchmark driven
through the console) is a new runner in RUNNERS and rows in the table.
"""
import argparse
import csv
import datetime
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PASSWORD = "bench-secret-5000"

# Server configurations ("profiles"): each server is started once per profile and runs the
# profile's scenarios in table order. Kamailio's SQLite write-through runs one worker: with
# two, most REGISTERs fail with "database is locked" (its SQLite driver sets no busy timeout).
PROFILES = {
    "memory":      {"auth": False, "store": "memory", "kamailio_children": 2},
    "auth-memory": {"auth": True,  "store": "memory", "kamailio_children": 2},
    "auth-sqlite": {"auth": True,  "store": "sqlite", "kamailio_children": 1},
    # Both fsync every binding before its 200 OK: Kamailio's database as its tools create it
    # (SQLite's stock rollback journal, synchronous=FULL), aorta with sqlite-synchronous=full
    "auth-sqlite-full": {"auth": True, "store": "sqlite", "kamailio_children": 1, "kamailio_journal": "delete",
                         "aorta_sqlite_sync": "full"},
}


class Scenario:
    """One row of the scenario table.

    users: "contacts" (the memory scenario fills the location service to --contacts) or "count"
    (--count registrations). memory: measure bytes per contact after it. tx: SIP transactions
    per successful call."""

    def __init__(self, name, letter, profile, kind, desc, xml=None, users="count", memory=False, tx=1):
        self.name, self.letter, self.profile, self.kind, self.desc = name, letter, profile, kind, desc
        self.xml, self.users, self.memory, self.tx = xml, users, memory, tx


SCENARIOS = [
    Scenario("register", "a", "memory", "sipp", "REGISTER of new users, no auth, in memory",
             xml="register.xml", users="contacts", memory=True),
    Scenario("reregister", "d", "memory", "sipp", "re-REGISTER of existing contacts, no auth, in memory",
             xml="reregister.xml"),
    Scenario("unregister", "e", "memory", "sipp", "REGISTER Expires: 0 of existing contacts, in memory",
             xml="unregister.xml"),
    Scenario("auth-memory", "b", "auth-memory", "sipp", "digest auth (401 + REGISTER), in memory",
             xml="register_auth.xml", tx=2),
    Scenario("auth-sqlite", "c", "auth-sqlite", "sipp", "digest auth, durable in SQLite",
             xml="register_auth.xml", tx=2),
    Scenario("auth-sqlite-full", "c'", "auth-sqlite-full", "sipp",
             "digest auth, every binding fsync'ed before its 200 OK by both servers",
             xml="register_auth.xml", tx=2),
]

COLUMNS = ["run", "mode", "server", "version", "scenario", "profile", "calls", "ok", "failed", "transactions",
           "retransmissions", "elapsed_s", "rate_per_s", "cpu_ms", "cpu_ms_per_1000", "contacts", "idle_pss_kb",
           "pss_kb", "bytes_per_contact", "settled_pss_kb", "startup_s", "stop_s", "note"]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---- environment -------------------------------------------------------------------------

def ensure_packages(pkgs):
    missing = []
    for p in pkgs:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        if "install ok installed" not in r.stdout:
            missing.append(p)
    if not missing:
        return
    log(f"installing {' '.join(missing)}")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing,
                   check=True, env=env, timeout=1200)


def free_port():
    """A port free on 127.0.0.1 for both UDP and TCP."""
    for _ in range(200):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port")


def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


# ---- /proc -------------------------------------------------------------------------------

def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return s[s.rindex(")") + 2:].split()  # fields from 3 (state) on


def proc_tree(pid):
    """pid and every descendant (a fresh scan: Kamailio forks its children after start)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(_stat_fields(d)[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu_ticks(pid):
    """utime+stime of the tree, in clock ticks (each process's figure covers all its threads)."""
    total = 0
    for p in proc_tree(pid):
        try:
            f = _stat_fields(p)
            total += int(f[11]) + int(f[12])  # fields 14 and 15 of stat(5)
        except (OSError, ValueError, IndexError):
            pass
    return total


def tree_pss_kb(pid):
    total = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def wait_quiet(pid, timeout=5.0):
    """Wait until the tree uses less than 10 % of a core over 100 ms, twice in a row (the
    server has finished what the load left queued), or the deadline passes."""
    deadline = time.monotonic() + timeout
    quiet, last = 0, tree_cpu_ticks(pid)
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        now = tree_cpu_ticks(pid)
        quiet = quiet + 1 if now - last <= max(1, CLK_TCK // 100) else 0
        last = now


def sip_probe(port, timeout):
    """True once something answers an OPTIONS on 127.0.0.1:port (any SIP response)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    lport = s.getsockname()[1]
    deadline = time.monotonic() + timeout
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-probe-{os.getpid()}-{n}\r\n"
                   f"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p{n}\r\nTo: <sip:probe@127.0.0.1>\r\n"
                   f"Call-ID: probe-{os.getpid()}-{n}@127.0.0.1\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n")
            s.sendto(msg.encode(), ("127.0.0.1", port))
            try:
                data = s.recv(65536)
                if data.startswith(b"SIP/2.0 "):
                    return True
            except socket.timeout:
                pass
        return False
    finally:
        s.close()


def stop_pid(proc, timeout=60):
    """SIGTERM the process we started; SIGKILL it and any child left behind after timeout.
    Returns the seconds it took to exit, or a note when it had to be killed."""
    if proc.poll() is not None:
        return ""
    tree = proc_tree(proc.pid)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    took = ""
    try:
        proc.wait(timeout)
        took = round(time.monotonic() - t0, 2)
    except subprocess.TimeoutExpired:
        log(f"pid {proc.pid} still running {timeout}s after SIGTERM: SIGKILL")
        proc.kill()
        proc.wait()
        took = f"killed after {timeout} s"
    for p in tree[1:]:  # Kamailio's children normally exit with their parent
        try:
            os.kill(p, 0)
        except OSError:
            continue
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    return took


def log_tail(path, n=3):
    """Why a server failed, from its log: the first error line, else the last lines (short)."""
    try:
        with open(path, errors="replace") as f:
            lines = [x.strip() for x in f.read().splitlines() if x.strip()]
    except OSError:
        return ""
    errs = [x for x in lines if any(w in x for w in ("ERROR", "CRITICAL", "[ERR]", "[CRIT]", "error"))]
    return (errs[0] if errs else " | ".join(lines[-n:]))[:240]


# ---- users -------------------------------------------------------------------------------

def user_name(i):
    return f"b{i:06d}"


def write_users(path, n):
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n")
        for i in range(n):
            f.write(f"{user_name(i)};{PASSWORD};\n")


# ---- servers -----------------------------------------------------------------------------

class NotAvailable(Exception):
    pass


def describe_exit(rc):
    """None while running; else how the process ended ("crashed with SIGSEGV", "exited with 1")."""
    if rc is None:
        return None
    if rc < 0:
        try:
            return f"crashed with {signal.Signals(-rc).name}"
        except ValueError:
            return f"was killed by signal {-rc}"
    return f"exited with status {rc}"


class Kamailio:
    name = "kamailio"
    MPATHS = ["/usr/lib/x86_64-linux-gnu/kamailio/modules/", "/usr/lib/kamailio/modules/"]

    def __init__(self, workdir, profile, users, args):
        self.dir = os.path.join(workdir, f"kamailio-{profile}")
        os.makedirs(self.dir, exist_ok=True)
        self.profile = PROFILES[profile]
        self.args = args
        self.port = free_port()
        self.proc = None
        self.log_path = os.path.join(self.dir, "kamailio.log")

    @staticmethod
    def version():
        try:
            out = subprocess.run(["kamailio", "-v"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, timeout=10).stdout
            return out.splitlines()[0].replace("version:", "").strip()
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    def _config(self):
        with open(os.path.join(HERE, "kamailio", "registrar.cfg")) as f:
            text = f.read()
        mpath = next((p for p in self.MPATHS if os.path.isdir(p)), self.MPATHS[0])
        subst = {"@CHILDREN@": str(self.profile["kamailio_children"]), "@PORT@": str(self.port),
                 "@MPATH@": mpath, "@DBPATH@": os.path.join(self.dir, "kamailio.db"),
                 "@SECRET@": os.urandom(8).hex(), "@PASSWORD@": PASSWORD}
        for k, v in subst.items():
            text = text.replace(k, v)
        path = os.path.join(self.dir, "kamailio.cfg")
        with open(path, "w") as f:
            f.write(text)
        return path

    def _create_db(self):
        path = os.path.join(self.dir, "kamailio.db")
        if os.path.exists(path):
            os.unlink(path)
        db = sqlite3.connect(path)
        for f in ("standard-create.sql", "usrloc-create.sql"):
            with open(os.path.join("/usr/share/kamailio/db_sqlite", f)) as fh:
                db.executescript(fh.read())
        db.commit()
        # persistent in the file: Kamailio's own connections then use it (its driver sets no PRAGMA)
        journal = self.profile.get("kamailio_journal", self.args.kamailio_journal)
        db.execute(f"PRAGMA journal_mode={journal.upper()}")
        db.close()

    def start(self):
        cfg = self._config()
        defines = []
        if self.profile["auth"]:
            defines += ["-A", "WITH_AUTH"]
        if self.profile["store"] == "sqlite":
            defines += ["-A", "WITH_DB"]
            self._create_db()
        argv = ["kamailio", "-f", cfg, "-DD", "-E", "-n", str(self.profile["kamailio_children"]),
                "-m", str(self.args.kamailio_shm), "-M", "16", "-Y", self.dir, "-w", self.dir,
                "-P", os.path.join(self.dir, "kamailio.pid")] + defines
        if self.args.kamailio_tlsf:
            argv += ["-x", "tlsf"]
        t0 = time.monotonic()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        ok = wait_until(lambda: self.proc.poll() is not None or sip_probe(self.port, 0.5), 30)
        if self.proc.poll() is not None or not ok:
            self.stop()
            raise NotAvailable(f"kamailio did not start: {log_tail(self.log_path)}")
        self.startup_s = time.monotonic() - t0
        return self

    @property
    def pid(self):
        return self.proc.pid

    def exit_reason(self):
        return describe_exit(self.proc.poll())

    def stop(self):
        if not self.proc:
            return ""
        took = stop_pid(self.proc, self.args.stop_timeout)
        self._log.close()
        return took


class Aorta:
    name = "aorta"

    def __init__(self, workdir, profile, users, args):
        self.profile = PROFILES[profile]
        self.users = users
        self.args = args
        self.workdir = os.path.join(workdir, f"aorta-{profile}")
        self.d = None

    @staticmethod
    def prefix():
        return os.environ.get("AORTA_PREFIX") or os.path.join(SRCDIR, "_install")

    @classmethod
    def version(cls):
        try:
            out = subprocess.run([os.path.join(cls.prefix(), "bin", "aorta"), "--version"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, timeout=10).stdout.strip()
            out = out.splitlines()[0] if out else "?"
        except (OSError, IndexError, subprocess.TimeoutExpired):
            out = "?"
        try:
            rev = subprocess.run(["git", "-C", SRCDIR, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            rev = ""
        return f"{out} ({rev})" if rev else out

    def sip_conf(self, sip_port, data_dir):
        """sip.conf with one profile and one endpoint + AOR (+ auth) per benchmark user: the
        `user` identifier finds the endpoint from the From user, as for any phone."""
        auth = self.profile["auth"]
        loc = f'<param name="store" value="{self.profile["store"]}"/>'
        if self.profile["store"] == "sqlite":
            loc += f'<param name="dsn" value="{os.path.join(data_dir, "location.db")}"/>'
        if self.profile.get("aorta_sqlite_sync"):
            loc += f'<param name="sqlite-synchronous" value="{self.profile["aorta_sqlite_sync"]}"/>'
        parts = ['<configuration name="sip.conf"><profiles><profile name="internal">\n',
                 '<settings><param name="sip-ip" value="127.0.0.1"/>'
                 f'<param name="sip-port" value="{sip_port}"/><param name="transports" value="udp"/></settings>\n',
                 '<registrar><param name="realm" value="127.0.0.1"/><param name="min-expires" value="60"/>'
                 '<param name="max-expires" value="7200"/><param name="default-expires" value="3600"/>'
                 '<param name="auth-algorithms" value="MD5"/></registrar>\n',
                 f'<location>{loc}</location>\n<endpoints>\n']
        for i in range(self.users):
            u = user_name(i)
            a = f'<param name="auth" value="{u}"/>' if auth else ""
            parts.append(f'<endpoint name="{u}"><param name="aors" value="{u}"/>{a}</endpoint>\n')
        parts.append("</endpoints>\n<aors>\n")
        for i in range(self.users):
            parts.append(f'<aor name="{user_name(i)}"><param name="max-contacts" value="10"/></aor>\n')
        parts.append("</aors>\n")
        if auth:
            parts.append("<auths>\n")
            for i in range(self.users):
                parts.append(f'<auth name="{user_name(i)}"><param name="password" value="{PASSWORD}"/></auth>\n')
            parts.append("</auths>\n")
        parts.append("</profile></profiles></configuration>\n")
        return "".join(parts)

    def start(self):
        binary = os.path.join(self.prefix(), "bin", "aorta")
        if not os.access(binary, os.X_OK):
            raise NotAvailable(f"no aorta binary at {binary} (build it, or set AORTA_PREFIX)")
        sys.path.insert(0, os.path.join(SRCDIR, "tests", "harness"))
        import aorta_test  # the test harness writes the configuration exactly as the tests do
        aorta_test.PREFIX = self.prefix()
        os.makedirs(self.workdir, exist_ok=True)
        modules = ["mod_location", "mod_endpoints", "mod_registrar"] + list(getattr(self, "extra_modules", []))
        self.d = aorta_test.Daemon(name="bench", modules=modules,
                                   core_settings={"log-level": "warning", "worker-threads": str(self.args.workers)},
                                   tmp=tempfile.mkdtemp(prefix="aorta-", dir=self.workdir))
        self.d.write_conf("autoload_configs/sip.conf.xml", self.sip_conf(self.d.sip_port, self.d.data_dir))
        for path, text in getattr(self, "extra_conf", {}).items():  # what a micro-benchmark adds
            self.d.write_conf(path, text)
        self.port = self.d.sip_port
        self.log_path = self.d.log_path
        t0 = time.monotonic()
        try:
            self.d.start(wait=False)
            self.d.wait_ready(timeout=max(60, self.users / 500))
        except Exception as e:  # the harness raises its own failure type
            tail = log_tail(self.d.log_path, 3)
            self.stop()
            raise NotAvailable(f"aorta did not start: {str(e).splitlines()[0]} {tail}".strip())
        if not sip_probe(self.port, 10):
            self.stop()
            raise NotAvailable(f"aorta does not answer SIP on udp:{self.port}: {log_tail(self.d.log_path, 3)}")
        self.startup_s = time.monotonic() - t0
        return self

    @property
    def pid(self):
        return self.d.proc.pid

    def exit_reason(self):
        return describe_exit(self.d.proc.poll())

    def stop(self):
        if not (self.d and self.d.proc):
            return ""
        # by the PID the harness started, as Daemon.stop() would, but timed
        took = stop_pid(self.d.proc, self.args.stop_timeout)
        self.d.stop()  # closes the console pipe and the log
        return took


SERVERS = {"kamailio": Kamailio, "aorta": Aorta}


# ---- SIPp --------------------------------------------------------------------------------

def _sipp_stats(path):
    with open(path) as f:
        rows = [r for r in csv.reader(f, delimiter=";") if r]
    head, last = rows[0], rows[-1]
    v = dict(zip(head, last))
    t = lambda k: float(v[k].split("\t")[-1])  # "date<TAB>time<TAB>epoch"
    return {"ok": int(v["SuccessfulCall(C)"]), "failed": int(v["FailedCall(C)"]),
            "created": int(v["TotalCallCreated"]), "retrans": int(v["Retransmissions(C)"]),
            "elapsed": t("CurrentTime") - t("StartTime")}


def run_sipp(ctx, sc, server, calls):
    cwd = tempfile.mkdtemp(prefix=f"sipp-{sc.name}-", dir=ctx.workdir)
    stat = os.path.join(cwd, "stat.csv")
    limit = max(30, int(calls / 300) + 10)  # seconds; the slowest server still finishes
    argv = ["sipp", f"127.0.0.1:{server.port}", "-sf", os.path.join(HERE, "sipp", sc.xml), "-inf", ctx.users_file,
            "-m", str(calls), "-l", str(ctx.args.inflight), "-r", str(ctx.args.rate), "-rp", "1000",
            "-cid_str", "bench-%u@%s", "-i", "127.0.0.1", "-p", str(free_port()), "-nostdin",
            "-default_behaviors", "abortunexp", "-recv_timeout", "5000", "-timeout", f"{limit}s",
            "-trace_stat", "-stf", stat, "-fd", "1", "-trace_err"]
    out_path = os.path.join(cwd, "sipp.out")
    with open(out_path, "wb") as out:
        p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + limit + 30
        died = None
        while True:
            try:
                p.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                pass
            # a server that dies mid-run would leave SIPp waiting for its timeouts: stop SIPp now
            died = server.exit_reason()
            if died or time.monotonic() > deadline:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                break
    if died:
        raise NotAvailable(f"{server.name} {died} during the scenario (log: {log_tail(server.log_path, 2)})")
    if not os.path.exists(stat):
        with open(out_path, errors="replace") as f:
            raise NotAvailable(f"sipp failed (exit {p.returncode}): {f.read()[-300:]}")
    st = _sipp_stats(stat)
    st["error"] = ""
    for f in sorted(os.listdir(cwd)):
        if f.endswith("_errors.log"):
            with open(os.path.join(cwd, f), errors="replace") as fh:
                text = fh.read(4096)
            # "The following events occurred:" then "<date> <time> <epoch>: <event>" entries
            m = re.search(r"while expecting '(\d+)'.*?received '(?:SIP/2\.0 )?([^\r\n]*)(.*?)\n'", text, re.S)
            if m:
                stale = " (stale=true)" if "stale=true" in m.group(3) else ""
                st["error"] = f"first: expected {m.group(1)}, received {m.group(2).strip()}{stale}"
            else:
                m = re.search(r"\d+\.\d+: (.*?)(?:\d{4}-\d\d-\d\d\t|\n\n|$)", text, re.S)
                st["error"] = " ".join((m.group(1) if m else text).split())[:160]
    return st


def runner_sipp(ctx, sc, server, base):
    calls = ctx.args.contacts if sc.users == "contacts" else ctx.args.count
    row = dict(base, calls=calls)
    t0 = tree_cpu_ticks(server.pid)
    st = run_sipp(ctx, sc, server, calls)
    wait_quiet(server.pid)
    t1 = tree_cpu_ticks(server.pid)
    cpu_ms = (t1 - t0) * 1000.0 / CLK_TCK
    row.update(ok=st["ok"], failed=st["failed"] + max(0, calls - st["ok"] - st["failed"]),
               transactions=st["ok"] * sc.tx, retransmissions=st["retrans"], elapsed_s=round(st["elapsed"], 3),
               cpu_ms=round(cpu_ms, 1))
    if st["ok"]:
        row["rate_per_s"] = round(st["ok"] / max(st["elapsed"], 1e-3), 1)
        row["cpu_ms_per_1000"] = round(cpu_ms * 1000.0 / st["ok"], 2)
    else:
        row["note"] = f"not available: no REGISTER succeeded ({st['error'] or 'no SIPp error logged'})"
    if st["failed"] and st["ok"]:
        row["note"] = f"{st['failed']} failed: {st['error']}"
    row["pss_kb"] = pss = tree_pss_kb(server.pid)  # after every scenario: shows growth from churn too
    if sc.memory and st["ok"]:
        row["contacts"] = st["ok"]
        used = pss
        if ctx.args.settle > 0:
            log(f"{server.name}: waiting {ctx.args.settle}s for finished transactions to expire before PSS")
            time.sleep(ctx.args.settle)  # a measurement interval (timer J), not a synchronisation
            used = row["settled_pss_kb"] = tree_pss_kb(server.pid)
        row["bytes_per_contact"] = round((used - base["idle_pss_kb"]) * 1024.0 / st["ok"], 1)
    return row


RUNNERS = {"sipp": runner_sipp}


# ---- the run -----------------------------------------------------------------------------

class Ctx:
    pass


def fmt(v, nd=1):
    if v in ("", None):
        return "–"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def ratio(a, k):
    try:
        return round(float(a) / float(k), 2) if a not in ("", None) and float(k) else ""
    except (TypeError, ValueError):
        return ""


def summary(rows, ctx):
    extra = " Kamailio with -x tlsf." if ctx.args.kamailio_tlsf else ""
    extra += (f" Kamailio's SQLite journal: {ctx.args.kamailio_journal} (auth-sqlite), delete (auth-sqlite-full);"
              " aorta's sqlite-synchronous: normal (auth-sqlite), full (auth-sqlite-full).")
    out = [f"Run {ctx.run} ({ctx.mode}: {ctx.args.contacts:,} contacts, {ctx.args.count:,} registrations per "
           f"scenario, {ctx.args.inflight} in flight, settle {ctx.args.settle:g} s), {os.cpu_count()} CPUs, "
           f"load average {ctx.loadavg} before the run; Kamailio {ctx.versions['kamailio']}, "
           f"aorta {ctx.versions['aorta']}.{extra}", "",
           "| scenario | server | ok | failed | rate /s | CPU ms per 1,000 | bytes per contact | note |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["server"] == "aorta/kamailio":
            x = lambda v: f"×{v:.2f}" if isinstance(v, float) else "–"
            out.append(f"| {r['scenario']} | **aorta/kamailio** | | | {x(r['rate_per_s'])} | {x(r['cpu_ms_per_1000'])} "
                       f"| {x(r['bytes_per_contact'])} | |")
            continue
        out.append(f"| {r['scenario']} | {r['server']} | {fmt(r['ok'])} | {fmt(r['failed'])} | {fmt(r['rate_per_s'])} "
                   f"| {fmt(r['cpu_ms_per_1000'], 1)} | {fmt(r['bytes_per_contact'], 0)} | {r['note']} |")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true", help="quick check: 2,000 registrations per scenario, "
                    "memory at 10,000 contacts")
    ap.add_argument("--contacts", type=int, help="contacts registered by the memory scenario (full: 100,000)")
    ap.add_argument("--count", type=int, help="registrations per other scenario (full: 100,000)")
    ap.add_argument("--inflight", type=int, default=200, help="SIPp calls in flight (-l)")
    ap.add_argument("--rate", type=int, default=100000, help="SIPp call rate cap per second (-r); the default "
                    "leaves --inflight as the only limit")
    ap.add_argument("--workers", type=int, default=2, help="aorta worker threads; Kamailio runs as many "
                    "children (one on SQLite write-through)")
    ap.add_argument("--settle", type=float, help="seconds to wait after the memory scenario before measuring "
                    "PSS again (finished transactions expire after 32 s and aorta hands freed heap back every 10 s); "
                    "full default 50, short 0")
    ap.add_argument("--servers", default="kamailio,aorta")
    ap.add_argument("--scenarios", help="comma list of scenario names (default all)")
    ap.add_argument("--kamailio-shm", type=int, default=1024, help="Kamailio -m (MB)")
    ap.add_argument("--kamailio-tlsf", action="store_true", help="run Kamailio with -x tlsf")
    ap.add_argument("--kamailio-journal", choices=["wal", "delete"], default="wal", help="journal mode of "
                    "Kamailio's SQLite file in the auth-sqlite scenario: wal (default, as aorta's store) or delete "
                    "(the stock rollback journal, which the auth-sqlite-full scenario always uses)")
    ap.add_argument("--csv", default=os.path.join(HERE, "results", "results.csv"), help="CSV appended to")
    ap.add_argument("--markdown", help="also write the summary table to this file")
    ap.add_argument("--no-install", action="store_true", help="do not apt-get missing packages")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (configs, logs, SIPp traces)")
    args = ap.parse_args(argv)
    mode = "short" if args.short else "full"
    args.contacts = args.contacts or (10000 if args.short else 100000)
    args.count = args.count or (2000 if args.short else 100000)
    if args.settle is None:
        args.settle = 0 if args.short else 50
    args.stop_timeout = 15 if args.short else 60  # seconds a server may take to exit on SIGTERM
    servers = [s for s in args.servers.split(",") if s]
    for s in servers:
        if s not in SERVERS:
            ap.error(f"unknown server {s}")
    chosen = [sc for sc in SCENARIOS if not args.scenarios or sc.name in args.scenarios.split(",")]
    if not chosen:
        ap.error("no scenario selected")

    if not args.no_install:
        ensure_packages(["sip-tester", "kamailio", "kamailio-sqlite-modules"])
    for tool in ("sipp", "kamailio"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is not installed")

    ctx = Ctx()
    ctx.args, ctx.mode = args, mode
    ctx.run = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    ctx.workdir = tempfile.mkdtemp(prefix="aorta-bench-")
    ctx.users_file = os.path.join(ctx.workdir, "users.csv")
    ctx.versions = {s: SERVERS[s].version() for s in SERVERS}
    ctx.loadavg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    write_users(ctx.users_file, max(args.contacts, args.count))
    log(f"run {ctx.run} ({mode}) in {ctx.workdir}")

    rows = []
    profiles = []
    for sc in chosen:
        if sc.profile not in profiles:
            profiles.append(sc.profile)
    for prof in profiles:
        scs = [sc for sc in chosen if sc.profile == prof]
        users = max(args.contacts if sc.users == "contacts" else args.count for sc in scs)
        for sname in servers:
            base = {c: "" for c in COLUMNS}
            base.update(run=ctx.run, mode=mode, server=sname, version=ctx.versions[sname], profile=prof)
            srv = SERVERS[sname](ctx.workdir, prof, users, args)
            try:
                log(f"{sname}: starting for {prof} ({users:,} users)")
                srv.start()
            except NotAvailable as e:
                log(f"{sname}: {e}")
                for sc in scs:
                    rows.append(dict(base, scenario=sc.name, note=f"not available: {e}"))
                continue
            try:
                wait_quiet(srv.pid)
                base.update(idle_pss_kb=tree_pss_kb(srv.pid), startup_s=round(srv.startup_s, 2))
                for sc in scs:
                    log(f"{sname}: {sc.name} ({sc.desc})")
                    gone = srv.exit_reason()
                    if gone:
                        rows.append(dict(base, scenario=sc.name, note=f"not available: {sname} {gone} earlier"))
                        continue
                    try:
                        row = RUNNERS[sc.kind](ctx, sc, srv, dict(base, scenario=sc.name))
                    except (NotAvailable, subprocess.TimeoutExpired) as e:
                        row = dict(base, scenario=sc.name, note=f"not available: {e}")
                    rows.append(row)
                    log(f"{sname}: {sc.name}: ok {row['ok']} failed {row['failed']} rate {row['rate_per_s']}/s "
                        f"cpu/1000 {row['cpu_ms_per_1000']} ms bytes/contact {row['bytes_per_contact']} {row['note']}")
            finally:
                took = srv.stop()
                for r in rows:
                    if r["server"] == sname and r["profile"] == prof:
                        r["stop_s"] = took

    # aorta / Kamailio, scenario by scenario
    final = []
    for sc in chosen:
        mine = [r for r in rows if r["scenario"] == sc.name]
        final.extend(mine)
        k = next((r for r in mine if r["server"] == "kamailio"), None)
        a = next((r for r in mine if r["server"] == "aorta"), None)
        if k and a and k["ok"] and a["ok"]:
            final.append(dict({c: "" for c in COLUMNS}, run=ctx.run, mode=mode, server="aorta/kamailio",
                              scenario=sc.name, profile=sc.profile,
                              rate_per_s=ratio(a["rate_per_s"], k["rate_per_s"]),
                              cpu_ms_per_1000=ratio(a["cpu_ms_per_1000"], k["cpu_ms_per_1000"]),
                              bytes_per_contact=ratio(a["bytes_per_contact"], k["bytes_per_contact"]),
                              idle_pss_kb=ratio(a["idle_pss_kb"], k["idle_pss_kb"])))

    os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
    new = not os.path.exists(args.csv) or os.path.getsize(args.csv) == 0
    if not new:
        with open(args.csv, newline="") as f:
            if next(csv.reader(f), None) != COLUMNS:  # written by an older bench.py: keep it aside
                old = f"{args.csv}.{int(time.time())}.old"
                os.rename(args.csv, old)
                log(f"{args.csv} had other columns: moved to {old}")
                new = True
    with open(args.csv, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            w.writeheader()
        for r in final:
            w.writerow(r)
    text = summary(final, ctx)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    log(f"{len(final)} rows appended to {args.csv}")
    if not args.keep:
        shutil.rmtree(ctx.workdir, ignore_errors=True)
    else:
        log(f"work directory kept: {ctx.workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
