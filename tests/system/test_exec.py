# System tests of the exec check plugin with Debian's monitoring-plugins (check_dummy, check_tcp):
# exit codes to statuses, the first output line as the message, perfdata as facts.
import subprocess

import pytest

from servers_net import (NAGIOS, banner_server, needs_daemon, refusing_port,  # noqa: F401
                         service)

DUMMY = NAGIOS / "check_dummy"
CHECK_TCP = NAGIOS / "check_tcp"

pytestmark = pytest.mark.skipif(not DUMMY.exists() or not CHECK_TCP.exists(),
                                reason="monitoring-plugins-basic is not installed")


def test_monitoring_plugins_present(banner_server):
    r = subprocess.run([str(DUMMY), "1", "meh"], capture_output=True, text=True)
    assert (r.returncode, r.stdout.strip()) == (1, "WARNING: meh")
    r = subprocess.run([str(CHECK_TCP), "-H", "127.0.0.1", "-p", str(banner_server.port)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "time=" in r.stdout


@needs_daemon
def test_exec_check_dummy_statuses(agent_factory):
    words = ["ok", "warning", "critical", "unknown"]
    services = {}
    for code, word in enumerate(words):
        services.update(service(f"dummy-{word}", "exec", "exec", [("local", "localhost")],
                                {"argv": [str(DUMMY), str(code), f"text {code}"]}))
    a = agent_factory(services=services).start()
    for code, word in enumerate(words):
        m = a.wait_member(f"dummy-{word}", "local", word)
        assert m["raw_status"] == word
        assert m["message"] == f"{word.upper()}: text {code}"
        assert m["facts"]["exit_code"] == code


@needs_daemon
def test_exec_check_tcp_perfdata_and_refused(agent_factory, banner_server, refusing_port):
    services = {
        **service("tcp-nagios", "exec", "exec", [("local", "localhost")],
                  {"argv": [str(CHECK_TCP), "-H", "127.0.0.1", "-p", str(banner_server.port)]}),
        **service("tcp-nagios-closed", "exec", "exec", [("local", "localhost")],
                  {"argv": [str(CHECK_TCP), "-H", "127.0.0.1", "-p", str(refusing_port)]}),
        **service("slow", "exec", "exec", [("local", "localhost")],
                  {"argv": ["/bin/sleep", "30"]}, interval="1s", timeout="500ms"),
    }
    a = agent_factory(services=services).start()
    m = a.wait_member("tcp-nagios", "local", "ok")
    assert m["message"].startswith("TCP OK")
    assert m["facts"]["exit_code"] == 0
    assert 0 <= m["facts"]["perf_time"] < 10
    m = a.wait_member("tcp-nagios-closed", "local", "critical")
    assert "Connection refused" in m["message"]
    assert m["facts"]["exit_code"] == 2
    m = a.wait_member("slow", "local", "critical")
    assert "timed out" in m["message"] or "timeout" in m["message"]
