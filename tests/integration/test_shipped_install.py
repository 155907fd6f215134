"""What `./build/dev.sh run` starts: the installed daemon with the installed configuration
(ports moved with --set so the test never collides with a running aorta) loads every
shipped module, answers `status` on its console, and aorta-cli finds the generated password
in the installed configuration."""
import os
import re
import subprocess

from aorta_test import Daemon, PREFIX, check, free_port


def test_installed_configuration_runs():
    conf = os.path.join(PREFIX, "etc", "aorta")
    vars_xml = open(os.path.join(conf, "vars.xml")).read()
    check(re.search(r'event_socket_password=[0-9a-f]{24}"', vars_xml), "make install generated a password")
    check('event_socket_password="' not in vars_xml.replace('event_socket_password=""', ""), "no empty password")
    sip_port = free_port(both=True)
    esl_port = free_port()
    d = Daemon(name="shipped", modules=[])
    d.argv = lambda: [os.path.join(PREFIX, "bin", "aorta"), "--foreground", "--conf", conf,
                      "--data", d.data_dir, "--log", d.log_dir,
                      "--set", f"sip_port={sip_port}", "--set", f"event_socket_port={esl_port}"]
    d.start()
    check("is ready" in d.api("status"), "status answers")
    mods = d.api("show modules")
    for m in ("mod_location", "mod_endpoints", "mod_registrar", "mod_event_socket", "mod_dialplan"):
        check(m in mods, f"{m} not loaded:\n{mods}\n{d.log()[-3000:]}")
    cli = os.path.join(PREFIX, "bin", "aorta-cli")
    p = subprocess.run([cli, "-P", str(esl_port), "-x", "show modules"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=20)
    out = p.stdout.decode()
    check(p.returncode == 0 and "mod_registrar" in out, f"aorta-cli: {p.returncode} {out}")
    p = subprocess.run([cli, "-P", str(esl_port), "-x", "nonsense"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=20)
    check(p.returncode != 0 and "-ERR nonsense Command not found!" in p.stdout.decode(), p.stdout.decode())
    check(d.stop() == 0, "clean exit")
