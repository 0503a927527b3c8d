# System tests of the agent as a whole (real failoverd processes): command line, --check-config
# error reports, SIGHUP reload, TILT after a loop stall and after a wall-clock jump, a loop that
# never blocks on a hanging check, failoverctl, and the API's metrics and auth.
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

import netns
from fo_harness import BUILD, ROOT, free_port, wait_for
from servers_net import banner_server, refusing_port, service  # noqa: F401

FAILOVERD = BUILD / "failoverd"
FAILOVERCTL = BUILD / "failoverctl"
PLUGINS = BUILD / "plugins" / ".libs"
EXAMPLE = ROOT / "etc" / "failoverd.yaml"
# One error as --check-config and a rejected reload print it.
ERROR_LINE = re.compile(
    r"^(?P<file>/[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<path>[^:]+): (?P<msg>.+)$")


def _built(*plugins):
    return FAILOVERD.exists() and all((PLUGINS / f"{p}.so").exists() for p in plugins)


needs_agent = pytest.mark.skipif(not _built("tcp"),
                                 reason=f"failoverd or tcp.so not built in {BUILD}")
needs_ctl = pytest.mark.skipif(not FAILOVERCTL.exists(), reason=f"failoverctl not built in {BUILD}")


def run(argv, env=None, timeout=20):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                          env=env if env is not None else os.environ.copy())


def error_lines(text):
    """The FILE:LINE:COL: path: message lines of a --check-config run, as dicts; log lines (ts=...)
    are skipped, and any other line fails the test."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("ts="):
            continue
        m = ERROR_LINE.match(line)
        assert m, f"not a FILE:LINE:COL: path: message line: {line!r}"
        out.append(m.groupdict())
    return out


def locate(text, needle, nth=0, at_value=False):
    """(line, column), 1-based, of the nth occurrence of needle in text; with at_value, of the
    first non-blank character after the next ':' (a mapping value)."""
    pos = -1
    for _ in range(nth + 1):
        pos = text.index(needle, pos + 1)
    if at_value:
        pos = text.index(":", pos) + 1
        while text[pos] == " ":
            pos += 1
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def member_of(status, svc, name):
    for s in status["services"]:
        if s["name"] == svc:
            for m in s["members"]:
                if m["name"] == name:
                    return m
    raise KeyError(f"{svc}/{name}")


def tcp(name, members, interval="250ms", timeout="200ms", fall=2, rise=2, params=None):
    return service(name, "tcp", "tcp", members, params, interval=interval, timeout=timeout,
                   rise=rise, fall=fall)


def iso_ms(ts):
    """History/last_check timestamps ("2024-05-01T12:00:00.123Z") to epoch milliseconds."""
    import calendar
    base, frac = ts.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) * 1000 + int(frac)


def member_status(metrics, labels, status):
    """The value of failoverd_member_status{labels..., status=...} (other labels such as the
    zone may sit between), or None when the line is missing."""
    m = re.search(r'^failoverd_member_status\{' + labels + r',(?:[a-z_]+="[^"]*",)*status="'
                  + status + r'"\} (\d+)$', metrics, re.M)
    return int(m.group(1)) if m else None


def log_events(agent, event):
    return [line for line in agent.log_path.read_text(errors="replace").splitlines()
            if f"event={event} " in line or line.endswith(f"event={event}")]


# ---- command line ----

@needs_agent
@needs_ctl
@pytest.mark.smoke
def test_smoke_version_status_metrics(agent_factory, banner_server):
    """One agent, one tcp check: --version of both programs, /v1/status and /metrics (this one
    also runs under the sanitizer build)."""
    r = run([FAILOVERD, "--version"])
    assert r.returncode == 0 and re.fullmatch(r"failoverd \d+\.\d+\.\d+\S*\n", r.stdout), r
    version = r.stdout.split()[1]
    r = run([FAILOVERCTL, "--version"])
    assert r.returncode == 0 and r.stdout == f"failoverctl {version}\n", r

    a = agent_factory(services=tcp("smtp", [("mx1", f"127.0.0.1:{banner_server.port}")]))
    a.start()
    m = a.wait_member("smtp", "mx1", "ok", timeout=10)
    st = a.status()
    assert st["agent"]["id"] == "a1" and st["agent"]["version"] == version
    assert st["agent"]["tilt"] == {"active": False, "reason": "", "entered": 0}
    assert m["runs"] >= 2 and m["raw_status"] == "ok"

    metrics = a.get("/metrics")
    lbl = 'service="smtp",member="mx1"'
    assert member_status(metrics, lbl, "ok") == 1, metrics
    assert member_status(metrics, lbl, "critical") == 0
    buckets = re.findall(r'^failoverd_check_latency_seconds_bucket\{' + lbl
                         + r',le="([^"]+)"\} (\d+)$', metrics, re.M)
    assert buckets and buckets[-1][0] == "+Inf" and int(buckets[-1][1]) >= 2, metrics
    counts = [int(c) for _, c in buckets]
    assert counts == sorted(counts), "histogram buckets are cumulative"
    runs = re.search(r'^failoverd_check_runs_total\{' + lbl + r'\} (\d+)$', metrics, re.M)
    assert runs and int(runs.group(1)) >= 2
    assert a.stop() == 0


# ---- --check-config ----

SECRET_OR_PLUGIN = re.compile(r"environment variable \S+ is not set|cannot read secret file|"
                              r"cannot load check plugin")


@needs_agent
def test_config_keys_reference():
    """--config-keys prints the schema the parser uses: every key once, with type and default."""
    r = run([FAILOVERD, "--config-keys"])
    assert r.returncode == 0, r
    keys = {line.split()[0]: line for line in r.stdout.splitlines() if line.strip()}
    assert "duration" in keys["services.NAME.check.interval"]
    assert "default 1s" in keys["services.NAME.check.interval"]
    assert "required" in keys["services.NAME.failover.runbook"]
    assert "cluster.election_timeout_min" in keys
    assert len(keys) == len([ln for ln in r.stdout.splitlines() if ln.strip()]), "a key twice"


@pytest.mark.skipif(not _built("postgres", "redis", "http", "jsonrpc", "tcp", "exec"),
                    reason="failoverd or a check plugin is not built")
def test_check_config_example(tmp_path):
    """etc/failoverd.yaml is valid as shipped; the only things it needs from the machine are its
    secrets (a token env var, PGPASSWORD, the cluster key file) and installed plugins."""
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "FAILOVERD_ONCALL_TOKEN")}
    r = run([FAILOVERD, "--check-config", "-c", EXAMPLE], env=env)
    if r.returncode != 0:
        assert r.returncode == 1, r
        errs = error_lines(r.stderr)
        assert errs, r.stderr
        for e in errs:
            assert SECRET_OR_PLUGIN.search(e["msg"]), f"example config is wrong: {e}"

    # Given those, it passes: a copy of etc/ (relative secret paths resolve from the file's own
    # directory) with the built plugins, any absolute key file replaced and the env secrets set.
    shutil.copytree(EXAMPLE.parent, tmp_path / "etc")
    cfg = tmp_path / "etc" / EXAMPLE.name
    key = tmp_path / "cluster.key"
    key.write_text(os.urandom(32).hex() + "\n")
    key.chmod(0o600)
    text, n = re.subn(r"^plugin_dir:.*$", f"plugin_dir: {PLUGINS}", EXAMPLE.read_text(), flags=re.M)
    assert n == 1
    cfg.write_text(text.replace("/etc/failoverd/cluster.key", str(key)))
    env.update(PGPASSWORD="pw", FAILOVERD_ONCALL_TOKEN="oncall-token")
    r = run([FAILOVERD, "--check-config", "-c", cfg], env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{cfg}: ok (")


@pytest.mark.skipif(not _built(), reason="failoverd not built")
def test_check_config_reports_every_schema_error(tmp_path):
    text = f"""agent:
  id: a1
  zone: z1
  data_dir: {tmp_path}/data
  colour: blue
plugin_dir: {PLUGINS}
api:
  listen: 127.0.0.1:8740
services:
  web:
    kind: tcp
    members:
      - {{name: m1, zone: z1, address: "127.0.0.1:1"}}
    check:
      type: tcp
      interval: 5 parsecs
      timeout: 1s
      rise: lots
      fall: 3
"""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    r = run([FAILOVERD, "--check-config", "-c", cfg])
    assert r.returncode == 1, r
    errs = error_lines(r.stderr)
    got = {e["path"]: (int(e["line"]), int(e["col"]), e["msg"]) for e in errs}
    assert all(e["file"] == str(cfg) for e in errs)
    assert set(got) == {"agent.colour", "services.web.check.interval", "services.web.check.rise"}, \
        r.stderr
    assert got["agent.colour"][:2] == locate(text, "colour")
    assert "unknown key" in got["agent.colour"][2]
    assert got["services.web.check.interval"][:2] == locate(text, "interval:", at_value=True)
    assert "duration" in got["services.web.check.interval"][2]
    assert got["services.web.check.rise"][:2] == locate(text, "rise:", at_value=True)
    assert "integer" in got["services.web.check.rise"][2]


@pytest.mark.skipif(not _built("tcp"), reason="failoverd or tcp.so not built")
def test_check_config_reports_plugin_param_errors(tmp_path):
    """The tcp plugin validates its own params; each bad one is reported at its key."""
    text = f"""agent: {{id: a1, zone: z1, data_dir: {tmp_path}/data}}
plugin_dir: {PLUGINS}
api: {{listen: "127.0.0.1:8740"}}
services:
  web:
    kind: tcp
    members:
      - {{name: m1, zone: z1, address: "127.0.0.1:1"}}
      - {{name: m2, zone: z1, address: "127.0.0.1:2"}}
    check:
      type: tcp
      interval: 1s
      timeout: 500ms
      params:
        frobnicate: 3
  smtp:
    kind: tcp
    members:
      - {{name: mx1, zone: z1, address: "127.0.0.1:25"}}
    check:
      type: tcp
      interval: 1s
      timeout: 500ms
      params:
        expect: 5
  cache:
    kind: tcp
    members:
      - {{name: c1, zone: z1, address: "127.0.0.1:6379"}}
      - {{name: c2, zone: z1, address: "nowhere-without-port"}}
    check:
      type: tcp
"""
    cfg = tmp_path / "bad-params.yaml"
    cfg.write_text(text)
    r = run([FAILOVERD, "--check-config", "-c", cfg])
    assert r.returncode == 1, r
    errs = error_lines(r.stderr)
    got = {e["path"]: (int(e["line"]), int(e["col"]), e["msg"]) for e in errs}
    # one line per bad key, not one per member
    assert len(errs) == 3, r.stderr
    assert got["services.web.check.params.frobnicate"][:2] == locate(text, "frobnicate")
    assert "unknown parameter" in got["services.web.check.params.frobnicate"][2]
    assert got["services.smtp.check.params.expect"][:2] == locate(text, "expect")
    assert "string" in got["services.smtp.check.params.expect"][2]
    # a member's bad address is reported at that member's address, with the schema's path
    assert got["services.cache.members[1].address"][:2] == locate(text, '"nowhere-without-port"')


# ---- SIGHUP reload ----

class Sampler(threading.Thread):
    """Polls one member's status every `step` seconds until stopped; keeps (status, runs)."""

    def __init__(self, agent, svc, member, step=0.05):
        super().__init__(daemon=True)
        self.agent, self.svc, self.name, self.step = agent, svc, member, step
        self.samples = []
        self.errors = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                m = self.agent.member(self.svc, self.name)
                self.samples.append((m["status"], m["runs"]))
            except Exception as e:  # recorded; the test asserts there were none
                self.errors.append(e)
            time.sleep(self.step)

    def stop(self):
        self.done.set()
        self.join(5)


@needs_agent
def test_sighup_reload_keeps_unchanged_and_rejects_bad(agent_factory, banner_server,
                                                       refusing_port):
    up = f"127.0.0.1:{banner_server.port}"
    a = agent_factory(services={**tcp("alpha", [("m1", up)]),
                                **tcp("beta", [("m2", up)], interval="300ms")})
    a.start()
    a.wait_member("alpha", "m1", "ok", timeout=10)
    a.wait_member("beta", "m2", "ok", timeout=10)
    wait_for(lambda: a.member("beta", "m2")["runs"] >= 6, 10, what="beta to run 6 times")

    sampler = Sampler(a, "alpha", "m1")
    sampler.start()
    try:
        before = a.member("alpha", "m1")
        hash_before = a.status()["agent"]["config_hash"]
        t_reload = time.time() * 1000
        # Change beta's check, add gamma; alpha is untouched.
        a.cfg["services"]["beta"]["check"]["interval"] = "400ms"
        a.cfg["services"].update(tcp("gamma", [("m3", f"127.0.0.1:{refusing_port}")]))
        a.write_config()
        a.signal(signal.SIGHUP)
        wait_for(lambda: log_events(a, "config.reload"), 5, what="the reload to be logged")
        assert "result=applied" in log_events(a, "config.reload")[-1]
        m3 = a.wait_member("gamma", "m3", "critical", timeout=10)
        assert m3["message"] == "connection refused"
        st = a.status()
        beta = [s for s in st["services"] if s["name"] == "beta"][0]
        assert beta["check"]["interval_ms"] == 400
        # beta's check changed: it restarted with fresh state (and came back up)
        a.wait_member("beta", "m2", "ok", timeout=10)
        time.sleep(0.6)
    finally:
        sampler.stop()
    after = a.member("alpha", "m1")
    assert not sampler.errors, sampler.errors
    assert sampler.samples and {s for s, _ in sampler.samples} == {"ok"}, \
        "alpha's status flapped during the reload"
    runs = [r for _, r in sampler.samples]
    assert runs == sorted(runs), f"alpha's runs counter went back: {runs}"
    assert after["runs"] > before["runs"] >= 6
    # history kept: what alpha had seen before the reload is still there, in order
    before_ts = [h["ts"] for h in before["history"]]
    after_ts = [h["ts"] for h in after["history"]]
    assert before_ts[0] in after_ts, "alpha's history was reset by the reload"
    k = after_ts.index(before_ts[0])
    assert after_ts[k:k + 5] == before_ts[:5]
    beta = a.member("beta", "m2")
    assert beta["history"] and all(iso_ms(h["ts"]) > t_reload for h in beta["history"]), \
        "beta's check changed, yet it kept results from before the reload"
    hash_applied = a.status()["agent"]["config_hash"]
    assert hash_applied != hash_before

    # A bad config is rejected as a whole: nothing changes, errors name file:line:col.
    good = a.member("beta", "m2")["runs"]
    text = json.dumps(a.cfg, indent=2)
    text = text.replace('"agent": {', '"agent": {\n    "colour": "blue",', 1)
    text = text.replace('"interval": "400ms"', '"interval": "fast"', 1)
    text = text.replace('"services": {', '"services": {\n    "delta": {"kind": "tcp"},', 1)
    a.config_path.write_text(text)
    a.signal(signal.SIGHUP)
    wait_for(lambda: len(log_events(a, "config.reload")) >= 2, 5, what="the rejected reload")
    last = log_events(a, "config.reload")[-1]
    assert "result=rejected" in last and str(a.config_path) in last, last
    errors = log_events(a, "config.reload_failed")
    path = re.escape(str(a.config_path))
    found = {}
    for line in errors:
        m = re.search(r'error="' + path + r':(\d+):(\d+): ([^:]+): ', line)
        assert m, line
        found[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    assert found["agent.colour"] == locate(text, '"colour"')
    assert found["services.beta.check.interval"] == locate(text, '"fast"')
    assert any(p.startswith("services.delta") for p in found), found
    time.sleep(1.0)
    st = a.status()
    assert [s["name"] for s in st["services"]] == ["alpha", "beta", "gamma"]
    assert member_of(st, "beta", "m2")["runs"] > good, "beta was restarted by a rejected reload"
    assert [s["check"]["interval_ms"] for s in st["services"] if s["name"] == "beta"] == [400]
    assert member_of(st, "alpha", "m1")["status"] == "ok"
    assert member_of(st, "alpha", "m1")["runs"] > after["runs"]
    assert member_of(st, "gamma", "m3")["status"] == "critical"
    assert st["agent"]["config_hash"] == hash_applied


def test_sighup_reload_log_file_is_all_or_nothing(agent_factory, banner_server, tmp_path):
    """A log file that cannot be opened rejects the whole reload (checks unchanged); a good one
    takes the logs from then on; removing it sends them back to stderr."""
    up = f"127.0.0.1:{banner_server.port}"
    a = agent_factory(services=tcp("alpha", [("m1", up)], interval="300ms"))
    a.start()
    a.wait_member("alpha", "m1", "ok", timeout=10)

    a.cfg["log"] = {**a.cfg.get("log", {}), "file": str(tmp_path / "no-such-dir" / "a.log")}
    a.cfg["services"]["alpha"]["check"]["interval"] = "400ms"
    a.write_config()
    a.signal(signal.SIGHUP)
    wait_for(lambda: log_events(a, "config.reload"), 5, what="the rejected reload")
    last = log_events(a, "config.reload")[-1]
    assert "result=rejected" in last and "no-such-dir" in last, last
    svc = [s for s in a.status()["services"] if s["name"] == "alpha"][0]
    assert svc["check"]["interval_ms"] == 300, "a rejected reload changed the checks"

    logfile = tmp_path / "agent.log"
    a.cfg["log"]["file"] = str(logfile)
    a.write_config()
    a.signal(signal.SIGHUP)
    wait_for(lambda: logfile.exists() and "event=config.reload " in logfile.read_text(), 5,
             what="the applied reload in the new log file")
    assert "result=applied" in logfile.read_text()
    assert len(log_events(a, "config.reload")) == 1, "stderr still got the new log lines"
    svc = [s for s in a.status()["services"] if s["name"] == "alpha"][0]
    assert svc["check"]["interval_ms"] == 400

    del a.cfg["log"]["file"]
    a.write_config()
    a.signal(signal.SIGHUP)
    wait_for(lambda: len(log_events(a, "config.reload")) == 2, 5,
             what="the next reload back on stderr")
    assert "result=applied" in log_events(a, "config.reload")[-1]
    assert logfile.read_text().count("event=config.reload ") == 1


# ---- TILT ----

def watch_tilt(agent, svc, member, timeout):
    """Samples status until TILT has been seen active and then inactive again. Returns
    (samples while active as (request start wall ms, status), first inactive status, time
    from the first active sample to the first inactive one)."""
    active, t_on = [], None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t_req = time.time() * 1000
        st = agent.status()
        if st["agent"]["tilt"]["active"]:
            if t_on is None:
                t_on = time.monotonic()
            active.append((t_req, st))
        elif active:
            return active, st, time.monotonic() - t_on
        time.sleep(0.1)
    raise AssertionError(f"TILT did not come and go within {timeout}s (active samples: "
                         f"{len(active)})\n{agent.log_tail(20)}")


def assert_unknown_during_tilt(active, svc, member, t_resume_ms, wall_offset_ms=0):
    """While TILT is active, results recorded after the hiccup are unknown, never critical."""
    fresh = 0
    for t_req, st in active:
        m = member_of(st, svc, member)
        if m["last_check"] and iso_ms(m["last_check"]) - wall_offset_ms > t_resume_ms:
            fresh += 1
            assert m["raw_status"] == "unknown", m
            assert m["message"].startswith("tilt: "), m
    assert fresh >= 3, f"too few results during TILT ({fresh})"
    last_active_req = active[-1][0]
    m = member_of(active[-1][1], svc, member)
    during = [h for h in m["history"]
              if t_resume_ms < iso_ms(h["ts"]) - wall_offset_ms < last_active_req]
    assert len(during) >= 3, m["history"]
    assert all(h["status"] == "unknown" for h in during), during


@needs_agent
def test_tilt_after_loop_stall(agent_factory, refusing_port, banner_server):
    a = agent_factory(services={
        **tcp("closed", [("m1", f"127.0.0.1:{refusing_port}")]),
        **tcp("open", [("m2", f"127.0.0.1:{banner_server.port}")]),
    })
    a.start()
    a.wait_member("closed", "m1", "critical", timeout=10)
    a.wait_member("open", "m2", "ok", timeout=10)

    a.signal(signal.SIGSTOP)
    try:
        time.sleep(2.5)
    finally:
        a.signal(signal.SIGCONT)
    t_resume = time.time() * 1000
    t0 = time.monotonic()
    active, after, lasted = watch_tilt(a, "closed", "m1", timeout=10)
    assert time.monotonic() - t0 >= 2.8, "TILT left before the stable period (3 s)"
    first = active[0][1]["agent"]["tilt"]
    assert first["entered"] == 1 and first["reason"].startswith("loop stalled "), first
    stalled = int(re.search(r"(\d+) ms", first["reason"]).group(1))
    assert 1000 < stalled < 4000
    assert 2.5 <= lasted <= 5.0, lasted
    assert_unknown_during_tilt(active, "closed", "m1", t_resume)
    # an ok member stays ok: TILT only turns critical into unknown
    assert all(member_of(st, "open", "m2")["raw_status"] == "ok" for _, st in active)
    assert after["agent"]["tilt"] == {"active": False, "reason": "", "entered": 1}
    # after TILT, the refused port is evidence again
    m = a.wait_member("closed", "m1", "critical", timeout=5)
    assert m["message"] == "connection refused"
    assert [line for line in log_events(a, "tilt.enter") if "loop stalled" in line]
    assert log_events(a, "tilt.leave")


@needs_agent
def test_tilt_after_wall_clock_jump(agent_factory, refusing_port, tmp_path):
    offset = tmp_path / "wall-offset-ms"
    offset.write_text("0\n")
    a = agent_factory(services=tcp("closed", [("m1", f"127.0.0.1:{refusing_port}")]),
                      env={"FAILOVERD_TEST_WALL_OFFSET_FILE": str(offset)})
    a.start()
    a.wait_member("closed", "m1", "critical", timeout=10)
    time.sleep(0.5)
    assert a.status()["agent"]["tilt"]["entered"] == 0

    t_jump = time.time() * 1000
    offset.write_text("5000\n")
    active, after, lasted = watch_tilt(a, "closed", "m1", timeout=10)
    tilt = active[0][1]["agent"]["tilt"]
    jump = re.fullmatch(r"wall clock jumped \+(\d+) ms", tilt["reason"])
    assert jump and 4500 <= int(jump.group(1)) <= 5500, tilt
    assert tilt["entered"] == 1
    assert 2.5 <= lasted <= 5.0, lasted
    assert_unknown_during_tilt(active, "closed", "m1", t_jump, wall_offset_ms=5000)
    assert after["agent"]["tilt"]["entered"] == 1
    # the agent's clock now runs 5 s ahead: its timestamps say so
    m = a.wait_member("closed", "m1", "critical", timeout=5)
    assert iso_ms(m["last_check"]) - time.time() * 1000 > 4000
    assert [line for line in log_events(a, "tilt.enter") if "wall clock jumped" in line]


# ---- the loop never blocks ----

NETNS_OK, NETNS_WHY = netns.available()


@pytest.mark.skipif(not _built("tcp", "postgres"),
                    reason="failoverd, tcp.so or postgres.so not built")
@pytest.mark.skipif(not NETNS_OK, reason=NETNS_WHY or "network namespaces unavailable")
def test_hanging_postgres_check_does_not_block_the_loop(agent_factory, banner_server):
    """A postgres check against an address that drops every packet hangs until its timeout; the
    fast tcp check next to it keeps its cadence and the API keeps answering."""
    with netns.Net(1) as net:
        # The blackhole: the test's own namespace address, every incoming packet dropped.
        table = f"{net.prefix}bh"
        subprocess.run(["ip", "netns", "exec", net.ns(0), "nft", "-f", "-"], check=True,
                       input=f"table inet {table} {{\n  chain in {{\n"
                             f"    type filter hook input priority 0; policy drop;\n  }}\n}}\n",
                       text=True, timeout=10)
        hole = net.ip(0)
        with pytest.raises(socket.timeout):
            socket.create_connection((hole, 5432), timeout=1).close()
        services = {
            **service("db", "postgres", "postgres", [("pg1", f"{hole}:5432")],
                      {"user": "failoverd", "dbname": "postgres"}, interval="3500ms",
                      timeout="3s", rise=1, fall=1),
            **tcp("fast", [("m1", f"127.0.0.1:{banner_server.port}")], interval="200ms",
                  timeout="150ms"),
        }
        a = agent_factory(services=services)
        a.start()
        try:
            a.wait_member("fast", "m1", "ok", timeout=10)
            # three 2-second windows: the postgres run hangs for 3 s of every 3.5 s
            windows, api_ms = [], []
            for _ in range(3):
                t_req = time.monotonic()
                r0 = a.member("fast", "m1")["runs"]
                api_ms.append((time.monotonic() - t_req) * 1000)
                t0 = time.monotonic()
                while time.monotonic() - t0 < 2.0:
                    t_req = time.monotonic()
                    a.get("/v1/status")
                    api_ms.append((time.monotonic() - t_req) * 1000)
                    time.sleep(0.1)
                windows.append(a.member("fast", "m1")["runs"] - r0)
            assert all(7 <= w <= 12 for w in windows), f"fast check runs per 2 s: {windows}"
            assert max(api_ms) < 500, f"API answered in up to {max(api_ms):.0f} ms"
            # the postgres run did hang for its whole budget (the plugin's own timer fires a
            # little before the agent's hard timeout of 3 s) and then turned critical
            pg = a.wait_member("db", "pg1", "critical", timeout=10)
            assert pg["message"].startswith("timeout after "), pg
            hung = [h["latency_ms"] for h in pg["history"]]
            assert hung and all(2000 <= ms <= 3300 for ms in hung), pg["history"]
            fast = a.member("fast", "m1")
            assert fast["status"] == "ok" and fast["timeouts"] == 0
        finally:
            a.stop()  # before the namespace goes


# ---- failoverctl ----

@needs_agent
@needs_ctl
def test_failoverctl_status_table_json_and_unreachable(agent_factory, banner_server,
                                                      refusing_port):
    a = agent_factory(services={
        **tcp("smtp", [("mx1", f"127.0.0.1:{banner_server.port}")]),
        **tcp("closed", [("mx2", f"127.0.0.1:{refusing_port}")]),
    })
    a.start()
    a.wait_member("smtp", "mx1", "ok", timeout=10)
    a.wait_member("closed", "mx2", "critical", timeout=10)
    url = f"http://127.0.0.1:{a.api_port}"

    r = run([FAILOVERCTL, "--url", url, "status"])
    assert r.returncode == 0, r.stderr
    assert "\033[" not in r.stdout, "colour codes when stdout is not a terminal"
    assert re.search(r"^agent a1 +zone zone-a1 ", r.stdout, re.M), r.stdout
    hdr = re.search(r"^ +MEMBER +ZONE +STATUS +LATENCY +SINCE +VERDICT +MESSAGE", r.stdout, re.M)
    assert hdr, r.stdout
    assert re.search(r"^ +mx1 +zone-a1 +ok +\S+ +\S+ +- +connected in ", r.stdout, re.M), r.stdout
    assert re.search(r"^ +mx2 +zone-a1 +critical +\S+ +\S+ +- +connection refused", r.stdout,
                     re.M), r.stdout
    assert re.search(r"^smtp \(tcp\) +check tcp every 250ms, timeout 200ms, rise 2 fall 2$",
                     r.stdout, re.M), r.stdout

    r = run([FAILOVERCTL, "--url", url, "status", "--json"])
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    api = a.status()
    assert doc.keys() == api.keys() == {"agent", "cluster", "services"}
    assert doc["agent"]["id"] == api["agent"]["id"] and doc["agent"]["pid"] == api["agent"]["pid"]
    assert doc["cluster"] is None
    assert [s["name"] for s in doc["services"]] == [s["name"] for s in api["services"]]
    assert member_of(doc, "smtp", "mx1").keys() == member_of(api, "smtp", "mx1").keys()
    assert member_of(doc, "closed", "mx2")["status"] == "critical"

    dead = f"http://127.0.0.1:{free_port()}"
    r = run([FAILOVERCTL, "--url", dead, "status"])
    assert r.returncode == 1, r
    assert dead in r.stderr, r.stderr
    assert r.stdout == ""


# ---- API ----

@needs_agent
def test_api_metrics_and_note_without_token(agent_factory, refusing_port):
    a = agent_factory(services=tcp("closed", [("mx2", f"127.0.0.1:{refusing_port}")]))
    a.start()
    a.wait_member("closed", "mx2", "critical", timeout=10)
    metrics = a.get("/metrics")
    lbl = 'service="closed",member="mx2"'
    assert member_status(metrics, lbl, "critical") == 1, metrics
    assert re.search(r'^failoverd_check_latency_seconds_bucket\{' + lbl + r',le="\+Inf"\} \d+$',
                     metrics, re.M)
    assert re.search(r'^failoverd_check_latency_seconds_count\{' + lbl + r'\} \d+$', metrics, re.M)
    assert re.search(r'^failoverd_tilt 0$', metrics, re.M)
    # Without a cluster the note route does not exist at all.
    code, body = a.post("/v1/note", {"text": "hello"})
    assert code == 404, (code, body)
    code, _ = a.request("GET", "/v1/nothing-here")
    assert code == 404


@needs_agent
def test_note_needs_a_token(tmp_path, refusing_port):
    """In a cluster (here of one agent) /v1/note exists and refuses requests without a valid
    token; a read-only route answers without one."""
    from cluster import Cluster
    c = Cluster(tmp_path / "c", n=1,
                services=tcp("closed", [("mx2", f"127.0.0.1:{refusing_port}")]))
    try:
        c.start()
        a = c.agents[0]
        a.token = None
        code, body = a.post("/v1/note", {"text": "no token"}, timeout=5)
        assert code == 401, (code, body)
        a.token = "not-the-token"
        code, body = a.post("/v1/note", {"text": "wrong token"}, timeout=5)
        assert code in (401, 403), (code, body)
        a.token = None  # reading needs no token
        assert a.status()["cluster"]["self"] == "a1"
        refused = re.search(r"^failoverd_api_refused_total (\d+)$", a.get("/metrics"), re.M)
        assert refused and int(refused.group(1)) >= 2
        a.token = c.token
        assert c.wait_leader(timeout=10) is a
        c.note("with the token", timeout=10)
        notes = c.audit_notes(a)
        assert "with the token" in notes
        assert "no token" not in notes and "wrong token" not in notes
    finally:
        c.stop()
