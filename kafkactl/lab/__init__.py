"""Local lab: real test hosts on this machine for kafkactl.

Each lab host is a podman container booting systemd as PID 1 with sshd, Java 17 and
python3, on a podman network with a fixed subnet and a fixed address per host. It is
reached over SSH like a VM: root and a ``deploy`` user (passwordless sudo) accept the
lab's generated key, and ``known_hosts`` holds the host keys that were generated for
each host and installed before its first boot.

    lab = up(["zk1", "kafka1", "kafka2"], Path(".lab"))
    subprocess.run(lab.ssh_command("kafka1", "systemctl", "is-system-running"))
    down(Path(".lab"))

The base image, the Maven repository and the Kafka archive are cached under
``$KAFKACTL_LAB_CACHE`` (default ``~/.cache/kafkactl-lab``); keys, ``known_hosts``,
``ssh_config`` and ``lab.json`` live in the state directory.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kafkactl.remote import cmd

from . import hosts as _hosts
from ._run import LabError, cache_dir, file_lock, log, run
from .hosts import HostStatus
from .image import DEPLOY_USER, ensure_image
from .kafka_dist import KAFKA_VERSION, KafkaArchive, ensure_jmx_exporter_jar, ensure_kafka_archive
from .system import prepare_machine

__all__ = [
    "DEPLOY_USER",
    "KAFKA_VERSION",
    "HostStatus",
    "KafkaArchive",
    "Lab",
    "LabError",
    "cache_dir",
    "connect",
    "disconnect",
    "down",
    "ensure_kafka_archive",
    "load",
    "status",
    "up",
]


@dataclass(frozen=True)
class Lab:
    state_dir: Path
    addresses: dict[str, str]
    """Host name -> fixed IPv4 address on the lab network."""
    ssh_key: Path
    """Private key accepted by root and ``deploy`` on every host."""
    known_hosts: Path
    """The hosts' real host keys, listed under each host's name and address."""
    ssh_config: Path
    """OpenSSH client config with a ``Host <name>`` block per host (use ``ssh -F``)."""
    kafka_archive: Path
    kafka_sha256: str
    kafka_version: str
    exporter_jar: Path
    """The Prometheus JMX exporter agent jar, which the lab's inventories install in every JVM."""
    exporter_sha256: str
    image: str
    network: str
    subnet: str
    jump_hosts: dict[str, str] = field(default_factory=dict)
    """Jump-only host name -> the lab host to use as its ProxyJump bastion."""
    containers: dict[str, str] = field(default_factory=dict)
    """Host name -> podman container name (for ``podman exec`` and fault injection)."""
    users: tuple[str, ...] = ("root", DEPLOY_USER)
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent in the steps of the ``up`` call that returned this Lab."""

    @property
    def names(self) -> list[str]:
        return list(self.addresses)

    def ssh_command(self, name: str, *command: str, user: str = "root") -> list[str]:
        """argv for running ``command`` on host ``name`` over SSH with strict host keys."""
        if name not in self.addresses:
            raise KeyError(name)
        argv = ["ssh", "-F", str(self.ssh_config), "-l", user, name]
        if command:
            argv.append(cmd(*command).text if len(command) > 1 else command[0])
        return argv


def _lab_from_state(state_dir: Path, state: dict, timings: dict[str, float] | None = None) -> Lab:
    hosts = sorted(state["hosts"].items(), key=lambda kv: tuple(int(o) for o in kv[1]["address"].split(".")))
    kafka = state.get("kafka") or {}
    return Lab(
        state_dir=state_dir,
        addresses={n: h["address"] for n, h in hosts},
        ssh_key=state_dir / _hosts.CLIENT_KEY,
        known_hosts=state_dir / "known_hosts",
        ssh_config=state_dir / "ssh_config",
        kafka_archive=Path(kafka.get("path", "")),
        kafka_sha256=kafka.get("sha256", ""),
        kafka_version=kafka.get("version", ""),
        exporter_jar=Path((state.get("exporter") or {}).get("path", "")),
        exporter_sha256=(state.get("exporter") or {}).get("sha256", ""),
        image=state.get("image", ""),
        network=state.get("network", _hosts.NETWORK),
        subnet=state.get("subnet", ""),
        jump_hosts={n: h["jump_via"] for n, h in hosts if h.get("jump_via")},
        containers={n: h["container"] for n, h in hosts},
        timings=dict(timings or {}),
    )


def _pick_bastions(names: list[str], jump_only: set[str]) -> dict[str, str | None]:
    unknown = set(jump_only) - set(names)
    if unknown:
        raise LabError(f"jump_only names hosts not being brought up: {', '.join(sorted(unknown))}")
    bastions = [n for n in names if n not in jump_only]
    if jump_only and not bastions:
        raise LabError("every host is jump-only; at least one must be reachable to serve as bastion")
    return {n: (bastions[0] if n in jump_only else None) for n in names}


def up(
    names: list[str],
    state_dir: Path,
    jump_only: set[str] = frozenset(),
    kafka_version: str = KAFKA_VERSION,
) -> Lab:
    """Bring up (or confirm) the named lab hosts and return how to reach them.

    Idempotent: installs packages, writes podman settings, builds the base image and
    the Kafka archive only when missing; creates missing containers, starts stopped
    ones, recreates those whose image or keys changed, and waits until each host
    accepts SSH as root and as ``deploy`` with sudo. Hosts of this lab not named are
    left as they are. A host in ``jump_only`` is unreachable from this machine and
    reached through the first named host that is not jump-only (``ProxyJump``).
    """
    names = _hosts.validate_names(names)
    if not names:
        raise LabError("up needs at least one host name")
    state_dir = Path(state_dir).expanduser().resolve()
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t_all = time.monotonic()

    with file_lock(state_dir / ".lock"):
        t0 = time.monotonic()
        prepare_machine()
        timings["prepare_machine_s"] = time.monotonic() - t0

        t0 = time.monotonic()
        image, image_timings = ensure_image()
        timings["image_s"] = time.monotonic() - t0
        timings.update({f"image_{k}": v for k, v in image_timings.items()})

        t0 = time.monotonic()
        archive, kafka_timings = ensure_kafka_archive(kafka_version)
        timings["kafka_archive_s"] = time.monotonic() - t0
        timings.update({f"kafka_{k}": v for k, v in kafka_timings.items()})
        exporter = ensure_jmx_exporter_jar()

        net = _hosts.subnet()
        state = _hosts.load_state(state_dir)
        if state["hosts"] and state.get("subnet") not in (None, str(net)):
            raise LabError(f"lab in {state_dir} uses subnet {state['subnet']}, not {net}: run down first")
        state.update(
            network=_hosts.NETWORK,
            subnet=str(net),
            image=image,
            kafka={"path": str(archive.path), "sha256": archive.sha256, "version": archive.version},
            exporter={"path": str(exporter.path), "sha256": exporter.sha256},
        )
        _hosts.assign_addresses(state, names, net)
        for name, via in _pick_bastions(names, set(jump_only)).items():
            state["hosts"][name]["jump_via"] = via

        _hosts.ensure_client_key(state_dir)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda n: _hosts.ensure_host_keys(state_dir, n), names))
        _hosts.save_state(state_dir, state)
        _hosts.write_known_hosts(state_dir, state)
        _hosts.write_ssh_config(state_dir, state)

        t0 = time.monotonic()
        _hosts.ensure_network(net)
        started: list[str] = []
        for name in names:
            host = state["hosts"][name]
            info = _hosts.inspect(host["container"])
            if info is not None:
                labels = (info.get("Config") or {}).get("Labels") or {}
                _, spec = _hosts.container_args(state_dir, name, state, image)
                if labels.get(f"{_hosts.LABEL}.spec") != spec:
                    log.info("recreating %s: its image, options or keys changed", host["container"])
                    _hosts.remove_container(host["container"])
                    info = None
            if info is None:
                _hosts.create_container(state_dir, name, state, image)
                started.append(name)
                run(["podman", "start", host["container"]], timeout=120)
            elif not (info.get("State") or {}).get("Running"):
                started.append(name)
                run(["podman", "start", host["container"]], timeout=120)
                info = _hosts.inspect(host["container"]) or info
                _hosts.ensure_attached(info, host["address"])
            else:
                _hosts.ensure_attached(info, host["address"])
        timings["containers_start_s"] = time.monotonic() - t0

        _hosts.apply_jump_rules(state)

        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            containers = [state["hosts"][n]["container"] for n in names]
            boot = pool.map(lambda c: _hosts.systemd_state(c, wait=True, timeout=180), containers)
            for name, cname, sysstate in zip(names, containers, boot, strict=True):
                if sysstate not in ("running", "degraded"):
                    raise LabError(f"lab host {name}: systemd is {sysstate!r}")
                if sysstate == "degraded":
                    log.warning("lab host %s: failed units %s", name, ", ".join(_hosts.failed_units(cname)))
        timings["systemd_boot_s"] = time.monotonic() - t0

        _hosts.write_machine_hosts(_hosts.NETWORK, {n: h["address"] for n, h in state["hosts"].items()})
        content = _hosts.hosts_file(state)
        for host in state["hosts"].values():
            info = _hosts.inspect(host["container"])
            if info and (info.get("State") or {}).get("Running"):
                _hosts.push_hosts_file(host["container"], content)

        t0 = time.monotonic()
        direct = [n for n in names if state["hosts"][n]["jump_via"] is None]
        jumped = [n for n in names if state["hosts"][n]["jump_via"] is not None]
        with ThreadPoolExecutor(max_workers=8) as pool:
            for group in (direct, jumped):
                list(pool.map(lambda n: _hosts.wait_for_ssh(state_dir, n), group))
        timings["ssh_ready_s"] = time.monotonic() - t0
        timings["total_s"] = time.monotonic() - t_all
        if started:
            log.info("lab hosts started: %s", ", ".join(started))
        return _lab_from_state(state_dir, state, timings)


def load(state_dir: Path) -> Lab:
    """The Lab recorded in ``state_dir`` by the last ``up``, without touching any host."""
    state_dir = Path(state_dir).expanduser().resolve()
    state = _hosts.load_state(state_dir)
    if not state["hosts"]:
        raise LabError(f"no lab recorded in {state_dir}")
    return _lab_from_state(state_dir, state)


def down(state_dir: Path, names: Iterable[str] | None = None) -> None:
    """Remove the lab's containers (all, or only ``names``), and the network once empty.

    Keys stay in ``state_dir`` so hosts brought up again keep their host keys; the
    base image and the caches are kept.
    """
    state_dir = Path(state_dir).expanduser().resolve()
    if not _hosts.state_file(state_dir).exists():
        return
    with file_lock(state_dir / ".lock"):
        state = _hosts.load_state(state_dir)
        targets = list(state["hosts"]) if names is None else [n for n in names if n in state["hosts"]]
        if shutil.which("podman"):
            _hosts.remove_container(*(state["hosts"][n]["container"] for n in targets))
        for name in targets:
            del state["hosts"][name]
        for h in state["hosts"].values():
            if h.get("jump_via") and h["jump_via"] not in state["hosts"]:
                h["jump_via"] = None
        if shutil.which("podman"):
            _hosts.apply_jump_rules(state)
            if not state["hosts"]:
                _hosts.remove_network()
        _hosts.write_machine_hosts(_hosts.NETWORK, {n: h["address"] for n, h in state["hosts"].items()})
        _hosts.save_state(state_dir, state)
        _hosts.write_known_hosts(state_dir, state)
        _hosts.write_ssh_config(state_dir, state)


def status(state_dir: Path) -> list[HostStatus]:
    """State of every host recorded in ``state_dir``."""
    state_dir = Path(state_dir).expanduser().resolve()
    state = _hosts.load_state(state_dir)
    out: list[HostStatus] = []
    for name, h in sorted(state["hosts"].items()):
        info = _hosts.inspect(h["container"])
        labels = ((info or {}).get("Config") or {}).get("Labels") or {}
        if info is None or labels.get(f"{_hosts.LABEL}.state") != str(state_dir):
            out.append(HostStatus(name, h["container"], h["address"], "missing", None, False, h.get("jump_via")))
            continue
        st = (info.get("State") or {}).get("Status", "unknown")
        systemd = sshd = None
        if st == "running":
            systemd = _hosts.systemd_state(h["container"], timeout=30)
            via = h.get("jump_via")
            if via and via in state["hosts"]:
                sshd = _hosts.ssh_banner_via(state["hosts"][via]["container"], h["address"])
            else:
                sshd = _hosts.ssh_banner(h["address"])
        out.append(HostStatus(name, h["container"], h["address"], st, systemd, bool(sshd), h.get("jump_via")))
    return out


def disconnect(state_dir: Path, name: str) -> None:
    """Cut host ``name`` off the lab network (a network partition fault)."""
    lab = load(state_dir)
    run(["podman", "network", "disconnect", lab.network, lab.containers[name]], timeout=60)


def connect(state_dir: Path, name: str) -> None:
    """Reattach host ``name`` to the lab network with its fixed address."""
    lab = load(state_dir)
    info = _hosts.inspect(lab.containers[name])
    if info is None:
        raise LabError(f"lab host {name} has no container")
    _hosts.ensure_attached(info, lab.addresses[name])
