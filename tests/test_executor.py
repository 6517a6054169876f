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

from kafkactl.cli.session import znodes_owed
from kafkactl.desired import desired_state
from kafkactl.environment import Environment
from kafkactl.errors import KafkactlError
from kafkactl.executor import ClusterHooks, Executor, RunOptions
from kafkactl.health import GateError, Observation
from kafkactl.inventory import read_inventory
from kafkactl.journal import Journal, owed, resumable
from kafkactl.model import Component, SaslUser
from kafkactl.plan import ConnectorChange, HostFacts, ScramUserChange, make_plan
from kafkactl.playbook import Playbook, Step, load_playbook
from kafkactl.report import Report
from kafkactl.transport import CommandResult, Transport

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
    "LeaderElectionCommand": "elect", "GET %s HTTP": "http", "systemctl restart": "restart", "useradd": "prepare", "systemctl disable": "retire",
    "describe --status": "quorum-status", "ZkSecurityMigrator": "zookeeper-acls", "describe --replication": "quorum-replication", "@/run/kafkactl-": "format",
}


def _tool(command: str) -> str:
    return next((name for marker, name in TOOLS.items() if marker in command), command)


class RecordingTransport:
    """Connections that record (host, tool) for every command and answer with `answer(host, tool)`."""

    forks = 1

    def __init__(self, answer: Callable[[str, str], CommandResult], inventory=INVENTORY) -> None:
        self.answer = answer
        self.hosts = {h.name: h for h in inventory.hosts}
        self.sent: list[tuple[str, str]] = []

    def connection(self, name: str) -> ScriptedConnection:
        def respond(command: str) -> CommandResult:
            tool = _tool(command)
            self.sent.append((name, tool))
            return self.answer(name, tool)

        connection = ScriptedConnection(respond, self.hosts[name])
        connection.put = lambda content, path, **owner: self.sent.append((name, f"put {path}"))  # type: ignore[attr-defined]
        connection.fetch = lambda url, sha256, path, **owner: self.sent.append((name, f"fetch {path}"))  # type: ignore[attr-defined]
        return connection

    each = Transport.each

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
        "http": captured("connect-rest-up"),
        "quorum-status": captured("metadata-quorum-status"),
        "quorum-replication": captured("metadata-quorum-replication"),
    }

    def answer(host: str, tool: str) -> CommandResult:
        if tool == "srvr":
            return captured("zookeeper-srvr-leader" if host == leader else "zookeeper-srvr-follower")
        return answers.get(tool, OK)

    return answer


def _executor(transport: RecordingTransport, journal: Journal | None = None, facts=None, hooks=None, inventory=INVENTORY,
              cluster_id: str | None = None, **options) -> tuple[Executor, io.StringIO]:
    desired = desired_state(inventory)
    facts = _converged(desired) if facts is None else facts
    out = io.StringIO()
    report = Report(Environment(stdout=out, stderr=io.StringIO(), stdin=io.StringIO(), variables={}))
    executor = Executor(inventory, desired, make_plan(desired, facts), facts, transport, report,  # type: ignore[arg-type]
                        RunOptions(**{"gate_timeout": 0.0, **options}), cluster_id, journal=journal, hooks=hooks)
    return executor, out


def _new_hosts(desired) -> dict[str, HostFacts]:
    """Hosts with Kafka installed and nothing else of the cluster's."""
    return {s.host.name: HostFacts(kafka_homes=frozenset([s.kafka_home] if s.kafka_home else [])) for s in desired.hosts}


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


def test_kraft_brokers_rolled_back_to_zookeeper_mode_do_not_read_zookeeper_for_their_order() -> None:
    """From state 2b the brokers run in KRaft mode: a KRaft controller is active, and their files have no settings to
    reach ZooKeeper with (over TLS, reading with them fails). No ZooKeeper read; inventory order."""
    facts = _converged(desired_state(INVENTORY))
    for host in (KAFKA1, KAFKA2, KAFKA3):
        live = facts[host].files["/etc/kafka/server.properties"]
        kraft = "".join(line for line in live.content.splitlines(keepends=True) if not line.startswith("zookeeper."))
        facts[host].files["/etc/kafka/server.properties"] = dataclasses.replace(live, content=kraft)
    transport = RecordingTransport(healthy())
    executor, _ = _executor(transport, facts=facts)
    executor.run(load_playbook("restart"), {Component.KAFKA_BROKER})
    assert "zookeeper-shell" not in [tool for _, tool in transport.sent]
    assert transport.restarted() == [KAFKA1, KAFKA2, KAFKA3]


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


def test_apply_on_new_hosts_prepares_them_then_starts_each_component_after_the_one_before_serves() -> None:
    transport = RecordingTransport(healthy())
    executor, out = _executor(transport, facts=_new_hosts(desired_state(INVENTORY)))
    executor.run(load_playbook("site"))
    tools = [(host, tool) for host, tool in transport.sent]
    prepared = [host for host, tool in tools if tool == "prepare"]
    assert sorted(prepared) == sorted(HOSTS) and tools[:len(HOSTS)] == [(h, "prepare") for h in prepared]
    zookeepers = {ZK1, ZK2, ZK3}
    zk_starts = [i for i, (host, tool) in enumerate(tools) if host in zookeepers and tool == "restart"]
    first_srvr = next(i for i, (host, tool) in enumerate(tools) if tool == "srvr")
    assert len(zk_starts) == 3 and max(zk_starts) < first_srvr, "ZooKeeper members start together, then must serve"
    first_broker = next(i for i, (host, tool) in enumerate(tools) if host == KAFKA1 and tool.startswith("put "))
    last_srvr = max(i for i, (host, tool) in enumerate(tools) if tool == "srvr")
    assert last_srvr < first_broker, "brokers start once the ensemble serves"
    broker_puts = [host for host, tool in tools if tool == "put /etc/kafka/server.properties"]
    assert broker_puts == [KAFKA1, KAFKA2, KAFKA3]
    assert out.getvalue().count("broker_registered (ready)") == 3


def test_a_changed_file_rolls_only_its_host_writing_it_between_the_gate_and_the_restart() -> None:
    desired = desired_state(INVENTORY)
    facts = _converged(desired)
    old = facts[KAFKA2].files["/etc/kafka/server.properties"]
    facts[KAFKA2].files["/etc/kafka/server.properties"] = dataclasses.replace(old, content=old.content + "# changed by hand\n")
    transport = RecordingTransport(healthy())
    executor, _ = _executor(transport, facts=facts)
    executor.run(load_playbook("site"))
    kafka2 = [tool for host, tool in transport.sent if host == KAFKA2]
    assert transport.restarted() == [KAFKA2]
    assert kafka2[kafka2.index("put /etc/kafka/server.properties") - 1] == "topics", "written after broker_safe_to_stop"
    assert kafka2.index("put /etc/kafka/server.properties") < kafka2.index("restart")


def _digest_inventory():
    """The brokers log in to ZooKeeper with DIGEST and set ACLs on their znodes."""
    return INVENTORY.model_copy(update={"cluster": INVENTORY.cluster.model_copy(update={
        "zookeeper_sasl_protocol": "digest", "zookeeper_digest_users": {"kafka_broker": SaslUser(principal="kafka", password="zk-secret")}})})


def test_brokers_that_start_setting_acls_are_followed_by_one_zk_security_migrator_run() -> None:
    """The znodes that exist get ACLs once, through the first broker, after the broker roll and not before."""
    inventory = _digest_inventory()
    desired = desired_state(inventory)
    facts = _converged(desired)
    old = facts[KAFKA2].files["/etc/kafka/server.properties"]
    facts[KAFKA2].files["/etc/kafka/server.properties"] = dataclasses.replace(old, content=old.content.replace("zookeeper.set.acl=true\n", ""))
    transport = RecordingTransport(healthy())
    executor, out = _executor(transport, facts=facts, inventory=inventory)
    executor.secures_znodes = True
    executor.run(load_playbook("site"))
    assert [host for host, tool in transport.sent if tool == "zookeeper-acls"] == [KAFKA1]
    assert transport.sent.index((KAFKA2, "restart")) < transport.sent.index((KAFKA1, "zookeeper-acls"))
    assert "kafka1.example.com: the existing znodes secured" in out.getvalue()


@pytest.mark.parametrize("stopped_in", ["zookeeper-acls", "topics"])
def test_a_zk_security_migrator_run_the_plan_owed_stays_owed_until_a_run_does_it(tmp_path: Path, stopped_in: str) -> None:
    """Once a roll has the brokers setting ACLs their files say nothing of the znodes that exist: a run stopped in
    ZkSecurityMigrator, or before it, leaves it owed in the journal for the next plan; a run that does it settles it."""
    inventory = _digest_inventory()
    facts = _converged(desired_state(inventory))
    old = facts[KAFKA2].files["/etc/kafka/server.properties"]
    facts[KAFKA2].files["/etc/kafka/server.properties"] = dataclasses.replace(old, content=old.content + "# changed by hand\n")

    def failing(host: str, tool: str) -> CommandResult:
        return CommandResult(1, "", "ConnectionLoss") if tool == stopped_in else healthy()(host, tool)

    executor, _ = _executor(RecordingTransport(failing), Journal.start(tmp_path, "apply", INVENTORY_PATH), facts=facts, inventory=inventory)
    executor.secures_znodes = True
    with pytest.raises((KafkactlError, GateError)):
        executor.run(load_playbook("site"))
    assert owed(tmp_path, INVENTORY_PATH, "zookeeper_acls kafka_broker")
    assert not owed(tmp_path, ROOT / "inventories/kraft-cluster/inventory.yml", "zookeeper_acls kafka_broker")
    transport = RecordingTransport(healthy())
    executor, _ = _executor(transport, Journal.start(tmp_path, "apply", INVENTORY_PATH), inventory=inventory)
    executor.secures_znodes = True
    executor.run(load_playbook("site"))
    assert [host for host, tool in transport.sent if tool == "zookeeper-acls"] == [KAFKA1]
    assert not owed(tmp_path, INVENTORY_PATH, "zookeeper_acls kafka_broker")


def test_the_next_plan_owes_it_only_while_the_brokers_set_acls(tmp_path: Path) -> None:
    journal = Journal.start(tmp_path, "apply", INVENTORY_PATH)
    journal.end(journal.begin("zookeeper_acls kafka_broker", "all"), "failed", "ConnectionLoss")
    report = Report(Environment(variables={"KAFKACTL_STATE_DIR": str(tmp_path)}))
    inventory = _digest_inventory()
    assert znodes_owed(report, inventory, desired_state(inventory))
    plain = inventory.model_copy(update={"cluster": inventory.cluster.model_copy(update={"zookeeper_set_acl": False})})
    assert not znodes_owed(report, plain, desired_state(plain))


def test_a_roll_writes_kafkactls_client_settings_on_every_host_before_the_first_gate() -> None:
    """The gates read the cluster through hosts not yet restarted too: their client settings must name the listener the
    rolled ones are reached on from the start (moving inter-broker traffic changes both)."""
    desired = desired_state(INVENTORY)
    facts = _converged(desired)
    for host in (KAFKA1, KAFKA2, KAFKA3):
        for path in ("/etc/kafka/server.properties", "/etc/kafka/kafkactl-admin.properties"):
            old = facts[host].files[path]
            facts[host].files[path] = dataclasses.replace(old, content=old.content + "# changed by hand\n")
    transport = RecordingTransport(healthy())
    executor, _ = _executor(transport, facts=facts)
    executor.run(load_playbook("site"))
    client_settings = [i for i, (_, tool) in enumerate(transport.sent) if tool == "put /etc/kafka/kafkactl-admin.properties"]
    first_gate = next(i for i, (_, tool) in enumerate(transport.sent) if tool == "topics")
    assert len(client_settings) == 3 and max(client_settings) < first_gate
    assert [tool for _, tool in transport.sent].count("put /etc/kafka/server.properties") == 3


def test_migration_steps_wait_for_their_signal_delete_znodes_and_retire_services(tmp_path: Path) -> None:
    polled, deleted = [], []

    def migrated() -> Observation:
        polled.append(1)
        return Observation(len(polled) > 1, None, f"poll {len(polled)}")

    hooks = ClusterHooks({"metadata_migrated": migrated}, deleted.append)
    playbook = Playbook("steps", (Step("wait_for", "metadata_migrated"), Step("delete_znodes", "/controller /migration"),
                                  Step("retire", "zookeeper")))
    journal = Journal.start(tmp_path, "steps", INVENTORY_PATH)
    transport = RecordingTransport(healthy())
    executor, out = _executor(transport, journal, hooks=hooks, gate_timeout=30.0)
    executor.run(playbook)  # the signal is polled again after half a second
    assert len(polled) == 2 and "metadata_migrated: poll 2" in out.getvalue()
    assert deleted == ["/controller", "/migration"]
    assert [host for host, tool in transport.sent if tool == "retire"] == [ZK1, ZK2, ZK3]
    assert [(e.step, e.host, e.status) for e in Journal.load(journal.path).entries] == [
        ("wait_for metadata_migrated", "all", "done"), ("delete_znodes /controller /migration", "all", "done"),
        ("retire zookeeper", ZK1, "done"), ("retire zookeeper", ZK2, "done"), ("retire zookeeper", ZK3, "done")]


def test_a_signal_never_reached_fails_the_step_in_the_journal(tmp_path: Path) -> None:
    hooks = ClusterHooks({"metadata_migrated": lambda: Observation(False, None, "ZkMigrationState controller1 2")}, lambda p: None)
    journal = Journal.start(tmp_path, "steps", INVENTORY_PATH)
    executor, _ = _executor(RecordingTransport(healthy()), journal, hooks=hooks)
    with pytest.raises(GateError, match="gate 'metadata_migrated' not met after 0 s: ZkMigrationState controller1 2"):
        executor.run(Playbook("steps", (Step("wait_for", "metadata_migrated"), Step("delete_znodes", "/migration"))))
    saved = Journal.load(journal.path)
    assert saved.status == "failed" and [(e.step, e.status) for e in saved.entries] == [("wait_for metadata_migrated", "failed")]


def test_a_broker_that_is_down_is_restarted_without_waiting_for_its_before_stop_gate() -> None:
    answer = healthy(topics="topics-describe-broker-down")

    def broker_3_down_until_restarted(host: str, tool: str) -> CommandResult:
        if (KAFKA3, "restart") not in transport.sent and tool in ("api-versions", "topics"):
            return captured("broker-api-versions-broker-down" if tool == "api-versions" else "topics-describe-broker-down")
        return answer(host, tool) if tool != "topics" else captured("topics-describe-in-sync")

    transport = RecordingTransport(broker_3_down_until_restarted)
    executor, out = _executor(transport, limit=frozenset([KAFKA3]))
    executor.run(load_playbook("restart"), {Component.KAFKA_BROKER})
    assert transport.restarted() == [KAFKA3]
    assert (f"{KAFKA3}: not serving (broker_registered: registered brokers seen from {KAFKA3}: [1, 2]); "
            "restarting it without before-stop gates") in out.getvalue()


KRAFT = read_inventory(ROOT / "inventories/kraft-cluster/inventory.yml").inventory


def test_kraft_nodes_are_formatted_once_with_the_cluster_id_before_their_first_start() -> None:
    transport = RecordingTransport(healthy(), KRAFT)
    executor, out = _executor(transport, facts=_new_hosts(desired_state(KRAFT)), inventory=KRAFT, cluster_id="-sa-KocjQCWANrZuTbAryQ")
    executor.run(load_playbook("site"))
    for host in {h.name for h in KRAFT.hosts if h.node_id is not None or h.broker_id is not None}:
        sent = [tool for name, tool in transport.sent if name == host]
        assert sent.count("format") == 1 and sent.index("format") < sent.index("restart"), host
    assert out.getvalue().count("formatted KRaft storage (cluster id -sa-KocjQCWANrZuTbAryQ)") == 6
    controllers = [name for name, tool in transport.sent if tool == "quorum-replication"]
    assert controllers, "controllers are ready once their voters caught up"


def test_connector_changes_wait_when_limit_leaves_out_every_worker() -> None:
    changes = (ConnectorChange("lines-in", "create"),)
    transport = RecordingTransport(healthy(), KRAFT)
    executor, out = _executor(transport, inventory=KRAFT, limit=frozenset(["broker1.example.com"]))
    executor.connectors = changes
    executor.run(load_playbook("site"))
    assert not transport.sent
    assert executor.report.env.stderr.getvalue() == ("warning: connectors kafka_connect: no Connect worker is within --limit; "
                                                     "1 connector change(s) are left for an apply that includes one\n")


def test_a_renewed_key_store_is_reloaded_by_the_running_broker_with_no_restart(tmp_path: Path) -> None:
    """Only kafka2's key store changed: the plan says so, apply writes it and has the broker reload it on each TLS
    listener (set the location, wait until the broker has it, delete it again), restarting nothing."""
    inventory = _with_copied_stores(tmp_path)
    desired = desired_state(inventory)
    facts = _converged(desired)
    keystore = "/etc/kafka/ssl/kafka.keystore.jks"
    facts[KAFKA2].files[keystore] = dataclasses.replace(facts[KAFKA2].files[keystore], content="binary sha256:0000\n")
    plan = make_plan(desired, facts)
    assert {p.host: [s.action for s in p.services] for p in plan.changed_hosts} == {KAFKA2: ["reload key stores"]}
    settings = ["listener.name.internal.ssl.keystore.location", "listener.name.broker.ssl.keystore.location"]

    def answer(host: str, tool: str) -> CommandResult:
        if "ConfigCommand" in tool and "--describe" in tool:
            return CommandResult(0, "Dynamic configs for broker 2 are:\n" + "".join(f"  {key}={keystore}\n" for key in settings), "")
        return healthy()(host, tool)

    transport = RecordingTransport(answer, inventory)
    executor, out = _executor(transport, facts=facts, inventory=inventory)
    executor.run(load_playbook("site"))
    sent = [tool for host, tool in transport.sent if host == KAFKA2]
    configs = [tool for tool in sent if "ConfigCommand" in tool]
    assert transport.restarted() == [] and sent.index(f"put {keystore}") < sent.index(configs[0])
    assert "--entity-name 2 --alter --add-config-file /dev/stdin" in configs[0] and "--describe" in configs[1]
    assert f"--alter --delete-config {','.join(settings)}" in configs[2] and len(configs) == 3
    assert "kafka2.example.com: kafka-broker reloaded its key stores on BROKER, INTERNAL (no restart)" in out.getvalue()


def _with_copied_stores(tmp_path: Path):
    """The example inventory with TLS on every listener and key stores copied from this machine."""
    (tmp_path / "certs").mkdir()
    for name in (*HOSTS, "truststore"):
        (tmp_path / "certs" / f"{name}.jks").write_bytes(b"\xfe\xed\xfe\xed" + name.encode())
    text = INVENTORY_PATH.read_text().replace("  vars:\n", """  vars:
    ssl_provided_keystore_and_truststore: true
    ssl_keystore_filepath: "certs/{{inventory_hostname}}.jks"
    ssl_truststore_filepath: certs/truststore.jks
    ssl_keystore_store_password: keystore-secret
    ssl_truststore_password: truststore-secret
    ssl_enabled: true
""", 1)
    (tmp_path / "inventory.yml").write_text(text)
    return read_inventory(tmp_path / "inventory.yml").inventory


def test_a_new_zookeeper_mode_cluster_gets_its_scram_users_in_zookeeper_before_its_first_broker_starts(tmp_path: Path) -> None:
    """Brokers that log in to each other with SCRAM need their credentials at their first start, before any broker
    runs to make them through: they are written to ZooKeeper (the password on the tool's stdin), and the
    scram_users step has nothing left to do."""
    path = tmp_path / "inventory.yml"
    path.write_text(INVENTORY_PATH.read_text().replace("  vars:\n", """  vars:
    sasl_protocol: scram
    sasl_scram_users: {admin: {principal: admin, password: admin-secret}, app: {principal: app, password: app-secret}}
""", 1))
    inventory = read_inventory(path).inventory
    desired = desired_state(inventory)
    creates = tuple(ScramUserChange(user, "SCRAM-SHA-512", "create") for user in ("admin", "app"))
    transport = RecordingTransport(healthy(), inventory)
    stdin: list[bytes] = []
    connection = transport.connection

    def recording_stdin(name: str):
        made = connection(name)
        run = made.run
        made.run = lambda command, **options: (stdin.append(options.get("stdin") or b""), run(command, **options))[1]
        return made

    transport.connection = recording_stdin  # type: ignore[method-assign]
    out = io.StringIO()
    facts = _new_hosts(desired)
    executor = Executor(inventory, desired, make_plan(desired, facts, scram_users=creates), facts, transport,  # type: ignore[arg-type]
                        Report(Environment(stdout=out, stderr=io.StringIO(), stdin=io.StringIO(), variables={})),
                        RunOptions(gate_timeout=0.0), None)
    executor.run(load_playbook("site"))
    sent = [(host, tool) for host, tool in transport.sent]
    written = [i for i, (host, tool) in enumerate(sent) if "ConfigCommand --zookeeper" in tool]
    first_start = next(i for i, (host, tool) in enumerate(sent) if host == KAFKA1 and tool == "restart")
    assert len(written) == 2 and max(written) < first_start and {sent[i][0] for i in written} == {KAFKA1}
    assert "zk1.example.com:2181,zk2.example.com:2181,zk3.example.com:2181 --alter --entity-type users --entity-name app" in sent[written[1]][1]
    assert b"SCRAM-SHA-512=password=app-secret\n" in stdin and not any("secret" in tool for _, tool in sent)
    assert "kafka1.example.com: SCRAM users admin, app written to ZooKeeper, before the first broker starts" in out.getvalue()
    assert "== scram_users" not in out.getvalue()
