"""The host core, through the real daemon: console, module load/unload/reload at runtime,
reloadxml (good and broken), --check reporting every error with file:line, --set, signals,
critical modules, and detaching with a pid file."""
import os
import re
import signal
import subprocess

from aorta_test import Daemon, check, run_check, wait_for, PREFIX

CORE_TEST_MODULES = ["mod_unit", "mod_unit_user", "mod_badabi"]


def core_daemon(**kw):
    kw.setdefault("modules", [])
    kw.setdefault("test_modules", CORE_TEST_MODULES)
    return Daemon(name="core", **kw)


def test_console_status_version_help():
    d = core_daemon().start()
    out = d.api("status")
    check(out.startswith("UP 0 years, 0 days"), out)
    check("is ready" in out, out)
    check(d.api("version").startswith("aorta version "), "version")
    helptext = d.api("help")
    for cmd in ("status", "show modules", "module", "reloadxml", "log level"):
        check(cmd in helptext, f"help lacks {cmd}")
    check(d.api("nonsense 1 2").strip() == "-ERR nonsense Command not found!", "unknown command")
    check(d.api("show gizmos").startswith("-ERR cannot show \"gizmos\"; try one of: "), "show fallback")
    j = d.api("status as json")
    check('"state": "ready"' in j, j)
    check(d.stop() == 0, "clean exit")
    check("aorta stopped" in d.log(), "shutdown logged")


def test_module_load_unload_reload_at_runtime():
    d = core_daemon(modules=["mod_unit"]).start()
    check("mod_unit" in d.api("show modules"), "mod_unit loaded at start")
    check(d.api("unit ping").strip() == "pong from mod_unit", "module command")
    check(d.api("module load mod_unit_user").strip() == "+OK", "load user")
    table = d.api("show modules")
    check("mod_unit_user" in table and "2 modules loaded." in table, table)
    out = d.api("module unload mod_unit")
    check(out.strip() == "-ERR mod_unit is used by mod_unit_user: unload that first", out)
    check(d.api("module unload mod_unit_user").strip() == "+OK", "unload user")
    check(d.api("module reload mod_unit").strip() == "+OK", "reload")
    check(d.api("unit ping").strip() == "pong from mod_unit", "command back after reload")
    check(d.api("module unload mod_unit").strip() == "+OK", "unload")
    check("0 modules loaded." in d.api("show modules"), "none left")
    check("Command not found" in d.api("unit ping"), "command gone with its module")
    out = d.api("module load mod_badabi")
    check("was built for ABI 99" in out and out.startswith("-ERR"), out)
    out = d.api("module load mod_missing")
    check(out.startswith("-ERR cannot open ") and "mod_missing.so" in out, out)
    check(d.stop() == 0, "clean exit")


BROKEN_CORE = """<configuration name="core.conf">
  <settings>
    <param name="log-level" value="notice"/>
    <param name="colour" value="blue"/>
  </settings>
</configuration>
"""


def test_broken_reload_keeps_running_config():
    d = core_daemon(core_settings={"log-level": "info", "switchname": "before"}).start()
    check(d.api("log level").strip() == "INFO", "initial level")
    d.write_conf("autoload_configs/core.conf.xml", BROKEN_CORE)
    out = d.api("reloadxml")
    check(out.startswith("-ERR reloadxml failed; the running configuration is unchanged"), out)
    check("core.conf.xml:4: unknown parameter \"colour\"" in out, out)
    check(d.api("log level").strip() == "INFO", "level unchanged after failed reload")
    check("is ready" in d.api("status"), "still serving")
    d.write_conf("autoload_configs/core.conf.xml", BROKEN_CORE.replace(
        '    <param name="colour" value="blue"/>\n', ""))
    check(d.api("reloadxml").strip() == "+OK [Success]", "good reload")
    check(d.api("log level").strip() == "NOTICE", "level from the new configuration")
    # SIGHUP reloads too
    d.write_conf("autoload_configs/core.conf.xml", BROKEN_CORE.replace(
        '    <param name="colour" value="blue"/>\n', "").replace("notice", "debug"))
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: d.api("log level").strip() == "DEBUG", 10, "SIGHUP reloadxml")
    check(d.stop() == 0, "clean exit")


def test_check_reports_every_error_with_file_and_line():
    d = core_daemon()
    d.write_conf("autoload_configs/core.conf.xml", """<configuration name="core.conf">
  <settings>
    <param name="worker-threads" value="$${no_such_var}"/>
    <param name="frobnicate" value="1"/>
  </settings>
</configuration>
""")
    d.write_conf("dialplan/broken.xml", "<include>\n  <context name=\"x\">\n    <extension>\n</include>\n")
    rc, out = run_check(d.conf_dir, "--mod-dir", d.mod_dir)
    check(rc == 1, f"--check exit {rc}: {out}")
    core_conf = os.path.join(d.conf_dir, "autoload_configs", "core.conf.xml")
    check(f"{core_conf}:3: unknown variable $${{no_such_var}}" in out, out)
    check(f"{os.path.join(d.conf_dir, 'dialplan', 'broken.xml')}:4: XML:" in out, out)
    check(f"{core_conf}:4: unknown parameter \"frobnicate\"" in out, out)
    d.write_conf("dialplan/broken.xml", "<include/>\n")
    d.write_conf("autoload_configs/core.conf.xml", "<configuration name=\"core.conf\"><settings/></configuration>\n")
    rc, out = run_check(d.conf_dir, "--mod-dir", d.mod_dir)
    check(rc == 0 and "configuration OK" in out, out)


def test_check_reports_module_problems():
    d = core_daemon(modules=["mod_unit", "mod_badabi", "mod_absent"])
    rc, out = run_check(d.conf_dir, "--mod-dir", d.mod_dir)
    mc = os.path.join(d.conf_dir, "autoload_configs", "modules.conf.xml")
    check(rc == 1, out)
    check(f"{mc}:4: module mod_badabi: " in out and "ABI 99" in out, out)
    check(f"{mc}:5: module mod_absent: cannot open" in out, out)
    check("mod_unit:" not in out, out)


def test_set_overrides_vars():
    d = core_daemon(core_settings={"switchname": "$${node}"}, vars={"node": "from-vars"},
                    extra_args=["--set", "node=from-cli"]).start()
    check(d.api("switchname").strip() == "from-cli", "--set wins over vars.xml")
    d.stop()


def test_critical_module_failure_stops_startup():
    d = core_daemon()
    d.write_conf("autoload_configs/modules.conf.xml", """<configuration name="modules.conf">
  <modules>
    <load module="mod_absent"/>
    <load module="mod_unit_user" critical="true"/>
  </modules>
</configuration>
""")
    d.start(wait=False)
    rc = d.proc.wait(20)
    check(rc == 1, f"exit {rc}")
    log = d.log()
    check("module mod_absent failed to load" in log, log)
    check("modules.conf.xml:4: module mod_unit_user failed to load: mod_unit_user needs mod_unit" in log, log)


def test_non_critical_failure_keeps_running():
    d = core_daemon(modules=["mod_absent", "mod_unit"]).start()
    check("mod_unit" in d.api("show modules"), "later module still loaded")
    check("module mod_absent failed to load" in d.log(), "failure logged")
    d.stop()


def test_detached_daemon_writes_pid_file_and_stops_on_sigterm():
    d = core_daemon()
    pid_file = os.path.join(d.tmp, "detached.pid")
    argv = [a for a in d.argv() if a != "--foreground"]
    i = argv.index("--pid-file")
    argv[i + 1] = pid_file
    p = subprocess.run(argv, timeout=20)
    check(p.returncode == 0, "parent exits 0 after detaching")
    pid = int(wait_for(lambda: os.path.exists(pid_file) and open(pid_file).read().strip(), 10, "pid file"))
    logf = os.path.join(d.log_dir, "aorta.log")
    wait_for(lambda: os.path.exists(logf) and "aorta is ready" in open(logf).read(), 10, "ready in aorta.log")
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 15, "daemon exit")
    check(not os.path.exists(pid_file), "pid file removed")
    check("aorta stopped" in open(logf).read(), "clean stop in the log")


def test_eof_on_stdin_leaves_daemon_running():
    d = core_daemon().start()
    d.proc.stdin.close()
    d.wait_log("console: end of input; aorta keeps running")
    check(d.proc.poll() is None, "still running after EOF")
    d.proc.send_signal(signal.SIGTERM)
    check(d.proc.wait(15) == 0, "clean exit")


def test_settings_reference_in_docs_is_current():
    """docs/reference.md is generated from the settings tables: a table changed without
    `./build/dev.sh reference` fails here."""
    p = subprocess.run([os.path.join(PREFIX, "bin", "aorta"), "--reference", "--mod-dir",
                        os.path.join(PREFIX, "lib", "aorta", "mod")], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    check(p.returncode == 0, p.stdout.decode())
    from aorta_test import SRCDIR
    with open(os.path.join(SRCDIR, "docs", "reference.md")) as f:
        check(f.read() == p.stdout.decode(), "docs/reference.md is stale: run ./build/dev.sh reference")


def test_time_command():
    d = core_daemon().start()
    out = d.api("time 1000 echo hello")
    check(re.match(r"1000 runs in [0-9.]+ ms: [0-9.]+ us per run\n", out), out)
    check(d.api("time x echo").startswith("-ERR usage: time <count"), "bad count")
    out = d.api("time 3 nonsense")
    check(out.startswith("-ERR run 1 failed: -ERR nonsense Command not found!"), out)
    d.stop()


def test_module_refusing_a_reload_keeps_its_configuration():
    d = core_daemon(modules=["mod_unit"]).start()
    check(d.api("unit mood").strip() == "happy", "default")
    unit = '<configuration name="unit.conf"><settings><param name="mood" value="%s"/></settings></configuration>\n'
    d.write_conf("autoload_configs/unit.conf.xml", unit % "calm")
    check(d.api("reloadxml").strip() == "+OK [Success]", "accepted reload")
    check(d.api("unit mood").strip() == "calm", "adopted")
    d.write_conf("autoload_configs/unit.conf.xml", unit % "grumpy")
    out = d.api("reloadxml")
    check(out.startswith("-ERR reloadxml applied, but not by every module:") and
          "mod_unit: could not apply the new configuration; it keeps running the previous one" in out, out)
    check(d.api("unit mood").strip() == "calm", "the refused configuration is not the running one")
    check(d.stop() == 0, "clean exit")
