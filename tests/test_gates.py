"""Broker gates computed from partition state: what makes stopping a broker unsafe."""

from __future__ import annotations

from kafkactl.health import GateContext, Partition, broker_safe_to_stop, under_replicated
from kafkactl.model import Host


def _broker(broker_id: int) -> Host:
    return Host(name=f"kafka{broker_id}", address=f"kafka{broker_id}", components=("kafka_broker",), broker_id=broker_id)


def test_in_sync_cluster_is_safe() -> None:
    state = [Partition("orders", 0, 1, (1, 2, 3), (1, 2, 3), 2), Partition("orders", 1, 2, (2, 3, 1), (2, 3, 1), 2)]
    assert broker_safe_to_stop(state, _broker(1)).ok
    assert under_replicated(state).ok


def test_under_replicated_offline_and_min_isr_are_unsafe() -> None:
    state = [
        Partition("orders", 0, 1, (1, 2, 3), (1, 2), 2),  # under-replicated, and would drop to 1 < 2 without broker 1
        Partition("orders", 1, -1, (3,), (), 1),  # offline
    ]
    observation = broker_safe_to_stop(state, _broker(1))
    assert not observation.ok
    assert observation.value == [
        "orders-0 under-replicated (ISR [1, 2] of [1, 2, 3])",
        "orders-1 under-replicated (ISR [] of [3])",
        "orders-1 offline",
        "orders-0 would fall below min.insync.replicas=2 (ISR [1, 2])",
    ]
    assert broker_safe_to_stop(state[:1], _broker(3)).value == ["orders-0 under-replicated (ISR [1, 2] of [1, 2, 3])"]


def test_single_replica_topics_do_not_block_a_restart() -> None:
    state = [Partition("scratch", 0, 1, (1,), (1,), 1)]
    assert broker_safe_to_stop(state, _broker(1)).ok


def test_a_tool_error_is_not_safe() -> None:
    observation = broker_safe_to_stop("Timed out waiting for a node assignment", _broker(1))
    assert not observation.ok and observation.summary == "Timed out waiting for a node assignment"


def test_partition_reads_are_reused_briefly_and_forgotten_after_a_restart(monkeypatch) -> None:
    reads = []
    now = [100.0]
    monkeypatch.setattr("kafkactl.health.partitions", lambda *a: reads.append(1) or [])
    context = GateContext(transport=type("T", (), {"connection": lambda self, name: None})(), cluster=None,
                          members={"kafka_broker": []}, default_min_isr=2, clock=lambda: now[0])
    context.partitions(_broker(1))
    now[0] += 2
    context.partitions(_broker(2))
    assert len(reads) == 1
    context.forget()
    context.partitions(_broker(2))
    now[0] += 10
    context.partitions(_broker(2))
    assert len(reads) == 3


def test_a_batch_is_safe_only_if_every_partition_keeps_min_isr() -> None:
    rf3 = [Partition("orders", 0, 1, (1, 2, 3), (1, 2, 3), 2)]
    assert not broker_safe_to_stop(rf3, [_broker(1), _broker(2)]).ok
    rf3_min1 = [Partition("logs", 0, 1, (1, 2, 3), (1, 2, 3), 1)]
    assert broker_safe_to_stop(rf3_min1, [_broker(1), _broker(2)]).ok
    spread = [Partition("orders", 0, 1, (1, 2, 3), (1, 2, 3), 2), Partition("orders", 1, 4, (4, 5, 6), (4, 5, 6), 2)]
    assert broker_safe_to_stop(spread, [_broker(1), _broker(4)]).ok


def test_a_gate_waits_as_long_as_its_check_took_between_a_tenth_and_one_second_and_halts_past_its_timeout() -> None:
    import pytest

    from kafkactl.health import GateError, Observation, wait_for

    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 3))
        now[0] += seconds

    costs = iter([0.01, 0.01, 0.4, 1.5, 3.0, 0.0])  # an exporter read, then tool runs, each taking this long

    def check() -> Observation:
        cost = next(costs)
        now[0] += cost
        return Observation(cost == 0.0, None, "registered?")

    seen = wait_for("kafka1", "broker_registered", check, timeout=60, clock=lambda: now[0], sleep=sleep)
    assert seen.ok and sleeps == [0.1, 0.1, 0.4, 1.0, 1.0]
    with pytest.raises(GateError, match="host kafka1: gate 'broker_registered' not met after 3 s: never"):
        wait_for("kafka1", "broker_registered", lambda: Observation(False, None, "never"), timeout=3,
                 clock=lambda: now[0], sleep=sleep)
