from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from helpers import SECURE_ENV


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/lab/ needs the lab of real hosts: mark it so `-m "not lab"` skips it, and run it
    after the unit tests, so a plain `pytest` shows a unit regression before the long lab run."""
    for item in items:
        if "/tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)
    items.sort(key=lambda item: item.get_closest_marker("lab") is not None)


@pytest.fixture
def secure_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in SECURE_ENV.items():
        monkeypatch.setenv(key, value)
    return SECURE_ENV


@pytest.fixture(scope="session")
def promtool() -> str:
    """Prometheus's promtool, from the distribution's prometheus package when missing."""
    if not shutil.which("promtool"):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.skip("promtool is not installed and cannot be installed here (needs root and apt-get)")
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus"]
        if subprocess.run(install, capture_output=True, timeout=600, env=environment).returncode != 0:  # stale package lists
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600, env=environment)
            subprocess.run(install, capture_output=True, timeout=600, env=environment)
    found = shutil.which("promtool")
    assert found, "apt-get could not install prometheus (promtool)"
    return found
