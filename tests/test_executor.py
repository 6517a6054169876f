"""The executor's ordering, batching, resume and failure paths, against a recording transport: every command
the executor sends is recorded in order, and each of Kafka's and ZooKeeper's tools answers with what it
printed on real hosts (tests/cases/tool_output/). The health gates are the real ones."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from kafkactl.desired import desired_state
from kafkactl.environment import Environment
from kafkactl.errors import KafkactlError
from kafkactl.executor import Executor, RunOptions
from kafkactl.health import GateError
from kafkactl.inventory import read_inventory
from kafkactl.journal import Journal, resumable
from kafkactl.model import Component
from kafkactl.plan import make_plan
from kafkactl.playbook import load_playbook
from kafkactl.report import Report
from kafkactl.transport import CommandResult

from helpers import ROOT
from test_plan_facts import _converged
from tool_output import ScriptedConnection, captured

INVENTORY_PATH = ROOT / "inventories/zookeeper-cluster/inventory.yml"
INVENTORY = read_inventory(INVENTORY_PATH).inventory
HOSTS = {h.name: h for h in INVENTORY.hosts}
ZK1, ZK2, ZK3 = "zk1.example.com", "zk2.example.com", "zk3.example.com"
KAFKA1, KAFKA2, KAFKA3 = "kafka1.example.com", "kafka2.example.com", "kafka3.example.com"
OK = CommandResult(0, "", "")

# What each tool is recognised by in the command the executor sends.
TOOLS = {
    "srvr": "srvr", "ZooKeeperMain": "zookeeper-shell", "TopicCommand": "topics", "BrokerApiVersionsCommand": "api-versions",
    "LeaderElectionCommand": "elect", "systemctl restart": "restart",
}


def _tool(command: str) -> str:
    return next((name for marker, name in TOOLS.items() if marker in command), command)


class RecordingTransport:
    """Connections that record (host, tool) for every command and answer with `answer(host, tool)`."""

    forks = 1

    def __init__(self, answer: Callable[[str, str], CommandResult]) -> None:
        self.answer = answer
        self.sent: list[tuple[str, str]] = []

    def connection(self, name: str) -> ScriptedConnection:
        def respond(command: str) -> CommandResult:
            tool = _tool(command)
            self.sent.append((name, tool))
            return self.answer(name, tool)

        return ScriptedConnection(respond, HOSTS[name])

    def restarted(self) -> list[str]:
        return [host for host, tool in self.sent if tool == "restart"]


def healthy(leader: str = ZK2, topics: str = "topics-describe-in-sync") -> Callable[[str, str], CommandResult]:
    """A cluster in good health: zk2 leads the ensemble, broker 1 is the controller, every partition in sync."""
    shell = captured("zookeeper-shell-zookeeper-mode")
    answers = {
        # the executor asks only `get /controller`: the capture's other answers left out
        "zookeeper-shell": dataclasses.replace(shell, stdout=re.sub(r"Node does not exist: /migration\n.*\n1\n\[1, 2, 3\]\n", "", shell.stdout)),
        "topics": captured(topics),
        "api-versions": captured("broker-api-versions-all-up"),
        "elect": captured("leader-election-nothing-to-do"),
    }

    def answer(host: str, tool: str) -> CommandResult:
        if tool == "srvr":
            return captured("zookeeper-srvr-leader" if host == leader else "zookeeper-srvr-follower")
        return answers.get(tool, OK)

    return answer


def _executor(transport: RecordingTransport, journal: Journal | None = None, **options) -> tuple[Executor, io.StringIO]:
    desired = desired_state(INVENTORY)
    facts = _converged(desired)
    out = io.StringIO()
    report = Report(Environment(stdout=out, stderr=io.StringIO(), stdin=io.StringIO(), variables={}))
    executor = Executor(INVENTORY, desired, make_plan(desired, facts), facts, transport, report,  # type: ignore[arg-type]
                        RunOptions(gate_timeout=0.0, **options), journal=journal)
    return executor, out


def _restart(transport: RecordingTransport, component: Component, journal: Journal | None = None, **options) -> str:
    executor, out = _executor(transport, journal, **options)
    executor.run(load_playbook("restart"), {component})
    return out.getvalue()


def test_zookeeper_restarts_followers_first_and_the_leader_last() -> None:
    transport = RecordingTransport(healthy(leader=ZK1))
    out = _restart(transport, Component.ZOOKEEPER)
    assert transport.restarted() == [ZK2, ZK3, ZK1]
    assert f"{ZK1} leads its zookeepers: restarted last" in out
    # Before each stop and after each start the whole ensemble is asked (zookeeper_ensemble_serving).
    for restarted in transport.restarted():
        at = transport.sent.index((restarted, "restart"))
        assert {host for host, tool in transport.sent[at - 3:at]} == {ZK1, ZK2, ZK3}
        assert {host for host, tool in transport.sent[at + 1:at + 5] if tool == "srvr"} == {ZK1, ZK2, ZK3}


def test_brokers_restart_one_at_a_time_with_the_controller_last() -> None:
    transport = RecordingTransport(healthy())
    out = _restart(transport, Component.KAFKA_BROKER)
    assert transport.restarted() == [KAFKA2, KAFKA3, KAFKA1], "ZooKeeper's /controller names broker 1"
    tools = [tool for host, tool in transport.sent]
    assert tools[0] == "zookeeper-shell"
    # each broker: safe to stop, restart, then its ready gates, before the next broker is touched; the next broker's
    # before-stop gate reuses the partition table its predecessor's ready gate has just read
    assert tools[1:] == ["topics"] + ["restart", "api-versions", "topics", "elect"] * 3
    assert out.count("broker_safe_to_stop (before stop): 82 partitions in sync, min ISR kept without broker") == 3


def test_a_batch_that_would_break_min_isr_is_refused_before_any_stop() -> None:
    transport = RecordingTransport(healthy())
    with pytest.raises(KafkactlError, match=r"--batch-size 2: stopping kafka2.example.com, kafka3.example.com together would take "
                                            r".* would fall below min.insync.replicas=2 .*Nothing in this batch was stopped"):
        _restart(transport, Component.KAFKA_BROKER, batch_size=2)
    assert transport.restarted() == []


def test_a_batch_restarts_together_when_every_partition_keeps_min_isr() -> None:
    in_sync = captured("topics-describe-in-sync")
    min_isr_1 = dataclasses.replace(in_sync, stdout=in_sync.stdout.replace("min.insync.replicas=2", "min.insync.replicas=1"))
    answer = healthy()
    transport = RecordingTransport(lambda host, tool: min_isr_1 if tool == "topics" else answer(host, tool))
    _restart(transport, Component.KAFKA_BROKER, batch_size=2)
    assert transport.restarted() == [KAFKA2, KAFKA3, KAFKA1]
    tools = [tool for host, tool in transport.sent]
    first, second = [i for i, tool in enumerate(tools) if tool == "restart"][:2]
    assert second == first + 1, "both brokers of a batch stop before either one's ready gates"


def test_an_unreadable_topic_table_stops_the_restart_before_any_broker_stops() -> None:
    answer = healthy()
    transport = RecordingTransport(lambda host, tool: CommandResult(0, "Topic orders is being rebalanced\n", "") if tool == "topics"
                                   else answer(host, tool))
    with pytest.raises(GateError, match="gate 'broker_safe_to_stop' not met after 0 s: could not read the partition list from "
                                        "kafka-topics: unexpected line: Topic orders is being rebalanced"):
        _restart(transport, Component.KAFKA_BROKER)
    assert transport.restarted() == []


def test_the_first_failed_gate_halts_the_run_and_the_journal_records_it(tmp_path: Path) -> None:
    answer = healthy()
    down = captured("broker-api-versions-broker-down")  # broker 3 stopped; renumbered: broker 2 does not come back
    without_2 = dataclasses.replace(down, stdout=down.stdout.replace("(id: 2 rack", "(id: 3 rack"))

    def kafka2_never_comes_back(host: str, tool: str) -> CommandResult:
        return without_2 if tool == "api-versions" and (KAFKA2, "restart") in transport.sent else answer(host, tool)

    transport = RecordingTransport(kafka2_never_comes_back)
    journal = Journal.start(tmp_path, "restart", INVENTORY_PATH)
    with pytest.raises(GateError, match=f"host {KAFKA2}: gate 'broker_registered' not met after 0 s: registered brokers seen from"):
        _restart(transport, Component.KAFKA_BROKER, journal)
    assert transport.restarted() == [KAFKA2], "nothing further is restarted"
    saved = Journal.load(journal.path)
    assert saved.status == "failed"
    assert [(e.host, e.status, e.restarted) for e in saved.entries] == [(KAFKA2, "failed", True)]
    assert "gate 'broker_registered' not met" in saved.entries[0].detail


def test_resume_skips_hosts_done_and_only_rechecks_the_host_the_stopped_run_restarted(tmp_path: Path) -> None:
    stopped = Journal.start(tmp_path, "restart", INVENTORY_PATH)
    done = stopped.begin("restart kafka_broker", KAFKA2)
    stopped.mark_restarted(done, 1.0)
    stopped.end(done, "done")
    failed = stopped.begin("restart kafka_broker", KAFKA3)
    stopped.mark_restarted(failed, 2.0)
    stopped.end(failed, "failed", "gate 'broker_registered' not met")
    stopped.finish("failed")

    journal = Journal.start(tmp_path, "restart", INVENTORY_PATH, resumes=resumable(tmp_path, "restart", INVENTORY_PATH))
    transport = RecordingTransport(healthy())
    out = _restart(transport, Component.KAFKA_BROKER, journal)
    assert transport.restarted() == [KAFKA1], "kafka2 was done, kafka3 was restarted by the stopped run"
    assert KAFKA2 not in {host for host, tool in transport.sent}
    assert f"{KAFKA3}: restarted by the run being resumed; re-checking its gates" in out
    kafka3 = [tool for host, tool in transport.sent if host == KAFKA3]
    assert kafka3 == ["api-versions", "topics", "elect"], "only the ready gates, no before-stop gate, no restart"
    assert Journal.load(journal.path).status == "done"
