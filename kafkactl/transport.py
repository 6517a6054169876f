"""SSH transport: one persistent paramiko connection per host, host keys checked, sudo when asked.

Host keys are checked against known_hosts by default. An unknown key is refused unless the user
opted in to accepting new keys (then it is recorded and reported); a changed key is always refused.
Only `StrictHostKeyChecking=no` in the inventory's ssh args (or --insecure-skip-host-key-check)
turns checking off, and kafkactl says so.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import paramiko

from kafkactl.errors import KafkactlError
from kafkactl.model import Host
from kafkactl.remote import Command, sh, shell

T = TypeVar("T")
R = TypeVar("R")


class TransportError(KafkactlError):
    """A host could not be reached or a command on it failed; the message names the host."""


@dataclass(frozen=True)
class SshOptions:
    known_hosts: Path = field(default_factory=lambda: Path("~/.ssh/known_hosts").expanduser())
    accept_new_host_keys: bool = False
    check_host_keys: bool = True
    connect_timeout: float = 15.0


@dataclass(frozen=True)
class CommandResult:
    code: int
    stdout: str
    stderr: str


def _key_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


class _AcceptNewKeys(paramiko.MissingHostKeyPolicy):
    """Like OpenSSH's StrictHostKeyChecking=accept-new: record unknown keys, never changed ones."""

    def __init__(self, known_hosts: Path, notices: list[str], lock: threading.Lock) -> None:
        self.known_hosts, self.notices, self.lock = known_hosts, notices, lock

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        with self.lock:
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
            with self.known_hosts.open("a", encoding="utf-8") as handle:
                handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)
        fingerprint = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
        self.notices.append(f"{hostname}: accepted new host key {key.get_name()} (SHA256:{fingerprint}) into {self.known_hosts}")


class Connection:
    """Commands and file uploads on one host, as root (directly or through sudo)."""

    def __init__(self, host: Host, client: paramiko.SSHClient, jump: paramiko.SSHClient | None = None) -> None:
        self.host = host
        self.client = client
        self.jump = jump
        self.sudo = host.become and host.ssh_user != "root"

    def run(self, command: Command, *, check: bool = True, timeout: float | None = 600, stdin: bytes | None = None) -> CommandResult:
        if not isinstance(command, Command):  # a string could carry an unquoted value into root's shell
            raise TypeError(f"Connection.run takes a kafkactl.remote Command, not {type(command).__name__}")
        if self.sudo:
            command = sh("sudo -n -- {inner}", inner=shell(command))
        try:
            channel = self.client.get_transport().open_session()  # type: ignore[union-attr]
            channel.settimeout(timeout)
            channel.exec_command(command.text)
            if stdin is not None:
                channel.sendall(stdin)
            channel.shutdown_write()
            stdout = channel.makefile("rb").read().decode("utf-8", "replace")
            stderr = channel.makefile_stderr("rb").read().decode("utf-8", "replace")
            code = channel.recv_exit_status()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"host {self.host.name}: connection lost while running a command: {exc or type(exc).__name__}") from None
        result = CommandResult(code, stdout, stderr)
        if check and code != 0:
            detail = (stderr.strip() or stdout.strip()).splitlines()[-1:] or ["no output"]
            raise TransportError(f"host {self.host.name}: command failed (exit {code}): {_first_word(command.text)}: {detail[0]}")
        return result

    def put(self, content: bytes, path: str, *, mode: str, owner: str, group: str, keep_previous: bool = True) -> None:
        """Write a file atomically: upload beside nothing, install as a temp name, keep the old one, rename."""
        staging = f"/tmp/.kafkactl-{uuid.uuid4().hex}"
        try:
            sftp = self.client.open_sftp()
            try:
                with sftp.open(staging, "wb") as handle:
                    handle.chmod(0o600)
                    handle.write(content)
            finally:
                sftp.close()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"host {self.host.name}: upload of {path} failed: {exc}") from None
        new = f"{path}.kafkactl-new"
        keep = sh("if [ -e {dest} ]; then cp -p {dest} {previous}; fi; ", dest=path, previous=f"{path}.kafkactl-previous")
        self.run(sh(
            "install -m {mode} -o {owner} -g {group} {staging} {new} && {keep}mv -f {new} {dest}; status=$?; rm -f {staging}; exit $status",
            mode=mode, owner=owner, group=group, staging=staging, new=new, dest=path, keep=keep if keep_previous else sh(""),
        ))

    def close(self) -> None:
        self.client.close()
        if self.jump is not None:
            self.jump.close()


def _first_word(command: str) -> str:
    return command.split()[0] if command.split() else command


class Transport:
    """Opens and keeps one connection per host; runs work on many hosts with bounded parallelism."""

    def __init__(self, hosts: Iterable[Host], options: SshOptions, forks: int = 20) -> None:
        self.hosts = {h.name: h for h in hosts}
        self.options = options
        self.forks = max(1, forks)
        self.notices: list[str] = []
        self._lock = threading.Lock()
        self._connections: dict[str, Connection] = {}

    def known_hosts(self, host: Host) -> Path:
        return Path(host.ssh_known_hosts).expanduser() if host.ssh_known_hosts else self.options.known_hosts

    def _client(self, host: Host) -> paramiko.SSHClient:
        """A client whose host-key policy is the user's: inventory ssh args, then command-line flags."""
        client = paramiko.SSHClient()
        if not self.options.check_host_keys or host.ssh_host_key_checking == "no":
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            return client
        known_hosts = self.known_hosts(host)
        if known_hosts.exists():
            client.load_host_keys(str(known_hosts))
        if self.options.accept_new_host_keys or host.ssh_host_key_checking == "accept-new":
            client.set_missing_host_key_policy(_AcceptNewKeys(known_hosts, self.notices, self._lock))
        else:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        return client

    def _jump_target(self, spec: str) -> tuple[str, int, str | None, str | None]:
        """A ProxyJump spec: an inventory host name, or [user@]host[:port]."""
        if spec in self.hosts:
            jump = self.hosts[spec]
            return jump.address, jump.ssh_port, jump.ssh_user, jump.ssh_private_key_file
        user, _, rest = spec.rpartition("@")
        address, _, port = rest.partition(":")
        return address, int(port or 22), user or None, None

    def _open(self, host: Host) -> Connection:
        jump_client = None
        sock = None
        if host.ssh_proxy_jump:
            address, port, user, key = self._jump_target(host.ssh_proxy_jump)
            jump_client = self._client(host)
            self._connect(jump_client, host, address, port, user or host.ssh_user, key or host.ssh_private_key_file, None,
                          via=f"jump host {host.ssh_proxy_jump}")
            try:
                sock = jump_client.get_transport().open_channel(  # type: ignore[union-attr]
                    "direct-tcpip", (host.address, host.ssh_port), ("127.0.0.1", 0)
                )
            except paramiko.SSHException as exc:
                jump_client.close()
                raise TransportError(f"host {host.name}: jump host {host.ssh_proxy_jump} cannot reach {host.address}:{host.ssh_port}: {exc}") from None
        client = self._client(host)
        self._connect(client, host, host.address, host.ssh_port, host.ssh_user, host.ssh_private_key_file, sock)
        return Connection(host, client, jump_client)

    def _connect(self, client: paramiko.SSHClient, host: Host, address: str, port: int, user: str, key_file: str | None,
                 sock, via: str | None = None) -> None:
        name = host.name
        known_hosts = self.known_hosts(host)
        where = f"{address}:{port}" + (f" ({via})" if via else "")
        try:
            client.connect(
                address, port=port, username=user, key_filename=key_file, sock=sock,
                timeout=self.options.connect_timeout, banner_timeout=self.options.connect_timeout,
                auth_timeout=self.options.connect_timeout, allow_agent=key_file is None, look_for_keys=key_file is None,
            )
        except paramiko.BadHostKeyException as exc:
            raise TransportError(
                f"host {name}: the host key of {where} CHANGED (known_hosts has {exc.expected_key.get_name()}, "
                f"the server offers {exc.key.get_name()}); refusing to connect. If the host was rebuilt, remove its "
                f"entry from {known_hosts}"
            ) from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise TransportError(
                    f"host {name}: {where} is not in {known_hosts}; refusing an unknown host key "
                    "(add it, or pass --accept-new-host-keys to record it)"
                ) from None
            if isinstance(exc, paramiko.AuthenticationException):
                raise TransportError(f"host {name}: authentication as {user} failed at {where}") from None
            raise TransportError(f"host {name}: SSH to {where} failed: {exc}") from None
        except (socket.timeout, TimeoutError):
            raise TransportError(f"host {name}: {where} did not answer within {self.options.connect_timeout:.0f} s") from None
        except OSError as exc:
            raise TransportError(f"host {name}: cannot reach {where}: {exc.strerror or exc}") from None

    def connection(self, name: str) -> Connection:
        with self._lock:
            existing = self._connections.get(name)
        if existing is not None and existing.client.get_transport() and existing.client.get_transport().is_active():
            return existing
        opened = self._open(self.hosts[name])
        with self._lock:
            self._connections[name] = opened
        return opened

    def each(self, items: Iterable[T], work: Callable[[T], R]) -> list[tuple[T, R | BaseException]]:
        """Run work on every item with at most `forks` at once; results (or errors) in the items' order."""
        items = list(items)

        def guarded(item: T) -> R | BaseException:
            try:
                return work(item)
            except KafkactlError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=min(self.forks, max(1, len(items)))) as pool:
            return list(zip(items, pool.map(guarded, items)))

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()
