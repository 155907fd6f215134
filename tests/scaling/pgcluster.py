"""pgcluster — a private PostgreSQL cluster for the scaling tests: initdb into a temporary
directory owned by a non-root user (postgres when we are root), listening on a free loopback
port with its unix socket in that directory. Stopped by its data directory (pg_ctl stop -D),
never by name.
"""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile

import aorta_test as at


def pg_bindir():
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl")):
            return d
    return None


class PgCluster:
    def __init__(self):
        self.bindir = pg_bindir()
        if not self.bindir:
            raise at.Skip("PostgreSQL server binaries missing (apt-get install postgresql)")
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise at.Skip("running as root and there is no postgres user to run the cluster as")
        self.tmp = tempfile.mkdtemp(prefix="aorta-pg-")
        self.data = os.path.join(self.tmp, "data")
        self.logfile = os.path.join(self.tmp, "postgres.log")
        self.port = at.free_port()
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
        os.chmod(self.tmp, 0o755)
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=3"
        self.running = False

    def _run(self, argv, check=True, timeout=60):
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, cwd=self.tmp)
        if check and p.returncode != 0:
            raise at.TestFailure(f"{argv}: rc={p.returncode}\n{p.stdout.decode(errors='replace')}")
        return p.stdout.decode(errors="replace")

    def init(self):
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres", "-A", "trust",
                   "--no-sync", "-E", "UTF8", "--locale=C"])
        return self

    def start(self):
        opts = f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c max_connections=50"
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", self.logfile, "-o", opts,
                   "-w", "-t", "30", "start"])
        self.running = True
        return self

    def stop(self, mode="fast"):
        if self.running:
            self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "-t", "30", "stop"],
                      check=False)
            self.running = False

    def psql(self, sql):
        return self._run([os.path.join(self.bindir, "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                          "postgres", "-d", "postgres", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]).strip()

    def destroy(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def cluster():
    return PgCluster().init().start()
