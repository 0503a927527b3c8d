# System tests of the jsonrpc check plugin against two real ganache nodes (independent chains
# mining a block a second): head facts, a node left behind (head lag), a stalled head, a wrong
# chain id, and a node answering 200 with something that is not JSON-RPC.
# ganache never advances an idle chain by itself unless --miner.blockTime is set: max_head_age
# only makes sense for nodes that produce (or import) blocks steadily.
from fo_harness import wait_for
from servers_net import backend, ganache_pair, needs_daemon, service  # noqa: F401


def catch_up(behind, ahead):
    """Mines on `behind` until its head passes `ahead`'s."""
    n = ahead.block_number() - behind.block_number() + 1
    if n > 0:
        behind.mine(n)


def test_ganache_fixture(ganache_pair):
    """The fixture alone: both nodes mine; miner_stop stalls one, evm_mine moves it by hand,
    miner_start resumes it."""
    n1, n2 = ganache_pair
    assert int(n1.rpc("eth_chainId"), 16) == 1337
    assert n1.rpc("eth_syncing") is False
    h1 = n1.block_number()
    wait_for(lambda: n1.block_number() > h1, 10, what="node1 to mine")
    assert n2.rpc("miner_stop") is True
    stalled = n2.block_number()
    wait_for(lambda: n1.block_number() >= h1 + 3, 10, what="node1 to mine 3 more")
    assert n2.block_number() == stalled
    n2.mine(4)
    assert n2.block_number() == stalled + 4
    assert n2.rpc("miner_start") is True
    wait_for(lambda: n2.block_number() > stalled + 4, 10, what="node2 to mine again")


@needs_daemon
def test_jsonrpc_heads_and_lagging_node(agent_factory, ganache_pair):
    n1, n2 = ganache_pair
    max_lag = 3
    services = {
        **service("rpc", "rpc", "jsonrpc", [("node1", n1.url), ("node2", n2.url)],
                  {"max_head_lag": max_lag, "chain_id": 1337}, interval="500ms", rise=2, fall=2),
        **service("rpc-wrong-chain", "rpc", "jsonrpc", [("node1", n1.url)], {"chain_id": 1}),
    }
    # Start level: the nodes started a moment apart.
    catch_up(n2, n1)
    catch_up(n1, n2)
    a = agent_factory(services=services).start()

    for name in ("node1", "node2"):
        m = a.wait_member("rpc", name, "ok")
        f = m["facts"]
        assert f["head"] > 0 and f["syncing"] is False and f["peers"] == 0
        assert f["chain_id"] == 1337
        assert f["best_head"] >= f["head"] and f["head_lag"] == f["best_head"] - f["head"]
        assert f["head_timestamp"] > 1_600_000_000
        assert "head_age_s" in f
    m = a.wait_member("rpc-wrong-chain", "node1", "critical")
    assert m["message"] == "chain id 1337, expected 1"

    # node2 stops producing blocks: it falls behind node1 and only it turns critical.
    n2.rpc("miner_stop")
    m = a.wait_member("rpc", "node2", "critical", timeout=30)
    assert "behind best" in m["message"]
    assert m["facts"]["head_lag"] > max_lag
    assert a.member("rpc", "node1")["status"] == "ok"

    # It catches up and resumes: ok again after rise.
    catch_up(n2, n1)
    n2.rpc("miner_start")
    m = a.wait_member("rpc", "node2", "ok", timeout=30)
    assert m["facts"]["head_lag"] <= max_lag


@needs_daemon
def test_jsonrpc_stalled_head(agent_factory, ganache_pair):
    n1, _ = ganache_pair
    services = service("rpc", "rpc", "jsonrpc", [("node1", n1.url)],
                       {"max_head_age": "3s", "max_head_lag": 1000}, interval="500ms", rise=2,
                       fall=2)
    a = agent_factory(services=services).start()
    a.wait_member("rpc", "node1", "ok")

    n1.rpc("miner_stop")
    m = a.wait_member("rpc", "node1", "critical", timeout=30)
    assert "not advanced for" in m["message"]
    assert m["facts"]["head_age_s"] > 3

    n1.rpc("miner_start")
    m = a.wait_member("rpc", "node1", "ok", timeout=30)
    assert m["facts"]["head_age_s"] < 3


@needs_daemon
def test_jsonrpc_sick_answers(agent_factory, backend):
    """A 200 that is not JSON-RPC is the node's sickness (critical), as is an HTTP error."""
    backend.routes["/"] = (200, "text/html", b"<html>maintenance</html>")
    backend.routes["/down"] = (503, "text/plain", b"down")
    base = f"http://127.0.0.1:{backend.port}"
    services = {
        **service("rpc-html", "rpc", "jsonrpc", [("n1", base + "/")]),
        **service("rpc-503", "rpc", "jsonrpc", [("n1", base + "/down")]),
    }
    a = agent_factory(services=services).start()
    m = a.wait_member("rpc-html", "n1", "critical")
    assert m["message"].startswith("bad JSON-RPC answer: answer is not JSON")
    m = a.wait_member("rpc-503", "n1", "critical")
    assert m["message"] == "HTTP 503"
