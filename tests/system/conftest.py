# pytest fixtures shared by the system tests: build paths, free ports, agents.
import os
import pathlib

import pytest

from fo_harness import Agent, free_port  # noqa: F401

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def agent_factory(tmp_path):
    agents = []

    def make(name="a1", **kw):
        a = Agent(tmp_path / name, name=name, **kw)
        agents.append(a)
        return a

    yield make
    for a in agents:
        a.stop()


def pytest_report_header(config):
    return "failoverd build dir: " + os.environ.get("FO_BUILD_DIR", str(ROOT / "build"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "smoke: quick tests that also run under the sanitizer build (pytest -m smoke)")
