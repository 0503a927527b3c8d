# Starting real failoverd agents for system tests, and reading what they report.
import json
import os
import pathlib
import signal
from signal import SIGTERM  # Agent.signal() shadows the module in the class body
import socket
import subprocess
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("FO_BUILD_DIR", ROOT / "build"))
# Agents are only ever on 127.0.0.1 or in the tests' own namespaces: never through a proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port():
    """A free TCP port on 127.0.0.1 (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AgentExited(AssertionError):
    """The agent process is gone: waiting longer cannot help."""


def wait_for(pred, timeout=20.0, step=0.1, what="condition"):
    """Polls pred() until it returns a truthy value; raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except AgentExited:
            raise
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
                 env=None, netns=None, api_host=None, api_port=None, token=None):
        """api_host/api_port: where the API listens (e.g. the agent's namespace address);
        token: a bearer secret sent with every request (configure it in api.tokens)."""
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.api_port = api_port or free_port()
        self.netns = netns
        self.api_host = api_host or "127.0.0.1"
        self.token = token
        self.cfg = {
            "agent": {"id": name, "zone": zone or f"zone-{name}", "data_dir": str(self.dir / "data")},
            "log": {"level": "debug", "format": "logfmt"},
            "plugin_dir": str(BUILD / "plugins" / ".libs"),
            "api": {"listen": f"{self.api_host}:{self.api_port}"},
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

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path, timeout=2.0):
        req = urllib.request.Request(self.url(path), headers=self.headers())
        with _OPENER.open(req, timeout=timeout) as r:
            return r.read().decode()

    def request(self, method, path, body=None, timeout=10.0):
        """Any HTTP status is an answer: returns (status, parsed JSON or text). body: an object
        sent as JSON. Transport errors (refused, timeout) raise."""
        data = None if body is None else json.dumps(body).encode()
        headers = self.headers()
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url(path), data=data, method=method, headers=headers)
        try:
            with _OPENER.open(req, timeout=timeout) as r:
                code, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            code, raw = e.code, e.read()
        text = raw.decode(errors="replace")
        try:
            return code, json.loads(text)
        except ValueError:
            return code, text

    def post(self, path, body, timeout=10.0):
        return self.request("POST", path, body, timeout)

    def status(self):
        if self.proc and self.proc.poll() is not None:
            raise AgentExited(f"agent {self.name} exited with {self.proc.returncode}:\n"
                              + self.log_tail())
        return json.loads(self.get("/v1/status"))

    def member(self, service, member):
        for s in self.status()["services"]:
            if s["name"] == service:
                for m in s["members"]:
                    if m["name"] == member:
                        return m
        raise KeyError(f"{service}/{member}")

    def wait_member(self, service, member, status, timeout=30.0, settled=True):
        """Waits until the member's confirmed status is `status`; with settled (the default) its
        last raw result must agree too, so that facts are those of such a result (a confirmed ok
        may carry an unknown last result without facts: unknown never moves the status)."""
        def ok(m):
            if m["status"] != status or (settled and m.get("raw_status") != status):
                return None
            return m
        return wait_for(lambda: ok(self.member(service, member)), timeout,
                        what=f"{service}/{member} to be {status}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def log_tail(self, n=60):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, sig=SIGTERM, timeout=10):
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
