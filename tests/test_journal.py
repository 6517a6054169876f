"""Run journals: what a resumed run takes over from the run that stopped."""

from __future__ import annotations

import pytest

from kafkactl.errors import KafkactlError
from kafkactl.journal import Journal, resumable


def test_a_resumed_run_knows_what_the_stopped_one_did(tmp_path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("")
    first = Journal.start(tmp_path, "restart", inventory)
    done = first.begin("restart kafka_broker", "kafka1")
    first.mark_restarted(done, 1.0)
    first.end(done, "done")
    stopped = first.begin("restart kafka_broker", "kafka2")
    first.mark_restarted(stopped, 2.0)
    first.end(stopped, "failed", "gate not met")
    first.finish("failed")

    previous = resumable(tmp_path, "restart", inventory)
    second = Journal.start(tmp_path, "restart", inventory, resumes=previous)
    assert second.done("restart kafka_broker", "kafka1")
    assert not second.done("restart kafka_broker", "kafka2")
    assert second.restarted_before("restart kafka_broker", "kafka2")
    assert not second.restarted_before("restart kafka_broker", "kafka3")
    second.finish("done")
    with pytest.raises(KafkactlError, match="finished; there is nothing to resume"):
        resumable(tmp_path, "restart", inventory)
