"""Run journals: what a resumed run takes over from the run that stopped."""

from __future__ import annotations

import json

import stat

import pytest

from kafkactl.errors import KafkactlError
from helpers import run_cli
from kafkactl.journal import Journal, read_runs, resumable


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


def _stopped_run(state_dir, inventory) -> Journal:
    journal = Journal.start(state_dir, "restart", inventory)
    entry = journal.begin("restart kafka_broker", "kafka1")
    journal.end(entry, "failed", "gate not met")
    journal.finish("failed")
    return journal


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"entries": 3}', b"\xff\xfe", b'{"command": "restart"}'])
def test_a_damaged_journal_is_named_and_never_resumed_past(tmp_path, damage: bytes) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("")
    older = _stopped_run(tmp_path, inventory)
    damaged = tmp_path / "runs" / "99999999T999999-ffffff.json"  # newer than any real run id
    damaged.write_bytes(damage)

    journals, problems = read_runs(tmp_path)
    assert [j.run_id for j in journals] == [older.run_id]
    assert list(problems) == [damaged]
    assert str(damaged) in problems[damaged] and "damaged run journal" in problems[damaged]
    with pytest.raises(KafkactlError, match="damaged run journal") as refused:
        resumable(tmp_path, "restart", inventory)
    assert str(damaged) in str(refused.value)

    damaged.rename(tmp_path / "kept-aside.json")  # what the message tells the operator to do
    assert resumable(tmp_path, "restart", inventory).run_id == older.run_id


def test_an_older_damaged_journal_does_not_block_resuming_the_last_run(tmp_path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "00000000T000000-000000.json").write_text("garbage")
    last = _stopped_run(tmp_path, inventory)
    assert resumable(tmp_path, "restart", inventory).run_id == last.run_id


def test_journals_are_private(tmp_path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("")
    journal = _stopped_run(tmp_path / "state", inventory)
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal.path.parent.stat().st_mode) == 0o700
    assert not list(journal.path.parent.glob("*.tmp"))


def test_runs_lists_damaged_journals_by_name(tmp_path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  children:\n    kafka_broker:\n      hosts:\n        kafka1:\n")
    _stopped_run(tmp_path / "state", inventory)
    (tmp_path / "state" / "runs" / "broken.json").write_text("{")
    outcome = run_cli("runs", str(inventory), variables={"KAFKACTL_STATE_DIR": str(tmp_path / "state")})
    assert outcome.exit_code == 0
    assert "broken.json: damaged run journal" in outcome.stderr + outcome.stdout
    assert "restart" in outcome.stdout and "Traceback" not in outcome.stderr
    (run,) = json.loads(run_cli("runs", str(inventory), "--json", variables={"KAFKACTL_STATE_DIR": str(tmp_path / "state")}).stdout)
    assert run["command"] == "restart" and run["status"] == "failed" and run["stopped_at"]["host"]


def test_a_restart_interrupted_before_it_was_seen_to_finish_carries_over(tmp_path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("")
    first = Journal.start(tmp_path, "restart", inventory)
    interrupted = first.begin("restart kafka_broker", "kafka2")
    first.mark_restart_requested(interrupted, 1_700_000_000)
    first.end(interrupted, "failed", "KeyboardInterrupt")
    first.finish("failed")

    second = Journal.start(tmp_path, "restart", inventory, resumes=resumable(tmp_path, "restart", inventory))
    assert not second.restarted_before("restart kafka_broker", "kafka2")
    assert second.start_seen_before_restart("restart kafka_broker", "kafka2") == 1_700_000_000
    assert second.start_seen_before_restart("restart kafka_broker", "kafka1") is None
