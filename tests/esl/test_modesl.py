"""The real npm client `modesl` (pinned in package-lock.json), unmodified, against aorta's
event socket: auth, api, bgapi with its BACKGROUND_JOB, CUSTOM events in json and plain,
filters (including modesl's own Job-UUID filter around bgapi), and a wrong password.

esl_client.js does the talking; these tests start the daemon and check what it printed.
"""
import json
import os
import shutil
import subprocess

from aorta_test import Daemon, Skip, TestFailure, check

HERE = os.path.dirname(os.path.abspath(__file__))
DEADLINE = 90


def _node():
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        raise Skip("node is not installed (build/dev.sh installs nodejs)")
    if not os.path.isdir(os.path.join(HERE, "node_modules", "modesl")):
        raise Skip("modesl is not installed: run `npm ci` in tests/esl (build/dev.sh does)")
    return node


def _daemon():
    return Daemon(modules=["mod_event_socket", "mod_test"], test_modules=["mod_test"]).start()


def run_client(d, scenario, password=None):
    p = subprocess.run([_node(), os.path.join(HERE, "esl_client.js"), scenario, str(d.esl_port),
                        password if password is not None else d.esl_password],
                       cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    steps = []
    for line in p.stdout.decode().splitlines():
        try:
            steps.append(json.loads(line))
        except ValueError:
            raise TestFailure(f"esl_client.js printed a non-JSON line: {line!r}")
    if p.returncode != 0 or not steps or steps[-1]["step"] != "done":
        raise TestFailure(f"esl_client.js {scenario} exit {p.returncode}: {steps}\n{p.stderr.decode()[-3000:]}")
    return steps


def by_step(steps, name):
    return [s for s in steps if s["step"] == name]


def test_modesl_api_bgapi_and_json_custom_events():
    d = _daemon()
    try:
        steps = run_client(d, "basic")
        check(not by_step(steps, "error") and not by_step(steps, "exception"), f"client errors: {steps}")
        status = by_step(steps, "api_status")[0]["body"]
        check("is ready" in status and "Core-UUID" in status, f"api status body: {status!r}")
        check(by_step(steps, "api_unknown")[0]["body"] == "-ERR nonsense_command Command not found!\n",
              f"unknown api: {by_step(steps, 'api_unknown')}")
        bg = by_step(steps, "bgapi")[0]
        check(bg["name"] == "BACKGROUND_JOB" and bg["command"] == "echo" and bg["body"] == "bg-hello\n",
              f"bgapi result: {bg}")
        customs = by_step(steps, "custom")
        # x::z was fired between the two x::y events and must not arrive
        check([c["subclass"] for c in customs] == ["x::y", "x::y"], f"custom events: {customs}")
        check(customs[0]["foo"] == "bar baz" and customs[0]["body"] == "hi!", f"first custom: {customs[0]}")
        check(customs[1]["marker"] == "last", f"second custom: {customs[1]}")
        check(int(customs[0]["seq"]) < int(customs[1]["seq"]), "Event-Sequence must increase")
        core_uuid = [line for line in status.splitlines() if line.startswith("Core-UUID")][0].split()[1].rstrip(",")
        check(customs[0]["core"] == core_uuid, "Core-UUID in events is the daemon's")
    finally:
        d.stop()


def test_modesl_plain_events_url_decoding_and_bytes():
    d = _daemon()
    try:
        steps = run_client(d, "plain")
        check(by_step(steps, "events_reply")[0]["text"] == "+OK event listener enabled plain", f"{steps}")
        ev = by_step(steps, "custom")[0]
        check(ev["subclass"] == "p::q", f"{ev}")
        check(ev["odd"] == "a b%c:d&e+f\ng", f"URL-encoded value round trip: {ev['odd']!r}")
        check(ev["utf8"] == "\u00e9t\u00e9", f"UTF-8 value: {ev['utf8']!r}")
        check(ev["body"] == "l\u00eene1\nline2", f"body sliced by bytes: {ev['body']!r}")
    finally:
        d.stop()


def test_modesl_filters():
    d = _daemon()
    try:
        steps = run_client(d, "filters")
        check(by_step(steps, "filter_reply")[0]["text"] == "+OK filter added. [tag]=[keep]", f"{steps}")
        check(by_step(steps, "filter_delete_reply")[0]["text"] == "+OK filter deleted. [tag][keep]", f"{steps}")
        # drop is filtered out; keep/KEEP pass (case-insensitive); after the swap to /^re/ only red
        check(by_step(steps, "filtered")[0]["seen"] == ["keep", "KEEP", "red"], f"{steps}")
        check(by_step(steps, "bgapi")[0]["body"] == "with-filters\n", f"bgapi under filters: {steps}")
    finally:
        d.stop()


def test_modesl_wrong_password_refused():
    d = _daemon()
    try:
        steps = run_client(d, "wrongpw")
        names = [s["step"] for s in steps]
        check("auth_fail" in names and "ready" not in names, f"wrong password: {steps}")
        check(by_step(steps, "disconnect_notice")[0]["body"] == "Disconnected, goodbye.\n", f"{steps}")
        check("end" in names, "the server closes the connection")
        d.wait_log(r"failed to authenticate \(wrong password\)")
    finally:
        d.stop()
