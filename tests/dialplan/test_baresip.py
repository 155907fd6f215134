"""A real softphone behind the forking proxy: baresip (Debian's baresip-core), headless, with
a config in a temporary HOME, registers endpoint 6000 with digest auth (MD5) and auto-answers
a call that a SIPp caller places to 6000 through `bridge ${dial_contacts(6000)}`."""
import os
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aorta_test as at  # noqa: E402
from aorta_test import check  # noqa: E402
import dplib  # noqa: E402
import test_bridge as tb  # noqa: E402

MODULE_PATH = "/usr/lib/baresip/modules"

DIALPLAN = r"""<include>
  <context name="default">
    <extension name="phones">
      <condition field="destination_number" expression="^(6000)$">
        <action application="bridge" data="${dial_contacts($1)}"/>
      </condition>
    </extension>
  </context>
</include>
"""

SIP = dplib.sip_conf(
    '<endpoint name="6000"><param name="aors" value="6000"/><param name="auth" value="6000"/></endpoint>'
    '<endpoint name="7000"><param name="aors" value="7000"/></endpoint>',
    '<aor name="6000"><param name="max-contacts" value="1"/></aor>'
    '<aor name="7000"><param name="max-contacts" value="1"/></aor>',
    auths='<auth name="6000"><param name="password" value="s3cret-6000"/></auth>')
# baresip 1.0.0 (libre) gives up ("Register: Function not implemented") when any challenge is
# not MD5: the registrar's default auth-algorithms (MD5) must let it register as it is


def baresip_home(sip_port, listen_port):
    home = at.scratch_dir("baresip-")
    conf = os.path.join(home, ".baresip")
    os.makedirs(conf)
    with open(os.path.join(conf, "config"), "w") as f:
        f.write(f"""poll_method epoll
sip_listen 127.0.0.1:{listen_port}
sip_trans_def udp
audio_player aubridge,play
audio_source ausine,440
ausrc_srate 48000
ausrc_channels 2
auplay_srate 48000
audio_alert aubridge,alert
module_path {MODULE_PATH}
module g711.so
module ausine.so
module aubridge.so
module_app account.so
module_app menu.so
rtp_ports 30000-30100
""")
    with open(os.path.join(conf, "accounts"), "w") as f:
        f.write(f"<sip:6000@127.0.0.1:{sip_port};transport=udp>;auth_user=6000;auth_pass=s3cret-6000;"
                f"answermode=auto;regint=600;audio_codecs=PCMU\n")
    open(os.path.join(conf, "contacts"), "w").close()
    return home, conf


def test_baresip_registers_with_digest_and_answers_a_bridged_call():
    if not shutil.which("baresip") or not os.path.isdir(MODULE_PATH):
        raise at.Skip("baresip not installed (Debian package baresip-core)")
    if not shutil.which("sipp"):
        raise at.Skip("sipp not installed")
    d = dplib.daemon(dialplan=DIALPLAN, sip=SIP).start()
    listen = at.free_port(socket.SOCK_DGRAM, both=True)
    home, conf = baresip_home(d.sip_port, listen)
    log = open(os.path.join(home, "baresip.log"), "w+")
    bs = subprocess.Popen(["baresip", "-f", conf], env=dict(os.environ, HOME=home), stdin=subprocess.DEVNULL,
                          stdout=log, stderr=subprocess.STDOUT)
    caller = None
    try:
        def registered():
            return f"127.0.0.1:{listen}" in d.api("show contacts 6000")
        try:
            at.wait_for(registered, timeout=15, what="baresip registered")
        finally:
            log.flush()
        # challenged first (digest, MD5), then accepted: the contact above exists
        d.wait_log(r"REGISTER 6000@127\.0\.0\.1 from 127\.0\.0\.1:%d \(6000\): 401 Unauthorized" % listen)
        caller = tb.Sipp(d, "bridge_uac.xml", at.free_port(socket.SOCK_DGRAM, both=True), "-s", "6000",
                         "-key", "from_user", "7000")
        caller.wait()   # 200 from baresip, ACK and BYE through aorta
        d.wait_log(r"bridge \S+: answered by sip/6000/sip:6000\S*@127\.0\.0\.1:%d" % listen)
        d.wait_log(r"proxy \S+: routing in-dialog BYE")
    except Exception:
        log.seek(0)
        print("--- baresip output\n" + log.read()[-4000:])
        raise
    finally:
        if caller:
            caller.stop()
        bs.terminate()
        try:
            bs.wait(timeout=5)
        except subprocess.TimeoutExpired:
            bs.kill()
            bs.wait()
        log.close()
        d.stop()
