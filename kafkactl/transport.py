"""SSH transport: one persistent paramiko connection per host, host keys checked, root through sudo or su.

Hosts are reached as Ansible reaches them: the inventory's connection variables first, then
~/.ssh/config (HostName, User, Port, IdentityFile, ProxyJump, ProxyCommand, StrictHostKeyChecking,
UserKnownHostsFile), then OpenSSH's defaults (port 22; kafkactl's user is root).

Host keys are checked against known_hosts by default, jump hosts included. An unknown key is refused
unless the user opted in to accepting new keys (then it is recorded and reported); a changed key is
always refused. Only `StrictHostKeyChecking=no` (or --insecure-skip-host-key-check) turns checking
off, and kafkactl says so.

Every command has an overall deadline (a command that keeps printing still ends), stdout and stderr
are read together, and files are written by `put`, which never writes through a link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TypeVar

import paramiko

from kafkactl.errors import KafkactlError
from kafkactl.inventory.connection import HOST_KEY_CHECKING, unbracketed
from kafkactl.model import Host
from kafkactl.remote import Command, cmd, program_of, sh, shell

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_USER = "root"
DEFAULT_PORT = 22
# Where put() keeps the previous version of every file it replaces: root's alone (0700).
PREVIOUS_ROOT = PurePosixPath("/var/lib/kafkactl/previous")
# Whom sudo and su make kafkactl: every step it runs needs root.
BECOME_USER = "root"
# Seconds the host's own `timeout` waits past kafkactl's deadline before it ends a command, then kills it.
REMOTE_GRACE_S = 2
_CHUNK = 1 << 16
# Polling bounds while a command runs. Not select() on the channel: its fileno() makes a pipe that
# Channel.close() closes while paramiko's reader thread may still write to it, which kills the whole
# connection (Broken pipe / Bad file descriptor) when a command still printing is stopped.
_POLL_MIN_S, _POLL_MAX_S = 0.001, 0.02

# paramiko reports a dropped connection on stderr without naming the host; kafkactl's own error names it.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class TransportError(KafkactlError):
    """A host could not be reached or a command on it failed; the message names the host."""


class _Unreachable(TransportError):
    """Nothing answered (refused, no route, timed out): worth another try after a pause."""


@dataclass(frozen=True)
class SshOptions:
    known_hosts: Path = field(default_factory=lambda: Path("~/.ssh/known_hosts").expanduser())
    ssh_config: Path | None = field(default_factory=lambda: Path("~/.ssh/config").expanduser())
    accept_new_host_keys: bool = False
    check_host_keys: bool = True
    connect_timeout: float = 15.0
    connect_retries: int = 2
    retry_delay: float = 1.0
    command_timeout: float = 600.0
    sftp_timeout: float = 120.0

    # Environment variables that override the defaults above, for runs that need longer (or shorter) waits.
    ENVIRONMENT = {
        "KAFKACTL_CONNECT_TIMEOUT": "connect_timeout",
        "KAFKACTL_CONNECT_RETRIES": "connect_retries",
        "KAFKACTL_COMMAND_TIMEOUT": "command_timeout",
        "KAFKACTL_SFTP_TIMEOUT": "sftp_timeout",
    }

    def with_environment(self, variables: Mapping[str, str]) -> SshOptions:
        changes: dict[str, float | int] = {}
        for name, attribute in self.ENVIRONMENT.items():
            if name in variables:
                kind = type(getattr(self, attribute))
                try:
                    changes[attribute] = kind(variables[name])
                except ValueError:
                    raise KafkactlError(f"{name}: expected a number, got {variables[name]!r}") from None
                if changes[attribute] < 0:
                    raise KafkactlError(f"{name}: must not be negative, got {variables[name]!r}")
        return replace(self, **changes)


@dataclass(frozen=True)
class CommandResult:
    code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Endpoint:
    """One SSH server on the way to a host: a jump host or the host itself."""

    address: str
    port: int
    user: str
    key_files: tuple[str, ...] = ()
    password: str | None = field(default=None, repr=False)  # a secret: never in a repr
    label: str = ""

    @property
    def where(self) -> str:
        shown = f"[{self.address}]" if ":" in self.address else self.address
        return f"{shown}:{self.port}" + (f" ({self.label})" if self.label else "")


@dataclass(frozen=True)
class Route:
    """How to reach a host: optional ProxyCommand, jump hosts in order, the host; and how keys are checked."""

    target: Endpoint
    hops: tuple[Endpoint, ...]
    proxy_command: str | None
    known_hosts: tuple[Path, ...]
    checking: str  # yes | accept-new | no
    connect_timeout: float
    identities_only: bool
    compress: bool
    keepalive: int


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


def _read_known_hosts(path: Path) -> list[paramiko.hostkeys.HostKeyEntry]:
    """Each line paramiko can read (HostKeyEntry.from_line), in the file's order; the others are skipped."""
    entries = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
        except (paramiko.SSHException, paramiko.hostkeys.InvalidHostKey):
            continue
        if entry is not None:
            entries.append(entry)
    return entries


def _names(entry: paramiko.hostkeys.HostKeyEntry, name: str) -> bool:
    """The entry is for `name`: listed as it is, or hashed (|1|salt|hash), as paramiko matches them."""
    return any(listed == name or listed.startswith("|1|") and hmac.compare_digest(paramiko.HostKeys.hash_host(name, listed), listed)
               for listed in entry.hostnames)


@dataclass(frozen=True)
class _Become:
    """How one command becomes root: the method, the password that answers its prompt, the proof it worked."""

    method: str
    password: bytes | None
    prompt: bytes | None  # sudo's prompt (ours, unique); su's is whatever it prints on stderr
    marker: bytes  # printed by the root shell first: proof the switch worked


class Connection:
    """Commands and file uploads on one host, as root (directly or through sudo or su)."""

    def __init__(self, host: Host, client: paramiko.SSHClient, jumps: Iterable[paramiko.SSHClient] = (),
                 *, user: str | None = None, options: SshOptions | None = None) -> None:
        self.host = host
        self.client = client
        self.jumps = tuple(jumps)
        self.user = user or host.ssh_user or DEFAULT_USER
        self.options = options or SshOptions()
        self.becomes = host.become and self.user != BECOME_USER

    def run(self, command: Command, *, check: bool = True, timeout: float | None = None, stdin: bytes | None = None) -> CommandResult:
        """Run a command as root; `timeout` bounds the whole command (default: the options' command_timeout)."""
        if not isinstance(command, Command):  # a string could carry an unquoted value into root's shell
            raise TypeError(f"Connection.run takes a kafkactl.remote Command, not {type(command).__name__}")
        program = program_of(command.text)
        limit = self.options.command_timeout if timeout is None else timeout
        become = self._become() if self.becomes else None
        # The host ends the command (and everything it started) shortly after kafkactl stops waiting,
        # so a hung command leaves no process running as root behind.
        bounded = sh("timeout -k {grace} {seconds} {command}", grace=REMOTE_GRACE_S, seconds=math.ceil(limit) + REMOTE_GRACE_S,
                     command=shell(command))
        wrapped = self._wrapped(bounded, become) if become else bounded
        try:
            channel = self.client.get_transport().open_session(timeout=self.options.connect_timeout)  # type: ignore[union-attr]
            try:
                channel.exec_command(wrapped.text)
                code, stdout, stderr = self._exchange(channel, stdin or b"", become, time.monotonic() + limit, program, limit)
            finally:
                channel.close()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"host {self.host.name}: connection lost while running {program}: {exc or type(exc).__name__}") from None
        result = CommandResult(code, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))
        if check and code != 0:
            detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise TransportError(f"host {self.host.name}: command failed (exit {code}): {program}: {detail[0]}")
        return result

    def _become(self) -> _Become:
        password = self.host.become_password.get_secret_value().encode() + b"\n" if self.host.become_password else None
        prompt = f"[kafkactl-sudo-{uuid.uuid4().hex}]".encode() if self.host.become_method == "sudo" and password else None
        return _Become(self.host.become_method, password, prompt, f"kafkactl-root-{uuid.uuid4().hex}".encode())

    @staticmethod
    def _wrapped(command: Command, become: _Become) -> Command:
        as_root = sh("printf '%s\\n' {marker} && {command}", marker=become.marker.decode(), command=command)
        if become.method == "su":
            return cmd("su", BECOME_USER, "-c", as_root.text)
        if become.prompt is None:
            return sh("sudo -n -u {user} -- {as_root}", user=BECOME_USER, as_root=shell(as_root))
        return sh("sudo -S -p {prompt} -u {user} -- {as_root}", prompt=become.prompt.decode(), user=BECOME_USER, as_root=shell(as_root))

    def _exchange(self, channel: paramiko.Channel, stdin: bytes, become: _Become | None, deadline: float,
                  program: str, limit: float) -> tuple[int, bytes, bytes]:
        """Read stdout and stderr together until the command exits, answer a become prompt, feed stdin."""
        stdout, stderr = bytearray(), bytearray()
        pending = None if become else memoryview(stdin)
        answered = False
        if pending is not None and not pending:
            channel.shutdown_write()
            pending = None
        poll = _POLL_MIN_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError(f"host {self.host.name}: {program} did not finish within {limit:g} s (timed out; stopped)")
            if not (channel.recv_ready() or channel.recv_stderr_ready() or (channel.exit_status_ready() and channel.eof_received)):
                time.sleep(min(remaining, poll))
                poll = min(poll * 2, _POLL_MAX_S)
            else:
                poll = _POLL_MIN_S
            while channel.recv_ready():
                stdout += channel.recv(_CHUNK)
            while channel.recv_stderr_ready():
                stderr += channel.recv_stderr(_CHUNK)
            if become is not None:
                marker = become.marker + b"\n"
                if stdout.startswith(marker):
                    del stdout[: len(marker)]
                    stderr.clear()  # the prompt and sudo's lecture are not the command's
                    become, pending = None, memoryview(stdin)
                elif self._prompted(become, stderr, answered):
                    if answered:
                        raise TransportError(f"host {self.host.name}: {become.method} to {BECOME_USER} refused the password")
                    if become.password is None:
                        raise TransportError(f"host {self.host.name}: {become.method} to {BECOME_USER} asks for a password; "
                                             "set ansible_become_password")
                    channel.sendall(become.password)
                    answered = True
                    stderr.clear()
            if pending is not None:
                while pending and channel.send_ready():
                    sent = channel.send(pending[:_CHUNK])
                    pending = pending[sent:]
                if not pending:
                    channel.shutdown_write()
                    pending = None
            # sshd may send the exit status before the last output: done at end of output and exit status.
            if channel.exit_status_ready() and channel.eof_received and not channel.recv_ready() and not channel.recv_stderr_ready():
                break
            # A connection that dies (reset, host gone) closes its channels without an end of output:
            # waiting on for the deadline would hang the run for the whole command timeout.
            if not channel.eof_received and (channel.closed or not channel.get_transport().is_active()):
                raise TransportError(f"host {self.host.name}: connection lost while running {program}")
        if become is not None:
            lines = bytes(stderr).decode("utf-8", "replace").strip().splitlines() or ["no output"]
            raise TransportError(f"host {self.host.name}: {become.method} to {BECOME_USER} failed: {lines[-1]}")
        return channel.recv_exit_status(), bytes(stdout), bytes(stderr)

    @staticmethod
    def _prompted(become: _Become, stderr: bytearray, answered: bool) -> bool:
        """sudo's prompt is ours; su asks once on stderr, in the host's language, without a newline."""
        if become.prompt is not None:
            return stderr.endswith(become.prompt)
        return become.method == "su" and not answered and bool(stderr) and not stderr.endswith(b"\n")

    @contextmanager
    def sftp(self) -> Iterator[paramiko.SFTPClient]:
        """An SFTP session (as the SSH user) whose every operation gives up after the options' sftp_timeout."""
        client = self.client.open_sftp()
        client.get_channel().settimeout(self.options.sftp_timeout)  # type: ignore[union-attr]
        try:
            yield client
        finally:
            client.close()

    def put(self, content: bytes, path: str, *, mode: str, owner: str, group: str, keep_previous: bool = True) -> None:
        """Write a file as root without ever writing through a link someone else could have placed there.

        The content is uploaded to a private staging file, installed into a new file of a random name
        in the target's directory (created exclusively: an existing name or link fails it), flushed
        to disk and renamed over the target (rename replaces a link, never follows it). The version
        it replaces is kept under PREVIOUS_ROOT, copied without following links. Any failure leaves
        the target as it was."""
        staging = f"/tmp/.kafkactl-{uuid.uuid4().hex}"
        try:
            with self.sftp() as sftp:
                with sftp.open(staging, "wxb") as handle:  # exclusive: never an existing name or link
                    handle.chmod(0o600)
                    handle.write(content)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"host {self.host.name}: upload of {path} failed: {exc or type(exc).__name__}") from None
        self._install_staged(staging, None, path, mode=mode, owner=owner, group=group, keep_previous=keep_previous)

    def fetch(self, url: str, sha256: str, path: str, *, mode: str, owner: str, group: str) -> None:
        """Write a file the host fetches from `url`, as `put` writes one, once its SHA-256 is the expected one."""
        staging = f"/tmp/.kafkactl-{uuid.uuid4().hex}"
        download = sh("umask 077 && curl -fsSL --proto =https --retry 3 -o {staging} {url} && "
                      "printf '%s  %s\\n' {sha256} {staging} | sha256sum -c --quiet -", staging=staging, url=url, sha256=sha256)
        self._install_staged(staging, download, path, mode=mode, owner=owner, group=group, keep_previous=True)

    def _install_staged(self, staging: str, stage: Command | None, path: str, *, mode: str, owner: str, group: str,
                        keep_previous: bool) -> None:
        """Install the staging file (made first by `stage` when given) as `path`; the staging file is removed."""
        target = PurePosixPath(path)
        fresh = target.with_name(f".{target.name}.kafkactl-{uuid.uuid4().hex}")
        install = sh(
            "install -m {mode} -o {owner} -g {group} -T {staging} {fresh} && sync {fresh}",
            mode=mode, owner=owner, group=group, staging=staging, fresh=fresh,
        )
        steps = install & self._keep_previous(target) if keep_previous else install
        steps = steps & cmd("mv", "-f", "-T", fresh, target) & cmd("sync", target.parent)
        if stage is not None:
            steps = stage & steps
        written = self.run(
            sh("{steps}; status=$?; rm -f {staging}; if [ $status -ne 0 ]; then rm -f {fresh}; fi; exit $status",
               steps=steps, staging=staging, fresh=fresh),
            check=False,
        )
        if written.code != 0:
            detail = (written.stderr.strip() or written.stdout.strip()).splitlines()[-1:] or [f"exit {written.code}"]
            raise TransportError(f"host {self.host.name}: writing {path} failed, the file is unchanged: {detail[0]}")

    @staticmethod
    def _keep_previous(target: PurePosixPath) -> Command:
        """Copy the target (a link stays a link) to PREVIOUS_ROOT/<target>, refusing a link planted there."""
        previous = PREVIOUS_ROOT / target.relative_to("/")
        fresh = previous.with_name(f".{previous.name}.kafkactl-{uuid.uuid4().hex}")
        return sh(
            "if [ -e {target} ] || [ -L {target} ]; then "
            "install -d -m 0700 -o root -g root {root} && mkdir -p -m 0700 {folder} && "
            "if [ -L {previous} ]; then echo {refusal} >&2; false; "
            "else cp -P -p -T {target} {fresh} && mv -f -T {fresh} {previous}; fi; fi",
            target=target, root=PREVIOUS_ROOT.parent, folder=previous.parent, previous=previous, fresh=fresh,
            refusal=f"{previous} is a symbolic link; refusing to keep the previous version there",
        )

    def close(self) -> None:
        self.client.close()
        for jump in reversed(self.jumps):
            jump.close()


class Transport:
    """Opens and keeps one connection per host; runs work on many hosts with bounded parallelism."""

    def __init__(self, hosts: Iterable[Host], options: SshOptions, forks: int = 20) -> None:
        self.hosts = {h.name: h for h in hosts}
        self.options = options
        self.forks = max(1, forks)
        self.notices: list[str] = []
        self._lock = threading.Lock()
        self._connections: dict[str, Connection] = {}
        self._ssh_config = self._read_ssh_config()
        self._known_hosts: dict[tuple[Path, int, int], list[paramiko.hostkeys.HostKeyEntry]] = {}

    def _read_ssh_config(self) -> paramiko.SSHConfig:
        path = self.options.ssh_config
        if path is not None and path.is_file():
            try:
                return paramiko.SSHConfig.from_path(str(path))
            except (OSError, paramiko.ConfigParseError) as exc:
                raise TransportError(f"{path}: cannot be read: {exc}") from None
        return paramiko.SSHConfig()

    def route(self, host: Host) -> Route:
        """Inventory settings first, then ~/.ssh/config for the host's address, then defaults."""
        config = self._ssh_config.lookup(host.address)
        target = self._endpoint(host.address, host.ssh_port, host.ssh_user, host.ssh_private_key_file, config, "")
        target = replace(target, password=host.ssh_password.get_secret_value() if host.ssh_password else None)
        jumps = host.ssh_proxy_jump or tuple(hop.strip() for hop in config.get("proxyjump", "").split(",") if hop.strip())
        # ~/.ssh/config's ProxyCommand comes with %h, %p and %r expanded; the inventory's is expanded here.
        proxy_command = host.ssh_proxy_command and _expand_proxy_command(host.ssh_proxy_command, target)
        proxy_command = proxy_command or config.get("proxycommand")
        if jumps == ("none",):
            jumps = ()
        if proxy_command and proxy_command.lower() == "none":
            proxy_command = None
        if jumps and proxy_command:
            raise TransportError(f"host {host.name}: both ProxyJump and ProxyCommand are set; set one of them")
        known = host.ssh_known_hosts or tuple(config.get("userknownhostsfile", "").split())
        checking = host.ssh_host_key_checking or HOST_KEY_CHECKING.get(config.get("stricthostkeychecking", "yes").lower(), "yes")
        if checking == "no" and host.ssh_host_key_checking is None:
            self._notice(f"host {host.name}: SSH host keys are not checked (StrictHostKeyChecking no in {self.options.ssh_config})")
        return Route(
            target=target,
            hops=tuple(self._hop(spec, target) for spec in jumps),
            proxy_command=proxy_command,
            known_hosts=tuple(Path(k).expanduser() for k in known) or (self.options.known_hosts,),
            checking=checking,
            connect_timeout=host.ssh_connect_timeout or float(config.get("connecttimeout", self.options.connect_timeout)),
            identities_only=host.ssh_identities_only or config.get("identitiesonly", "no").lower() == "yes",
            compress=host.ssh_compression or config.get("compression", "no").lower() == "yes",
            keepalive=host.ssh_server_alive_interval or int(config.get("serveraliveinterval", 0)),
        )

    def _endpoint(self, address: str, port: int | None, user: str | None, key_file: str | None,
                  config: paramiko.SSHConfigDict, label: str) -> Endpoint:
        keys = (key_file,) if key_file else tuple(config.get("identityfile", ()))
        return Endpoint(
            address=unbracketed(config.get("hostname", address)),
            port=int(port or config.get("port", DEFAULT_PORT)),
            user=user or config.get("user", DEFAULT_USER),
            key_files=tuple(str(Path(k).expanduser()) for k in keys),
            label=label,
        )

    def _hop(self, spec: str, target: Endpoint) -> Endpoint:
        """A ProxyJump hop: an inventory host name, or [user@]host[:port] (IPv6 in brackets), read through
        ~/.ssh/config; what neither says (user, key) is the target's."""
        label = f"jump host {spec}"
        if spec in self.hosts:
            jump = self.hosts[spec]
            hop = self._endpoint(jump.address, jump.ssh_port, jump.ssh_user, jump.ssh_private_key_file,
                                 self._ssh_config.lookup(jump.address), label)
        else:
            user, port, address = _parse_jump(spec.removeprefix("ssh://"))
            config = self._ssh_config.lookup(address)
            hop = self._endpoint(address, port, user or (None if "user" in config else target.user), None, config, label)
        return hop if hop.key_files else replace(hop, key_files=target.key_files)

    def _notice(self, message: str) -> None:
        with self._lock:
            if message not in self.notices:
                self.notices.append(message)

    def _client(self, route: Route, endpoint: Endpoint) -> paramiko.SSHClient:
        """A client whose host-key policy is the user's: inventory ssh args or ~/.ssh/config, then command-line flags;
        it knows the endpoint's keys from the known_hosts files (the first of each type, as paramiko takes them)."""
        client = paramiko.SSHClient()
        if not self.options.check_host_keys or route.checking == "no":
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            return client
        # paramiko's own name for the endpoint's keys
        name = endpoint.address if endpoint.port == DEFAULT_PORT else f"[{endpoint.address}]:{endpoint.port}"
        keys = client.get_host_keys()
        for known_hosts in route.known_hosts:
            for entry in self._known_entries(known_hosts):
                if _names(entry, name) and entry.key.get_name() not in (keys.lookup(name) or {}):
                    keys.add(name, entry.key.get_name(), entry.key)
        if self.options.accept_new_host_keys or route.checking == "accept-new":
            client.set_missing_host_key_policy(_AcceptNewKeys(route.known_hosts[0], self.notices, self._lock))
        else:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        return client

    def _open(self, host: Host) -> Connection:
        """Connect through the route's proxy and jump hosts, retrying with backoff while nothing answers."""
        route = self.route(host)
        for attempt in range(self.options.connect_retries + 1):
            try:
                return self._open_once(host, route)
            except _Unreachable:
                if attempt == self.options.connect_retries:
                    raise
                time.sleep(self.options.retry_delay * 2**attempt)
        raise AssertionError("unreachable")

    def _known_entries(self, path: Path) -> list[paramiko.hostkeys.HostKeyEntry]:
        """A known_hosts file's entries, read once per version of the file. (paramiko's SSHClient.load_host_keys reads the
        whole file for every connection and checks each line against all before it: a run's cost would grow with the
        cube of the hosts.)"""
        try:
            stat = path.stat()
        except OSError:
            return []
        version = (path, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if version not in self._known_hosts:
                self._known_hosts[version] = _read_known_hosts(path)
            return self._known_hosts[version]

    def _open_once(self, host: Host, route: Route) -> Connection:
        clients: list[paramiko.SSHClient] = []
        sock: paramiko.Channel | paramiko.ProxyCommand | None = None
        if route.proxy_command:
            sock = paramiko.ProxyCommand(route.proxy_command)
            sock.settimeout(route.connect_timeout)
        try:
            for index, hop in enumerate(route.hops):
                client = self._client(route, hop)
                self._connect(client, host, route, hop, sock)
                clients.append(client)
                onward = route.hops[index + 1] if index + 1 < len(route.hops) else route.target
                try:
                    sock = client.get_transport().open_channel(  # type: ignore[union-attr]
                        "direct-tcpip", (onward.address, onward.port), ("127.0.0.1", 0), timeout=route.connect_timeout
                    )
                except (paramiko.SSHException, OSError, EOFError) as exc:
                    raise _Unreachable(f"host {host.name}: {hop.label} cannot reach {onward.where}: {exc or type(exc).__name__}") from None
            client = self._client(route, route.target)
            self._connect(client, host, route, route.target, sock)
        except BaseException:
            for opened in reversed(clients):
                opened.close()
            if isinstance(sock, paramiko.ProxyCommand):
                sock.close()
            raise
        return Connection(host, client, clients, user=route.target.user, options=self.options)

    def _connect(self, client: paramiko.SSHClient, host: Host, route: Route, endpoint: Endpoint, sock) -> None:
        name, where = host.name, endpoint.where
        use_default_keys = not endpoint.key_files and not route.identities_only
        try:
            client.connect(
                endpoint.address, port=endpoint.port, username=endpoint.user, key_filename=list(endpoint.key_files) or None,
                password=endpoint.password, sock=sock, compress=route.compress,
                timeout=route.connect_timeout, banner_timeout=route.connect_timeout, auth_timeout=route.connect_timeout,
                channel_timeout=route.connect_timeout, allow_agent=use_default_keys, look_for_keys=use_default_keys,
            )
            client.get_transport().set_keepalive(route.keepalive)  # type: ignore[union-attr]
        except paramiko.BadHostKeyException as exc:
            raise TransportError(
                f"host {name}: the host key of {where} CHANGED (known_hosts has {exc.expected_key.get_name()}, "
                f"the server offers {exc.key.get_name()}); refusing to connect. If the host was rebuilt, remove its "
                f"entry from {route.known_hosts[0]}"
            ) from None
        except paramiko.AuthenticationException:
            raise TransportError(f"host {name}: authentication as {endpoint.user} failed at {where}") from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise TransportError(
                    f"host {name}: {where} is not in {', '.join(map(str, route.known_hosts))}; refusing an unknown host key "
                    "(add it, or pass --accept-new-host-keys to record it)"
                ) from None
            if "banner" in str(exc).lower() or isinstance(exc, paramiko.ProxyCommandFailure):
                raise _Unreachable(f"host {name}: SSH to {where} failed: {exc}") from None
            raise TransportError(f"host {name}: SSH to {where} failed: {exc}") from None
        except (socket.timeout, TimeoutError):
            raise _Unreachable(f"host {name}: {where} did not answer within {route.connect_timeout:g} s") from None
        except paramiko.ssh_exception.NoValidConnectionsError as exc:
            reasons = sorted({error.strerror or str(error) for error in exc.errors.values()})
            raise _Unreachable(f"host {name}: cannot reach {where}: {'; '.join(reasons)}") from None
        except (OSError, EOFError) as exc:
            raise _Unreachable(f"host {name}: cannot reach {where}: {getattr(exc, 'strerror', None) or exc or type(exc).__name__}") from None

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
        """Run work on every item with at most `forks` at once; results (or errors) in the items' order.

        Any exception a worker raises is that item's result: a KafkactlError as it is, anything else
        wrapped in one that names its type, so no traceback escapes a worker thread."""
        items = list(items)

        def guarded(item: T) -> R | BaseException:
            try:
                return work(item)
            except KafkactlError as exc:
                return exc
            except Exception as exc:  # noqa: BLE001 - reported as this item's error
                wrapped = KafkactlError(f"{item}: unexpected {type(exc).__name__}: {exc}")
                wrapped.__cause__ = exc
                return wrapped

        with ThreadPoolExecutor(max_workers=min(self.forks, max(1, len(items)))) as pool:
            return list(zip(items, pool.map(guarded, items)))

    def read_each(self, items: Iterable[T], work: Callable[[T], R]) -> list[tuple[T, R]]:
        """`each` for a read before any change: every item answered, or the run stops naming each that did not."""
        results = self.each(items, work)
        failures = [str(result) for _, result in results if isinstance(result, BaseException)]
        if failures:
            raise KafkactlError(*failures, "No host was changed.")
        return results  # type: ignore[return-value]

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()


def _parse_jump(spec: str) -> tuple[str | None, int | None, str]:
    """[user@]host[:port], the host an IPv6 address in brackets when a port follows (or bare without one)."""
    user, _, rest = spec.rpartition("@")
    if rest.startswith("["):
        address, _, tail = rest[1:].partition("]")
        port = tail.removeprefix(":") or None
    elif rest.count(":") == 1:
        address, port = rest.split(":")
    else:
        address, port = rest, None
    if port is not None and not port.isdigit():
        raise TransportError(f"ProxyJump {spec}: {port!r} is not a port")
    return user or None, int(port) if port else None, address


def _expand_proxy_command(command: str, target: Endpoint) -> str:
    """OpenSSH's %h, %p, %r and %% in a ProxyCommand."""
    values = {"h": target.address, "p": str(target.port), "r": target.user, "%": "%"}
    out, index = [], 0
    while index < len(command):
        if command[index] == "%" and index + 1 < len(command) and command[index + 1] in values:
            out.append(values[command[index + 1]])
            index += 2
        else:
            out.append(command[index])
            index += 1
    return "".join(out)
