"""Two aorta nodes sharing one location on PostgreSQL (SPEC §13): cross-node dial and
events, max-contacts under concurrent REGISTERs to both nodes, one expiry per cluster, the
database restarting (503 + Retry-After, then service resumes), resynchronisation after a
lost listener connection, and a node killed with kill -9.

Each test starts its own PostgreSQL cluster (pgcluster.py) and two daemons on it."""
import os
import re
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "registrar"))
import aorta_test as at  # noqa: E402
from aorta_test import check, wait_for  # noqa: E402
import reglib as rl  # noqa: E402
import pgcluster  # noqa: E402

DEADLINE = 120


def _conf(dsn):
    return rl.sip_conf(
        rl.endpoint("5000", "5000") + rl.endpoint("8000", "8000") + rl.endpoint("6000", "6000"),
        rl.aor("5000", max_contacts=10) + rl.aor("8000", max_contacts=2) +
        rl.aor("6000", max_contacts=1, remove_existing="true"),
        registrar={"min-expires": "1"}, location={"store": "pgsql", "dsn": dsn})


class Pair:
    """A PostgreSQL cluster and two nodes, node-a and node-b, on it."""

    def __init__(self):
        self.pg = pgcluster.cluster()
        try:
            self.a = rl.daemon(_conf(self.pg.dsn), name="node-a", core_settings={"switchname": "node-a"})
            # node B also resolves dial strings, which needs mod_dialplan's parser
            self.b = rl.daemon(_conf(self.pg.dsn), modules=rl.MODULES + ["mod_dialplan"], name="node-b",
                               core_settings={"switchname": "node-b"})
        except BaseException:
            self.pg.destroy()
            raise

    def close(self):
        for d in (self.a, self.b):
            if d.running():
                d.stop()
        self.pg.destroy()


def _contacts(d, aor):
    return set(re.findall(r"\|(sip:[^|]+)\|", d.api(f"show contacts {aor}")))


def test_cross_node_dial_and_events():
    p = Pair()
    try:
        ea, eb = rl.Events(p.a), rl.Events(p.b)
        r = rl.register(p.a, [{"contacts": ["<sip:5000@192.0.2.10:5060>"], "expires": 300, "expect": 200}])
        check(rl.contact_expires(r[-1]), r[-1][1])
        # node B dials a contact registered through node A
        wait_for(lambda: "sip:5000@192.0.2.10:5060" in p.b.api("dial_contacts 5000"), 10, "B dials A's contact")
        check("sip:5000@192.0.2.10" in p.b.api("resolve sip/5000"), p.b.api("resolve sip/5000"))
        # the register event reaches both nodes' subscribers, with the node that made it
        for ev in (ea, eb):
            e = ev.wait("registrar::register", **{"registration-type": "new", "origin-node": "node-a"})
            check(e.get("aor") == "5000" and e.get("contact") == "sip:5000@192.0.2.10:5060", e)
            check(e.get("contact-count") == "1" and e.get("endpoint") == "5000", e)
        # an unregister through node B
        rl.register(p.b, [{"contacts": ["<sip:5000@192.0.2.10:5060>"], "expires": 0, "expect": 200}])
        for ev in (ea, eb):
            ev.wait("registrar::unregister", reason="client", **{"origin-node": "node-b"})
        wait_for(lambda: "192.0.2.10" not in p.a.api("dial_contacts 5000"), 10, "A's cache follows B's removal")
        # a sentinel change through A: every earlier event has been delivered by then
        rl.register(p.a, [{"contacts": ["<sip:5000@192.0.2.11>"], "expires": 300, "expect": 200}])
        for ev in (ea, eb):
            ev.wait("registrar::register", contact="sip:5000@192.0.2.11")
            got = [(x.get("Event-Subclass"), x.get("origin-node"), x.get("contact")) for x in ev.drain()]
            check(got == [("registrar::register", "node-a", "sip:5000@192.0.2.10:5060"),
                          ("registrar::unregister", "node-b", "sip:5000@192.0.2.10:5060"),
                          ("registrar::register", "node-a", "sip:5000@192.0.2.11")], f"once per node: {got}")
        check(p.pg.psql("SELECT count(*) FROM aorta_location") == "1", "one row")
        check(p.pg.psql("SELECT version FROM aorta_schema WHERE component = 'location'") == "1", "schema version")
        ea.close()
        eb.close()
    finally:
        p.close()


def test_max_contacts_concurrent_registers_to_both_nodes():
    p = Pair()
    try:
        n = 8
        clients = [rl.SipClient(p.a if i % 2 else p.b, user="8000") for i in range(2 * n)]
        barrier = threading.Barrier(len(clients))
        results = [None] * len(clients)

        def run(i):
            c = clients[i]
            barrier.wait()
            st, hdrs = c.register(expires=300)
            results[i] = (st, hdrs)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        statuses = [r[0] if r else None for r in results]
        check(all(s in (200, 403, 503) for s in statuses), statuses)
        accepted = {f"sip:8000@127.0.0.1:{c.port}" for c, s in zip(clients, statuses) if s == 200}
        rows = set(p.pg.psql("SELECT uri FROM aorta_location WHERE aor = '8000'").split())
        check(1 <= len(rows) <= 2, f"max-contacts 2 holds across nodes: {rows} ({statuses})")
        check(accepted == rows, f"every 200 OK is in the table and nothing else: {accepted} vs {rows}")
        for r, c in zip(results, clients):
            if r and r[0] == 503:
                check(r[1].get("retry-after"), f"503 has Retry-After: {r[1]}")
        for d in (p.a, p.b):
            wait_for(lambda: _contacts(d, "8000") == rows, 10, f"{d.name} sees the table")
        for c in clients:
            c.close()

        # remove-existing (max 1) through both nodes: the last one wins everywhere
        rl.register(p.a, [{"contacts": ["<sip:6000@192.0.2.61>"], "expires": 100, "expect": 200}], user="6000")
        wait_for(lambda: _contacts(p.b, "6000") == {"sip:6000@192.0.2.61"}, 10, "B sees A's 6000")
        rl.register(p.b, [{"contacts": ["<sip:6000@192.0.2.62>"], "expires": 100, "expect": 200}], user="6000")
        check(p.pg.psql("SELECT uri FROM aorta_location WHERE aor = '6000'") == "sip:6000@192.0.2.62", "replaced")
        wait_for(lambda: _contacts(p.a, "6000") == {"sip:6000@192.0.2.62"}, 10, "A follows")
    finally:
        p.close()


def test_single_expiry_for_the_cluster():
    p = Pair()
    try:
        ea, eb = rl.Events(p.a), rl.Events(p.b)
        rl.register(p.a, [{"contacts": ["<sip:5000@192.0.2.20>"], "expires": 2, "expect": 200}])
        wait_for(lambda: "192.0.2.20" in p.b.api("show contacts 5000"), 10, "B has it")
        origins = set()
        for ev in (ea, eb):
            e = ev.wait("registrar::expire", timeout=15, contact="sip:5000@192.0.2.20")
            origins.add(e.get("origin-node"))
        check(len(origins) == 1 and origins <= {"node-a", "node-b"}, f"one node expired it: {origins}")
        # a second expiry, two seconds later, as a sentinel: a duplicate of the first would be here
        rl.register(p.b, [{"contacts": ["<sip:5000@192.0.2.21>"], "expires": 2, "expect": 200}])
        for ev in (ea, eb):
            ev.wait("registrar::expire", timeout=15, contact="sip:5000@192.0.2.21")
            exp = [x.get("contact") for x in ev.drain() if x.get("Event-Subclass") == "registrar::expire"]
            check(exp == ["sip:5000@192.0.2.20", "sip:5000@192.0.2.21"], f"each expiry once per node: {exp}")
        check(p.pg.psql("SELECT count(*) FROM aorta_location") == "0", "rows deleted")
        for d in (p.a, p.b):
            check("192.0.2.2" not in d.api("show contacts 5000"), d.api("show contacts 5000"))
        ea.close()
        eb.close()
    finally:
        p.close()


def test_database_restart_503_then_resume_and_resync():
    p = Pair()
    try:
        c = rl.SipClient(p.a, user="5000")
        st, _ = c.register(contact="<sip:5000@192.0.2.30>", expires=300)
        check(st == 200, st)
        p.pg.stop()
        # while the database is down: 503 + Retry-After, never a false 200
        for i in range(3):
            st, hdrs = c.register(contact=f"<sip:5000@192.0.2.{31 + i}>", expires=300)
            check(st == 503 and hdrs.get("retry-after"), f"during the outage: {st} {hdrs}")
        check("192.0.2.31" not in p.a.api("show contacts 5000"), "the refused binding was reverted")
        p.pg.start()
        # service resumes by itself
        wait_for(lambda: c.register(contact="<sip:5000@192.0.2.40>", expires=300)[0] == 200, 20, "200 again",
                 interval=0.5)
        rows = set(p.pg.psql("SELECT uri FROM aorta_location").split())
        check(rows == {"sip:5000@192.0.2.30", "sip:5000@192.0.2.40"}, rows)
        # B reconnected its listener and follows again
        wait_for(lambda: _contacts(p.b, "5000") == rows, 15, "B follows after the restart")
        c.close()

        # a node whose listener lost its connection resynchronises from the table: a row
        # written behind its back (no notification) appears once it reconnects
        p.pg.psql("INSERT INTO aorta_location (aor, uri, expires, registered, profile, endpoint) VALUES "
                  "('5000', 'sip:5000@192.0.2.50', (extract(epoch from now()) * 1000000)::bigint + 300000000, "
                  "(extract(epoch from now()) * 1000000)::bigint, 'internal', '5000')")
        check("192.0.2.50" not in p.b.api("show contacts 5000"), "no notification, no change yet")
        out = p.pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'aorta-listener-node-b'")
        check(out == "t", f"B's listener found: {out!r}")
        wait_for(lambda: "192.0.2.50" in p.b.api("show contacts 5000"), 15, "B resynchronised")
    finally:
        p.close()


def test_node_kill9_loses_nothing_acknowledged():
    p = Pair()
    try:
        uris = [f"sip:5000@192.0.2.{70 + i}" for i in range(5)]
        for u in uris:
            rl.register(p.a, [{"contacts": [f"<{u}>"], "expires": 300, "expect": 200}])
        p.a.kill9()
        check(set(p.pg.psql("SELECT uri FROM aorta_location").split()) == set(uris), "all acknowledged are stored")
        wait_for(lambda: _contacts(p.b, "5000") == set(uris), 10, "B has them all")
        check(p.b.api("dial_contacts 5000").count("sip/5000/") == 5, p.b.api("dial_contacts 5000"))
        p.a.restart()
        check(_contacts(p.a, "5000") == set(uris), "A reloads them")
        # and both still act as one
        rl.register(p.b, [{"contacts": ["<sip:5000@192.0.2.80>"], "expires": 300, "expect": 200}])
        wait_for(lambda: "sip:5000@192.0.2.80" in _contacts(p.a, "5000"), 10, "A follows B after its restart")
    finally:
        p.close()


def test_pgsql_needs_a_dsn():
    # configuration only: no database needed
    conf = rl.sip_conf(rl.endpoint("5000", "5000"), rl.aor("5000", max_contacts=1), location={"store": "pgsql"})
    d = at.Daemon(modules=rl.MODULES, conf={"autoload_configs/sip.conf.xml": conf})
    rc, out = at.run_check(d.conf_dir, "--mod-dir", d.mod_dir)
    check(rc != 0 and "store pgsql needs a dsn" in out and "sip.conf" in out, f"rc={rc}: {out}")
    conf = rl.sip_conf(rl.endpoint("5000", "5000"), rl.aor("5000", max_contacts=1), location={"store": "mysql"})
    d = at.Daemon(modules=rl.MODULES, conf={"autoload_configs/sip.conf.xml": conf})
    rc, out = at.run_check(d.conf_dir, "--mod-dir", d.mod_dir)
    check(rc != 0 and "must be memory, sqlite or pgsql" in out, f"rc={rc}: {out}")
