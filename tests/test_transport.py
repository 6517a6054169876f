"""The SSH transport against real OpenSSH servers on 127.0.0.1: a target and a jump host, each with its
own host key, users that log in with a key, with a password, with and without sudo."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import pytest
from pydantic import SecretStr

from kafkactl import transport as transport_module
from kafkactl.errors import InventoryError, KafkactlError
from kafkactl.inventory import read_inventory
from kafkactl.inventory.connection import ConnectionSettingError, connection_fields, parse_ssh_args
from kafkactl.model import Component, Host
from kafkactl.remote import cmd, sh
from kafkactl.transport import PREVIOUS_ROOT as REMOTE_PREVIOUS_ROOT
from kafkactl.transport import SshOptions, Transport, TransportError

from helpers import eventually

SSHD = Path("/usr/sbin/sshd")
PREVIOUS_ROOT = Path(REMOTE_PREVIOUS_ROOT)  # the 'host' is this machine
FAST = dict(connect_timeout=5.0, connect_retries=0, retry_delay=0.05, command_timeout=30.0, sftp_timeout=10.0)


def _ensure_sshd() -> None:
    """The OpenSSH server, and sudo for the become tests, from the distribution's packages when missing."""
    if SSHD.exists() and shutil.which("sudo"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("OpenSSH server or sudo is not installed and cannot be installed here (needs root and apt-get)")
    installed = subprocess.run(["apt-get", "install", "-y", "-q", "openssh-server", "sudo"], capture_output=True, timeout=300,
                               env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if installed.returncode != 0 or not SSHD.exists() or not shutil.which("sudo"):
        pytest.skip(f"OpenSSH server or sudo could not be installed: {installed.stderr.decode()[-200:]}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _keygen(path: Path) -> paramiko.PKey:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return paramiko.Ed25519Key.from_private_key_file(str(path))


@dataclass
class Sshd:
    port: int
    host_key: paramiko.PKey
    process: subprocess.Popen
    log: Path

    def known_hosts_line(self, address: str = "127.0.0.1") -> str:
        return f"[{address}]:{self.port} {self.host_key.get_name()} {self.host_key.get_base64()}\n"


@dataclass
class Lab:
    folder: Path
    client_key: Path
    known_hosts: Path
    target: Sshd
    jump: Sshd
    sudo_user: str
    plain_user: str
    password: str
    ipv6: bool
    opened: list[Transport] = field(default_factory=list)

    def host(self, **fields) -> Host:
        values = dict(name="target", address="127.0.0.1", ssh_port=self.target.port, ssh_private_key_file=str(self.client_key),
                      ssh_known_hosts=(str(self.known_hosts),), components=(Component.ZOOKEEPER,))
        return Host(**{**values, **fields})

    def transport(self, *hosts: Host, **options) -> Transport:
        made = Transport(hosts or (self.host(),), SshOptions(**{**FAST, "ssh_config": None, **options}))
        self.opened.append(made)
        return made


def _start_sshd(folder: Path, name: str, listen: list[str]) -> Sshd:
    host_key_file = folder / f"{name}_host_key"
    host_key = _keygen(host_key_file)
    port = _free_port()
    config = folder / f"{name}_sshd_config"
    config.write_text("\n".join([
        *(f"ListenAddress {address}" for address in listen),
        f"HostKey {host_key_file}",
        f"AuthorizedKeysFile {folder}/authorized_keys",
        "PidFile none", "UsePAM no", "StrictModes no", "PermitRootLogin yes", "PasswordAuthentication yes",
        "KbdInteractiveAuthentication no", "MaxAuthTries 20", "AllowTcpForwarding yes", "PermitTTY no",
        "Subsystem sftp internal-sftp", "LogLevel ERROR", "",
    ]))
    # Its log in a file: a pipe nobody reads would stall sshd once full.
    log = folder / f"{name}_sshd.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config), "-p", str(port)],
                                   stdout=subprocess.DEVNULL, stderr=log_file)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd {name} exited: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                if probe.recv(4) == b"SSH-":
                    return Sshd(port, host_key, process, log)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"sshd {name} did not answer on port {port}")


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def _user(name: str, password: str) -> None:
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True, capture_output=True)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n".encode(), check=True)


@pytest.fixture(scope="module")
def servers() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("needs root: sshd authenticates other users and put() installs files owned by root")
    _ensure_sshd()
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    folder = Path(tempfile.mkdtemp(prefix="kafkactl-sshd-"))
    folder.chmod(0o755)  # the users' sessions read authorized_keys here
    client_key = folder / "client_key"
    public = _keygen(client_key)
    (folder / "authorized_keys").write_text(f"{public.get_name()} {public.get_base64()}\n")
    ipv6 = _ipv6_loopback()
    target = _start_sshd(folder, "target", ["127.0.0.1", *(["::1"] if ipv6 else [])])
    jump = _start_sshd(folder, "jump", ["127.0.0.1"])
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(target.known_hosts_line() + jump.known_hosts_line() + (target.known_hosts_line("::1") if ipv6 else ""))
    suffix = secrets.token_hex(3)
    sudo_user, plain_user, password = f"kafkactl-t-sudo-{suffix}", f"kafkactl-t-{suffix}", f"Pw-{secrets.token_hex(8)}"
    sudoers = Path(f"/etc/sudoers.d/kafkactl-test-{suffix}")
    try:
        _user(sudo_user, password)
        _user(plain_user, password)
        sudoers.write_text(f"{sudo_user} ALL=(ALL:ALL) ALL\n")
        sudoers.chmod(0o440)
        yield Lab(folder, client_key, known_hosts, target, jump, sudo_user, plain_user, password, ipv6)
    finally:
        sudoers.unlink(missing_ok=True)
        for server in (target, jump):
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(timeout=10)
        for user in (sudo_user, plain_user):  # --force: a session of the user may still be closing
            subprocess.run(["userdel", "--force", "--remove", user], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def lab(servers: Lab) -> Iterator[Lab]:
    """The servers, with every connection a test opened closed after it (passed or failed)."""
    yield servers
    while servers.opened:
        servers.opened.pop().close()


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Path]:
    """A configuration directory on the 'host' (this machine), and the previous copies put() keeps of it."""
    yield tmp_path
    shutil.rmtree(PREVIOUS_ROOT / tmp_path.relative_to("/"), ignore_errors=True)


# -- run -------------------------------------------------------------------------------------------


def test_run_returns_exit_code_and_both_streams_read_together(lab: Lab):
    transport = lab.transport()
    try:
        connection = transport.connection("target")
        # Three megabytes on stderr first: a reader that drained stdout first would never finish.
        noisy = sh("head -c 3000000 /dev/zero | tr '\\0' e >&2; head -c 3000000 /dev/zero | tr '\\0' o; exit 3")
        result = connection.run(noisy, check=False)
        assert (result.code, len(result.stdout), len(result.stderr)) == (3, 3000000, 3000000)
        assert set(result.stdout) == {"o"} and set(result.stderr) == {"e"}
        with pytest.raises(TransportError, match=r"^host target: command failed \(exit 3\): head: "):
            connection.run(noisy)
        assert connection.run(cmd("cat"), stdin=b"x" * 1_000_000).stdout == "x" * 1_000_000
        assert connection.run(cmd("id", "-un")).stdout == "root\n"
    finally:
        transport.close()


def test_a_command_that_keeps_printing_still_times_out(lab: Lab, monkeypatch: pytest.MonkeyPatch):
    # A channel's fileno() makes a pipe that Channel.close() closes under paramiko's reader thread,
    # which then dies writing to it: stopping a command that still prints lost the whole connection.
    monkeypatch.setattr(paramiko.Channel, "fileno", lambda _: pytest.fail("the transport waited on a channel's fileno()"))
    transport = lab.transport()
    try:
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"^host target: yes did not finish within 1 s"):
            transport.connection("target").run(cmd("yes", "secret-argument"), timeout=1)
        assert time.monotonic() - started < 5
        with pytest.raises(TransportError, match=r"^host target: sleep did not finish within 1 s"):
            transport.connection("target").run(cmd("sleep", "31.5"), timeout=1)
        # the host's own timeout ends a silent command too, shortly after kafkactl stopped waiting
        assert eventually(lambda: subprocess.run(["pgrep", "-f", "sleep 31.5|yes secret-argument"]).returncode == 1, 10)
        assert transport.connection("target").run(cmd("true")).code == 0  # the connection still serves
    finally:
        transport.close()


def test_a_connection_dropped_mid_command_is_reported_at_once(lab: Lab):
    transport = lab.transport()
    try:
        connection = transport.connection("target")
        dropper = threading.Timer(1.0, lambda: connection.client.get_transport().sock.shutdown(socket.SHUT_RDWR))
        dropper.start()
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"^host target: connection lost while running sleep"):
            connection.run(cmd("sleep", "25"))
        assert time.monotonic() - started < 10, "the run waited for the command's deadline on a dead connection"
        assert transport.connection("target").run(cmd("true")).code == 0  # the next command connects again
    finally:
        dropper.cancel()
        transport.close()


def test_run_refuses_a_string(lab: Lab):
    transport = lab.transport()
    try:
        with pytest.raises(TypeError):
            transport.connection("target").run("id")  # type: ignore[arg-type]
    finally:
        transport.close()


# -- put -------------------------------------------------------------------------------------------


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_put_writes_atomically_and_keeps_the_previous_version_where_only_root_can(lab: Lab, files: Path):
    target = files / "server.properties"
    transport = lab.transport()
    try:
        connection = transport.connection("target")
        connection.put(b"first\n", str(target), mode="0640", owner="root", group=lab.plain_user)
        assert target.read_bytes() == b"first\n"
        status = target.stat()
        assert (stat.S_IMODE(status.st_mode), status.st_uid) == (0o640, 0)
        first_inode = status.st_ino
        connection.put(b"second\n", str(target), mode="0640", owner="root", group="root")
        assert target.read_bytes() == b"second\n"
        assert target.stat().st_ino != first_inode  # replaced by a rename, not rewritten in place
        assert _entries(files) == ["server.properties"]  # no temp file left beside it
        previous = PREVIOUS_ROOT / target.relative_to("/")
        assert previous.read_bytes() == b"first\n"
        kept_root = PREVIOUS_ROOT.parent.stat()
        assert (stat.S_IMODE(kept_root.st_mode), kept_root.st_uid) == (0o700, 0)
    finally:
        transport.close()


def test_put_never_follows_a_link_planted_at_the_destination(lab: Lab, files: Path):
    victim = files / "victim"
    victim.write_text("root's file\n")
    config = files / "conf"
    config.mkdir()
    shutil.chown(config, lab.plain_user)  # the service account owns the directory and plants a link
    target = config / "server.properties"
    target.symlink_to(victim)
    transport = lab.transport()
    try:
        transport.connection("target").put(b"new\n", str(target), mode="0640", owner="root", group="root")
    finally:
        transport.close()
    assert victim.read_text() == "root's file\n"
    assert not target.is_symlink() and target.read_bytes() == b"new\n"
    previous = PREVIOUS_ROOT / target.relative_to("/")
    assert previous.is_symlink() and os.readlink(previous) == str(victim)  # the link is kept as a link


def test_put_refuses_a_link_at_the_previous_copy_path(lab: Lab, files: Path):
    victim = files / "victim"
    victim.write_text("root's file\n")
    target = files / "server.properties"
    target.write_text("current\n")
    previous = PREVIOUS_ROOT / target.relative_to("/")
    previous.parent.mkdir(parents=True, exist_ok=True)
    previous.symlink_to(victim)
    transport = lab.transport()
    try:
        with pytest.raises(TransportError, match=rf"^host target: writing {target} failed, the file is unchanged: .*symbolic link"):
            transport.connection("target").put(b"new\n", str(target), mode="0640", owner="root", group="root")
    finally:
        transport.close()
    assert victim.read_text() == "root's file\n"
    assert target.read_text() == "current\n"
    assert _entries(files) == ["server.properties", "victim"]


def test_a_failed_install_changes_nothing(lab: Lab, files: Path):
    target = files / "server.properties"
    target.write_text("current\n")
    transport = lab.transport()
    try:
        with pytest.raises(TransportError, match=rf"^host target: writing {target} failed, the file is unchanged: install: "):
            transport.connection("target").put(b"new\n", str(target), mode="0640", owner="no-such-user-kafkactl", group="root")
    finally:
        transport.close()
    assert target.read_text() == "current\n"
    assert _entries(files) == ["server.properties"]


def test_a_fetch_that_fails_changes_nothing(lab: Lab, files: Path):
    target = files / "agent.jar"
    target.write_bytes(b"PK the current agent")
    transport = lab.transport()
    try:
        with pytest.raises(TransportError, match=rf"^host target: writing {target} failed, the file is unchanged: curl: "):
            transport.connection("target").fetch("https://127.0.0.1:1/agent.jar", "0" * 64, str(target),
                                                 mode="0644", owner="root", group="root")
    finally:
        transport.close()
    assert target.read_bytes() == b"PK the current agent"
    assert _entries(files) == ["agent.jar"]


# -- reaching a host, and refusing to ----------------------------------------------------------------


def test_unknown_and_changed_host_keys_are_refused(lab: Lab, tmp_path: Path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(TransportError, match=r"refusing an unknown host key"):
        lab.transport(lab.host(ssh_known_hosts=(str(empty),))).connection("target")
    other = paramiko.Ed25519Key.from_private_key_file(str(lab.client_key))
    empty.write_text(f"[127.0.0.1]:{lab.target.port} {other.get_name()} {other.get_base64()}\n")
    with pytest.raises(TransportError, match=r"host key of \[?127.0.0.1\]?:\d+ CHANGED"):
        lab.transport(lab.host(ssh_known_hosts=(str(empty),))).connection("target")
    # accept-new records an unknown key, and reports it
    empty.write_text("")
    transport = lab.transport(lab.host(ssh_known_hosts=(str(empty),)), accept_new_host_keys=True)
    transport.connection("target").run(cmd("true"))
    transport.close()
    assert f"[127.0.0.1]:{lab.target.port}" in empty.read_text() and "accepted new host key" in transport.notices[0]


def test_a_hashed_known_hosts_entry_is_the_hosts_key(lab: Lab, tmp_path: Path):
    """known_hosts is read once per run and shared; an entry hashed by `ssh-keygen -H` still names its host."""
    name = f"[127.0.0.1]:{lab.target.port}"
    served = lab.transport(lab.host())
    key = served.connection("target").client.get_transport().get_remote_server_key()
    served.close()
    hashed = tmp_path / "known_hosts"
    hashed.write_text(f"# hashed\n{paramiko.HostKeys.hash_host(name)} {key.get_name()} {key.get_base64()}\nnot a key line\n")
    transport = lab.transport(lab.host(ssh_known_hosts=(str(hashed),)))
    transport.connection("target").run(cmd("true"))
    transport.close()


def test_authentication_failure_names_the_user(lab: Lab, tmp_path: Path):
    _keygen(tmp_path / "stranger")
    host = lab.host(ssh_private_key_file=str(tmp_path / "stranger"), ssh_identities_only=True)
    with pytest.raises(TransportError, match=rf"^host target: authentication as root failed at 127.0.0.1:{lab.target.port}$"):
        lab.transport(host).connection("target")


def test_an_unreachable_port_is_retried_then_reported(lab: Lab):
    port = _free_port()
    started = time.monotonic()
    with pytest.raises(TransportError, match=rf"^host target: cannot reach 127.0.0.1:{port}: Connection refused"):
        lab.transport(lab.host(ssh_port=port), connect_retries=2, retry_delay=0.2).connection("target")
    assert time.monotonic() - started >= 0.6  # two pauses: 0.2 s, then 0.4 s


def test_password_login(lab: Lab):
    host = lab.host(ssh_user=lab.plain_user, ssh_private_key_file=None, ssh_identities_only=True, ssh_password=SecretStr(lab.password))
    transport = lab.transport(host)
    try:
        assert transport.connection("target").run(cmd("id", "-un")).stdout.strip() == lab.plain_user
    finally:
        transport.close()


def test_two_jump_hosts_and_their_failures(lab: Lab, tmp_path: Path):
    hop = f"root@127.0.0.1:{lab.jump.port}"
    transport = lab.transport(lab.host(ssh_proxy_jump=(hop, hop)))
    try:
        assert transport.connection("target").run(cmd("id", "-un")).stdout == "root\n"
        assert len(transport.connection("target").jumps) == 2
    finally:
        transport.close()
    closed = _free_port()
    with pytest.raises(TransportError, match=rf"^host target: jump host {hop} cannot reach 127.0.0.1:{closed}"):
        lab.transport(lab.host(ssh_port=closed, ssh_proxy_jump=(hop,))).connection("target")
    only_target = tmp_path / "known_hosts"
    only_target.write_text(lab.target.known_hosts_line())
    with pytest.raises(TransportError, match=rf"127.0.0.1:{lab.jump.port} \(jump host {hop}\) is not in .*unknown host key"):
        lab.transport(lab.host(ssh_proxy_jump=(hop,), ssh_known_hosts=(str(only_target),))).connection("target")


def test_proxy_command_and_ssh_config(lab: Lab, tmp_path: Path):
    proxy = (f"ssh -q -i {lab.client_key} -o UserKnownHostsFile={lab.known_hosts} -o StrictHostKeyChecking=yes "
             f"-p {lab.jump.port} -W %h:%p root@127.0.0.1")
    transport = lab.transport(lab.host(ssh_proxy_command=proxy))
    try:
        assert transport.connection("target").run(cmd("id", "-un")).stdout == "root\n"
    finally:
        transport.close()
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host kafkactl-target\n  HostName 127.0.0.1\n  Port {lab.target.port}\n  User {lab.plain_user}\n"
        f"  IdentityFile {lab.client_key}\n  ProxyJump root@127.0.0.1:{lab.jump.port}\n  UserKnownHostsFile {lab.known_hosts}\n"
    )
    host = Host(name="target", address="kafkactl-target", components=(Component.ZOOKEEPER,))
    transport = lab.transport(host, ssh_config=config)
    try:
        connection = transport.connection("target")
        assert connection.run(cmd("id", "-un")).stdout.strip() == lab.plain_user
        assert connection.user == lab.plain_user and len(connection.jumps) == 1
    finally:
        transport.close()


def test_ipv6_address_in_brackets(lab: Lab):
    if not lab.ipv6:
        pytest.skip("no IPv6 loopback on this machine")
    fields = connection_fields({"ansible_host": "[::1]", "ansible_port": lab.target.port}, _raise, _raise)
    transport = lab.transport(lab.host(**fields))
    try:
        assert transport.connection("target").run(cmd("true")).code == 0
    finally:
        transport.close()


# -- becoming root -----------------------------------------------------------------------------------


def test_sudo_with_a_password_sent_on_stdin(lab: Lab):
    host = lab.host(ssh_user=lab.sudo_user, become=True, become_password=SecretStr(lab.password))
    transport = lab.transport(host)
    try:
        connection = transport.connection("target")
        assert connection.run(cmd("id", "-u")).stdout == "0\n"
        assert connection.run(cmd("cat"), stdin=b"data for the command\n").stdout == "data for the command\n"
        processes = connection.run(cmd("ps", "-eo", "args")).stdout
        assert "sudo -S" in processes and lab.password not in processes  # never on a command line
    finally:
        transport.close()


def test_sudo_failures(lab: Lab):
    wrong = lab.host(ssh_user=lab.sudo_user, become=True, become_password=SecretStr("not-the-password"))
    with pytest.raises(TransportError, match=r"^host target: sudo to root refused the password$"):
        lab.transport(wrong).connection("target").run(cmd("true"))
    without = lab.host(ssh_user=lab.sudo_user, become=True)
    with pytest.raises(TransportError, match=r"^host target: sudo to root failed: sudo: a password is required"):
        lab.transport(without).connection("target").run(cmd("true"))
    not_allowed = lab.host(ssh_user=lab.plain_user, become=True, become_password=SecretStr(lab.password))
    with pytest.raises(TransportError, match=rf"^host target: sudo to root failed: .*{lab.plain_user} is not in the sudoers file"):
        lab.transport(not_allowed).connection("target").run(cmd("true"))


def test_su_answers_the_password_prompt(lab: Lab, monkeypatch: pytest.MonkeyPatch):
    # su to root needs root's password, which this machine does not have: su to another user instead.
    monkeypatch.setattr(transport_module, "BECOME_USER", lab.plain_user)
    host = lab.host(ssh_user=lab.sudo_user, become=True, become_method="su", become_password=SecretStr(lab.password))
    transport = lab.transport(host)
    try:
        connection = transport.connection("target")
        assert connection.run(cmd("id", "-un")).stdout == f"{lab.plain_user}\n"
        assert connection.run(cmd("cat"), stdin=b"through su\n").stdout == "through su\n"
    finally:
        transport.close()
    wrong = lab.host(ssh_user=lab.sudo_user, become=True, become_method="su", become_password=SecretStr("nope"))
    with pytest.raises(TransportError, match=r"^host target: su to .* failed: .*Authentication failure"):
        lab.transport(wrong).connection("target").run(cmd("true"))


# -- without a server --------------------------------------------------------------------------------


def _raise(key: str, message: str) -> None:
    raise AssertionError(f"{key}: {message}")


def test_ssh_arguments_are_read_as_ssh_reads_them():
    assert parse_ssh_args("-o ProxyJump=a,b -J ignored -o 'ProxyCommand=nc %h %p' -o StrictHostKeyChecking=accept-new "
                          "-oUserKnownHostsFile='/k 1' -p 2222 -l deploy -i ~/.ssh/k -C -o ServerAliveInterval=30") == {
        "ssh_proxy_jump": ("a", "b"), "ssh_proxy_command": "nc %h %p", "ssh_host_key_checking": "accept-new",
        "ssh_known_hosts": ("/k", "1"), "ssh_port": "2222", "ssh_user": "deploy", "ssh_private_key_file": "~/.ssh/k",
        "ssh_compression": True, "ssh_server_alive_interval": "30",
    }
    assert parse_ssh_args("-J user@[2001:db8::1]:2200") == {"ssh_proxy_jump": ("user@[2001:db8::1]:2200",)}
    for refused, named in (("-o ForwardAgent=yes", "ForwardAgent"), ("-A", "-A"), ("-o LocalForward 1 h:2", "LocalForward")):
        with pytest.raises(ConnectionSettingError, match=rf"^ssh (option|argument) {named} is not supported by kafkactl$"):
            parse_ssh_args(refused)
    warnings: list[str] = []
    assert parse_ssh_args("-o ControlMaster=auto -o ControlPersist=60s", warn=warnings.append) == {}
    assert len(warnings) == 2


def test_connection_variables():
    errors: list[str] = []
    fields = connection_fields(
        {"ansible_host": "[2001:db8::5]", "ansible_user": "deploy", "ansible_ssh_user": "ignored", "ansible_become": "yes",
         "ansible_become_method": "su", "ansible_become_pass": "pw", "ansible_ssh_pass": "login",
         "ansible_ssh_common_args": "-o User=other -o ProxyJump=bastion", "ansible_become_flags": "-H"},
        error=lambda key, message: errors.append(message), warn=_raise,
    )
    assert fields == {"address": "2001:db8::5", "ssh_user": "deploy", "become": True, "become_method": "su",
                      "become_password": "pw", "ssh_password": "login", "ssh_proxy_jump": ("bastion",)}
    assert errors == ["ansible_become_flags is not supported: kafkactl passes its own flags to sudo and su"]
    errors.clear()
    connection_fields({"ansible_become": True, "ansible_become_method": "su", "ansible_become_user": "kafka",
                       "ansible_connection": "docker", "ansible_ssh_extra_args": "-o Bogus=1"},
                      error=lambda key, message: errors.append(message), warn=_raise)
    assert errors == [
        "ansible_connection 'docker' is not supported: kafkactl connects over SSH",
        "ansible_become_user 'kafka' is not supported: kafkactl works as root",
        "ansible_ssh_extra_args: ssh option Bogus is not supported by kafkactl",
        "ansible_become_method su needs ansible_become_password (root's password)",
    ]


def test_an_inventory_with_an_unsupported_connection_setting_is_refused_in_one_line_naming_it(tmp_path: Path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("zookeeper:\n  hosts:\n    zk1:\n      ansible_become_password: s3cret-value\n"
                         "      ansible_ssh_common_args: -o ForwardAgent=yes -J bastion\n"
                         "kafka_broker:\n  hosts: {kafka1: }\n")
    with pytest.raises(InventoryError) as refused:
        read_inventory(inventory)
    assert str(refused.value) == f"{inventory}:5: host zk1: ansible_ssh_common_args: ssh option ForwardAgent is not supported by kafkactl"
    inventory.write_text(inventory.read_text().replace("-o ForwardAgent=yes ", ""))
    host = next(h for h in read_inventory(inventory).inventory.hosts if h.name == "zk1")
    assert host.ssh_proxy_jump == ("bastion",) and "s3cret-value" not in repr(host)


def test_each_returns_any_error_as_that_items_result():
    transport = Transport([], SshOptions(ssh_config=None))

    def work(item: int) -> int:
        if item == 2:
            raise KeyError("boom")
        if item == 3:
            raise TransportError("host c: gone")
        return item * 10

    results = dict(transport.each([1, 2, 3], work))
    assert results[1] == 10
    assert isinstance(results[2], KafkactlError) and str(results[2]) == "2: unexpected KeyError: 'boom'"
    assert str(results[3]) == "host c: gone"


def test_timeouts_from_the_environment():
    options = SshOptions().with_environment({"KAFKACTL_COMMAND_TIMEOUT": "900", "KAFKACTL_CONNECT_RETRIES": "0"})
    assert (options.command_timeout, options.connect_retries, options.connect_timeout) == (900.0, 0, 15.0)
    with pytest.raises(KafkactlError, match="KAFKACTL_SFTP_TIMEOUT: expected a number"):
        SshOptions().with_environment({"KAFKACTL_SFTP_TIMEOUT": "soon"})
