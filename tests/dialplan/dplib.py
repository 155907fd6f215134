"""dplib — helpers for the dialplan tests: a sip.conf and dialplan for a daemon with the
SIP modules and mod_dialplan, `dialplan_test` output parsed into a dict, and SIPp INVITE
scenarios generated from invite_final.xml for the status each test expects."""
import os
import re

import aorta_test as at

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = ["mod_location", "mod_endpoints", "mod_registrar", "mod_dialplan"]

# The dialplan of the tests: SPEC §5.5's example for 5xxx plus extensions for each application.
DIALPLAN = r"""<include>
  <context name="default">
    <extension name="busy">
      <condition field="destination_number" expression="^busy$">
        <action application="respond" data="486 Busy Here"/>
      </condition>
    </extension>
    <extension name="ring-then-decline">
      <condition field="destination_number" expression="^ring$">
        <action application="log" data="INFO ringing ${caller_id_number} from ${network_ip} via ${endpoint}@${profile}"/>
        <action application="respond" data="180"/>
        <action application="respond" data="603 Not Today"/>
      </condition>
    </extension>
    <extension name="gone">
      <condition field="destination_number" expression="^gone$">
        <action application="hangup" data="USER_BUSY"/>
      </condition>
    </extension>
    <extension name="local">
      <condition field="destination_number" expression="^(5\d{3})$">
        <action application="bridge" data="${dial_contacts($1)}"/>
      </condition>
    </extension>
  </context>
  <context name="other">
    <extension name="only-7">
      <condition field="destination_number" expression="^7$">
        <action application="respond" data="488"/>
      </condition>
    </extension>
  </context>
</include>
"""


def sip_conf(endpoints=None, aors=None, auths=""):
    endpoints = endpoints if endpoints is not None else (
        '<endpoint name="5000"><param name="aors" value="5000"/><param name="context" value="default"/></endpoint>'
        '<endpoint name="6000"><param name="aors" value="6000"/><param name="context" value="other"/></endpoint>')
    aors = aors if aors is not None else (
        '<aor name="5000"><param name="max-contacts" value="10"/></aor>'
        '<aor name="6000"><param name="max-contacts" value="1"/></aor>')
    return f"""<configuration name="sip.conf"><profiles><profile name="internal">
<settings><param name="sip-ip" value="$${{local_ip}}"/><param name="sip-port" value="$${{sip_port}}"/>
<param name="transports" value="udp,tcp"/></settings>
<registrar><param name="realm" value="$${{domain}}"/></registrar>
<location><param name="store" value="memory"/></location>
<endpoints>{endpoints}</endpoints>
<aors>{aors}</aors>
<auths>{auths}</auths>
</profile></profiles></configuration>
"""


def daemon(dialplan=DIALPLAN, modules=MODULES, **kw):
    return at.Daemon(modules=modules, conf={"autoload_configs/sip.conf.xml": kw.pop("sip", sip_conf()),
                                            "dialplan/default.xml": dialplan}, **kw)


def dialplan_test(d, args):
    """Run dialplan_test and return (dict of its 'key: value' lines, the whole text)."""
    out = d.api(f"dialplan_test {args}")
    fields = {}
    for line in out.splitlines():
        m = re.match(r"^(context|destination_number|extension|result): (.*)$", line)
        if m:
            fields[m.group(1)] = m.group(2)
    return fields, out


def invite_scenario(code, provisional=None, to_tag=None):
    """A UAC scenario: INVITE (in a dialog when to_tag is given), optional 100, the required
    provisional (if any), then `code`, ACK."""
    with open(os.path.join(HERE, "invite_final.xml")) as f:
        text = f.read()
    prov = f'  <recv response="{provisional}"/>\n' if provisional else ""
    text = text.replace("@CODE@", str(code)).replace("@PROVISIONAL@\n", prov)
    text = text.replace("@TOTAG@", f";tag={to_tag}" if to_tag else "")
    path = os.path.join(at.scratch_dir("dp-sipp-"), f"invite_{code}.xml")
    with open(path, "w") as f:
        f.write(text)
    return path


def invite(d, to, code, from_user="5000", provisional=None, transport="u1", to_tag=None):
    """Place one INVITE from `from_user` to `to` with SIPp; fails unless the final answer is `code`."""
    return at.sipp(invite_scenario(code, provisional, to_tag), f"127.0.0.1:{d.sip_port}", "-s", to,
                   "-key", "from_user", from_user, "-t", transport, timeout=30)
