# Network namespaces for multi-zone system tests (root only): one namespace per zone, each with
# a veth to a bridge that lives in a hub namespace of its own, plus a veth from the root namespace
# to that bridge so the test reaches every zone's address. Partitions are nftables rules inside
# the zones (this kernel has no netem). Names are unique per test run (fo<pid%10000><n>...), and
# everything is removed on close() and, as a safety net, at interpreter exit. Stdlib only (the
# election benchmark imports it too).
import atexit
import ipaddress
import itertools
import os
import shutil
import subprocess

_SEQ = itertools.count()
_OPEN = []  # networks not yet closed, for the atexit safety net
_AVAILABLE = None  # cached (ok, reason)


def _run(argv, check=True, input=None):
    r = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def available():
    """(True, "") when this process can make namespaces, veths, a bridge and nftables rules in a
    namespace; otherwise (False, what is missing). Checked once, by trying."""
    global _AVAILABLE
    if _AVAILABLE is not None:
        return _AVAILABLE
    if os.geteuid() != 0:
        _AVAILABLE = (False, "needs root (network namespaces)")
    elif not shutil.which("ip"):
        _AVAILABLE = (False, "needs iproute2 (ip)")
    elif not shutil.which("nft"):
        _AVAILABLE = (False, "needs nftables (nft): apt-get install nftables")
    else:
        name = f"fo{os.getpid() % 10000:04d}probe"
        try:
            _run(["ip", "netns", "add", name])
            try:
                _run(["ip", "-n", name, "link", "add", "probebr", "type", "bridge"])
                _run(["ip", "-n", name, "link", "add", "probea", "type", "veth", "peer", "name",
                      "probeb"])
                _run(["ip", "netns", "exec", name, "nft", "add", "table", "inet", "probe"])
                _AVAILABLE = (True, "")
            finally:
                _run(["ip", "netns", "del", name], check=False)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            _AVAILABLE = (False, f"network namespaces, veth, bridge or nftables unavailable: {e}")
    return _AVAILABLE


def _used_networks():
    nets = []
    for argv in (["ip", "-4", "-o", "route", "show", "table", "all"], ["ip", "-4", "-o", "addr"]):
        for line in _run(argv, check=False).stdout.splitlines():
            for word in line.split():
                try:
                    if "/" in word or word[0].isdigit():
                        nets.append(ipaddress.ip_network(word, strict=False))
                except ValueError:
                    pass
    return nets


class Net:
    """N zone namespaces on one bridge. Zone i has address ip(i) (10.231.X.i+1/24); the root
    namespace has host_ip (.254) on the same bridge, so the test can reach the zones and the
    zones can reach servers the test runs on host_ip."""

    def __init__(self, n):
        assert 1 <= n <= 50
        self.n = n
        self.seq = next(_SEQ)
        self.prefix = f"fo{os.getpid() % 10000:04d}{self.seq}"
        self.hub = f"{self.prefix}-hub"
        self.zones = [f"{self.prefix}-z{i}" for i in range(n)]
        self.root_if = f"{self.prefix}r"
        self.rules = {i: [] for i in range(n)}  # nft rules per zone, re-applied as one table
        self.closed = False
        self._cleanup_leftovers()
        self.subnet = self._pick_subnet()
        _OPEN.append(self)
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    # ---- addresses and commands ----

    def ip(self, i):
        return str(self.subnet.network_address + i + 1)

    @property
    def host_ip(self):
        return str(self.subnet.network_address + 254)

    def ns(self, i):
        return self.zones[i]

    def exec(self, i, *argv, check=True):
        """Runs argv in zone i; returns the CompletedProcess."""
        return _run(["ip", "netns", "exec", self.zones[i], *argv], check=check)

    # ---- partitions ----

    def partition(self, groups, port=None):
        """Cuts traffic between every pair of groups (lists of zone indices); within a group and
        to the root namespace (the test, the API) traffic flows. port: cut only TCP to or from
        that port (e.g. the peer port), else all IP between the groups. Replaces earlier
        partitions; block() rules stay."""
        for i in range(self.n):
            self.rules[i] = [r for r in self.rules[i] if r[0] == "block"]
        for gi, g in enumerate(groups):
            others = [j for gj, h in enumerate(groups) if gj != gi for j in h]
            if not others:
                continue
            addrs = "{ " + ", ".join(self.ip(j) for j in others) + " }"
            for i in g:
                for direction, field in (("in", "saddr"), ("out", "daddr")):
                    if port:
                        for p in ("dport", "sport"):
                            self.rules[i].append(
                                ("partition", direction, f"ip {field} {addrs} tcp {p} {port} drop"))
                    else:
                        self.rules[i].append(("partition", direction, f"ip {field} {addrs} drop"))
        self._apply()

    def block(self, i, addr, port):
        """Zone i can no longer open TCP connections to addr:port (packets dropped)."""
        self.rules[i].append(("block", "out", f"ip daddr {addr} tcp dport {port} drop"))
        self._apply([i])

    def heal(self):
        """Removes every partition and block rule."""
        self.rules = {i: [] for i in range(self.n)}
        self._apply()

    def _apply(self, only=None):
        for i in (only if only is not None else range(self.n)):
            table = f"inet {self.prefix}"
            script = [f"table {table} {{}}", f"delete table {table}"]
            if self.rules[i]:
                chains = []
                for direction, hook in (("in", "input"), ("out", "output")):
                    body = [r[2] for r in self.rules[i] if r[1] == direction]
                    chains.append(f"  chain {direction} {{\n"
                                  f"    type filter hook {hook} priority 0; policy accept;\n"
                                  + "".join(f"    {b}\n" for b in body) + "  }")
                script.append(f"table {table} {{\n" + "\n".join(chains) + "\n}")
            _run(["ip", "netns", "exec", self.zones[i], "nft", "-f", "-"],
                 input="\n".join(script) + "\n")

    # ---- setup and teardown ----

    def _pick_subnet(self):
        used = _used_networks()
        start = (7 * os.getpid() + 13 * self.seq) % 250
        for k in range(250):
            cand = ipaddress.ip_network(f"10.231.{(start + k) % 250}.0/24")
            if not any(cand.overlaps(u) for u in used if u.prefixlen > 0):
                return cand
        raise RuntimeError("no free 10.231.X.0/24 subnet for the test network")

    def _setup(self):
        hub, br = self.hub, f"{self.prefix}br"
        _run(["ip", "netns", "add", hub])
        _run(["ip", "-n", hub, "link", "set", "lo", "up"])
        _run(["ip", "-n", hub, "link", "add", br, "type", "bridge"])
        _run(["ip", "-n", hub, "link", "set", br, "up"])
        # the root namespace's leg: the test and the servers it runs sit at host_ip
        _run(["ip", "link", "add", self.root_if, "type", "veth", "peer", "name",
              f"{self.prefix}rb", "netns", hub])
        _run(["ip", "addr", "add", f"{self.host_ip}/{self.subnet.prefixlen}", "dev", self.root_if])
        _run(["ip", "link", "set", self.root_if, "up"])
        _run(["ip", "-n", hub, "link", "set", f"{self.prefix}rb", "master", br, "up"])
        for i, z in enumerate(self.zones):
            _run(["ip", "netns", "add", z])
            _run(["ip", "-n", z, "link", "set", "lo", "up"])
            _run(["ip", "-n", z, "link", "add", f"{self.prefix}z{i}", "type", "veth", "peer",
                  "name", f"{self.prefix}b{i}", "netns", hub])
            _run(["ip", "-n", z, "addr", "add", f"{self.ip(i)}/{self.subnet.prefixlen}", "dev",
                  f"{self.prefix}z{i}"])
            _run(["ip", "-n", z, "link", "set", f"{self.prefix}z{i}", "up"])
            _run(["ip", "-n", hub, "link", "set", f"{self.prefix}b{i}", "master", br, "up"])

    def _cleanup_leftovers(self):
        # a run that died with the same pid % 10000 and sequence number left these behind
        names = _run(["ip", "netns", "list"], check=False).stdout.split()
        for name in names:
            if name == self.hub or name in self.zones:
                _run(["ip", "netns", "del", name], check=False)
        _run(["ip", "link", "del", self.root_if], check=False)

    def close(self):
        """Removes the namespaces (and with them the veths and the bridge). Processes still
        running inside a namespace keep it alive: stop them first."""
        if self.closed:
            return
        self.closed = True
        for name in [*self.zones, self.hub]:
            _run(["ip", "netns", "del", name], check=False)
        _run(["ip", "link", "del", self.root_if], check=False)
        if self in _OPEN:
            _OPEN.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@atexit.register
def _close_all():
    for net in list(_OPEN):
        net.close()
