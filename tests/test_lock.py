"""One run at a time per cluster (kafkactl/lock.py): the local flock and the lock on every host.

The hosts here are folders on this machine: each fake connection runs the lock's real shell commands
with sh, its /var/lib/kafkactl moved into the host's folder. tests/lab/ takes the same lock on real hosts.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from kafkactl import lock
from kafkactl.errors import KafkactlError
from kafkactl.lock import ClusterLock, Holder
from kafkactl.transport import CommandResult


class FolderHost:
    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, command, *, check: bool = True, stdin: bytes | None = None, **_) -> CommandResult:
        script = command.text.replace(lock.HOST_LOCK_PARENT, str(self.root / "var-lib-kafkactl"))
        done = subprocess.run(["sh", "-c", script], input=stdin or b"", capture_output=True, check=False)
        result = CommandResult(done.returncode, done.stdout.decode(), done.stderr.decode())
        if check and done.returncode:
            raise KafkactlError(f"{script}: {result.stderr}")
        return result


class FolderTransport:
    def __init__(self, root: Path, names: list[str]) -> None:
        self.hosts = {name: FolderHost(root / name) for name in names}
        for host in self.hosts.values():
            host.root.mkdir(parents=True, exist_ok=True)

    def connection(self, name: str) -> FolderHost:
        return self.hosts[name]

    def each(self, items, work):
        results = []
        for item in items:
            try:
                results.append((item, work(item)))
            except KafkactlError as exc:
                results.append((item, exc))
        return results

    def lock_dir(self, name: str) -> Path:
        return self.hosts[name].root / "var-lib-kafkactl" / "run.lock"


@pytest.fixture
def cluster(tmp_path: Path) -> FolderTransport:
    return FolderTransport(tmp_path / "hosts", ["kafka1", "kafka2", "kafka3"])


def test_a_run_holds_every_host_and_releases_them(tmp_path: Path, cluster: FolderTransport) -> None:
    with ClusterLock(tmp_path / "state", cluster, "restart") as held:
        for name in cluster.hosts:
            holder = Holder.parse((cluster.lock_dir(name) / "holder").read_text())
            assert holder == held.holder
            assert oct(cluster.lock_dir(name).stat().st_mode & 0o777) == "0o700"
    assert not any(cluster.lock_dir(name).exists() for name in cluster.hosts)


def test_a_second_run_from_this_machine_is_refused_before_any_host(tmp_path: Path, cluster: FolderTransport) -> None:
    other = FolderTransport(tmp_path / "other", ["kafka1"])
    with ClusterLock(tmp_path / "state", cluster, "restart"):
        with pytest.raises(KafkactlError, match=r"locked by `kafkactl restart` by .* \(pid \d+\) since") as refused:
            ClusterLock(tmp_path / "state", other, "apply").__enter__()
    assert "No host was touched" in str(refused.value)
    assert not other.lock_dir("kafka1").exists()


def test_a_run_from_another_machine_is_named_and_nothing_is_taken(tmp_path: Path, cluster: FolderTransport) -> None:
    elsewhere = Holder("ops", "bastion-7", 4242, 1_700_000_000.0, "apply", "t0k3n")
    cluster.lock_dir("kafka2").mkdir(parents=True)
    (cluster.lock_dir("kafka2") / "holder").write_text(json.dumps(asdict(elsewhere)))

    with pytest.raises(KafkactlError) as refused:
        ClusterLock(tmp_path / "state", cluster, "restart").__enter__()
    message = str(refused.value)
    assert "host kafka2: this cluster is locked by `kafkactl apply` by ops@bastion-7 (pid 4242)" in message
    assert "No host was changed" in message
    # The hosts it had taken are released again; the other run's lock is left alone.
    assert not cluster.lock_dir("kafka1").exists() and not cluster.lock_dir("kafka3").exists()
    assert Holder.parse((cluster.lock_dir("kafka2") / "holder").read_text()) == elsewhere
    # The local lock was released too: the next attempt gets as far as the hosts again.
    with pytest.raises(KafkactlError, match="host kafka2"):
        ClusterLock(tmp_path / "state", cluster, "restart").__enter__()


def test_a_stale_lock_is_reported_and_broken_only_when_asked(tmp_path: Path, cluster: FolderTransport) -> None:
    gone = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True).stdout.strip()
    stale = Holder.me("restart")
    stale = Holder(stale.user, stale.machine, int(gone), stale.started, "restart", "old")
    cluster.lock_dir("kafka1").mkdir(parents=True)
    (cluster.lock_dir("kafka1") / "holder").write_text(json.dumps(asdict(stale)))

    with pytest.raises(KafkactlError, match=r"host kafka1: a stale lock of .*that run is gone.*--break-lock"):
        ClusterLock(tmp_path / "state", cluster, "restart").__enter__()
    with ClusterLock(tmp_path / "state", cluster, "restart", break_lock=True) as held:
        assert held.broken and "host kafka1: broke the lock of `kafkactl restart`" in held.broken[0]
        assert Holder.parse((cluster.lock_dir("kafka1") / "holder").read_text()) == held.holder
    assert not cluster.lock_dir("kafka1").exists()


def test_release_leaves_a_lock_that_another_run_took_meanwhile(tmp_path: Path, cluster: FolderTransport) -> None:
    held = ClusterLock(tmp_path / "state", cluster, "restart")
    with held:
        other = Holder("ops", "bastion-7", 1, 0.0, "apply", "someone-else")
        (cluster.lock_dir("kafka3") / "holder").write_text(json.dumps(asdict(other)))
    assert cluster.lock_dir("kafka3").exists() and not cluster.lock_dir("kafka1").exists()


def test_resume_takes_over_only_the_stale_lock_of_the_run_it_resumes(tmp_path: Path, cluster: FolderTransport) -> None:
    lost = ClusterLock(tmp_path / "state", cluster, "apply")
    lost.__enter__()
    lost._held = [n for n in lost._held if n != "kafka2"]  # as when kafka2's connection broke before release
    lost.__exit__()
    assert cluster.lock_dir("kafka2").exists()

    with pytest.raises(KafkactlError, match="host kafka2: a stale lock of `kafkactl apply`"):
        ClusterLock(tmp_path / "state", cluster, "restart", resuming=True).__enter__()
    with ClusterLock(tmp_path / "state", cluster, "apply", resuming=True) as resumed:
        assert resumed.broken == [f"host kafka2: broke the lock of {lost.holder.describe()} (the run being resumed)"]
