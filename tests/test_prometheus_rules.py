"""The alert rules kafkactl ships (roles/prometheus/alerts.yml), checked and run by Prometheus's own promtool against
series shaped as the exporters serve them (tests/cases/prometheus/alerts-test.yml): when each alert fires and clears."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "roles" / "prometheus" / "alerts.yml"
CASES = ROOT / "tests" / "cases" / "prometheus" / "alerts-test.yml"


def test_the_rules_are_valid(promtool: str) -> None:
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_alert_fires_and_clears_when_the_cases_say(promtool: str) -> None:
    tested = subprocess.run([promtool, "test", "rules", CASES.name], cwd=CASES.parent, capture_output=True, text=True, timeout=120)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def _served_names() -> list[re.Pattern[str]]:
    """The metric names kafkactl's exporter rules can produce: each rule's name with $N filled in from its pattern's
    Nth group (the group's words when it is a list of words, else any word), as the exporter writes it (lower case,
    '-' as '_')."""
    names = []
    for path in (ROOT / "templates" / "jmx-exporter").glob("*.yml.j2"):
        for rule in yaml.safe_load(path.read_text())["rules"]:
            groups = re.findall(r"\((?!\?)([^()]*)\)", rule["pattern"])

            def filled(match: re.Match[str], groups: list[str] = groups) -> str:
                group = groups[int(match.group(1)) - 1]
                return f"(?:{group.lower().replace('-', '_')})" if re.fullmatch(r"[\w|-]+", group) else r"\w+"

            names.append(re.compile(re.sub(r"\\\$(\d)", filled, re.escape(rule["name"].lower()))))
    return names


def test_every_alert_has_a_case_and_reads_only_metrics_kafkactls_exporter_rules_name() -> None:
    alerts = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    cases = CASES.read_text()
    untested = [rule["alert"] for rule in alerts if f"alertname: {rule['alert']}" not in cases]
    assert not untested, untested
    served = _served_names()
    for rule in alerts:
        for metric in re.findall(r"\b(kafka_\w+|zookeeper_\w+)\b", re.sub(r'"[^"]*"', "", rule["expr"])):
            assert any(name.fullmatch(metric) for name in served), f"{rule['alert']}: no exporter rule serves {metric}"
