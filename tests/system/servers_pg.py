# Real PostgreSQL 15 servers for system tests: a primary and a streaming standby (pg_basebackup -R)
# on free 127.0.0.1 ports in a postgres-owned temp dir. Password auth (scram-sha-256) so checks
# exercise secrets. As root, initdb/pg_ctl run through `runuser -u postgres --`.
import os
import pathlib
import pwd
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from fo_harness import BUILD, free_port, wait_for

PGBIN = pathlib.Path(os.environ.get("FO_PGBIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"
SUPER_PASSWORD = "super-secret-pw"
CHECK_USER = "failoverd"
CHECK_PASSWORD = "check pw with spaces"  # a space exercises quoting in the plugin


def _as_postgres():
    """argv prefix: postgres refuses to run as root, so drop to the postgres user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _run(argv, env=None, timeout=120):
    full = dict(os.environ, **(env or {}))
    p = subprocess.run(_as_postgres() + [str(a) for a in argv], env=full, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({p.returncode}):\n{p.stdout}")
    return p.stdout


class PgServer:
    """One PostgreSQL instance (data dir, port, pg_ctl)."""

    def __init__(self, base, name, port):
        self.name = name
        self.port = port
        self.datadir = base / name
        self.logfile = base / f"{name}.log"

    def address(self):
        return f"127.0.0.1:{self.port}"

    def conf(self, **settings):
        # Later lines win, so appending overrides what pg_basebackup copied from the primary.
        with open(self.datadir / "postgresql.conf", "a") as f:
            for k, v in settings.items():
                f.write(f"{k} = '{v}'\n")

    def start(self):
        _run([PGBIN / "pg_ctl", "start", "-w", "-t", "60", "-D", self.datadir, "-l", self.logfile])
        wait_for(self.ping, 30, what=f"{self.name} to accept queries")

    def stop(self, mode="fast"):
        if self.running():
            _run([PGBIN / "pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", self.datadir])

    def running(self):
        return (self.datadir / "postmaster.pid").exists()

    def ping(self):
        with self.connect() as c, c.cursor() as cur:
            cur.execute("SELECT 1")
            return cur.fetchone()[0] == 1

    def connect(self, user=SUPERUSER, password=SUPER_PASSWORD, dbname="postgres"):
        import psycopg2
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=user, password=password,
                                dbname=dbname, connect_timeout=5)
        conn.autocommit = True
        return conn

    def query(self, sql, *args):
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args or None)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def log_tail(self, n=40):
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class PgPair:
    """A primary and one streaming standby, plus the check user's password file."""

    def __init__(self):
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="fo-pg-"))
        pw = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if pw:
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
        os.chmod(self.base, 0o700)
        self.primary = PgServer(self.base, "primary", free_port())
        self.standby = PgServer(self.base, "standby", free_port())
        # The agent reads this (root in CI), outside the postgres-only directory.
        self.secrets = pathlib.Path(tempfile.mkdtemp(prefix="fo-pg-secret-"))
        self.password_file = self.secrets / "check-password"
        self.password_file.write_text(CHECK_PASSWORD + "\n")
        os.chmod(self.password_file, 0o600)

    def setup(self):
        pwfile = self.base / "superuser-pw"
        pwfile.write_text(SUPER_PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        _run([PGBIN / "initdb", "-D", self.primary.datadir, "-U", SUPERUSER, "--pwfile", pwfile,
              "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"])
        pwfile.unlink()
        common = dict(listen_addresses="127.0.0.1", shared_buffers="16MB", fsync="off",
                      max_wal_senders="10", wal_keep_size="256MB",
                      wal_receiver_status_interval="1s", wal_retrieve_retry_interval="500ms",
                      log_min_messages="warning", log_connections="off")
        self.primary.conf(port=self.primary.port, unix_socket_directories=self.primary.datadir,
                          wal_level="replica", **common)
        self.primary.start()
        self.primary.query(f"CREATE ROLE {CHECK_USER} LOGIN PASSWORD %s IN ROLE pg_monitor",
                           CHECK_PASSWORD)
        # -R writes primary_conninfo (from these connection options) into postgresql.auto.conf.
        _run([PGBIN / "pg_basebackup", "-d", (f"host=127.0.0.1 port={self.primary.port} "
                                              f"user={SUPERUSER} application_name=standby"),
              "-D", self.standby.datadir, "-R", "-X", "stream", "-c", "fast", "--no-sync"],
             env={"PGPASSWORD": SUPER_PASSWORD})
        self.standby.conf(port=self.standby.port, unix_socket_directories=self.standby.datadir)
        self.standby.start()
        self.wait_streaming()
        return self

    def ensure_running(self):
        """Tests may stop servers; each test starts from both up and streaming."""
        for s in (self.primary, self.standby):
            if not s.running():
                s.start()
        self.standby.query("SELECT pg_wal_replay_resume()")
        self.wait_streaming()

    def wait_streaming(self, timeout=30):
        wait_for(lambda: self.standby.query("SELECT status FROM pg_stat_wal_receiver")
                 == [("streaming",)], timeout, what="standby to stream")

    def check_params(self, **more):
        params = {"user": CHECK_USER, "dbname": "postgres",
                  "password_file": str(self.password_file)}
        params.update(more)
        return params

    def cleanup(self):
        for s in (self.standby, self.primary):
            try:
                s.stop("immediate")
            except Exception:
                pass
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.secrets, ignore_errors=True)


def pg_available():
    return (PGBIN / "initdb").exists()


@pytest.fixture(scope="module")
def pg_pair():
    if not pg_available():
        pytest.skip(f"PostgreSQL 15 binaries not found in {PGBIN}")
    pair = PgPair()
    try:
        pair.setup()
        yield pair
    finally:
        pair.cleanup()


def wait_lsn_replayed(pair, timeout=20):
    """Waits until the standby has replayed everything the primary had written so far."""
    target = pair.primary.query("SELECT pg_current_wal_lsn()")[0][0]
    wait_for(lambda: pair.standby.query(
        "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", target)[0][0], timeout,
        what=f"standby to replay {target}")
    return target


# ---- helpers for agent tests of the database plugins (also used by test_redis.py) ----

def needs_daemon(*plugins):
    """Skips unless the agent binary and the named plugins are built in FO_BUILD_DIR."""
    libs = BUILD / "plugins" / ".libs"
    ready = (BUILD / "failoverd").exists() and all((libs / f"{p}.so").exists() for p in plugins)
    return pytest.mark.skipif(not ready,
                              reason=f"failoverd or plugins {plugins} not built in {BUILD}")


def db_service(name, kind, members, params, interval="400ms", timeout="300ms", rise=2, fall=3):
    """One service entry for Agent(services=...); members are (name, zone, address)."""
    return {name: {
        "kind": kind,
        "members": [{"name": n, "zone": z, "address": a} for n, z, a in members],
        "check": {"type": kind, "interval": interval, "timeout": timeout, "rise": rise,
                  "fall": fall, "params": params},
    }}


def leading(history, pred):
    """How many of the newest history entries (newest first) satisfy pred(status)."""
    n = 0
    for h in history:
        if not pred(h["status"]):
            break
        n += 1
    return n


def watch_transition(agent, service, member, to, streak, action=None, timeout=30.0, step=0.05):
    """Samples the member until its confirmed status is `to`, and checks the hysteresis on every
    sample: the status never turns `to` before `streak` consecutive raw results allow it.
    `action` (stopping or starting a server) runs in a thread once sampling has begun, so that
    no result between it and the transition is missed. Returns (samples, first sample at `to`)."""
    good = {"ok", "warning"}
    raw_ok = (lambda s: s == "critical") if to == "critical" else (lambda s: s in good)
    samples, errors = [], []

    def run_action():
        try:
            action()
        except Exception as e:  # re-raised in the test's thread below
            errors.append(e)
    worker = threading.Thread(target=run_action) if action else None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            m = agent.member(service, member)
            samples.append(m)
            if worker and not worker.is_alive() and worker.ident is None:
                worker.start()
            elif m["status"] == to or (to == "ok" and m["status"] in good):
                run = leading(m["history"], raw_ok)
                assert run >= streak, (
                    f"{service}/{member} became {m['status']} after only {run} raw result(s), "
                    f"needs {streak}: {m['history'][:streak + 1]}")
                return samples, m
            time.sleep(step)
    finally:
        if worker and worker.ident is not None:
            worker.join(120)
        if errors:
            raise errors[0]
    last = samples[-1] if samples else None
    raise AssertionError(f"{service}/{member} did not become {to} in {timeout}s; last: {last}")


def pending_samples(samples, to):
    """Samples where the raw result was already `to` but the confirmed status was not yet."""
    good = {"ok", "warning"}
    if to == "critical":
        return [m for m in samples if m["raw_status"] == "critical" and m["status"] != "critical"]
    return [m for m in samples if m["raw_status"] in good and m["status"] not in good]
