# Starting real failoverd agents for system tests, and reading what they report.
import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("FO_BUILD_DIR", ROOT / "build"))


def free_port():
    """A free TCP port on 127.0.0.1 (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=20.0, step=0.1, what="condition"):
    """Polls pred() until it returns a truthy value; raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # the server may not be up yet
            last = e
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def wait_port(port, host="127.0.0.1", timeout=20.0):
    def up():
        with socket.create_connection((host, port), timeout=0.5):
            return True
    wait_for(up, timeout, what=f"{host}:{port} to accept")


class Agent:
    """One failoverd process with a generated JSON config (JSON is valid config)."""

    def __init__(self, workdir, name="a1", zone=None, services=None, cluster=None, extra=None,
                 env=None, netns=None):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.api_port = free_port()
        self.netns = netns
        self.api_host = "127.0.0.1"
        self.cfg = {
            "agent": {"id": name, "zone": zone or f"zone-{name}", "data_dir": str(self.dir / "data")},
            "log": {"level": "debug", "format": "logfmt"},
            "plugin_dir": str(BUILD / "plugins" / ".libs"),
            "api": {"listen": f"127.0.0.1:{self.api_port}"},
            "services": services or {},
        }
        if cluster:
            self.cfg["cluster"] = cluster
        if extra:
            self.cfg.update(extra)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.log_path = self.dir / "failoverd.log"
        self.config_path = self.dir / "failoverd.json"

    def write_config(self):
        self.config_path.write_text(json.dumps(self.cfg, indent=2))

    def argv(self, *more):
        cmd = [str(BUILD / "failoverd"), "-c", str(self.config_path), *more]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        return cmd

    def start(self, wait=True):
        self.write_config()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self.env)
        if wait:
            wait_for(lambda: self.status() is not None, 20, what=f"agent {self.name} API")
        return self

    def url(self, path):
        return f"http://{self.api_host}:{self.api_port}{path}"

    def get(self, path, timeout=2.0):
        with urllib.request.urlopen(self.url(path), timeout=timeout) as r:
            return r.read().decode()

    def status(self):
        if self.proc and self.proc.poll() is not None:
            raise AssertionError(f"agent {self.name} exited with {self.proc.returncode}:\n"
                                 + self.log_tail())
        return json.loads(self.get("/v1/status"))

    def member(self, service, member):
        for s in self.status()["services"]:
            if s["name"] == service:
                for m in s["members"]:
                    if m["name"] == member:
                        return m
        raise KeyError(f"{service}/{member}")

    def wait_member(self, service, member, status, timeout=30.0):
        return wait_for(lambda: (lambda m: m if m["status"] == status else None)(
            self.member(service, member)), timeout, what=f"{service}/{member} to be {status}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def log_tail(self, n=60):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._log.close()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc
