"""The canary of molecule/shared/canary.py (an idempotent acks=all producer and a consumer running throughout,
then a full read of the topic proving that every acknowledged message is there exactly once), used
in-process by the lab tests as a context manager."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "molecule_canary", Path(__file__).resolve().parents[2] / "molecule" / "shared" / "canary.py")
_MODULE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODULE)


@dataclass(frozen=True)
class CanaryReport:
    produced: int
    acknowledged: int
    consumed_live: int
    missing: list[str]  # the first ones, when any
    duplicated: list[str]

    def __str__(self) -> str:
        return (f"canary: produced {self.produced}, acknowledged {self.acknowledged}, consumed {self.consumed_live} live; "
                f"{len(self.missing)} acknowledged messages missing, {len(self.duplicated)} duplicated")


class Canary:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.report: dict | None = None

    def __enter__(self) -> Canary:
        self.running = _MODULE.Canary(self.bootstrap, None)
        return self

    def __exit__(self, *exc) -> None:
        self.report = self.running.stop()

    def verify(self) -> CanaryReport:
        report = self.report
        return CanaryReport(report["produced"], report["acknowledged"], report["consumed_live"],
                            report["missing_first"], report["duplicated_first"])
