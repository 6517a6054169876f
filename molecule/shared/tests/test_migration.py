"""A migration scenario's outcome: what each step of side_effect saw, and the cluster it left.

Which checks apply follows from KAFKACTL_SCENARIO_STEPS (the scenario's molecule.yml): the refusals
when the steps include `refusals`, the state after a rollback for each `check`, and always the final
state: `--status`, every controller's ZkMigrationState, every broker's mode, the cluster id on every
host, the ZooKeeper-mode inventory refused (or converged, after a rollback). The seeded data and the
canary are test_whole_run.py's. Scenarios without steps of `kafkactl migrate kraft` skip this module.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from canary import LEADERS_MOVED, summary, verdict
from conftest import CANARY_MAX_GAP_S, EPHEMERAL, MIGRATION, STEPS, ZOOKEEPER_INVENTORY, kafkactl
from kafka_data import round_trip
from migration import META_PROPERTIES, PHASES, Scenario, final_state

pytestmark = pytest.mark.skipif(not MIGRATION, reason="not a migration scenario (no step of `kafkactl migrate kraft`)")

SCENARIO = Scenario(EPHEMERAL)
FINAL = final_state(STEPS)
CONTROLLER_LINE = re.compile(r"^\s+(\S+): controller (\d+): (\w+)(.*)$", re.MULTILINE)
BROKER_LINE = re.compile(r"^\s+(\S+): broker (\d+): (\w+)(.*)$", re.MULTILINE)


def _seeded() -> dict:
    return SCENARIO.seeded


@pytest.fixture(scope="module")
def live_status() -> str:
    result = kafkactl("migrate", "kraft", str(SCENARIO.migration_inventory), "--status")
    return result.stdout


# What side_effect recorded ---------------------------------------------------------------------------


@pytest.mark.parametrize("index", [i for i, s in enumerate(STEPS) if s in PHASES])
def test_phase_reached_its_state(index: int):
    record = SCENARIO.recorded()[index]
    assert record["exit"] == 0, record["stderr"]
    assert record["state"] == PHASES[record["step"]], record["state_line"]


refusals = pytest.mark.skipif("refusals" not in STEPS, reason="the scenario runs no refusals")


@refusals
@pytest.mark.parametrize("phase", ["finalize", "kraft-brokers"])
def test_phase_refused_in_state_1(phase: str):
    (record,) = SCENARIO.recorded("refusals")
    outcome = record["refused"][phase]
    assert outcome["exit"] == 1, outcome["stdout"][-2000:]
    wanted = f"error: --phase {phase}: the cluster is in state 1: ZooKeeper mode; this phase starts from state"
    assert wanted in outcome["stderr"], outcome["stderr"]
    assert "No host was changed." in outcome["stderr"]


@refusals
def test_cluster_id_mismatch_refused():
    (record,) = SCENARIO.recorded("refusals")
    outcome, mismatch = record["refused"]["dual-write"], record["mismatch"]
    assert outcome["exit"] == 1, outcome["stdout"][-2000:]
    errors = [line for line in outcome["stderr"].splitlines() if line.startswith("error")]
    refusal = next((line for line in errors if "cluster-id" in line), None)
    assert refusal is not None, errors
    assert refusal.startswith("error: pre-flight cluster-id: cluster id mismatch"), refusal
    assert mismatch["fake_cluster_id"] in refusal and f"{mismatch['host']}:{META_PROPERTIES}" in refusal, refusal
    assert _seeded()["cluster_id"] in refusal, refusal
    assert "No host was changed." in outcome["stderr"]
    assert mismatch["restored"], f"{mismatch['host']}:{META_PROPERTIES} was not restored"


@refusals
def test_refusals_changed_no_host():
    (record,) = SCENARIO.recorded("refusals")
    assert record["hosts_changed"] == {}, json.dumps(record["hosts_changed"], indent=1)
    assert record["status"]["state"] == "1", record["status"]["state_line"]


checks = pytest.mark.skipif("check" not in STEPS, reason="the scenario checks no intermediate state")


@checks
def test_rollback_is_back_in_zookeeper_mode():
    for record in SCENARIO.recorded("check"):
        status = record["status"]
        assert status["state_line"] == "state 1: ZooKeeper mode", status["stdout"]
        assert not CONTROLLER_LINE.findall(status["stdout"]) or all(
            mode == "absent" for _, _, mode, _ in CONTROLLER_LINE.findall(status["stdout"])), status["stdout"]
        assert {mode for *_, mode, _ in BROKER_LINE.findall(status["stdout"])} == {"zookeeper"}, status["stdout"]
        assert "ZooKeeper /migration: absent" in status["stdout"], status["stdout"]


@checks
def test_rollback_converged_for_the_zookeeper_inventory():
    for record in SCENARIO.recorded("check"):
        plan = record["zookeeper_plan"]
        assert plan["exit"] == 0 and "Nothing to do:" in plan["stdout"], plan["stdout"][-3000:] + plan["stderr"]


@checks
def test_rollback_kept_the_data():
    for record in SCENARIO.recorded("check"):
        assert record["data"]["ok"], "\n".join(record["data"]["problems"])


@checks
def test_rollback_lost_no_canary_message():
    for record in SCENARIO.recorded("check"):
        canary = record["canary"]
        assert "error" not in canary, canary
        print(summary(canary, LEADERS_MOVED))
        problems = verdict(canary, CANARY_MAX_GAP_S[os.environ["MOLECULE_SCENARIO_NAME"]], LEADERS_MOVED, final=False)
        assert not problems, f"canary checkpoint: {'; '.join(problems)}"


# The final state --------------------------------------------------------------------------------------


def test_status_names_the_final_state(live_status: str):
    first = live_status.splitlines()[0]
    names = {"1": "ZooKeeper mode", "2a": "dual-write", "2b": "dual-write", "3": "KRaft only (migration finalized)"}
    assert first.startswith(f"Migration: state {FINAL}: {names[FINAL]}"), live_status


def test_every_controller_and_broker_in_the_final_mode(live_status: str):
    groups = SCENARIO.groups()
    controllers = {host: (mode, rest) for host, _, mode, rest in CONTROLLER_LINE.findall(live_status)}
    brokers = {host: mode for host, _, mode, _ in BROKER_LINE.findall(live_status)}
    assert set(brokers) == set(groups["kafka_broker"]), live_status
    wanted_broker = {"1": "zookeeper", "2a": "migrating", "2b": "kraft", "3": "kraft"}[FINAL]
    assert set(brokers.values()) == {wanted_broker}, live_status
    if FINAL == "1":
        return
    assert set(controllers) == set(groups["kafka_controller"]), live_status
    wanted = {"2a": ("migrating", "ZkMigrationState 1 (MIGRATION)"), "2b": ("migrating", "ZkMigrationState 1 (MIGRATION)"),
              "3": ("kraft", "ZkMigrationState 3 (POST_MIGRATION)")}[FINAL]
    for host, (mode, rest) in controllers.items():
        assert mode == wanted[0] and wanted[1] in rest, f"{host}: {mode}{rest}"


def test_cluster_id_unchanged_everywhere(live_status: str, connect):
    cluster_id = _seeded()["cluster_id"]
    named = set(re.findall(r"cluster id (\S+)", live_status)) | set(re.findall(r"ZooKeeper /cluster/id: (\S+)", live_status))
    assert named == {cluster_id}, live_status
    groups = SCENARIO.groups()
    hosts = groups["kafka_broker"] + (groups["kafka_controller"] if FINAL != "1" else [])
    for host in hosts:
        found = connect(host).check_output("grep -h '^cluster.id=' /var/lib/kafka/*/meta.properties").split()
        assert found and set(found) == {f"cluster.id={cluster_id}"}, f"{host}: {found}"


SCRAM_USER, SCRAM_PASSWORD, EXTERNAL_PORT = "admin", "molecule-admin-secret", 9094  # inventory.yml.j2's secured nodes


@pytest.mark.skipif(os.environ.get("KAFKACTL_SECURED_NODES") != "true", reason="no SASL_SSL listener in this scenario")
def test_a_scram_user_made_in_zookeeper_still_logs_in_over_sasl_ssl():
    """The SCRAM user apply made in ZooKeeper mode, carried into the KRaft metadata by the migration, logs in over
    TLS on EXTERNAL and round-trips messages; a wrong password is refused."""
    from confluent_kafka import KafkaError, Producer

    brokers = ",".join(f"{host}:{EXTERNAL_PORT}" for host in SCENARIO.groups()["kafka_broker"])
    client = {"bootstrap.servers": brokers, "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
              "sasl.username": SCRAM_USER, "sasl.password": SCRAM_PASSWORD,
              "ssl.ca.location": str(EPHEMERAL / ".kafkactl" / "pki" / "ca.crt")}
    topic = f"scram-{FINAL}"
    assert round_trip(client, topic) == [f"{topic} {n}" for n in range(100)]
    errors: list[KafkaError] = []
    wrong = Producer({**client, "sasl.password": "not-the-password", "error_cb": errors.append})
    deadline = time.monotonic() + 30
    while not any(e.code() == KafkaError._AUTHENTICATION for e in errors) and time.monotonic() < deadline:
        wrong.poll(0.5)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), [str(e) for e in errors]


@pytest.mark.skipif(os.environ.get("KAFKACTL_SECURED_NODES") != "true", reason="ZooKeeper requires no login in this scenario")
def test_zookeeper_still_refuses_a_session_that_does_not_log_in(connect):
    """The brokers and controllers logged in to ZooKeeper through every phase (the steps passed); a client that does
    not log in is still refused, on the loopback port kafkactl's checks use."""
    zookeeper = SCENARIO.groups()["zookeeper"][0]
    anonymous = connect(zookeeper).run(
        "echo 'ls /' | timeout 60 java -Xmx64m -cp \"$(ls -d /opt/kafka/kafka_*/libs | head -n 1)/*\" "
        "org.apache.zookeeper.ZooKeeperMain -server 127.0.0.1:2181 2>&1")
    assert "[admin, brokers" not in anonymous.stdout, anonymous.stdout[-2000:]
    assert re.search(r"AuthFailed|authenticat|Session closed", anonymous.stdout, re.IGNORECASE), anonymous.stdout[-2000:]


def test_zookeeper_inventory_in_the_final_state():
    """Refused once brokers take part in the migration; converged after a rollback."""
    result = kafkactl("plan", str(ZOOKEEPER_INVENTORY), ok=(0, 1, 2))
    if FINAL == "1":
        assert result.returncode == 0 and "Nothing to do:" in result.stdout, result.stdout[-3000:]
    else:
        assert result.returncode == 1, result.stdout[-3000:]
        assert "take part in a ZooKeeper-to-KRaft migration" in result.stderr, result.stderr
