"""The alert rules kafkactl ships (roles/prometheus/alerts.yml), checked and run by Prometheus's own promtool against
series shaped as the exporters serve them (tests/cases/prometheus/alerts-test.yml): when each alert fires and clears.
The Grafana dashboards (roles/prometheus/grafana/): every query valid PromQL over metrics the exporters serve."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "roles" / "prometheus" / "alerts.yml"
CASES = ROOT / "tests" / "cases" / "prometheus" / "alerts-test.yml"
DASHBOARDS = sorted((ROOT / "roles" / "prometheus" / "grafana").glob("*.json"))


def test_the_rules_are_valid(promtool: str) -> None:
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_alert_fires_and_clears_when_the_cases_say(promtool: str) -> None:
    tested = subprocess.run([promtool, "test", "rules", CASES.name], cwd=CASES.parent, capture_output=True, text=True, timeout=120)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def _served_names() -> list[re.Pattern[str]]:
    """The metric names kafkactl's exporter rules can produce: each rule's name with $N filled in from its pattern's
    Nth group (the group's words when it is a list of words, else any word), as the exporter writes it (lower case,
    '-' as '_'); and those of the consumer lag reader."""
    names = []
    for path in (ROOT / "templates" / "jmx-exporter").glob("*.yml.j2"):
        for rule in yaml.safe_load(path.read_text())["rules"]:
            groups = re.findall(r"\((?!\?)([^()]*)\)", rule["pattern"])

            def filled(match: re.Match[str], groups: list[str] = groups) -> str:
                group = groups[int(match.group(1)) - 1]
                return f"(?:{group.lower().replace('-', '_')})" if re.fullmatch(r"[\w|-]+", group) else r"\w+"

            names.append(re.compile(re.sub(r"\\\$(\d)", filled, re.escape(rule["name"].lower()))))
    # and the consumer lag reader's, written for node exporter's textfile collector
    reader = (ROOT / "templates" / "consumer-lag" / "kafkactl-consumer-lag.j2").read_text()
    names += [re.compile(re.escape(name)) for name in re.findall(r"# TYPE (\w+) gauge", reader)]
    return names


def test_every_alert_has_a_case_and_reads_only_metrics_kafkactls_exporter_rules_name() -> None:
    alerts = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    cases = CASES.read_text()
    untested = [rule["alert"] for rule in alerts if f"alertname: {rule['alert']}" not in cases]
    assert not untested, untested
    for rule in alerts:
        _assert_served(rule["alert"], rule["expr"])


def _assert_served(what: str, expr: str) -> None:
    served = _served_names()
    for metric in re.findall(r"\b(kafka_\w+|zookeeper_\w+)\b", re.sub(r'"[^"]*"', "", expr)):
        assert any(name.fullmatch(metric) for name in served), f"{what}: no exporter rule serves {metric}"


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=[d.name for d in DASHBOARDS])
def test_every_dashboard_query_is_promql_over_served_metrics(dashboard: Path, promtool: str, tmp_path: Path) -> None:
    queries = {f"{panel['title']} ({target['refId']})": target["expr"]
               for panel in json.loads(dashboard.read_text())["panels"] for target in panel.get("targets", [])}
    assert len(queries) >= 20
    for what, expr in queries.items():
        _assert_served(what, expr)
    # promtool parses each query as the expression of a recording rule
    recorded = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:query_{n}", "expr": expr}
                                                          for n, expr in enumerate(queries.values())]}]}
    (tmp_path / "queries.yml").write_text(yaml.safe_dump(recorded))
    checked = subprocess.run([promtool, "check", "rules", str(tmp_path / "queries.yml")], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
