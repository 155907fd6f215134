#!/usr/bin/env python3
"""Discover and run the integration tests: every function test_* in tests/<area>/**/test_*.py.

Each test runs with a deadline; a failure prints its traceback and the logs of the daemons
it started, and any daemon still running is stopped by its PID. The last line is
"integration: N passed, N failed". Arguments filter tests by substring.
"""
import importlib.util
import os
import shutil
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aorta_test  # noqa: E402

AREAS = ["integration", "esl", "sip", "location", "registrar", "dialplan", "scaling", "bench"]


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout("test exceeded its deadline")


def discover():
    found = []
    for area in AREAS:
        root = os.path.join(aorta_test.TESTS, area)
        for dirpath, _dirs, files in os.walk(root):
            if "node_modules" in dirpath:
                continue
            for f in sorted(files):
                if f.startswith("test_") and f.endswith(".py"):
                    found.append(os.path.join(dirpath, f))
    return sorted(found)


def main(filters):
    passed = failed = skipped = 0
    signal.signal(signal.SIGALRM, _alarm)
    for path in discover():
        rel = os.path.relpath(path, aorta_test.TESTS)
        spec = importlib.util.spec_from_file_location(rel.replace("/", "_")[:-3], path)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception:
            print(f"FAIL {rel}: cannot import\n{traceback.format_exc()}", flush=True)
            failed += 1
            continue
        deadline = getattr(mod, "DEADLINE", 120)
        for name in sorted(n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n))):
            full = f"{rel}::{name}"
            if filters and not any(f in full for f in filters):
                continue
            aorta_test._reset_registry()
            keep = False  # a failed test's scratch directories stay for a look
            t0 = time.monotonic()
            signal.alarm(deadline)
            try:
                getattr(mod, name)()
                signal.alarm(0)
                print(f"ok   {full} ({time.monotonic() - t0:.1f}s)", flush=True)
                passed += 1
            except aorta_test.Skip as e:
                signal.alarm(0)
                print(f"SKIP {full}: {e}", flush=True)
                skipped += 1
            except BaseException as e:  # noqa: B902 - report everything, including Timeout
                signal.alarm(0)
                if isinstance(e, KeyboardInterrupt):
                    raise
                print(f"FAIL {full} ({time.monotonic() - t0:.1f}s)\n{traceback.format_exc()}", flush=True)
                for d in aorta_test.test_daemons():
                    print(f"--- log of {d.name} ({d.log_path}), last 80 lines:")
                    print("\n".join(d.log().splitlines()[-80:]), flush=True)
                failed += 1
                keep = True
                dirs = aorta_test.scratch_dirs()
                if dirs:
                    print("--- kept for a look: " + " ".join(dirs), flush=True)
            finally:
                for d in aorta_test.live_daemons():
                    try:
                        d.kill9()
                    except Exception:
                        pass
                if not keep:
                    for path in aorta_test.scratch_dirs():
                        shutil.rmtree(path, ignore_errors=True)
    tail = f", {skipped} skipped" if skipped else ""
    print(f"integration: {passed} passed, {failed} failed{tail}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
