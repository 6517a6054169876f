from __future__ import annotations

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
