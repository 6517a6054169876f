"""Backups: saved on the hosts, pulled, verified against the hosts' checksums; listed, checked again, restored.

The hosts are folders of this machine: their commands run here with sh, SFTP is a local copy, and each
host has its own folder behind the backup directory, as each real host has its own disk.
"""

from __future__ import annotations

import getpass
import grp
import hashlib
import io
import json
import os
import pwd
import shutil
import stat
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kafkactl.backup import BackupSet, HostBackup, list_backups, local_root, restore_configs, take_backup, verify_backup
from kafkactl.environment import Environment
from kafkactl.errors import KafkactlError
from kafkactl.model import Component, Host
from kafkactl.remote import Command
from kafkactl.report import Report
from kafkactl.transport import CommandResult, Connection, SshOptions, Transport, TransportError

from helpers import ROOT, run_cli

BACKUP_DIR = "/kafkactl-test-backups"  # each host maps it to its own folder
ZK, BROKER = "zk1.example.com", "kafka1.example.com"
ZOOKEEPER_CLUSTER = str(ROOT / "inventories/zookeeper-cluster/inventory.yml")


@dataclass
class LocalSftp:
    backups: Path
    pulled: list[str]
    timeouts: list[float]

    def get_channel(self) -> LocalSftp:
        return self

    def settimeout(self, seconds: float) -> None:
        self.timeouts.append(seconds)

    def get(self, remote: str, local: str) -> None:
        assert self.timeouts, "an SFTP operation without a timeout"
        shutil.copyfile(remote.replace(BACKUP_DIR, str(self.backups)), local)
        self.pulled.append(remote)

    def close(self) -> None:
        pass


@dataclass
class LocalClient:
    backups: Path
    pulled: list[str] = field(default_factory=list)

    def open_sftp(self) -> LocalSftp:
        return LocalSftp(self.backups, self.pulled, [])


class LocalConnection(Connection):
    """A host whose commands run on this machine, as they would as root on the host."""

    def __init__(self, host: Host, backups: Path) -> None:
        super().__init__(host, LocalClient(backups))  # type: ignore[arg-type]
        self.backups = backups
        self.written: list[tuple[str, str, str, str]] = []

    def run(self, command: Command, *, check: bool = True, timeout: float | None = 600, stdin: bytes | None = None) -> CommandResult:
        done = subprocess.run(["sh", "-c", command.text.replace(BACKUP_DIR, str(self.backups))], input=stdin or b"",
                              capture_output=True, timeout=timeout, check=False)
        result = CommandResult(done.returncode, done.stdout.decode(), done.stderr.decode())
        if check and result.code != 0:
            raise TransportError(f"host {self.host.name}: command failed (exit {result.code}): {result.stderr.strip()}")
        return result

    def put(self, content: bytes, path: str, *, mode: str, owner: str, group: str, keep_previous: bool = True) -> None:
        Path(path).write_bytes(content)
        os.chmod(path, int(mode, 8))
        self.written.append((path, mode, owner, group))


class LocalTransport(Transport):
    def __init__(self, tmp_path: Path, names: tuple[str, ...] = (ZK, BROKER), ssh_user: str = "root") -> None:
        super().__init__([Host(name=n, address="127.0.0.1", ssh_user=ssh_user, components=(Component.ZOOKEEPER,)) for n in names],
                         SshOptions())
        self.local = {n: LocalConnection(self.hosts[n], tmp_path / n / "backups") for n in names}

    def connection(self, name: str) -> LocalConnection:
        return self.local[name]


@dataclass
class Cluster:
    """Two hosts' files under tmp_path, and what a phase saves of them."""

    tmp_path: Path

    def path(self, host: str, relative: str) -> Path:
        return self.tmp_path / host / relative

    def write(self, host: str, relative: str, content: str, mode: int = 0o644) -> str:
        target = self.path(host, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(mode)
        return str(target)

    def plan(self) -> dict[str, HostBackup]:
        zk_config = self.write(ZK, "etc/kafka/zookeeper.properties", "dataDir=/var/lib/zookeeper\n", 0o640)
        self.write(ZK, "var/lib/zookeeper/version-2/snapshot.0", "snapshot")
        self.write(ZK, "var/lib/zookeeper/version-2/log.1", "transactions")
        broker_config = self.write(BROKER, "etc/kafka/server.properties", "broker.id=1\n", 0o640)
        meta = self.write(BROKER, "var/lib/kafka/data/meta.properties", "cluster.id=abc\nbroker.id=1\n")
        return {
            ZK: HostBackup(files=(zk_config, str(self.path(ZK, "etc/kafka/jaas.conf"))),
                           directories=(str(self.path(ZK, "var/lib/zookeeper")), str(self.path(ZK, "var/lib/zookeeper-log")))),
            BROKER: HostBackup(files=(broker_config, meta)),
        }


def _report() -> tuple[Report, Environment]:
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), variables={})
    return Report(env), env


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ownership(path: Path) -> tuple[str, str]:
    status = path.stat()
    return pwd.getpwuid(status.st_uid).pw_name, grp.getgrgid(status.st_gid).gr_name


def _take(tmp_path: Path, run_id: str = "run-1", transport: LocalTransport | None = None) -> tuple[Cluster, LocalTransport, BackupSet, str]:
    cluster = Cluster(tmp_path)
    report, env = _report()
    transport = transport or LocalTransport(tmp_path)
    backup = take_backup(transport, report, tmp_path / "local", run_id, "dual-write", cluster.plan(), BACKUP_DIR)
    return cluster, transport, backup, env.stdout.getvalue()


def test_a_backup_saves_pulls_and_verifies_every_file(tmp_path: Path) -> None:
    cluster, transport, backup, printed = _take(tmp_path)
    zk = {item.path: item for item in backup.hosts[ZK]}
    config = zk[str(cluster.path(ZK, "etc/kafka/zookeeper.properties"))]
    assert (config.kind, config.mode, config.owner, config.group) == ("file", "0640", *_ownership(Path(config.path)))
    assert config.sha256 == _sha256(cluster.path(ZK, "etc/kafka/zookeeper.properties"))
    assert zk[str(cluster.path(ZK, "etc/kafka/jaas.conf"))].kind == "absent"
    assert zk[str(cluster.path(ZK, "var/lib/zookeeper-log"))].kind == "absent"
    data = zk[str(cluster.path(ZK, "var/lib/zookeeper"))]
    assert data.kind == "directory" and data.stored.startswith("archives/") and data.stored.endswith("_var_lib_zookeeper.tar.gz")

    on_host = tmp_path / ZK / "backups/run-1"
    assert stat.S_IMODE(on_host.stat().st_mode) == 0o700
    assert stat.S_IMODE((on_host / config.stored).stat().st_mode) == 0o640  # cp -p
    assert (on_host / "SHA256SUMS").read_text() == f"{config.sha256}  {config.stored}\n{data.sha256}  {data.stored}\n"

    local = tmp_path / "local/run-1" / ZK
    assert (local / config.stored).read_text() == "dataDir=/var/lib/zookeeper\n"
    with tarfile.open(local / data.stored) as archive:
        assert {"./version-2/snapshot.0", "./version-2/log.1"} <= set(archive.getnames())
    manifest = json.loads((local / "manifest.json").read_text())
    assert (manifest["label"], manifest["run_id"], manifest["host"]) == ("dual-write", "run-1", ZK)
    assert [item["kind"] for item in manifest["items"]] == ["file", "absent", "directory", "absent"]
    summary = json.loads((tmp_path / "local/run-1/backup.json").read_text())
    assert summary["hosts"][BROKER] == {"files": 2, "directories": 0, "absent": 0, "size": backup.size - sum(i.size for i in backup.hosts[ZK])}

    assert "== backup run-1 (dual-write): 2 hosts" in printed
    assert f"   {ZK}: backed up 1 files, 1 directories (0.0 MB), verified\n" in printed
    assert f"   {BROKER}: backed up 2 files, 0 directories (0.0 MB), verified\n" in printed
    assert verify_backup(tmp_path / "local", "run-1", transport) == []


def test_a_backup_is_never_overwritten(tmp_path: Path) -> None:
    _, transport, _, _ = _take(tmp_path)
    with pytest.raises(KafkactlError, match=f"backup run-1: host {ZK}: backup into {BACKUP_DIR}/run-1 failed: .*File exists"):
        _take(tmp_path, transport=transport)
    assert [b.run_id for b in list_backups(tmp_path / "local")] == ["run-1"]


def test_paths_to_save_are_absolute() -> None:
    with pytest.raises(KafkactlError, match="backup: not absolute paths: etc/kafka/server.properties"):
        HostBackup(files=("etc/kafka/server.properties",))


def test_a_user_other_than_root_pulls_a_private_copy(tmp_path: Path) -> None:
    user = "nobody" if os.getuid() == 0 else getpass.getuser()
    transport = LocalTransport(tmp_path, ssh_user=user)
    _, _, backup, _ = _take(tmp_path, transport=transport)
    pulled = transport.local[ZK].client.pulled
    assert pulled and all(p.startswith("/var/tmp/.kafkactl-backup-") for p in pulled)
    assert not any(Path(p).exists() for p in pulled)  # removed once pulled
    assert verify_backup(tmp_path / "local", backup.run_id) == []


def test_backups_are_listed_newest_first_and_unverified_ones_not_at_all(tmp_path: Path) -> None:
    _, transport, _, _ = _take(tmp_path, "run-1")
    take_backup(transport, _report()[0], tmp_path / "local", "run-2", "kraft-brokers", Cluster(tmp_path).plan(), BACKUP_DIR)
    (tmp_path / "local/run-3" / ZK).mkdir(parents=True)  # a backup that stopped before it was verified
    found = list_backups(tmp_path / "local")
    assert [(b.run_id, b.label) for b in found] == [("run-2", "kraft-brokers"), ("run-1", "dual-write")]
    assert (found[0].count("file"), found[0].count("directory"), found[0].count("absent")) == (3, 1, 2)


def test_verify_finds_corrupted_and_missing_copies_here_and_on_the_hosts(tmp_path: Path) -> None:
    cluster, transport, backup, _ = _take(tmp_path)
    config, _, archive, _ = backup.hosts[ZK]
    local = tmp_path / "local/run-1" / ZK
    (local / config.stored).write_text("dataDir=/elsewhere\n")
    (local / archive.stored).unlink()
    (tmp_path / BROKER / "backups/run-1/files" / cluster.path(BROKER, "etc/kafka/server.properties").relative_to("/")).write_text("x")
    problems = verify_backup(tmp_path / "local", "run-1", transport)
    assert problems == [
        f"host {ZK}: {local / config.stored} does not match its checksum in the manifest (the copy of {config.path})",
        f"host {ZK}: {local / archive.stored} is missing (the copy of {archive.path})",
        f"host {BROKER}: {BACKUP_DIR}/run-1: files{cluster.path(BROKER, 'etc/kafka/server.properties')}: FAILED",
    ]


def test_restore_writes_changed_configuration_back_but_not_meta_properties(tmp_path: Path) -> None:
    cluster, transport, _, _ = _take(tmp_path)
    cluster.write(ZK, "etc/kafka/zookeeper.properties", "dataDir=/changed\n")
    cluster.write(BROKER, "var/lib/kafka/data/meta.properties", "cluster.id=other\n")
    report, env = _report()
    written = restore_configs(transport, report, tmp_path / "local", "run-1", {ZK})
    config = cluster.path(ZK, "etc/kafka/zookeeper.properties")
    assert written == [f"{ZK}:{config}"]
    assert config.read_text() == "dataDir=/var/lib/zookeeper\n"
    assert transport.local[ZK].written == [(str(config), "0640", *_ownership(config))]
    assert f"   {ZK}: restored {config}\n" in env.stdout.getvalue()

    written = restore_configs(transport, report, tmp_path / "local", "run-1", None)
    assert written == [f"{BROKER}:{cluster.path(BROKER, 'etc/kafka/server.properties')}", f"{ZK}:{config}"]
    assert cluster.path(BROKER, "var/lib/kafka/data/meta.properties").read_text() == "cluster.id=other\n"


def test_restore_refuses_a_corrupted_copy_and_writes_nothing(tmp_path: Path) -> None:
    _, transport, backup, _ = _take(tmp_path)
    (tmp_path / "local/run-1" / BROKER / backup.hosts[BROKER][0].stored).write_text("broker.id=9\n")
    with pytest.raises(KafkactlError, match="does not match its checksum") as raised:
        restore_configs(transport, _report()[0], tmp_path / "local", "run-1", None)
    assert raised.value.lines[-1] == "backup run-1: nothing was restored"
    assert not transport.local[ZK].written and not transport.local[BROKER].written


def test_cli_lists_verifies_and_asks_before_restoring(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cluster = Cluster(tmp_path)
    take_backup(LocalTransport(tmp_path), _report()[0], local_root(state), "run-1", "dual-write", cluster.plan(), BACKUP_DIR)
    variables = {"KAFKACTL_STATE_DIR": str(state)}

    listed = run_cli("backup", "list", ZOOKEEPER_CLUSTER, variables=variables)
    assert listed.exit_code == 0 and listed.stdout.startswith("run-1  dual-write  ")
    assert listed.stdout.rstrip().endswith("2 hosts  3 files  1 directories  0.0 MB")
    (as_json,) = json.loads(run_cli("backup", "list", ZOOKEEPER_CLUSTER, "--json", variables=variables).stdout)
    assert {k: as_json[k] for k in ("run_id", "label", "files", "directories")} == {
        "run_id": "run-1", "label": "dual-write", "files": 3, "directories": 1}

    verified = run_cli("backup", "verify", ZOOKEEPER_CLUSTER, variables=variables)
    assert verified.exit_code == 0 and verified.stdout == "Backup run-1: verified (local copies)\n"

    declined = run_cli("backup", "restore", ZOOKEEPER_CLUSTER, "--run", "run-1", variables=variables, stdin="no\n")
    assert declined.exit_code == 1 and declined.stderr == "error: restore: not confirmed; nothing was written\n"
    assert f"  {ZK}: {cluster.path(ZK, 'etc/kafka/zookeeper.properties')}\n" in declined.stdout
    assert "meta.properties" not in declined.stdout

    (local_root(state) / "run-1" / BROKER / "SHA256SUMS").unlink()  # not an item: the manifest is what counts
    (local_root(state) / "run-1" / ZK / "archives").rename(local_root(state) / "run-1" / ZK / "moved")
    failed = run_cli("backup", "verify", ZOOKEEPER_CLUSTER, "--run", "run-1", variables=variables)
    assert failed.exit_code == 1 and failed.stdout == ""
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith(f"error: host {ZK}: ") and "is missing" in failed.stderr

    unknown = run_cli("backup", "verify", ZOOKEEPER_CLUSTER, "--run", "run-9", variables=variables)
    assert unknown.exit_code == 1 and unknown.stderr.startswith("error: backup run-9: no verified backup in ")
    empty = run_cli("backup", "list", ZOOKEEPER_CLUSTER, variables={"KAFKACTL_STATE_DIR": str(tmp_path / "none")})
    assert empty.exit_code == 0 and empty.stdout == f"No backups in {tmp_path / 'none/backups'}\n"
