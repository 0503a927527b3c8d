# System tests of the postgres check plugin against a real PostgreSQL 15 primary and streaming
# standby: roles and positions as typed facts, lag under write load and paused replay, and the
# rise/fall hysteresis when the standby stops and comes back.
import re

from fo_harness import wait_for
from servers_pg import (CHECK_USER, db_service, needs_daemon, pending_samples,  # noqa: F401
                        pg_pair, wait_lsn_replayed, watch_transition)

FALL = 3
RISE = 2
LSN_RE = re.compile(r"^[0-9A-F]{1,8}/[0-9A-F]{1,8}$")


def lsn_int(text):
    hi, lo = text.split("/")
    return int(hi, 16) << 32 | int(lo, 16)


def pg_services(pair, **tight):
    members = [("pg1", "z1", pair.primary.address()), ("pg2", "z2", pair.standby.address())]
    services = db_service("db", "postgres", members, pair.check_params(max_lag="16MiB"),
                          rise=RISE, fall=FALL)
    if tight:
        # Only the standby, with a lag limit small enough to trip on a few transactions.
        services.update(db_service("db-tight", "postgres", [members[1]],
                                   pair.check_params(**tight)))
    return services


def write_load(pair, rows=20000):
    with pair.primary.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS load (id serial PRIMARY KEY, pad text)")
        cur.execute("INSERT INTO load (pad) SELECT repeat('x', 200) FROM generate_series(1, %s)",
                    (rows,))
    conn.close()


def test_pg_fixture_replicates(pg_pair):
    """The fixture alone: a primary, a streaming standby, and the check user's access."""
    pg_pair.ensure_running()
    assert pg_pair.primary.query("SELECT pg_is_in_recovery()") == [(False,)]
    assert pg_pair.standby.query("SELECT pg_is_in_recovery()") == [(True,)]
    write_load(pg_pair, rows=10)
    wait_lsn_replayed(pg_pair)
    assert pg_pair.standby.query("SELECT count(*) >= 10 FROM load") == [(True,)]
    # The check user logs in with the password from the file and, through pg_monitor, sees the
    # WAL receiver's columns (hidden from a plain user).
    password = pg_pair.password_file.read_text().strip()
    conn = pg_pair.standby.connect(user=CHECK_USER, password=password)
    with conn.cursor() as cur:
        cur.execute("SELECT status, sender_port FROM pg_stat_wal_receiver")
        assert cur.fetchall() == [("streaming", pg_pair.primary.port)]
    conn.close()
    rows = pg_pair.primary.query("SELECT application_name, state FROM pg_stat_replication")
    assert rows == [("standby", "streaming")]


@needs_daemon("postgres")
def test_pg_roles_and_positions(agent_factory, pg_pair):
    pg_pair.ensure_running()
    a = agent_factory(services=pg_services(pg_pair)).start()
    p = a.wait_member("db", "pg1", "ok")
    s = a.wait_member("db", "pg2", "ok")

    pf, sf = p["facts"], s["facts"]
    # The agent tells them apart.
    assert pf["role"] == "primary" and pf["in_recovery"] is False
    assert sf["role"] == "standby" and sf["in_recovery"] is True
    assert pf["timeline"] == 1 and sf["timeline"] == 1
    assert isinstance(pf["current_lsn"], int) and pf["current_lsn"] > 0
    assert LSN_RE.match(pf["current_lsn_str"])
    assert lsn_int(pf["current_lsn_str"]) == pf["current_lsn"]
    assert pf["streaming_replicas"] == 1
    assert pf["sync_standby_names"] == ""
    for k in ("receive_lsn", "replay_lsn", "replay_lag_bytes", "wal_receiver_status"):
        assert k not in pf
    for k in ("receive_lsn", "replay_lsn"):
        assert isinstance(sf[k], int) and lsn_int(sf[k + "_str"]) == sf[k]
    assert sf["replay_lag_bytes"] >= 0
    assert sf["wal_receiver_status"] == "streaming"
    assert sf["wal_receiver_sender"] == f"127.0.0.1:{pg_pair.primary.port}"
    assert 0 <= sf["wal_receiver_last_msg_age_s"] < 120
    assert "current_lsn" not in sf
    assert p["message"].startswith("primary") and s["message"].startswith("standby")
    assert p["latency_ms"] is not None and p["latency_ms"] < 1000


@needs_daemon("postgres")
def test_pg_lag_under_write_load(agent_factory, pg_pair):
    pg_pair.ensure_running()
    a = agent_factory(services=pg_services(pg_pair, max_lag="64k")).start()
    a.wait_member("db", "pg2", "ok")
    before = a.member("db", "pg2")["facts"]["receive_lsn"]

    write_load(pg_pair)
    target = lsn_int(wait_lsn_replayed(pg_pair))
    assert target > before
    # The standby's positions follow the primary's, and the lag facts are there.
    f = wait_for(lambda: (lambda m: m["facts"] if m["facts"].get("replay_lsn", 0) >= target
                          else None)(a.member("db", "pg2")), 20, what="standby facts to catch up")
    assert f["receive_lsn"] >= target
    assert isinstance(f["replay_lag_bytes"], int) and f["replay_lag_bytes"] >= 0
    # Lag behind the primary comes from the primary's fresh current_lsn (the host's best value).
    assert isinstance(f.get("receive_lag_bytes"), int) and f["receive_lag_bytes"] >= 0

    # Replay paused while WAL keeps arriving: replay lag above max_lag (64 KiB) is a warning,
    # the member is not down.
    pg_pair.standby.query("SELECT pg_wal_replay_pause()")
    try:
        write_load(pg_pair)
        m = wait_for(lambda: (lambda m: m if m["raw_status"] == "warning" else None)(
            a.member("db-tight", "pg2")), 20, what="db-tight/pg2 warning on replay lag")
        assert m["facts"]["replay_lag_bytes"] > 64 * 1024
        assert "max_lag" in m["message"]
        assert m["status"] != "critical"
        # The same standby under the 16MiB limit stays ok.
        assert a.member("db", "pg2")["raw_status"] == "ok"
    finally:
        pg_pair.standby.query("SELECT pg_wal_replay_resume()")
    a.wait_member("db-tight", "pg2", "ok")
    assert a.member("db-tight", "pg2")["facts"]["replay_lag_bytes"] <= 64 * 1024


@needs_daemon("postgres")
def test_pg_standby_down_and_back(agent_factory, pg_pair):
    pg_pair.ensure_running()
    a = agent_factory(services=pg_services(pg_pair)).start()
    a.wait_member("db", "pg2", "ok")
    a.wait_member("db", "pg1", "ok")

    samples, m = watch_transition(a, "db", "pg2", "critical", FALL,
                                  action=lambda: pg_pair.standby.stop("fast"))
    # Seen failing but not yet confirmed: fall holds it until FALL results in a row.
    assert pending_samples(samples, "critical"), "never saw raw critical before the fall"
    assert "connect" in m["message"]
    assert m["facts"] == {}
    # The primary notices its standby is gone.
    wait_for(lambda: a.member("db", "pg1")["facts"]["streaming_replicas"] == 0, 20,
             what="primary to count no streaming standby")
    assert a.member("db", "pg1")["status"] == "ok"

    samples, m = watch_transition(a, "db", "pg2", "ok", RISE, action=pg_pair.standby.start)
    assert pending_samples(samples, "ok"), "never saw a raw good result before the rise"
    assert m["facts"]["role"] == "standby"
    wait_for(lambda: a.member("db", "pg1")["facts"]["streaming_replicas"] == 1, 30,
             what="standby streaming again")


@needs_daemon("postgres")
def test_pg_wrong_password_is_critical(agent_factory, pg_pair, tmp_path):
    pg_pair.ensure_running()
    bad = tmp_path / "bad-password"
    bad.write_text("not the password\n")
    members = [("pg1", "z1", pg_pair.primary.address())]
    params = {"user": CHECK_USER, "password_file": str(bad)}
    a = agent_factory(services=db_service("db", "postgres", members, params)).start()
    m = a.wait_member("db", "pg1", "critical")
    assert "password authentication failed" in m["message"]
    assert "not the password" not in a.log_tail(400)
