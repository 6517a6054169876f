"""kafkactl status as a screen and as JSON: what it calls a problem (exit code 3), from readings built here; the lab
tests read real clusters."""

from __future__ import annotations

from kafkactl.status import ClusterStatus, PartitionCounts, ServiceStatus, _partitions, lines
from kafkactl.tool_output import Partition


def _partition(name: str, leader: int, replicas: tuple[int, ...], isr: tuple[int, ...]) -> Partition:
    topic, _, number = name.rpartition("-")
    return Partition(topic, int(number), leader, replicas, isr, 2)


def test_partitions_not_in_sync_are_counted_and_named() -> None:
    problems: list[str] = []
    counts = _partitions([_partition("orders-0", 1, (1, 2, 3), (1, 2, 3)), _partition("orders-1", 2, (1, 2, 3), (2,)),
                          _partition("orders-2", -1, (1, 2, 3), (3,))], problems)
    assert counts == PartitionCounts(3, ["orders-1", "orders-2"], ["orders-1", "orders-2"], ["orders-2"])
    assert problems == ["2 partitions under-replicated: orders-1, orders-2", "2 partitions under min ISR: orders-1, orders-2",
                        "1 partitions offline: orders-2"]
    unread: list[str] = []
    assert _partitions("could not read kafka-topics: exit code 1", unread) == "could not read kafka-topics: exit code 1"
    assert unread == ["partitions: could not read kafka-topics: exit code 1"]


def test_a_healthy_cluster_on_one_screen() -> None:
    status = ClusterStatus("KRaft mode (state 3)", "q1w2e3", "3.9-IV0", [
        ServiceStatus("c1", "kafka-controller", "controller", True, "3.9.2", "quorum leader"),
        ServiceStatus("b1", "kafka-broker", "broker", True, "3.9.2")], PartitionCounts(12), 9991, {"9991": 0})
    assert status.healthy and status.as_json()["healthy"] is True
    assert lines(status) == [
        "Cluster: KRaft mode (state 3); cluster id q1w2e3; metadata.version 3.9-IV0",
        "Partitions: 12; under-replicated 0, under min ISR 0, offline 0",
        "Metadata quorum: leader 9991; lag behind the leader 9991 0",
        "",
        "host             service            state    version  role",
        "c1               kafka-controller   running  3.9.2    quorum leader",
        "b1               kafka-broker       running  3.9.2",
        "",
        "Healthy: every service runs, every partition in sync.",
    ]


def test_each_problem_is_a_line() -> None:
    status = ClusterStatus("ZooKeeper mode (state 1)", None, None, [ServiceStatus("b1", "kafka-broker", "broker", False)], None,
                           problems=["b1: kafka-broker is not running"])
    assert not status.healthy
    assert lines(status)[-1] == "Problem: b1: kafka-broker is not running"


def test_watch_reads_again_every_interval_until_interrupted(monkeypatch) -> None:
    """`status --watch 5`: a reading, a 5 s pause, another, until Ctrl-C; the exit code is the last reading's."""
    import io
    from contextlib import contextmanager

    from typer.testing import CliRunner

    from kafkactl import status as status_module
    from kafkactl.cli import app, cluster
    from kafkactl.environment import Environment

    from helpers import ROOT

    readings = iter([
        ClusterStatus("KRaft mode (state 3)", "q1w2e3", "3.9-IV0", [ServiceStatus("b1", "kafka-broker", "broker", True, "3.9.2")],
                      PartitionCounts(12), 9991, {"9991": 0}),
        ClusterStatus("KRaft mode (state 3)", "q1w2e3", "3.9-IV0", [ServiceStatus("b1", "kafka-broker", "broker", False, None)],
                      PartitionCounts(12), 9991, {"9991": 0}, problems=["b1: kafka-broker is not running"]),
    ])
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 2:
            raise KeyboardInterrupt

    @contextmanager
    def connected(*_):
        yield None

    monkeypatch.setattr(cluster, "connected", connected)
    monkeypatch.setattr(cluster, "live_inventory", lambda report, inventory, transport, **_: inventory)
    monkeypatch.setattr(status_module, "read_status", lambda inventory, transport, now: next(readings))
    out = io.StringIO()
    env = Environment(stdout=out, stderr=io.StringIO(), stdin=io.StringIO(), variables={}, sleep=sleep)
    result = CliRunner().invoke(app, ["status", str(ROOT / "inventories/kraft-cluster/inventory.yml"), "--watch", "5"], obj=env)
    assert pauses == [5, 5]
    assert out.getvalue().count("Cluster: KRaft mode") == 2
    assert "Healthy: every service runs" in out.getvalue() and "Problem: b1: kafka-broker is not running" in out.getvalue()
    assert result.exit_code == 3


def test_consumer_lag_shows_the_largest_groups_first() -> None:
    lags = {f"g{n:02}": n for n in range(12)} | {"fresh": None}
    status = ClusterStatus("KRaft mode (state 3)", "q1w2e3", "3.9-IV0", [], PartitionCounts(1), consumer_lag=lags)
    assert "Consumer lag: g11 11, g10 10, g09 9, g08 8, g07 7, g06 6, g05 5, g04 4, g03 3, g02 2 ... and 3 more groups" in lines(status)
    assert status.as_json()["consumer_lag"] == lags
    unread = ClusterStatus("KRaft mode (state 3)", "q1w2e3", "3.9-IV0", [], PartitionCounts(1), consumer_lag="could not read x")
    assert "Consumer lag: not read: could not read x" in lines(unread) and unread.healthy
