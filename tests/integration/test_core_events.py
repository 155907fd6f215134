"""Core events seen by a real event-socket subscriber: MODULE_LOAD, MODULE_UNLOAD, RELOADXML,
API, LOG, HEARTBEAT and SHUTDOWN, with FreeSWITCH's standard headers in order."""
import json

from aorta_test import Daemon, Esl, check

STANDARD = ["Event-Name", "Core-UUID", "FreeSWITCH-Hostname", "FreeSWITCH-Switchname", "FreeSWITCH-IPv4",
            "FreeSWITCH-IPv6", "Event-Date-Local", "Event-Date-GMT", "Event-Date-Timestamp",
            "Event-Calling-File", "Event-Calling-Function", "Event-Calling-Line-Number", "Event-Sequence"]


def next_event(esl, name):
    """The next json event named `name` (others are skipped)."""
    for _ in range(200):
        hdrs, body = esl.read_frame()
        if hdrs.get("Content-Type") != "text/event-json":
            continue
        ev = json.loads(body, object_pairs_hook=lambda pairs: pairs)
        d = dict(ev)
        if d.get("Event-Name") == name:
            return ev, d
    raise AssertionError(f"no {name} event")


def test_core_events_reach_subscribers():
    d = Daemon(name="events", modules=["mod_event_socket"], test_modules=["mod_unit"],
               core_settings={"heartbeat-interval": "1", "switchname": "node-a"}).start()
    esl = Esl(d.esl_port, d.esl_password)
    hdrs, _ = esl.command("event json MODULE_LOAD MODULE_UNLOAD RELOADXML API HEARTBEAT LOG SHUTDOWN")
    check(hdrs.get("Reply-Text") == "+OK event listener enabled json", hdrs)

    check(d.api("module load mod_unit").strip() == "+OK", "load")
    pairs, ev = next_event(esl, "MODULE_LOAD")
    check([k for k, _ in pairs][:13] == STANDARD, [k for k, _ in pairs])
    check(ev["name"] == "mod_unit" and ev["type"] == "module", ev)
    check(ev["FreeSWITCH-Switchname"] == "node-a", ev)
    check(all(isinstance(v, str) for v in ev.values()), "all values are strings")

    check(d.api("module unload mod_unit").strip() == "+OK", "unload")
    _, ev = next_event(esl, "MODULE_UNLOAD")
    check(ev["name"] == "mod_unit", ev)

    check(d.api("reloadxml").strip() == "+OK [Success]", "reloadxml")
    next_event(esl, "RELOADXML")

    d.api("echo hello there")
    _, ev = next_event(esl, "API")
    while ev.get("API-Command-Argument") != "hello there":  # the harness's own echo markers come too
        _, ev = next_event(esl, "API")
    check(ev.get("API-Command") == "echo", ev)

    _, ev = next_event(esl, "HEARTBEAT")
    check(ev.get("Event-Info") == "System Ready", ev)

    d.api("module load mod_absent")
    for _ in range(50):
        _, ev = next_event(esl, "LOG")
        if "mod_absent" in ev.get("_body", ""):
            break
    check("mod_absent" in ev.get("_body", ""), "LOG event carries the line")
    check(ev.get("Log-Level") == "4", ev)
    check(ev.get("Log-File") == "api_core.c", ev)

    d.proc.send_signal(15)
    _, ev = next_event(esl, "SHUTDOWN")
    check(d.proc.wait(15) == 0, "clean exit")
    esl.close()
