"""Lab hosts: podman containers booting systemd and sshd on a fixed-subnet network."""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import os
import re
import socket
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ._run import LabError, add_to_tar, as_root, atomic_write, log, run
from .image import DEPLOY_UID, DEPLOY_USER

# Several labs can share a machine: each KAFKACTL_LAB_NAME has its own network, containers and
# iptables chain, and needs its own KAFKACTL_LAB_SUBNET.
LAB_NAME = os.environ.get("KAFKACTL_LAB_NAME", "lab")
NETWORK = f"kafkactl-{LAB_NAME}"
CONTAINER_PREFIX = f"kafkactl-{LAB_NAME}-"
SUBNET_ENV = "KAFKACTL_LAB_SUBNET"
DEFAULT_SUBNET = "10.219.77.0/24"
FIRST_HOST_INDEX = 11
IPTABLES_CHAIN = f"KAFKACTL-{LAB_NAME.upper()}"
HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")
CLIENT_KEY = "id_ed25519"
LABEL = "kafkactl.lab"

_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class HostStatus:
    name: str
    container: str
    address: str | None
    state: str
    """podman's container state (running, exited, created, ...) or "missing"."""
    systemd: str | None
    """Output of ``systemctl is-system-running`` inside the host when it runs."""
    sshd: bool
    """sshd answered with an SSH banner (probed from the bastion for jump-only hosts)."""
    jump_via: str | None


# ---------------------------------------------------------------- state file


def state_file(state_dir: Path) -> Path:
    return state_dir / "lab.json"


def load_state(state_dir: Path) -> dict:
    try:
        state = json.loads(state_file(state_dir).read_text())
    except FileNotFoundError:
        state = {}
    state.setdefault("hosts", {})
    return state


def save_state(state_dir: Path, state: dict) -> None:
    atomic_write(state_file(state_dir), json.dumps(state, indent=2, sort_keys=True) + "\n")


def container_name(name: str) -> str:
    return CONTAINER_PREFIX + name


def validate_names(names: Iterable[str]) -> list[str]:
    out: list[str] = []
    for n in names:
        if not _NAME_RE.match(n):
            raise LabError(f"invalid lab host name {n!r}: use lowercase letters, digits and '-'")
        if n not in out:
            out.append(n)
    return out


def subnet() -> ipaddress.IPv4Network:
    if LAB_NAME != "lab" and SUBNET_ENV not in os.environ:
        raise LabError(f"KAFKACTL_LAB_NAME={LAB_NAME} needs its own {SUBNET_ENV} (the default lab uses {DEFAULT_SUBNET})")
    net = ipaddress.IPv4Network(os.environ.get(SUBNET_ENV, DEFAULT_SUBNET))
    if net.num_addresses < 64:
        raise LabError(f"{SUBNET_ENV}={net} is too small; use a /26 or larger")
    return net


def assign_addresses(state: dict, names: list[str], net: ipaddress.IPv4Network) -> None:
    """Give every new host the lowest free address from .11 on; keep existing ones."""
    hosts = state["hosts"]
    used = {h["address"] for h in hosts.values()}
    candidates = (str(ip) for i, ip in enumerate(net.hosts(), start=1) if i >= FIRST_HOST_INDEX)
    for name in names:
        if name in hosts and ipaddress.IPv4Address(hosts[name]["address"]) in net:
            continue
        for ip in candidates:
            if ip not in used:
                used.add(ip)
                hosts[name] = {"address": ip, "container": container_name(name), "jump_via": None}
                break
        else:
            raise LabError(f"no free address left in {net}")


# ---------------------------------------------------------------- keys


def _keygen(path: Path, key_type: str, comment: str) -> None:
    if path.exists() and path.with_name(path.name + ".pub").exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)
    args = ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", comment, "-f", str(path)]
    if key_type == "rsa":
        args[4:4] = ["-b", "3072"]
    run(args, timeout=120)


def ensure_client_key(state_dir: Path) -> Path:
    key = state_dir / CLIENT_KEY
    _keygen(key, "ed25519", "kafkactl-lab")
    key.chmod(0o600)
    return key


def host_key_paths(state_dir: Path, name: str) -> dict[str, Path]:
    d = state_dir / "hostkeys" / name
    return {t: d / f"ssh_host_{t}_key" for t in HOST_KEY_TYPES}


def ensure_host_keys(state_dir: Path, name: str) -> dict[str, Path]:
    paths = host_key_paths(state_dir, name)
    for key_type, path in paths.items():
        _keygen(path, key_type, f"root@{name}")
    return paths


def _pub(path: Path) -> str:
    return path.with_name(path.name + ".pub").read_text().strip()


def write_known_hosts(state_dir: Path, state: dict) -> Path:
    """known_hosts from the generated host keys, under both the name and the address."""
    lines = []
    for name, h in sorted(state["hosts"].items()):
        for path in host_key_paths(state_dir, name).values():
            if path.with_name(path.name + ".pub").exists():
                key_type, blob = _pub(path).split()[:2]
                lines.append(f"{name},{h['address']} {key_type} {blob}")
    path = state_dir / "known_hosts"
    atomic_write(path, "\n".join(lines) + ("\n" if lines else ""))
    return path


def write_ssh_config(state_dir: Path, state: dict) -> Path:
    key = state_dir / CLIENT_KEY
    known = state_dir / "known_hosts"
    blocks = []
    for name, h in sorted(state["hosts"].items()):
        lines = [
            f"Host {name}",
            f"  HostName {h['address']}",
            "  User root",
            f"  IdentityFile {key}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {known}",
            "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes",
            "  BatchMode yes",
            "  ConnectTimeout 10",
            "  LogLevel ERROR",
        ]
        if h.get("jump_via"):
            lines.append(f"  ProxyJump {h['jump_via']}")
        blocks.append("\n".join(lines))
    path = state_dir / "ssh_config"
    atomic_write(path, "\n\n".join(blocks) + "\n")
    return path


def hosts_file(state: dict) -> str:
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
    ]
    for name, h in sorted(state["hosts"].items(), key=lambda kv: ipaddress.IPv4Address(kv[1]["address"])):
        lines.append(f"{h['address']}\t{name}")
    return "\n".join(lines) + "\n"


MACHINE_HOSTS = Path("/etc/hosts")


def write_machine_hosts(block: str, addresses: dict[str, str], hosts_path: Path = MACHINE_HOSTS) -> None:
    """Keep a marked block of `address name` lines in this machine's /etc/hosts (empty: removed).

    Clients on this machine (a Kafka producer, testinfra) then resolve the names brokers advertise.
    """
    begin, end = f"# BEGIN {block}", f"# END {block}"
    lines = hosts_path.read_text().splitlines() if hosts_path.exists() else []
    if begin in lines and end in lines:
        lines = lines[: lines.index(begin)] + lines[lines.index(end) + 1:]
    if addresses:
        # First in the file: the resolver takes the first match, so the lab brought up last wins.
        lines = [begin, *(f"{address}\t{name}" for name, address in addresses.items()), end, *lines]
    content = "\n".join(lines) + "\n"
    if not (hosts_path.exists() and hosts_path.read_text() == content):
        # /etc/hosts may be a bind mount: rewrite it in place rather than renaming over it.
        with hosts_path.open("w") as handle:
            handle.write(content)


def _seed_tar(state_dir: Path, name: str, state: dict) -> tuple[bytes, str]:
    """Tar stream laid over a new container's root, and a digest of its key material."""
    client_pub = (state_dir / (CLIENT_KEY + ".pub")).read_bytes()
    buf = io.BytesIO()
    digest = hashlib.sha256(client_pub)
    now = int(time.time())

    def add(tar: tarfile.TarFile, path: str, data: bytes | None, mode: int, uid: int = 0) -> None:
        add_to_tar(tar, path, data, mode, now, uid=uid)

    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in host_key_paths(state_dir, name).values():
            priv, pub = path.read_bytes(), path.with_name(path.name + ".pub").read_bytes()
            digest.update(pub)
            add(tar, f"etc/ssh/{path.name}", priv, 0o600)
            add(tar, f"etc/ssh/{path.name}.pub", pub, 0o644)
        add(tar, "root/.ssh", None, 0o700)
        add(tar, "root/.ssh/authorized_keys", client_pub, 0o600)
        add(tar, f"home/{DEPLOY_USER}/.ssh", None, 0o700, DEPLOY_UID)
        add(tar, f"home/{DEPLOY_USER}/.ssh/authorized_keys", client_pub, 0o600, DEPLOY_UID)
        add(tar, "etc/hosts", hosts_file(state).encode(), 0o644)
    return buf.getvalue(), digest.hexdigest()[:16]


# ---------------------------------------------------------------- podman


def inspect(container: str) -> dict | None:
    res = run(["podman", "container", "inspect", container], check=False, timeout=60)
    if res.returncode != 0:
        return None
    data = json.loads(res.stdout or "[]")
    return data[0] if data else None


def ensure_network(net: ipaddress.IPv4Network) -> None:
    gateway = str(next(net.hosts()))
    res = run(["podman", "network", "inspect", NETWORK], check=False, timeout=60)
    if res.returncode == 0:
        info = json.loads(res.stdout)[0]
        subnets = [s.get("subnet") for s in info.get("subnets") or []]
        if str(net) in subnets:
            return
        attached = run(
            ["podman", "ps", "-a", "--filter", f"network={NETWORK}", "--format", "{{.Names}}"], timeout=60
        ).stdout.split()
        if attached:
            raise LabError(
                f"podman network {NETWORK} has subnet {subnets}, not {net}, and is used by "
                f"{', '.join(attached)}; run down first or set {SUBNET_ENV}"
            )
        run(["podman", "network", "rm", NETWORK], timeout=60)
    log.info("creating podman network %s (%s)", NETWORK, net)
    run(
        [
            "podman", "network", "create",
            "--driver", "bridge",
            "--subnet", str(net),
            "--gateway", gateway,
            "--label", f"{LABEL}=1",
            NETWORK,
        ],
        timeout=60,
    )


def remove_network() -> None:
    attached = run(
        ["podman", "ps", "-a", "--filter", f"network={NETWORK}", "--format", "{{.Names}}"], check=False, timeout=60
    ).stdout.split()
    if not attached:
        run(["podman", "network", "rm", NETWORK], check=False, timeout=60)


def hybrid_cgroup2_mount() -> str | None:
    """The cgroup2 mount of a hybrid cgroup v1/v2 machine (``/sys/fs/cgroup/unified``), if any."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        pre, _, post = line.partition(" - ")
        fields = pre.split()
        if len(fields) > 4 and post.split()[:1] == ["cgroup2"] and fields[4] != "/sys/fs/cgroup":
            return fields[4]
    return None


def container_args(state_dir: Path, name: str, state: dict, image: str) -> tuple[list[str], str]:
    """``podman create`` arguments for host ``name`` and a digest identifying them.

    The digest covers the image, address, options and key material; a container whose
    ``kafkactl.lab.spec`` label differs is recreated by ``up``.
    """
    host = state["hosts"][name]
    extra: list[str] = []
    # On a hybrid cgroup machine podman gives the container only the v1 hierarchies.
    # systemd then runs in legacy mode, where cgroup-empty notifications never reach
    # it inside a container: units such as user@.service hang in "final-sigkill" and
    # the next SSH login of that user blocks. With the cgroup2 hierarchy mounted
    # systemd runs in hybrid mode and tracks processes through cgroup.events.
    unified = hybrid_cgroup2_mount()
    if unified:
        extra += ["--volume", f"{unified}:/sys/fs/cgroup/unified:rw"]
    args = [
        "--name", host["container"],
        "--hostname", name,
        "--network", NETWORK,
        "--ip", host["address"],
        "--network-alias", name,
        "--no-hosts",
        "--systemd", "always",
        "--cap-add", "NET_ADMIN,NET_RAW,SYS_PTRACE",
        "--stop-timeout", "10",
        "--label", f"{LABEL}=1",
        "--label", f"{LABEL}.host={name}",
        "--label", f"{LABEL}.state={state_dir}",
        *extra,
        image,
        "/sbin/init",
    ]
    digest = hashlib.sha256(json.dumps([args, _seed_tar(state_dir, name, state)[1]]).encode()).hexdigest()[:16]
    return ["--label", f"{LABEL}.spec={digest}", *args], digest


def create_container(state_dir: Path, name: str, state: dict, image: str) -> None:
    host = state["hosts"][name]
    args, _ = container_args(state_dir, name, state, image)
    seed, _ = _seed_tar(state_dir, name, state)
    log.info("creating host %s (%s) as container %s", name, host["address"], host["container"])
    run(["podman", "create", *args], timeout=120)
    # --archive=false keeps the owners recorded in the tar (deploy's files stay deploy's).
    run(["podman", "cp", "--archive=false", "-", f"{host['container']}:/"], input=seed, timeout=120)


def remove_container(*containers: str) -> None:
    """Stop (systemd halts on SIGRTMIN+3) and remove containers, in parallel."""
    if containers:
        run(["podman", "rm", "--force", "--ignore", "--time", "10", *containers], check=False, timeout=180)


def ensure_attached(info: dict, address: str) -> None:
    """Reconnect a container cut off from the lab network, keeping its address."""
    nets = (info.get("NetworkSettings") or {}).get("Networks") or {}
    if NETWORK in nets:
        return
    log.info("reconnecting %s to %s with %s", info["Name"], NETWORK, address)
    run(["podman", "network", "connect", "--ip", address, NETWORK, info["Name"]], timeout=60)


def push_hosts_file(container: str, content: str) -> None:
    run(["podman", "exec", "-i", container, "sh", "-c", "cat > /etc/hosts"], input=content, timeout=60)


def systemd_state(container: str, wait: bool = False, timeout: float = 120) -> str:
    cmd = ["podman", "exec", container, "systemctl", "is-system-running"]
    if wait:
        cmd.append("--wait")
    deadline = time.monotonic() + timeout
    while True:
        res = run(cmd, check=False, timeout=timeout)
        state = res.stdout.strip() or res.stderr.strip() or "unknown"
        # Right after boot systemd's bus may not answer yet: --wait cannot wait for it.
        if not (wait and "Failed to connect to bus" in state and time.monotonic() < deadline):
            return state
        time.sleep(0.2)


def failed_units(container: str) -> list[str]:
    res = run(
        ["podman", "exec", container, "systemctl", "--failed", "--no-legend", "--plain"], check=False, timeout=60
    )
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def ssh_banner(address: str, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def ssh_banner_via(bastion_container: str, address: str) -> bool:
    res = run(
        ["podman", "exec", bastion_container, "sh", "-c", f"timeout 3 nc -w 2 {address} 22 </dev/null | head -c 4"],
        check=False,
        timeout=30,
    )
    return res.stdout.startswith("SSH-")


def ssh_run(state_dir: Path, name: str, command: str, user: str = "root", timeout: float = 60):
    return run(
        ["ssh", "-F", str(state_dir / "ssh_config"), "-l", user, name, command],
        check=False,
        timeout=timeout,
    )


def wait_for_ssh(state_dir: Path, name: str, timeout: float = 120) -> None:
    """Log in as root and as deploy (checking passwordless sudo) with strict host keys."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            res = ssh_run(state_dir, name, "true", timeout=30)
            if res.returncode == 0:
                break
            last = res.stderr.strip()
        except LabError as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise LabError(f"ssh to lab host {name} did not succeed within {timeout}s: {last}")
        time.sleep(0.5)
    res = ssh_run(state_dir, name, "sudo -n true", user=DEPLOY_USER, timeout=30)
    if res.returncode != 0:
        raise LabError(f"ssh as {DEPLOY_USER}@{name} with sudo failed: {res.stderr.strip()}")


# ---------------------------------------------------------------- jump-only hosts


def _ipt(*args: str, check: bool = True):
    return run(as_root(["iptables", "-w", "10", *args]), check=check, timeout=60)


def apply_jump_rules(state: dict) -> None:
    """Reject traffic from this machine to jump-only hosts; lab hosts still reach them.

    Packets this machine sends traverse the filter OUTPUT chain; traffic between
    containers on the lab bridge does not, so a bastion on the same network still
    reaches the host.
    """
    blocked = sorted(h["address"] for h in state["hosts"].values() if h.get("jump_via"))
    exists = _ipt("-n", "-L", IPTABLES_CHAIN, check=False).returncode == 0
    if not blocked:
        if exists:
            while _ipt("-D", "OUTPUT", "-j", IPTABLES_CHAIN, check=False).returncode == 0:
                pass
            _ipt("-F", IPTABLES_CHAIN, check=False)
            _ipt("-X", IPTABLES_CHAIN, check=False)
        return
    if not exists:
        _ipt("-N", IPTABLES_CHAIN)
    if _ipt("-C", "OUTPUT", "-j", IPTABLES_CHAIN, check=False).returncode != 0:
        _ipt("-I", "OUTPUT", "1", "-j", IPTABLES_CHAIN)
    _ipt("-F", IPTABLES_CHAIN)
    for addr in blocked:
        _ipt("-A", IPTABLES_CHAIN, "-d", f"{addr}/32", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset")
        _ipt("-A", IPTABLES_CHAIN, "-d", f"{addr}/32", "-j", "REJECT")
