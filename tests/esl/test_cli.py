"""aorta-cli (SPEC §4): -x one-shot with exit status, settings read from the configuration,
refusals, and the interactive console (libedit, driven through a pseudo-terminal): API
lines, tab completion of command names, /event showing events live, history, /exit.
"""
import os
import pty
import select
import subprocess
import time

from aorta_test import PREFIX, Daemon, check, free_port, scratch_dir

DEADLINE = 90
CLI = os.path.join(PREFIX, "bin", "aorta-cli")


def _daemon():
    return Daemon(modules=["mod_event_socket", "mod_test"], test_modules=["mod_test"]).start()


def run(*args, timeout=15):
    return subprocess.run([CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def test_cli_execute_exit_codes():
    d = _daemon()
    try:
        base = ["-H", "127.0.0.1", "-P", str(d.esl_port), "-p", d.esl_password]
        p = run(*base, "-x", "show modules")
        check(p.returncode == 0, f"show modules: rc {p.returncode} {p.stderr!r}")
        out = p.stdout.decode()
        check(out.startswith("order name") and "mod_event_socket" in out and "mod_test" in out, f"{out!r}")

        p = run(*base, "-x", "nonsense")
        check(p.returncode == 1, f"nonsense: rc {p.returncode}")
        check(p.stdout.decode() == "-ERR nonsense Command not found!\n", f"{p.stdout!r}")

        p = run(*base, "-x", "echo  spaced out ")
        check(p.returncode == 0 and p.stdout == b"spaced out\n", f"{p.returncode} {p.stdout!r}")

        # host, port and password from the installed configuration (here: the daemon's)
        p = run("--conf", d.conf_dir, "-x", "status")
        check(p.returncode == 0 and b"is ready" in p.stdout, f"--conf: {p.returncode} {p.stdout!r} {p.stderr!r}")
        p = run("--conf", d.conf_dir, "-P", str(d.esl_port), "-x", "version")
        check(p.returncode == 0 and p.stdout.startswith(b"aorta version"), f"{p.stdout!r}")

        p = run(*base[:4], "-p", "wrong", "-x", "status")
        check(p.returncode == 2 and b"authentication failed" in p.stderr, f"wrong password: {p.returncode} {p.stderr!r}")
        d.wait_log(r"failed to authenticate \(wrong password\)")
    finally:
        d.stop()


def test_cli_cannot_connect_or_configure():
    port = free_port()
    p = run("-H", "127.0.0.1", "-P", str(port), "-p", "x", "-x", "status")
    check(p.returncode == 2 and b"cannot connect" in p.stderr, f"{p.returncode} {p.stderr!r}")
    empty = scratch_dir("aorta-cli-")
    p = run("--conf", empty, "-x", "status")
    check(p.returncode == 2 and b"cannot read" in p.stderr, f"{p.returncode} {p.stderr!r}")
    p = run("--bogus")
    check(p.returncode == 2 and b"usage:" in p.stderr, f"{p.returncode} {p.stderr!r}")


def test_cli_interactive_console():
    d = _daemon()
    home = scratch_dir("aorta-cli-home-")
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["HOME"] = home
        os.environ["TERM"] = "dumb"
        try:
            os.execv(CLI, [CLI, "--conf", d.conf_dir])
        finally:
            os._exit(127)
    buf = bytearray()

    def read_until(needle, timeout=10):
        deadline = time.monotonic() + timeout
        while needle.encode() not in buf:
            left = deadline - time.monotonic()
            check(left > 0, f"no {needle!r} from aorta-cli; screen so far:\n{buf.decode(errors='replace')}")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    chunk = b""
                check(chunk, f"aorta-cli exited early:\n{buf.decode(errors='replace')}")
                buf.extend(chunk)
        at = buf.index(needle.encode()) + len(needle)
        del buf[:at]

    try:
        read_until(f"aorta@127.0.0.1:{d.esl_port}> ")
        os.write(fd, b"echo hi there\n")
        read_until("hi there\r\n")
        read_until("> ")
        # tab completion: "sho<TAB>" -> "show ", "mod<TAB>" -> "modules "
        os.write(fd, b"sho\t")
        read_until("w ")
        os.write(fd, b"mod\t")
        read_until("ules ")
        os.write(fd, b"\n")
        read_until("mod_event_socket")
        read_until("> ")
        os.write(fd, b"nonsense\n")
        read_until("-ERR nonsense Command not found!")
        read_until("> ")
        os.write(fd, b"/event plain CUSTOM cli::ev\n")
        read_until("+OK event listener enabled plain")
        read_until("> ")
        d.api("test_fire cli::ev hello=world")
        read_until("Event-Subclass: cli%3A%3Aev")
        read_until("hello: world")
        os.write(fd, b"/exit\n")
        _, status = os.waitpid(pid, 0)
        pid = 0
        check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"exit status {status}")
        with open(os.path.join(home, ".aorta_cli_history"), "rb") as f:
            hist = f.read()
        check(b"echo\\040hi\\040there" in hist or b"echo hi there" in hist, f"history: {hist!r}")
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
        d.stop()
