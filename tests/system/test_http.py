# System tests of the http check plugin against a real HAProxy 2.6: /healthz is answered by
# HAProxy itself (`http-request return`), other paths are proxied to a backend server.
import ssl
import urllib.error
import urllib.request

import pytest

from servers_net import (backend, connect_refused, haproxy, needs_daemon, service,  # noqa: F401
                         streak)


def get(url, ca_file=None):
    ctx = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    with urllib.request.urlopen(url, timeout=2, context=ctx) as r:
        return r.status, r.read().decode()


def test_haproxy_fixture(haproxy, backend):
    """The fixture alone: health endpoint, proxied backend, stop and restart on the same port."""
    assert get(haproxy.url()) == (200, "OK")
    assert get(haproxy.url("/app")) == (200, "hello from backend")
    assert get(haproxy.tls_url(), haproxy.ca_file) == (200, "OK")
    with pytest.raises(urllib.error.URLError):
        get(haproxy.tls_url())  # not signed by a CA the system trusts
    haproxy.stop()
    assert connect_refused(haproxy.port)
    haproxy.start()
    assert get(haproxy.url()) == (200, "OK")


@needs_daemon
def test_http_ok_wrong_match_and_status(agent_factory, haproxy, backend):
    services = {
        **service("edge-lb", "http", "http", [("lb1", haproxy.url())],
                  {"expect_status": 200, "body_match": "OK"}),
        **service("edge-lb-wrong", "http", "http", [("lb1", haproxy.url())],
                  {"body_match": "NOPE"}),
        **service("edge-app", "http", "http", [("lb1", haproxy.url("/app"))],
                  {"body_regex": "^hello from [a-z]+$", "method": "GET"}),
        **service("edge-404", "http", "http", [("lb1", haproxy.url("/nothing-here"))],
                  {"expect_status": [200, "300-399"], "body_match": "hello"}),
    }
    backend.routes["/nothing-here"] = (404, "text/plain", b"hello, not found")
    a = agent_factory(services=services).start()

    m = a.wait_member("edge-lb", "lb1", "ok")
    assert m["facts"]["http_status"] == 200
    assert m["facts"]["body_match"] is True
    assert m["facts"]["bytes"] == 2
    assert m["message"] == "HTTP 200, 2 bytes"
    assert m["latency_ms"] >= 0

    m = a.wait_member("edge-lb-wrong", "lb1", "critical")
    assert 'does not match "NOPE"' in m["message"]
    assert m["facts"]["body_match"] is False
    assert m["facts"]["http_status"] == 200

    m = a.wait_member("edge-app", "lb1", "ok")
    assert m["facts"]["body_match"] is True

    m = a.wait_member("edge-404", "lb1", "critical")
    assert m["message"] == "HTTP 404, expected 200,300-399"
    assert m["facts"]["http_status"] == 404


@needs_daemon
def test_http_down_after_fall_and_up_after_rise(agent_factory, haproxy):
    fall, rise = 3, 2
    services = service("edge-lb", "http", "http", [("lb1", haproxy.url())], {"body_match": "OK"},
                       interval="300ms", timeout="250ms", rise=rise, fall=fall)
    a = agent_factory(services=services).start()
    a.wait_member("edge-lb", "lb1", "ok")

    haproxy.stop()
    m = a.wait_member("edge-lb", "lb1", "critical", timeout=20)
    assert m["message"] == "connection refused"
    assert streak(m, "critical") >= fall

    haproxy.start()
    m = a.wait_member("edge-lb", "lb1", "ok", timeout=20)
    assert streak(m, "ok") >= rise
    assert m["facts"]["http_status"] == 200



@needs_daemon
def test_https_ca_file_and_insecure(agent_factory, haproxy):
    url = haproxy.tls_url()
    services = {
        **service("tls-untrusted", "http", "http", [("lb1", url)]),
        **service("tls-ca", "http", "http", [("lb1", url)],
                  {"ca_file": str(haproxy.ca_file), "body_match": "OK"}),
        **service("tls-insecure", "http", "http", [("lb1", url)], {"insecure": True}),
    }
    a = agent_factory(services=services).start()
    m = a.wait_member("tls-untrusted", "lb1", "critical")
    assert "certificate" in m["message"].lower()
    a.wait_member("tls-ca", "lb1", "ok")
    a.wait_member("tls-insecure", "lb1", "ok")
