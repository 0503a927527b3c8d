# A Raft cluster of real failoverd agents for the system tests and the election benchmark: N
# agents, each with its own data dir and API, sharing a cluster key file, on loopback or one per
# network namespace (netns.Net, API on the namespace address so the test reaches it through the
# bridge). Helpers read the "cluster" block of /v1/status, commit notes, kill, restart, partition
# and heal. Stdlib only.
import http.client
import json
import pathlib
import secrets
import signal
import subprocess
import time

from fo_harness import Agent, free_port, wait_for

API_PORT = 7410   # in namespaces every agent has its own address, so the ports can be fixed
PEER_PORT = 7411


def _ms(d):
    return f"{int(d)}ms"


def _alive(a):
    p = a.proc  # read once: another thread may kill and clear it
    return p is not None and p.poll() is None


class Cluster:
    """Agents a1..aN (names configurable), zone zone-<name>, every agent a voter.

    election: (election_timeout_min, election_timeout_max) in ms; heartbeat in ms. services: the
    services section, the same on every agent (detection counts only reports of the same config
    hash). net: a netns.Net with at least N zones, or None for loopback. cluster_extra: more
    keys for every agent's cluster section (e.g. snapshot_every)."""

    def __init__(self, workdir, n=3, net=None, election=(300, 600), heartbeat=50, services=None,
                 names=None, cluster_id="fo-test", log_level="debug", cluster_extra=None):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.net = net
        self.election_min, self.election_max = election
        self.heartbeat = heartbeat
        self.cluster_id = cluster_id
        names = names or [f"a{i + 1}" for i in range(n)]
        assert len(names) == n and (net is None or net.n >= n)
        self.key_file = self.write_key("cluster.key")
        self.token = secrets.token_hex(24)
        self.token_file = self.dir / "api.token"
        self.token_file.write_text(self.token + "\n")
        self.token_file.chmod(0o600)

        self.addrs = {}  # name -> (host, api port, peer port)
        taken = set()
        for i, name in enumerate(names):
            if net:
                self.addrs[name] = (net.ip(i), API_PORT, PEER_PORT)
                continue
            ports = []
            while len(ports) < 2:  # the kernel may hand the same free port out twice
                p = free_port()
                if p not in taken:
                    taken.add(p)
                    ports.append(p)
            self.addrs[name] = ("127.0.0.1", *ports)
        self.agents = []
        for i, name in enumerate(names):
            host, api_port, peer_port = self.addrs[name]
            peers = [{"id": o, "zone": f"zone-{o}", "address": f"{h}:{pp}"}
                     for o, (h, _, pp) in self.addrs.items() if o != name]
            cluster = {
                "id": cluster_id,
                "key_file": str(self.key_file),
                "listen": f"{host}:{peer_port}",
                "peers": peers,
                "election_timeout_min": _ms(self.election_min),
                "election_timeout_max": _ms(self.election_max),
                "heartbeat_interval": _ms(heartbeat),
                **(cluster_extra or {}),
            }
            api = {"listen": f"{host}:{api_port}",
                   "tokens": [{"name": "test", "role": "admin",
                               "secret_file": str(self.token_file)}]}
            a = Agent(self.dir / name, name=name, zone=f"zone-{name}", services=services,
                      cluster=cluster, extra={"api": api}, netns=net.ns(i) if net else None,
                      api_host=host, api_port=api_port, token=self.token)
            a.cfg["log"]["level"] = log_level
            a.peer_port = peer_port
            self.agents.append(a)

    def write_key(self, name):
        """A new cluster key file in the work dir: 32 random bytes, hex (the first line is used)."""
        path = self.dir / name
        path.write_text(secrets.token_hex(32) + "\n")
        path.chmod(0o600)
        return path

    # ---- agents ----

    def agent(self, name):
        if isinstance(name, Agent):
            return name
        for a in self.agents:
            if a.name == name:
                return a
        raise KeyError(name)

    def index(self, a):
        return self.agents.index(self.agent(a))

    def running(self, among=None):
        return [a for a in self._list(among) if _alive(a)]

    def _list(self, among):
        return [self.agent(x) for x in among] if among is not None else list(self.agents)

    def start(self, among=None, timeout=20):
        agents = self._list(among)
        for a in agents:
            a.start(wait=False)
        for a in agents:
            self._wait_api(a, timeout)
        return self

    @staticmethod
    def _wait_api(a, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if a.proc.poll() is not None:  # a config error: say so now, not after the timeout
                raise AssertionError(f"agent {a.name} exited with {a.proc.returncode}:\n"
                                     + a.log_tail())
            try:
                a.get("/v1/status", timeout=1.0)
                return
            except (OSError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    raise AssertionError(f"agent {a.name}: no API after {timeout}s\n"
                                         + a.log_tail())
            time.sleep(0.05)

    def kill(self, a):
        """kill -9."""
        return self.agent(a).stop(signal.SIGKILL)

    def restart(self, a, timeout=20):
        a = self.agent(a)
        a.start(wait=False)
        self._wait_api(a, timeout)
        return a

    def terminate(self, a, timeout=15):
        """SIGTERM once (a second one would hit the default action) and the exit code."""
        a = self.agent(a)
        if not a.proc:
            return None
        a.proc.send_signal(signal.SIGTERM)
        try:
            a.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            a.proc.kill()
            a.proc.wait()
        return a.stop()

    def stop(self, timeout=15):
        """SIGTERM to every running agent at once; {name: exit code} of those and of any agent
        that exited by itself (agents the test killed or stopped are left out)."""
        live = self.running()
        for a in live:
            a.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for a in live:
            try:
                a.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                a.proc.kill()
                a.proc.wait()
        rcs = {a.name: a.stop() for a in live}
        for a in self.agents:  # those that died on their own (not killed by the test) count too
            if a.proc:
                rcs[a.name] = a.stop()
        return rcs

    def logs(self, n=30, among=None):
        return "\n".join(f"--- {a.name} ({a.log_path}):\n{a.log_tail(n)}"
                         for a in self._list(among))

    # ---- status ----

    def cstatus(self, a, timeout=1.0):
        """The agent's "cluster" block, or None when it is not running or does not answer."""
        a = self.agent(a)
        if not _alive(a):
            return None
        try:
            return json.loads(a.get("/v1/status", timeout=timeout)).get("cluster")
        except (OSError, ValueError, http.client.HTTPException):
            return None

    def statuses(self, among=None):
        return {a.name: self.cstatus(a) for a in self._list(among)}

    @staticmethod
    def leaders(st):
        return [n for n, s in st.items() if s and s.get("role") == "leader"]

    def leader(self, among=None):
        """The agreed leader among `among` (default: the running agents): exactly one of them
        says it leads and every other one names it, in the same term. Else None."""
        among = self.running(among) if among is None else self._list(among)
        st = self.statuses(among)
        ls = self.leaders(st)
        if len(ls) != 1:
            return None
        term = st[ls[0]]["term"]
        for s in st.values():
            if not s or s.get("leader") != ls[0] or s.get("term") != term:
                return None
        return self.agent(ls[0])

    def wait_leader(self, among=None, timeout=15, step=0.02, not_=None, min_term=None):
        """Waits for an agreed leader (not `not_`, in a term >= min_term)."""
        def ok():
            a = self.leader(among)
            if a is None or (not_ is not None and a.name == self.agent(not_).name):
                return None
            if min_term is not None and self.cstatus(a)["term"] < min_term:
                return None
            return a
        return wait_for(ok, timeout, step, what=f"an agreed leader among "
                        f"{[a.name for a in self._list(among)] if among else 'running agents'}")

    def term(self, a):
        s = self.cstatus(a)
        return s["term"] if s else None

    # ---- notes and audit ----

    def propose(self, a, text, timeout=8.0):
        """POST /v1/note to agent a: (HTTP status, body), or (None, error) when the request
        itself failed (refused, reset, timed out)."""
        try:
            return self.agent(a).post("/v1/note", {"text": text}, timeout=timeout)
        except (OSError, http.client.HTTPException) as e:
            return None, repr(e)

    def note(self, text, timeout=15.0, among=None):
        """Commits a note through whoever leads (following 409s); returns the 200 body
        {index, term}. A 504 is a note of unknown fate: it is not retried (that would make two)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            a = self.leader(among)
            if a is None:
                time.sleep(0.02)
                continue
            code, body = self.propose(a, text, timeout=max(1.0, deadline - time.monotonic()))
            if code == 200:
                return body
            if code == 504:
                raise AssertionError(f"note {text!r}: commit not confirmed: {body}")
            last = (a.name, code, body)
            time.sleep(0.02)
        raise AssertionError(f"note {text!r} not committed in {timeout}s (last: {last})")

    def audit(self, a, timeout=5.0):
        return json.loads(self.agent(a).get("/v1/audit?from=0&limit=10000", timeout=timeout))

    def audit_raw(self, a, timeout=5.0):
        return self.agent(a).get("/v1/audit/raw", timeout=timeout)

    def audit_notes(self, a):
        """{text: index} of the note records in agent a's audit."""
        out = {}
        for r in self.audit(a)["records"]:
            if r.get("action") == "note":
                out[(r.get("details") or {}).get("text")] = r["index"]
        return out

    def heads(self, among=None):
        return {n: (s["audit_head"]["index"], s["audit_head"]["hash"]) if s else None
                for n, s in self.statuses(among).items()}

    def wait_converged(self, among=None, timeout=20, step=0.05):
        """Waits until the agents (default: all running) agree on one leader and every one has
        applied the leader's commit index and holds the same audit head. Returns the leader."""
        def ok():
            agents = self.running(among) if among is None else self._list(among)
            lead = self.leader(agents)
            if lead is None:
                return None
            st = self.statuses(agents)
            commit = st[lead.name]["commit_index"]
            heads = {(s["audit_head"]["index"], s["audit_head"]["hash"]) for s in st.values()}
            if len(heads) != 1 or any(s["applied_index"] != commit for s in st.values()):
                return None
            return lead
        return wait_for(ok, timeout, step, what="one leader and identical audit heads")

    # ---- partitions (namespaces only) ----

    def partition(self, *groups):
        """Cuts peer traffic between the groups (lists of agents or names); the API stays
        reachable from the test."""
        assert self.net, "partitions need the cluster in network namespaces"
        self.net.partition([[self.index(a) for a in g] for g in groups], port=PEER_PORT)

    def heal(self):
        assert self.net
        self.net.heal()


def elapsed_ms(t0):
    return (time.monotonic() - t0) * 1000.0

