"""The canary of molecule/shared/canary.py (its docstring states the contract: lost, duplicated, produce errors,
unavailable, stopped by the test), run in-process by the lab tests as a context manager:

    with Canary(lab.bootstrap()) as canary:      # returns once the canary has acknowledgements
        ... change the cluster ...
        canary.settle()                          # more acknowledgements after the change
    canary.check(max_gap_s=30)                   # prints the report, asserts the verdict
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from labkit import wait_until

_SPEC = importlib.util.spec_from_file_location(
    "molecule_canary", Path(__file__).resolve().parents[2] / "molecule" / "shared" / "canary.py")
_MODULE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODULE)

# Two seconds of acknowledgements at the canary's rate: it produces before the change, and again after it.
SETTLE_ACKNOWLEDGEMENTS = 2 * _MODULE.RATE_PER_SECOND
LEADERS_MOVED = _MODULE.LEADERS_MOVED  # the duplicates a test that rolls brokers allows


class Canary:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.report: dict | None = None

    def __enter__(self) -> Canary:
        self.running = _MODULE.Canary(self.bootstrap)
        self.settle()
        return self

    def __exit__(self, *exc) -> None:
        self.report = self.running.stop()

    def settle(self, timeout: float = 120) -> None:
        """Wait until the canary has acknowledged SETTLE_ACKNOWLEDGEMENTS more messages than now."""
        wanted = len(self.running.acked) + SETTLE_ACKNOWLEDGEMENTS
        wait_until(self.bootstrap, f"canary acknowledgements reaching {wanted}", lambda: len(self.running.acked),
                   lambda acknowledged: acknowledged >= wanted, timeout, interval=0.2)

    def check(self, max_gap_s: float, duplicates_allowed_because: str | None = None) -> dict:
        """Print the report and assert the verdict; `duplicates_allowed_because` names the fault that explains them."""
        assert self.report is not None, "the canary is checked after its with-block stopped it"
        print(_MODULE.summary(self.report, duplicates_allowed_because))
        problems = _MODULE.verdict(self.report, max_gap_s, duplicates_allowed_because)
        assert not problems, f"canary verdict: {'; '.join(problems)}\n{self.report}"
        return self.report
