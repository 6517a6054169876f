"""What holds for every scenario with steps (KAFKACTL_SCENARIO_STEPS): each step ran, in order; the data
converge seeded (topics, messages, committed offsets, topic configs, ACLs) is intact; and the canary
side_effect started lost no acknowledged message. This module's name sorts after the others: its last
test stops the canary. Scenarios without steps skip it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from canary import LEADERS_MOVED, summary, verdict
from conftest import CANARY_MAX_GAP_S, EPHEMERAL, STEPS
from migration import Scenario

pytestmark = pytest.mark.skipif(not STEPS, reason="a scenario without steps (no KAFKACTL_SCENARIO_STEPS)")

SHARED = Path(__file__).resolve().parents[1]
SCENARIO = Scenario(EPHEMERAL)


def test_every_step_ran_in_order():
    records = SCENARIO.recorded()
    assert [r["step"] for r in records] == STEPS
    timings = ", ".join(f"{r['step']} {r['seconds']} s" for r in records)
    print(f"steps: {timings}")


def test_seeded_data_intact():
    result = subprocess.run([sys.executable, str(SHARED / "kafka_data.py"), "check", str(EPHEMERAL)],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.stdout.strip(), result.stderr
    found = json.loads(result.stdout)
    assert found["ok"], "\n".join(found["problems"])
    print(f"seeded data intact: {found['seeded']}")


def test_canary_lost_no_acknowledged_message():
    """Last: stops the canary that side_effect started, then reads its whole topic."""
    result = subprocess.run([sys.executable, str(SHARED / "canary.py"), "stop", str(EPHEMERAL)],
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    print(summary(report, LEADERS_MOVED))
    problems = verdict(report, CANARY_MAX_GAP_S[os.environ["MOLECULE_SCENARIO_NAME"]], LEADERS_MOVED)
    assert not problems, f"canary verdict: {'; '.join(problems)}\n{json.dumps(report)}"
