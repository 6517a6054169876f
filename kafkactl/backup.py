"""Backups before every migration phase: ZooKeeper's data, the files the phase changes, every meta.properties.

Each host keeps its copy under <backup dir>/<run id>/ (root only): `files/<absolute path>`,
`archives/<path with / as _>.tar.gz`, `SHA256SUMS` and `manifest.json`. Every saved file is pulled
to <local root>/<run id>/<host>/ and checked against the host's checksums; `backup.json` beside the
hosts' folders is written last, so a backup that was not verified is never listed.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from kafkactl import state_dir as private
from kafkactl.errors import KafkactlError
from kafkactl.remote import Command, cmd, seq, sh

if TYPE_CHECKING:
    from kafkactl.report import Report
    from kafkactl.transport import Connection, Transport

BACKUP_DIR = "/var/backups/kafkactl"
SUMS = "SHA256SUMS"
MANIFEST = "manifest.json"
SUMMARY = "backup.json"

Kind = Literal["file", "directory", "absent"]


@dataclass(frozen=True)
class HostBackup:
    """What to save on one host."""

    files: tuple[str, ...] = ()  # absolute paths, copied if they exist; a missing one is recorded as absent
    directories: tuple[str, ...] = ()  # archived as tar.gz if they exist (ZooKeeper's data and log directories)

    def __post_init__(self) -> None:
        relative = [path for path in (*self.files, *self.directories) if not path.startswith("/")]
        if relative:  # they would be looked for wherever the SSH session starts
            raise KafkactlError(f"backup: not absolute paths: {', '.join(relative)}")


@dataclass(frozen=True)
class BackupItem:
    path: str  # where it was on the host
    kind: Kind
    stored: str | None = None  # relative to the host's backup folder; None when absent
    sha256: str | None = None
    size: int = 0
    # The original's mode and ownership: a restored file is written back as it was.
    mode: str | None = None
    owner: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class BackupSet:
    run_id: str
    label: str
    created: float
    hosts: dict[str, list[BackupItem]]
    root: Path  # the local copy: <local root>/<run id>, one folder per host
    location: str  # each host's own copy: <backup dir>/<run id>

    def count(self, kind: Kind) -> int:
        return sum(_count(items, kind) for items in self.hosts.values())

    @property
    def size(self) -> int:
        return sum(_size(items) for items in self.hosts.values())


def _count(items: list[BackupItem], kind: Kind) -> int:
    return sum(1 for item in items if item.kind == kind)


def _size(items: list[BackupItem]) -> int:
    return sum(item.size for item in items)


def local_root(state_dir: Path) -> Path:
    """Where the backups of an inventory's cluster are kept on this machine (private: they hold secrets)."""
    return private.prepare(state_dir) / "backups"


def take_backup(transport: Transport, report: Report, local_root: Path, run_id: str, label: str,
                plan: dict[str, HostBackup], backup_dir: str = BACKUP_DIR) -> BackupSet:
    """Save, pull and verify every host's backup, hosts in parallel; any failure stops the caller's phase."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", run_id):  # it names folders on every host
        raise KafkactlError(f"backup: {run_id!r} cannot be a run id (letters, digits, '.', '_', '-')")
    created = time.time()
    location = f"{backup_dir.rstrip('/')}/{run_id}"
    root = local_root / run_id
    root.mkdir(mode=0o700, parents=True, exist_ok=True)  # configuration files hold secrets
    report.line(f"== backup {run_id} ({label}): {len(plan)} hosts, up to {transport.forks} at a time", style="bold")

    def back_up(host: str) -> list[BackupItem]:
        connection = transport.connection(host)
        items = _save_on_host(connection, location, plan[host])
        manifest = {"label": label, "run_id": run_id, "host": host, "created": created, "location": location,
                    "items": [asdict(item) for item in items]}
        _checked(connection, sh("cat > {manifest}", manifest=f"{location}/{MANIFEST}"), f"writing {location}/{MANIFEST}",
                 stdin=json.dumps(manifest, indent=2).encode() + b"\n")
        _pull(connection, location, [*(i.stored for i in items if i.stored), SUMS, MANIFEST], root / host)
        problems = _local_problems(root / host, host, items)
        if problems:
            raise KafkactlError(*problems)
        report.line(f"   {host}: backed up {_count(items, 'file')} files, {_count(items, 'directory')} directories "
                    f"({_megabytes(_size(items))}), verified")
        return items

    results = transport.each(sorted(plan), back_up)
    failures = [f"backup {run_id}: {result}" for _, result in results if isinstance(result, BaseException)]
    if failures:
        raise KafkactlError(*failures)
    backup = BackupSet(run_id, label, created, {host: items for host, items in results}, root, location)  # type: ignore[misc]
    _write_summary(backup)
    return backup


def _save_on_host(connection: Connection, location: str, wanted: HostBackup) -> list[BackupItem]:
    """One shell script: a private folder that must not exist yet (a backup is never overwritten), the copies,
    SHA256SUMS; it prints one line per item for the manifest."""
    script = [
        cmd("set", "-e"),
        cmd("umask", "077"),
        cmd("mkdir", "-p", posixpath.dirname(location)),
        cmd("mkdir", "-m", "0700", location),
        cmd("cd", location),
        sh(": > {sums}", sums=SUMS),
    ]
    for path in wanted.files:
        stored = f"files{path}"
        script.append(_if_exists(path, cmd("mkdir", "-p", posixpath.dirname(stored)), cmd("cp", "-p", path, stored),
                                 *_record("file", path, stored)))
    for path in wanted.directories:
        stored = f"archives/{path.replace('/', '_')}.tar.gz"
        # Exit 1 means a file changed while it was read: ZooKeeper appends to its transaction log while
        # serving, and reads a torn last transaction as the end of the log.
        script.append(_if_exists(path, cmd("mkdir", "-p", "archives"), sh("tar -czf {stored} -C {path} . || [ $? -eq 1 ]", stored=stored, path=path),
                                 *_record("directory", path, stored)))
    output = _checked(connection, seq(*script), f"backup into {location}")
    return [_parse_item(line) for line in output.splitlines() if line]


def _if_exists(path: str, *commands: Command) -> Command:
    """Commands run in turn, so `set -e` stops at the first that fails (never joined by &&, which would hide a
    failure from it); a missing path is recorded."""
    return sh("if [ -e {path} ]; then {commands}; else printf 'absent\\t%s\\n' {path}; fi", path=path, commands=seq(*commands))


def _record(kind: Kind, path: str, stored: str) -> list[Command]:
    return [
        sh("sum=$(sha256sum -- {copy})", copy=stored),
        sh('echo "$sum" >> {sums}', sums=SUMS),
        sh("printf '%s\\t%s\\t%s\\t%s\\t%s %s\\n' {kind} {path} {copy} \"${{sum%% *}}\" "
           "\"$(stat -c %s {copy})\" \"$(stat -L -c '%a %U %G' {path})\"", kind=kind, path=path, copy=stored),
    ]


def _parse_item(line: str) -> BackupItem:
    kind, path, *rest = line.split("\t")
    if kind == "absent":
        return BackupItem(path, "absent")
    stored, sha256, details = rest
    size, mode, owner, group = details.split(" ")
    return BackupItem(path, kind, stored, sha256, int(size), mode.zfill(4), owner, group)  # type: ignore[arg-type]


def _checked(connection: Connection, command: Command, what: str, stdin: bytes | None = None) -> str:
    result = connection.run(command, check=False, stdin=stdin)
    if result.code != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [f"exit {result.code}"]
        raise KafkactlError(f"host {connection.host.name}: {what} failed: {detail[0]}")
    return result.stdout


def _pull(connection: Connection, location: str, names: list[str], target: Path) -> None:
    """Copy the host's saved files here over SFTP. SFTP runs as the SSH user: a user other than root
    gets a copy only it can read, removed afterwards, under /var/tmp (on disk, unlike a tmpfs /tmp:
    ZooKeeper's archive can be large)."""
    import paramiko  # loaded only when a backup is pulled: list and verify work without SSH

    host, user = connection.host.name, connection.user
    source = location
    if user != "root":
        source = f"/var/tmp/.kafkactl-backup-{uuid.uuid4().hex}"
        _checked(connection, sh("mkdir -m 0700 {staged} && cp -R {location}/. {staged} && chown -R {user} {staged} && "
                                "chmod -R u+rwX {staged}", staged=source, location=location, user=user),
                 f"making {location} readable by {user}")
    name = ""
    try:
        with connection.sftp() as sftp:  # each operation bounded by the SFTP timeout
            for name in names:
                local = target / name
                local.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                sftp.get(f"{source}/{name}", str(local))
                local.chmod(0o600)  # configuration files and ZooKeeper data hold secrets
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise KafkactlError(f"host {host}: pulling {location}/{name} to {target} failed: {exc}") from None
    finally:
        if source != location:
            connection.run(cmd("rm", "-rf", source), check=False)


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _local_problems(folder: Path, host: str, items: list[BackupItem]) -> list[str]:
    """Every saved item's local copy against the host's manifest."""
    problems = []
    for item in items:
        if item.stored is None:
            continue
        local = folder / item.stored
        if not local.is_file():
            problems.append(f"host {host}: {local} is missing (the copy of {item.path})")
        elif local.stat().st_size != item.size or _sha256(local) != item.sha256:
            problems.append(f"host {host}: {local} does not match its checksum in the manifest (the copy of {item.path})")
    return problems


def _write_summary(backup: BackupSet) -> None:
    hosts = {host: {"files": _count(items, "file"), "directories": _count(items, "directory"),
                    "absent": _count(items, "absent"), "size": _size(items)}
             for host, items in backup.hosts.items()}
    summary = {"label": backup.label, "run_id": backup.run_id, "created": backup.created, "location": backup.location,
               "hosts": hosts, "size": backup.size}
    private.write_private(backup.root / SUMMARY, (json.dumps(summary, indent=2) + "\n").encode())


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KafkactlError(f"{path}: cannot be read: {exc}") from None


def load_backup(local_root: Path, run_id: str) -> BackupSet:
    root = local_root / run_id
    if not (root / SUMMARY).is_file():
        raise KafkactlError(f"backup {run_id}: no verified backup in {root} (kafkactl backup list shows them)")
    summary = _read_json(root / SUMMARY)
    hosts = {host: [BackupItem(**item) for item in _read_json(root / host / MANIFEST)["items"]] for host in summary["hosts"]}
    return BackupSet(summary["run_id"], summary["label"], summary["created"], hosts, root, summary["location"])


def list_backups(local_root: Path) -> list[BackupSet]:
    """Every verified backup, newest first; a folder without backup.json is one that stopped before it was verified."""
    if not local_root.is_dir():
        return []
    found = [load_backup(local_root, folder.name) for folder in local_root.iterdir() if (folder / SUMMARY).is_file()]
    return sorted(found, key=lambda b: b.created, reverse=True)


def verify_backup(local_root: Path, run_id: str, transport: Transport | None = None) -> list[str]:
    """Problems found, [] when verified: local copies against the manifests and, with a transport, each host's copy."""
    backup = load_backup(local_root, run_id)
    problems = [p for host, items in backup.hosts.items() for p in _local_problems(backup.root / host, host, items)]
    if transport is None:
        return problems
    known = [host for host in backup.hosts if host in transport.hosts]
    problems += [f"host {host}: not in the inventory; its own copy was not checked" for host in backup.hosts if host not in known]
    for _, result in transport.each(known, lambda host: _host_problems(transport.connection(host), backup)):
        problems += [str(result)] if isinstance(result, BaseException) else result
    return problems


def _host_problems(connection: Connection, backup: BackupSet) -> list[str]:
    """The host's copy against the checksums recorded when it was taken (not its own SHA256SUMS, which could
    have changed with it)."""
    host = connection.host.name
    sums = "".join(f"{i.sha256}  {i.stored}\n" for i in backup.hosts[host] if i.stored)
    enter = cmd("cd", backup.location)
    result = connection.run(enter & cmd("sha256sum", "-c", "--quiet", "-") if sums else enter, check=False, stdin=sums.encode())
    if result.code == 0:
        return []
    failed = [line for line in result.stdout.splitlines() if line.strip()]
    detail = failed or (result.stderr.strip().splitlines()[-1:] or [f"exit {result.code}"])
    return [f"host {host}: {backup.location}: {line}" for line in detail]


def configs_to_restore(backup: BackupSet, hosts: set[str] | None) -> dict[str, list[BackupItem]]:
    """The saved configuration files, host by host. meta.properties is left out: it is a node's identity in
    its log directory, and writing an old one back would not roll the log directory back with it."""
    chosen = {
        host: [i for i in items if i.kind == "file" and posixpath.basename(i.path) != "meta.properties"]
        for host, items in backup.hosts.items()
        if hosts is None or host in hosts
    }
    if not any(chosen.values()):
        raise KafkactlError(f"backup {backup.run_id}: no configuration files saved for {', '.join(sorted(hosts or ())) or 'any host'}")
    return {host: items for host, items in chosen.items() if items}


def restore_configs(transport: Transport, report: Report, local_root: Path, run_id: str, hosts: set[str] | None) -> list[str]:
    """Write the saved configuration files back where they were, checked first; services are not restarted."""
    backup = load_backup(local_root, run_id)
    chosen = configs_to_restore(backup, hosts)
    unknown = sorted(host for host in chosen if host not in transport.hosts)
    if unknown:
        raise KafkactlError(f"backup {run_id}: {', '.join(unknown)} not in the inventory; nothing was restored")
    problems = [p for host, items in chosen.items() for p in _local_problems(backup.root / host, host, items)]
    if problems:
        raise KafkactlError(*problems, f"backup {run_id}: nothing was restored")

    def restore(host: str) -> list[str]:
        connection = transport.connection(host)
        for item in chosen[host]:
            content = (backup.root / host / item.stored).read_bytes()  # type: ignore[operator]
            connection.put(content, item.path, mode=item.mode, owner=item.owner, group=item.group)  # type: ignore[arg-type]
            report.line(f"   {host}: restored {item.path}")
        return [f"{host}:{item.path}" for item in chosen[host]]

    results = transport.each(sorted(chosen), restore)
    failures = [f"restore {run_id}: {result}" for _, result in results if isinstance(result, BaseException)]
    if failures:
        raise KafkactlError(*failures)
    return [written for _, paths in results for written in paths]  # type: ignore[union-attr]


def summary_line(backup: BackupSet) -> str:
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(backup.created))
    return (f"{backup.run_id}  {backup.label}  {created}  {len(backup.hosts)} hosts  {backup.count('file')} files  "
            f"{backup.count('directory')} directories  {_megabytes(backup.size)}")


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
