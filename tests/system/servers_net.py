# Real servers for the network plugins' system tests (http, tcp, jsonrpc, exec): HAProxy with a
# health endpoint in front of a backend, ganache JSON-RPC nodes, a port that refuses, small socket
# servers. Everything listens on 127.0.0.1 on free ports, in the test's tmp dir, and is stopped
# even when the test fails. Test modules import the fixtures they use from here.
import http.server
import json
import pathlib
import shutil
import socket
import subprocess
import threading
import urllib.request

import pytest

from fo_harness import BUILD, ROOT, free_port, wait_for, wait_port

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
GANACHE = ROOT / "node_modules" / ".bin" / "ganache"
NAGIOS = pathlib.Path("/usr/lib/nagios/plugins")


def daemon_ready():
    """The agent binary and the plugins it loads are built."""
    libs = BUILD / "plugins" / ".libs"
    return (BUILD / "failoverd").exists() and all(
        (libs / f"{p}.so").exists() for p in ("http", "tcp", "jsonrpc", "exec"))


needs_daemon = pytest.mark.skipif(
    not daemon_ready(), reason=f"failoverd or its plugins are not built in {BUILD}")


def _stop_proc(proc, timeout=10):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class BackendHTTP:
    """A threaded HTTP server: GET on any path answers 200 `hello from backend`; paths in
    `routes` answer (status, content-type, body) instead."""

    def __init__(self, routes=None):
        self.routes = dict(routes or {})
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                status, ctype, body = outer.routes.get(
                    self.path, (200, "text/plain", b"hello from backend"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                self._answer()

            def do_HEAD(self):
                self._answer()

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HAProxy:
    """haproxy -db with a frontend that answers /healthz itself (200 `OK`) and sends everything
    else to one backend server, the same over TLS (a self-signed certificate for 127.0.0.1 in
    `ca_file`), and an admin stats socket."""

    def __init__(self, workdir, backend_port):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port()
        self.backend_port = backend_port
        self.ca_file = self.dir / "cert.pem"
        self.pem = self.dir / "haproxy.pem"
        key = self.dir / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
                        str(key), "-out", str(self.ca_file)], check=True, capture_output=True)
        self.pem.write_bytes(self.ca_file.read_bytes() + key.read_bytes())
        self.sock = self.dir / "admin.sock"
        self.cfg = self.dir / "haproxy.cfg"
        self.log = self.dir / "haproxy.log"
        self.proc = None
        self.cfg.write_text(f"""global
    stats socket {self.sock} mode 600 level admin

defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s

frontend fe
    bind 127.0.0.1:{self.port}
    bind 127.0.0.1:{self.tls_port} ssl crt {self.pem}
    http-request return status 200 content-type text/plain string OK if {{ path /healthz }}
    default_backend be_app

backend be_app
    server app1 127.0.0.1:{backend_port}
""")
        subprocess.run([HAPROXY, "-c", "-q", "-f", str(self.cfg)], check=True)

    def url(self, path="/healthz"):
        return f"http://127.0.0.1:{self.port}{path}"

    def tls_url(self, path="/healthz"):
        return f"https://127.0.0.1:{self.tls_port}{path}"

    def start(self):
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen([HAPROXY, "-f", str(self.cfg), "-db"], stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, timeout=30)
        wait_port(self.tls_port, timeout=30)
        return self

    def stop(self):
        _stop_proc(self.proc)
        if self.proc:
            self._log.close()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()


class Ganache:
    """One ganache node (JSON-RPC over HTTP), mining every `block_time` seconds (0: only on
    evm_mine)."""

    def __init__(self, workdir, block_time=1, chain_id=1337):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.argv = [str(GANACHE), "--server.host", "127.0.0.1", "--server.port", str(self.port),
                     "--chain.chainId", str(chain_id), "--miner.blockTime", str(block_time),
                     "--wallet.deterministic", "--wallet.totalAccounts", "1", "--logging.quiet"]
        self.log = self.dir / "ganache.log"
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def spawn(self):
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def wait_ready(self, timeout=60):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("ganache exited:\n" + self.log.read_text(errors="replace"))
            return self.block_number() >= 0
        wait_for(ready, timeout, step=0.2, what=f"ganache on port {self.port}")
        return self

    def rpc(self, method, params=None, timeout=5):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                           "params": params or []}).encode()
        req = urllib.request.Request(self.url, data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            answer = json.loads(r.read())
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error'].get('message')}")
        return answer["result"]

    def block_number(self):
        return int(self.rpc("eth_blockNumber"), 16)

    def mine(self, blocks=1):
        self.rpc("evm_mine", [{"blocks": blocks}])

    def stop(self):
        _stop_proc(self.proc)
        if self.proc:
            self._log.close()
        self.proc = None


class SocketServer:
    """A TCP server on 127.0.0.1: sends `banner` on accept (if any), then holds the connection
    until the peer closes it."""

    def __init__(self, banner=None):
        self.banner = banner
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn):
        with conn:
            conn.settimeout(10)
            try:
                if self.banner:
                    conn.sendall(self.banner)
                while conn.recv(4096):
                    pass
            except OSError:
                pass

    def close(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()


def refusing_socket():
    """A socket bound to a port on 127.0.0.1 that does not listen: connections to the port are
    refused, and while the socket is held nobody else can take the port."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s


def connect_refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


# ---- fixtures ----

@pytest.fixture
def backend():
    b = BackendHTTP()
    yield b
    b.close()


@pytest.fixture
def haproxy(tmp_path, backend):
    h = HAProxy(tmp_path / "haproxy", backend.port).start()
    yield h
    h.stop()


@pytest.fixture
def ganache_pair(tmp_path):
    """Two independent ganache nodes mining a block a second, started together so that their
    heads stay within a block or two of each other."""
    if not GANACHE.exists():
        pytest.skip(f"{GANACHE} missing: run `npm ci` in {ROOT}")
    nodes = [Ganache(tmp_path / f"ganache{i}", block_time=1) for i in (1, 2)]
    try:
        for n in nodes:
            n.spawn()
        for n in nodes:
            n.wait_ready()
        yield nodes
    finally:
        for n in nodes:
            n.stop()


@pytest.fixture
def refusing_port():
    s = refusing_socket()
    yield s.getsockname()[1]
    s.close()


@pytest.fixture
def banner_server():
    s = SocketServer(banner=b"220 fo-test ready\r\n")
    yield s
    s.close()


# ---- helpers for the agent's configuration and status ----

def service(name, kind, check_type, members, params=None, interval="500ms", timeout="400ms", rise=2,
            fall=3):
    """One services: entry; members is a list of (name, address)."""
    check = {"type": check_type, "interval": interval, "timeout": timeout, "rise": rise,
             "fall": fall}
    if params is not None:
        check["params"] = params
    return {name: {"kind": kind,
                   "members": [{"name": n, "zone": "zone-a1", "address": a} for n, a in members],
                   "check": check}}


def streak(member, status):
    """How many of the member's newest results in a row had this raw status."""
    n = 0
    for h in sorted(member["history"], key=lambda h: h["ts"] or "", reverse=True):
        if h["status"] != status:
            break
        n += 1
    return n
