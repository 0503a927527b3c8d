# Real Redis 7.0 servers for system tests: a primary and a replica (--replicaof) on free
# 127.0.0.1 ports in a temp dir, with a password for the default user and an ACL user for the
# check that may only PING and INFO (exercises username + secret). Stopped even on failure.
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile

import pytest

from fo_harness import free_port, wait_for

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
ADMIN_PASSWORD = "redis-admin-pw"
CHECK_USER = "failoverd"
CHECK_PASSWORD = "redis-check-pw"


class RedisServer:
    """One redis-server process (foreground, no persistence)."""

    def __init__(self, base, name, port, replicaof=None):
        self.name = name
        self.port = port
        self.replicaof = replicaof
        self.dir = base / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logfile = self.dir / "redis.log"
        self.proc = None

    def address(self):
        return f"127.0.0.1:{self.port}"

    def argv(self):
        argv = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--logfile", str(self.logfile), "--repl-diskless-sync-delay", "0",
                "--requirepass", ADMIN_PASSWORD, "--masterauth", ADMIN_PASSWORD,
                "--user", CHECK_USER, "on", ">" + CHECK_PASSWORD, "-@all", "+ping", "+info"]
        if self.replicaof:
            argv += ["--replicaof", "127.0.0.1", str(self.replicaof.port)]
        return argv

    def start(self):
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(self.ping, 20, what=f"redis {self.name} to answer")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """SIGTERM: a clean shutdown (nothing saved); SIGKILL: a crash."""
        if not self.running():
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def client(self, **kw):
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port, password=ADMIN_PASSWORD,
                           socket_timeout=5, decode_responses=True, **kw)

    def ping(self):
        return self.client().ping()

    def info(self, section="replication"):
        return self.client().info(section)

    def log_tail(self, n=30):
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class RedisPair:
    """A primary and one replica, plus the check user's password file."""

    def __init__(self):
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="fo-redis-"))
        self.primary = RedisServer(self.base, "primary", free_port())
        self.replica = RedisServer(self.base, "replica", free_port(), replicaof=self.primary)
        self.password_file = self.base / "check-password"
        self.password_file.write_text(CHECK_PASSWORD + "\n")
        os.chmod(self.password_file, 0o600)

    def setup(self):
        self.primary.start()
        self.replica.start()
        self.wait_linked()
        return self

    def wait_linked(self, timeout=30):
        wait_for(lambda: self.replica.info().get("master_link_status") == "up"
                 and self.primary.info().get("connected_slaves") == 1, timeout,
                 what="replica linked to its primary")

    def ensure_running(self):
        """Tests stop servers; each test starts from both up and linked."""
        for s in (self.primary, self.replica):
            if not s.running():
                s.start()
        self.wait_linked()

    def check_params(self, **more):
        params = {"username": CHECK_USER, "password_file": str(self.password_file)}
        params.update(more)
        return params

    def cleanup(self):
        for s in (self.replica, self.primary):
            try:
                s.stop(signal.SIGKILL)
            except Exception:
                pass
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def redis_pair():
    if not os.path.exists(REDIS):
        pytest.skip("redis-server not installed")
    pair = RedisPair()
    try:
        pair.setup()
        yield pair
    finally:
        pair.cleanup()
