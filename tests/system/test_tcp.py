# System tests of the tcp check plugin: a listening port with a banner, and a port that refuses.
import socket

from servers_net import (banner_server, connect_refused, needs_daemon, refusing_port,  # noqa: F401
                         service)


def test_tcp_fixtures(banner_server, refusing_port):
    with socket.create_connection(("127.0.0.1", banner_server.port), timeout=2) as c:
        assert c.recv(100).startswith(b"220 ")
    assert connect_refused(refusing_port)


@needs_daemon
def test_tcp_listening_banner_and_refused(agent_factory, banner_server, refusing_port):
    up = f"127.0.0.1:{banner_server.port}"
    services = {
        **service("smtp", "tcp", "tcp", [("mx1", up)]),
        **service("smtp-banner", "tcp", "tcp", [("mx1", up)], {"expect": "220 fo-test"}),
        **service("smtp-wrong", "tcp", "tcp", [("mx1", up)], {"expect": "554"}, interval="1s",
                  timeout="600ms"),
        **service("smtp-named", "tcp", "tcp", [("mx1", f"localhost:{banner_server.port}")]),
        **service("closed", "tcp", "tcp", [("mx2", f"127.0.0.1:{refusing_port}")]),
    }
    a = agent_factory(services=services).start()

    m = a.wait_member("smtp", "mx1", "ok")
    assert 0 <= m["facts"]["connect_ms"] < 1000
    assert m["message"].startswith("connected in ")
    m = a.wait_member("smtp-banner", "mx1", "ok")
    assert "answer matches" in m["message"]
    m = a.wait_member("smtp-wrong", "mx1", "critical")
    assert "no expected answer within" in m["message"]
    a.wait_member("smtp-named", "mx1", "ok")

    m = a.wait_member("closed", "mx2", "critical")
    assert m["message"] == "connection refused"
    assert "connect_ms" not in m["facts"]
    assert banner_server.accepted > 0
