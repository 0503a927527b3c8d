# System tests of the redis check plugin against a real Redis 7.0 primary and replica: roles,
# replication ids and offsets as typed facts, the replica's link going down when its primary
# stops, and the rise/fall hysteresis when a server stops and comes back.
import signal

import pytest

from fo_harness import wait_for
from servers_pg import db_service, needs_daemon, pending_samples, watch_transition
from servers_redis import CHECK_PASSWORD, CHECK_USER, redis_pair  # noqa: F401

FALL = 3
RISE = 2


def redis_services(pair):
    members = [("r1", "z1", pair.primary.address()), ("r2", "z2", pair.replica.address())]
    return db_service("cache", "redis", members, pair.check_params(), rise=RISE, fall=FALL)


def test_redis_fixture_replicates(redis_pair):
    """The fixture alone: replication works and the check user may only PING and INFO."""
    import redis
    redis_pair.ensure_running()
    assert redis_pair.primary.info()["role"] == "master"
    info = redis_pair.replica.info()
    assert info["role"] == "slave" and info["master_port"] == redis_pair.primary.port
    redis_pair.primary.client().set("fixture-key", "v")
    wait_for(lambda: redis_pair.replica.client().get("fixture-key") == "v", 10,
             what="key on the replica")
    check = redis.Redis(host="127.0.0.1", port=redis_pair.primary.port, username=CHECK_USER,
                        password=CHECK_PASSWORD, decode_responses=True)
    assert check.ping()
    assert check.info("replication")["connected_slaves"] == 1
    with pytest.raises(redis.exceptions.NoPermissionError):
        check.set("k", "v")


@needs_daemon("redis")
def test_redis_roles_offsets_and_link(agent_factory, redis_pair):
    redis_pair.ensure_running()
    a = agent_factory(services=redis_services(redis_pair)).start()
    p = a.wait_member("cache", "r1", "ok")["facts"]
    r = a.wait_member("cache", "r2", "ok")["facts"]
    server = redis_pair.primary.info("server")

    assert p["role"] == "primary" and r["role"] == "replica"
    assert p["run_id"] == server["run_id"] and len(r["run_id"]) == 40
    assert p["run_id"] != r["run_id"]
    assert p["connected_replicas"] == 1 and p["online_replicas"] == 1
    assert r["master_host"] == "127.0.0.1" and r["master_port"] == redis_pair.primary.port
    assert r["master_link_status"] == "up"
    assert isinstance(r["master_last_io_seconds_ago"], int)
    assert "master_link_down_since_s" not in r
    for k in ("master_host", "master_link_status"):
        assert k not in p
    # Same lineage: the replica carries its primary's replication id.
    assert p["master_replid"] == r["master_replid"]
    assert p["master_replid2"] == r["master_replid2"]

    # Writes move both offsets, and the replica's catches up with the primary's.
    start = p["repl_offset"]
    c = redis_pair.primary.client()
    for i in range(200):
        c.set(f"k{i}", "x" * 100)
    target = redis_pair.primary.info()["master_repl_offset"]
    assert target > start

    def caught_up():
        pf = a.member("cache", "r1")["facts"]
        rf = a.member("cache", "r2")["facts"]
        return (pf, rf) if pf["repl_offset"] >= target and rf["repl_offset"] >= target else None
    pf, rf = wait_for(caught_up, 20, what="offsets to reach the primary's")
    assert isinstance(pf["repl_offset"], int) and isinstance(rf["repl_offset"], int)


@needs_daemon("redis")
def test_redis_primary_down_replica_link_down(agent_factory, redis_pair):
    redis_pair.ensure_running()
    a = agent_factory(services=redis_services(redis_pair)).start()
    a.wait_member("cache", "r1", "ok")
    a.wait_member("cache", "r2", "ok")
    old_run_id = a.member("cache", "r1")["facts"]["run_id"]

    samples, _ = watch_transition(a, "cache", "r1", "critical", FALL,
                                  action=lambda: redis_pair.primary.stop(signal.SIGKILL))
    assert pending_samples(samples, "critical")
    # The replica is up, its link is not: a warning with the link facts, never critical.
    m = wait_for(lambda: (lambda m: m if m["facts"].get("master_link_status") == "down"
                          and m["raw_status"] == "warning" else None)(a.member("cache", "r2")),
                 20, what="replica link down")
    assert m["facts"]["master_link_down_since_s"] >= 0
    assert m["facts"]["master_last_io_seconds_ago"] == -1
    assert "link down" in m["message"]
    assert a.member("cache", "r2")["status"] != "critical"
    down_since = a.member("cache", "r2")["facts"]["master_link_down_since_s"]

    # Back with an empty dataset: a new run_id (DESIGN.md rule 13 keys on it), link up again.
    samples, _ = watch_transition(a, "cache", "r1", "ok", RISE, action=redis_pair.primary.start)
    assert pending_samples(samples, "ok")
    wait_for(lambda: a.member("cache", "r1")["facts"].get("run_id", old_run_id) != old_run_id,
             10, what="a new run_id")
    r = wait_for(lambda: (lambda m: m if m["facts"].get("master_link_status") == "up"
                          else None)(a.member("cache", "r2")), 30, what="replica link up")
    assert "master_link_down_since_s" not in r["facts"]
    assert down_since >= 0


@needs_daemon("redis")
def test_redis_replica_down_and_back(agent_factory, redis_pair):
    redis_pair.ensure_running()
    a = agent_factory(services=redis_services(redis_pair)).start()
    a.wait_member("cache", "r2", "ok")

    samples, m = watch_transition(a, "cache", "r2", "critical", FALL,
                                  action=redis_pair.replica.stop)
    assert pending_samples(samples, "critical"), "never saw raw critical before the fall"
    assert "refused" in m["message"]
    wait_for(lambda: a.member("cache", "r1")["facts"]["connected_replicas"] == 0, 20,
             what="primary to lose its replica")
    assert a.member("cache", "r1")["status"] == "ok"

    samples, m = watch_transition(a, "cache", "r2", "ok", RISE, action=redis_pair.replica.start)
    assert pending_samples(samples, "ok"), "never saw a raw good result before the rise"
    assert m["facts"]["role"] == "replica"


@needs_daemon("redis")
def test_redis_wrong_password_is_critical(agent_factory, redis_pair, tmp_path):
    redis_pair.ensure_running()
    bad = tmp_path / "bad-password"
    bad.write_text("not-the-password\n")
    members = [("r1", "z1", redis_pair.primary.address())]
    params = {"username": CHECK_USER, "password_file": str(bad)}
    a = agent_factory(services=db_service("cache", "redis", members, params)).start()
    m = a.wait_member("cache", "r1", "critical")
    assert "WRONGPASS" in m["message"]
    assert "not-the-password" not in a.log_tail(400)
