"""aorta_test — what every integration test uses: a real aorta daemon in a temporary
directory with a generated configuration on free loopback ports, its console, a raw
event-socket client and SIPp.

Nothing here sleeps for a fixed time: every wait polls a condition against a deadline.
Daemons are stopped by the PID this module started, never by name.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import queue
import secrets

PREFIX = os.environ.get("AORTA_PREFIX", "")
BUILDDIR = os.environ.get("AORTA_BUILDDIR", "")
SRCDIR = os.environ.get("AORTA_SRCDIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TESTS = os.path.join(SRCDIR, "tests")


class Skip(Exception):
    """Raise to skip a test with a reason (CI installs everything, so nothing should skip there)."""


class TestFailure(AssertionError):
    pass


def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def wait_for(pred, timeout=10.0, what="condition", interval=0.02):
    """Poll pred() until it returns a truthy value; return it, or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port(kind=socket.SOCK_STREAM, both=False):
    """A port free on 127.0.0.1 (for both UDP and TCP when both=True)."""
    for _ in range(200):
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if both:
            other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
            o = socket.socket(socket.AF_INET, other)
            try:
                o.bind(("127.0.0.1", port))
            except OSError:
                continue
            finally:
                o.close()
        return port
    raise TestFailure("no free port")


# Every daemon started during the current test, so the runner can show their logs on failure
# and stop any left running.
_live_daemons = []
_test_daemons = []
# Scratch directories made for the current test: removed when it passes, kept (and named in
# the report) when it fails, so repeated runs do not fill /tmp.
_scratch_dirs = []


def _reset_registry():
    _live_daemons.clear()
    _test_daemons.clear()
    _scratch_dirs.clear()


def scratch_dir(prefix):
    """A new temporary directory that lives as long as the current test's verdict needs."""
    d = tempfile.mkdtemp(prefix=prefix)
    _scratch_dirs.append(d)
    return d


def scratch_dirs():
    return list(_scratch_dirs)


def live_daemons():
    return list(_live_daemons)


def test_daemons():
    """Every daemon started during the current test, running or not."""
    return list(_test_daemons)


class Daemon:
    """One aorta process with its own configuration directory.

    conf: dict of relative path -> file content placed in the configuration directory, on
    top of the defaults written by write_base_conf(); modules: list for modules.conf.
    vars: extra pre-processor variables (set in vars.xml).
    """

    def __init__(self, name="aorta", modules=None, conf=None, vars=None, core_settings=None,
                 test_modules=(), tmp=None, extra_args=()):
        self.name = name
        self.tmp = tmp or scratch_dir(f"aorta-{name}-")
        self.conf_dir = os.path.join(self.tmp, "conf")
        self.data_dir = os.path.join(self.tmp, "data")
        self.log_dir = os.path.join(self.tmp, "log")
        self.mod_dir = os.path.join(self.tmp, "mod")
        for d in (self.conf_dir, self.data_dir, self.log_dir, self.mod_dir):
            os.makedirs(d, exist_ok=True)
        self.sip_port = free_port(both=True)
        self.esl_port = free_port()
        self.esl_password = secrets.token_hex(8)
        self.modules = list(modules) if modules is not None else []
        self.vars = dict(vars or {})
        self.core_settings = dict(core_settings or {})
        self.extra_args = list(extra_args)
        self.proc = None
        self._out = queue.Queue()
        self._seq = 0
        self._lock = threading.Lock()
        self._link_modules(test_modules)
        self.write_base_conf()
        for rel, text in (conf or {}).items():
            self.write_conf(rel, text)

    # -- configuration ----------------------------------------------------------------
    def _link_modules(self, test_modules):
        installed = os.path.join(PREFIX, "lib", "aorta", "mod")
        if os.path.isdir(installed):
            for f in os.listdir(installed):
                if f.endswith(".so"):
                    os.symlink(os.path.join(installed, f), os.path.join(self.mod_dir, f))
        for m in test_modules:
            src = os.path.join(BUILDDIR, "tests", "modules", ".libs", m + ".so")
            if not os.path.exists(src):
                raise TestFailure(f"test module {m} not built: {src}")
            os.symlink(src, os.path.join(self.mod_dir, m + ".so"))

    def write_conf(self, rel, text):
        path = os.path.join(self.conf_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def write_base_conf(self):
        v = {"local_ip": "127.0.0.1", "sip_port": str(self.sip_port), "domain": "127.0.0.1",
             "event_socket_ip": "127.0.0.1", "event_socket_port": str(self.esl_port),
             "event_socket_password": self.esl_password, "default_password": "secret5000"}
        v.update(self.vars)
        self.write_conf("aorta.xml", """<?xml version="1.0"?>
<document type="aorta/xml">
  <X-PRE-PROCESS cmd="include" data="vars.xml"/>
  <section name="configuration">
    <X-PRE-PROCESS cmd="include" data="autoload_configs/*.conf.xml"/>
  </section>
  <section name="dialplan">
    <X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>
  </section>
</document>
""")
        self.write_conf("vars.xml", "<include>\n" + "".join(
            f'  <X-PRE-PROCESS cmd="set" data="{k}={val}"/>\n' for k, val in v.items()) + "</include>\n")
        self.write_conf("autoload_configs/modules.conf.xml",
                        '<configuration name="modules.conf">\n  <modules>\n' +
                        "".join(f'    <load module="{m}"/>\n' for m in self.modules) +
                        "  </modules>\n</configuration>\n")
        cs = {"log-level": "debug", "worker-threads": "4"}
        cs.update(self.core_settings)
        self.write_conf("autoload_configs/core.conf.xml",
                        '<configuration name="core.conf">\n  <settings>\n' +
                        "".join(f'    <param name="{k}" value="{val}"/>\n' for k, val in cs.items()) +
                        "  </settings>\n</configuration>\n")
        self.write_conf("autoload_configs/event_socket.conf.xml", """<configuration name="event_socket.conf">
  <settings>
    <param name="listen-ip" value="$${event_socket_ip}"/>
    <param name="listen-port" value="$${event_socket_port}"/>
    <param name="password" value="$${event_socket_password}"/>
  </settings>
</configuration>
""")
        self.write_conf("dialplan/default.xml", "<include>\n</include>\n")

    # -- process ----------------------------------------------------------------------
    @property
    def log_path(self):
        return os.path.join(self.tmp, "stderr.log")

    def argv(self):
        return [os.path.join(PREFIX, "bin", "aorta"), "--foreground", "--conf", self.conf_dir,
                "--data", self.data_dir, "--log", self.log_dir, "--mod-dir", self.mod_dir,
                "--pid-file", os.path.join(self.tmp, "aorta.pid")] + self.extra_args

    def start(self, wait=True, timeout=20):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self._stderr = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env)
        _live_daemons.append(self)
        if self not in _test_daemons:
            _test_daemons.append(self)
        # each process gets its own queue: a reader of a killed process must not end the
        # next one's output
        self._out = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, args=(self.proc, self._out), daemon=True)
        self._reader.start()
        if wait:
            self.wait_ready(timeout)
        return self

    @staticmethod
    def _read_stdout(proc, out):
        for raw in iter(proc.stdout.readline, b""):
            out.put(raw.decode("utf-8", "replace"))
        out.put(None)

    def wait_ready(self, timeout=20):
        """Ready = the console answers (it starts after every module has loaded)."""
        out = self.api("echo ready", timeout=timeout)
        check(out.strip() == "ready", f"daemon not ready: {out!r}")

    def api(self, cmd, timeout=15):
        """Run one API command on the daemon's console and return its output."""
        with self._lock:
            self._seq += 1
            marker = f"@@end-{self._seq}@@"
            try:
                self.proc.stdin.write(f"{cmd}\necho {marker}\n".encode())
                self.proc.stdin.flush()
            except BrokenPipeError:
                raise TestFailure(f"daemon exited (rc={self.proc.poll()}) before `{cmd}`")
            lines = []
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure(f"no answer to `{cmd}` within {timeout}s")
                try:
                    line = self._out.get(timeout=left)
                except queue.Empty:
                    continue
                if line is None:
                    raise TestFailure(f"daemon exited (rc={self.proc.wait()}) during `{cmd}`")
                if line.rstrip("\n") == marker:
                    return "".join(lines)
                lines.append(line)

    def log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=10):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log()), timeout, f"log line /{pattern}/")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TestFailure(f"{self.name} did not stop within {timeout}s of SIGTERM")
        self._close()
        return self.proc.returncode

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self):
        if self in _live_daemons:
            _live_daemons.remove(self)
        try:
            self.proc.stdin.close()
        except Exception:
            pass
        try:
            self._stderr.close()
        except Exception:
            pass

    def restart(self, **kw):
        """Start a new process on the same directories and ports."""
        self.proc = None
        self._out = queue.Queue()
        return self.start(**kw)


def run_check(conf_dir, *extra):
    """aorta --check; returns (exit code, combined output)."""
    p = subprocess.run([os.path.join(PREFIX, "bin", "aorta"), "--conf", conf_dir, "--check", *extra],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    return p.returncode, p.stdout.decode("utf-8", "replace")


class Esl:
    """A raw event-socket client that keeps the exact bytes (for framing tests)."""

    def __init__(self, port, password=None, host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        if password is not None:
            greet = self.read_frame()
            check(greet[0].get("Content-Type") == "auth/request", f"greeting: {greet}")
            hdrs, _ = self.command(f"auth {password}")
            check(hdrs.get("Reply-Text") == "+OK accepted", f"auth failed: {hdrs}")

    def send(self, text):
        self.sock.sendall(text.encode() if isinstance(text, str) else text)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def read_raw_frame(self):
        """Return the exact bytes of one frame (headers + body)."""
        while b"\n\n" not in self.buf:
            self._fill()
        end = self.buf.index(b"\n\n") + 2
        head = self.buf[:end].decode()
        m = re.search(r"^Content-Length: (\d+)$", head, re.M)
        n = int(m.group(1)) if m else 0
        while len(self.buf) < end + n:
            self._fill()
        raw = self.buf[:end + n]
        self.buf = self.buf[end + n:]
        return raw

    def read_frame(self):
        raw = self.read_raw_frame()
        end = raw.index(b"\n\n")
        hdrs = {}
        for line in raw[:end].decode().split("\n"):
            k, _, v = line.partition(": ")
            hdrs[k] = v
        return hdrs, raw[end + 2:]

    def command(self, cmd):
        self.send(cmd + "\n\n")
        return self.read_frame()

    def api(self, cmd):
        hdrs, body = self.command("api " + cmd)
        check(hdrs.get("Content-Type") == "api/response", f"not an api/response: {hdrs}")
        return body.decode()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def sipp(scenario, target, *args, timeout=60, inf=None, cwd=None, expect_rc=0):
    """Run SIPp once against target ("127.0.0.1:port") with a scenario file; returns the
    CompletedProcess. Fails the test on a non-zero exit unless expect_rc is None."""
    if shutil.which("sipp") is None:
        raise Skip("sipp not installed")
    cwd = cwd or scratch_dir("sipp-")
    argv = ["sipp", target, "-sf", scenario, "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM, both=True)),
            "-m", "1", "-timeout", f"{max(5, timeout - 5)}s", "-timeout_error", "-trace_err", "-trace_msg",
            "-nostdin", "-bg" if False else "-nd"]
    if inf:
        argv += ["-inf", inf]
    argv += list(args)
    p = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    p.cwd = cwd
    if expect_rc is not None and p.returncode != expect_rc:
        logs = ""
        for f in sorted(os.listdir(cwd)):
            if f.endswith(("_errors.log", "_messages.log")):
                with open(os.path.join(cwd, f), errors="replace") as fh:
                    logs += f"--- {f}\n" + fh.read()[-6000:]
        raise TestFailure(f"sipp {os.path.basename(scenario)} exit {p.returncode}:\n"
                          f"{p.stdout.decode(errors='replace')[-3000:]}\n{logs}")
    return p
