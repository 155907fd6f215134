"""The XML dialplan through `dialplan_test` and `dialstring_parse` (no SIP traffic except a
REGISTER): FreeSWITCH condition semantics, ${} expansion order, the shipped 5xxx example
with and without contacts, configuration errors with file:line, and reloadxml swapping."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aorta_test as at  # noqa: E402
from aorta_test import check  # noqa: E402
import dplib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

SEMANTICS = r"""<include>
  <context name="t">
    <extension name="tag" continue="true">
      <condition field="destination_number" expression="^(\d)(\d+)$">
        <action application="set" data="first=$1"/>
        <action application="set" data="rest=$2" inline="true"/>
      </condition>
    </extension>
    <extension name="and">
      <condition field="${rest}" expression="^00$"/>
      <condition field="caller_id_number" expression="^1000$">
        <action application="respond" data="486"/>
        <anti-action application="set" data="who=stranger"/>
      </condition>
    </extension>
    <extension name="never">
      <condition field="destination_number" expression="^nope$" break="never">
        <anti-action application="set" data="x=1"/>
      </condition>
      <condition field="destination_number" expression="^never$">
        <action application="respond" data="484 x=${x}"/>
      </condition>
    </extension>
    <extension name="after">
      <condition field="destination_number" expression="^.*$">
        <action application="log" data="NOTICE falling through with ${who}"/>
        <action application="respond" data="403 ${who} ${first}"/>
        <action application="respond" data="500 never reached"/>
      </condition>
    </extension>
  </context>
</include>
"""


def test_shipped_example_without_contacts_gives_480():
    d = dplib.daemon().start()
    try:
        f, out = dplib.dialplan_test(d, "default 5000")
        check(f.get("extension") == "local", out)
        check("action bridge error/user_not_registered" in out, out)
        check("leg 1: error cause=USER_NOT_REGISTERED status=480" in out, out)
        check(f.get("result") == "480 Temporarily Unavailable (bridge: USER_NOT_REGISTERED)", out)
        # 5999 matches the extension, but dial_contacts knows no such endpoint: 404
        f, out = dplib.dialplan_test(d, "default 5999")
        check(f.get("extension") == "local" and f.get("result", "").startswith("404 Not Found"), out)
        # nothing matches: 404 (FreeSWITCH's NO_ROUTE_DESTINATION)
        f, out = dplib.dialplan_test(d, "default 123")
        check(f.get("extension") == "none", out)
        check(f.get("result") == "404 Not Found (no extension of context 'default' matched)", out)
        out = d.api("dialplan_test nosuch 5000")
        check(out.startswith("-ERR no context 'nosuch'"), out)
        check(d.api("dialplan_test default").startswith("-ERR usage"), "usage")
    finally:
        d.stop()


def test_registered_contact_dry_run_and_continue_on_fail():
    d = dplib.daemon().start()
    try:
        at.sipp(os.path.join(HERE, "register.xml"), f"127.0.0.1:{d.sip_port}", "-key", "from_user", "5000")
        f, out = dplib.dialplan_test(d, "default 5000")
        check("action bridge sip/5000/sip:5000@127.0.0.1:" in out, out)
        check("leg 1: sip endpoint=5000 uri=sip:5000@127.0.0.1:" in out, out)
        # a dry run sends nothing: it shows where the leg goes and that the callees decide
        check("  sip/5000/sip:5000@127.0.0.1:" in out and " -> sip:5000@127.0.0.1:" in out, out)
        check(f.get("result", "").startswith("200 OK (bridge: dry run, 1 sip/ leg would ring"), out)
        # continue_on_fail lets the dialplan go on after the failed bridge
        d.write_conf("dialplan/default.xml", dplib.DIALPLAN.replace(
            '<action application="bridge" data="${dial_contacts($1)}"/>',
            '<action application="set" data="continue_on_fail=NORMAL_TEMPORARY_FAILURE,USER_BUSY"/>'
            '<action application="bridge" data="error/user_busy"/>'
            '<action application="respond" data="480 Voicemail Later"/>'))
        out = d.api("reloadxml")
        check("-ERR" not in out, out)
        f, out = dplib.dialplan_test(d, "default 5000")
        check(f.get("result", "").startswith("480 Voicemail Later"), out)
    finally:
        d.stop()


def test_condition_semantics_and_expansion_order():
    d = dplib.daemon(dialplan=SEMANTICS).start()
    try:
        # tag (continue) sets rest=00 inline, so "and" matches on both conditions
        f, out = dplib.dialplan_test(d, "t 100 caller_id_number=1000")
        check(f.get("extension") == "tag,and", out)
        check(f.get("result", "").startswith("486 Busy Here"), out)
        check(out.index("action set first=1") < out.index("action respond 486"), out)
        check("action set rest" not in out, out)  # inline: it ran while hunting, before "and" was tried
        # the second condition fails: its anti-action runs, "and" does not match, "after" does;
        # ${who} and ${first} are expanded when respond runs, after the sets before it
        f, out = dplib.dialplan_test(d, "t 100 caller_id_number=2000")
        check(f.get("extension") == "tag,after", out)
        check("anti-action set who=stranger" in out, out)
        check(f.get("result") == "403 stranger 1 (respond 403)", out)
        check("500 never reached" not in out, out)
        # break="never": a failed first condition does not end the extension
        f, out = dplib.dialplan_test(d, "t never")
        check(f.get("extension") == "never" and f.get("result") == "484 x=1 (respond 484)", out)
        # an unset variable in a field is empty; an empty reason falls back to the standard phrase
        f, out = dplib.dialplan_test(d, "t 5")
        check('and (' in out and '${rest} "" =~ /^00$/ no match' in out, out)
        check(f.get("result") == "403 Forbidden (respond 403)", out)
    finally:
        d.stop()


BAD = """<include>
  <context name="default">
    <extension name="bad">
      <condition field="destination_number" expression="^(5\\d{3}$">
        <action application="playback" data="x.wav"/>
        <action application="respond" data="200 OK"/>
        <action application="bridge" data="sip/5000,,sip/6000"/>
        <action application="set" data="x=${unterminated"/>
        <action application="hangup" data="NO_SUCH_CAUSE"/>
      </condition>
      <condition field="destination_number" expression="x" break="sometimes"/>
      <condition wday="1-5" field="destination_number" expression="x"/>
    </extension>
  </context>
</include>
"""


def test_configuration_errors_name_file_and_line_and_keep_the_running_dialplan():
    d = dplib.daemon().start()
    try:
        d.write_conf("dialplan/zz_bad.xml", BAD)
        out = d.api("reloadxml")
        check(out.startswith("-ERR"), out)
        want = [
            "zz_bad.xml:4: expression \"^(5\\d{3}$\": missing closing parenthesis at offset 9",
            "zz_bad.xml:5: unknown application 'playback'",
            "zz_bad.xml:6: respond data \"200 OK\": 2xx cannot be sent by respond",
            "zz_bad.xml:7: bridge data \"sip/5000,,sip/6000\": bad dial string: offset 9: empty leg",
            "zz_bad.xml:8: set data \"x=${unterminated\": offset 2: unterminated '${'",
            "zz_bad.xml:9: hangup data \"NO_SUCH_CAUSE\": unknown hangup cause 'NO_SUCH_CAUSE'",
            "zz_bad.xml:11: break=\"sometimes\": on-false, on-true, always or never expected",
            "zz_bad.xml:12: <condition wday=...> is not supported",
        ]
        for w in want:
            check(w in out, f"missing {w!r} in:\n{out}")
        # the running dialplan is unchanged
        f, out = dplib.dialplan_test(d, "default busy")
        check(f.get("result", "").startswith("486"), out)
        # a good file is swapped in by reloadxml (contexts of the same name merge, in file order)
        d.write_conf("dialplan/zz_bad.xml", """<include><context name="default">
          <extension name="new"><condition field="destination_number" expression="^new$">
            <action application="respond" data="410"/></condition></extension>
        </context></include>""")
        out = d.api("reloadxml")
        check("-ERR" not in out, out)
        f, out = dplib.dialplan_test(d, "default new")
        check(f.get("extension") == "new" and f.get("result") == "410 Gone (respond 410)", out)
        d.wait_log(r"mod_dialplan: reloaded, 2 contexts, 6 extensions")
    finally:
        d.stop()


def test_dialstring_parse_command():
    d = dplib.daemon().start()
    try:
        out = d.api(r"dialstring_parse {leg_timeout=20}[sip_route=<sip:p1;lr>\,<sip:p2;lr>]sip/5000/sip:a@127.0.0.1,"
                    r"sip/6000/6000|error/user_busy")
        want = ("branch 1: 2 groups (tried in order)\n"
                "  group 1: 2 legs (rung together)\n"
                "    leg 1: sip endpoint=5000 uri=sip:a@127.0.0.1\n"
                "      leg_timeout=20\n"
                "      sip_route=<sip:p1;lr>,<sip:p2;lr>\n"
                "    leg 2: sip endpoint=6000 aor=6000\n"
                "      leg_timeout=20\n"
                "  group 2: 1 leg (rung together)\n"
                "    leg 1: error cause=USER_BUSY status=486\n"
                "      leg_timeout=20\n")
        check(out == want, out)
        out = d.api("dialstring_parse sip/5000,[x=1sip/6000")
        check(out == "-ERR offset 9: unbalanced '[': no matching ']'\n", out)
        out = d.api("dialstring_parse")
        check(out.startswith("-ERR usage"), out)
        # what dial_contacts produces parses (the interface mod_location can use)
        out = d.api("dialstring_parse " + d.api("dial_contacts 5000").strip())
        check("error cause=USER_NOT_REGISTERED status=480" in out, out)
    finally:
        d.stop()


def test_shipped_dialplan():
    with open(os.path.join(at.SRCDIR, "conf", "dialplan", "default.xml")) as f:
        shipped = f.read()
    d = dplib.daemon(dialplan=shipped).start()
    try:
        f, out = dplib.dialplan_test(d, "default 5000")
        check(f.get("extension") == "local", out)
        check(f.get("result") == "480 Temporarily Unavailable (bridge: USER_NOT_REGISTERED)", out)
        f, out = dplib.dialplan_test(d, "default 4000")
        check(f.get("result", "").startswith("404 Not Found"), out)
    finally:
        d.stop()


def test_check_flag_reports_dialplan_errors():
    d = dplib.daemon(dialplan=BAD)
    rc, out = at.run_check(d.conf_dir, "--mod-dir", d.mod_dir)
    check(rc == 1, f"--check exit {rc}: {out}")
    check("default.xml:5: unknown application 'playback'" in out, out)
    d = dplib.daemon()
    rc, out = at.run_check(d.conf_dir, "--mod-dir", d.mod_dir)
    check(rc == 0 and "configuration OK" in out, out)


def test_location_cannot_be_unloaded_under_the_dialplan():
    # without mod_registrar, mod_dialplan is mod_location's only dependant
    d = dplib.daemon(modules=["mod_location", "mod_endpoints", "mod_dialplan"]).start()
    try:
        out = d.api("module unload mod_location")
        check(out.startswith("-ERR") and "mod_dialplan" in out, out)
        check("mod_location" in d.api("show modules"), "mod_location still loaded")
        # in dependency order both go
        check("-ERR" not in d.api("module unload mod_dialplan"), "unload mod_dialplan")
        out = d.api("module unload mod_location")
        check("-ERR" not in out, out)
    finally:
        d.stop()
