"""The canary's verdict (molecule/shared/canary.py), the one every lab test and scenario applies: strict on
lost, duplicated, produce errors, unavailability, who stopped it and an incomplete read back."""

from __future__ import annotations

import importlib.util

import pytest

from helpers import ROOT

_SPEC = importlib.util.spec_from_file_location("molecule_canary", ROOT / "molecule" / "shared" / "canary.py")
canary = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(canary)

HEALTHY = {
    "topic": "kafkactl-canary-1", "produced": 3000, "acknowledged": 3000, "read": 3000, "read_complete": True, "unread": {},
    "lost": 0, "lost_first": [], "lost_where": [], "duplicated": 0, "duplicated_first": [], "produce_errors": 0, "produce_errors_first": {},
    "longest_gap_s": 4.2, "longest_gap_ended_s": 17.0, "stopped_by": canary.STOPPED_BY_TEST, "in_flight_at_stop": 0,
    "seconds": 30,
}


def test_a_healthy_report_passes() -> None:
    assert canary.verdict(HEALTHY, max_gap_s=30) == []


@pytest.mark.parametrize(("change", "named"), [
    ({"lost": 1, "lost_first": ["canary-7"], "lost_where": ["canary-7 acknowledged at 2@3, read there: canary-5"]},
     "1 acknowledged messages lost, first ['canary-7 acknowledged at 2@3, read there: canary-5']"),
    ({"duplicated": 1, "duplicated_first": ["canary-365 at 5@70 and 5@71"]}, "1 messages duplicated"),
    ({"produce_errors": 2, "produce_errors_first": {"Local: Message timed out": 2}}, "2 produce errors"),
    ({"longest_gap_s": 31.0}, "unavailable 31.0 s"),
    ({"stopped_by": "its time limit (1800 s)"}, "stopped by its time limit (1800 s), not by the test"),
    ({"read_complete": False, "unread": {"2": "10 of 500"}}, "read back incomplete"),
    ({"acknowledged": 0}, "no message was acknowledged"),
    ({"in_flight_at_stop": 3}, "3 messages neither acknowledged nor failed"),
])
def test_each_breach_of_the_contract_fails_the_verdict(change: dict, named: str) -> None:
    problems = canary.verdict({**HEALTHY, **change}, max_gap_s=30)
    assert len(problems) == 1 and named in problems[0], problems


def test_duplicates_pass_only_where_a_fault_explains_them_and_are_reported_either_way() -> None:
    duplicated = {**HEALTHY, "duplicated": 1, "duplicated_first": ["canary-365 at 5@70 and 5@71"]}
    assert canary.verdict(duplicated, max_gap_s=30, duplicates_allowed_because="a broker SIGKILLed") == []
    line = canary.summary(duplicated, "a broker SIGKILLed")
    assert "duplicated 1 (allowed: a broker SIGKILLed)" in line and "canary-365 at 5@70 and 5@71" in line
    assert "duplicated 1 ['canary-365" in canary.summary(duplicated)


def test_a_checkpoint_is_judged_without_being_stopped() -> None:
    running = {**HEALTHY, "stopped_by": None, "in_flight_at_stop": None}
    assert canary.verdict(running, max_gap_s=30, final=False) == []
    assert canary.verdict(running, max_gap_s=30) != []
