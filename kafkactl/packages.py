"""Packaged services (Prometheus and its exporters, the consumer lag reader: roles/<name>/role.yml) brought to their
plan on one host.

Each has its own unit, from a Debian package (installed with apt-get when missing, the package lists refreshed only
when they are stale) or from kafkactl's own files: its files written, checked with the package's own tool, then taken
with `systemctl reload-or-restart` (Prometheus reloads on SIGHUP: no restart, no gap in its samples; unit files are
read again first), and waited for until its HTTP endpoint answers 200. Nothing here touches a Kafka service, so hosts
are done in parallel.
"""

from __future__ import annotations

from kafkactl.desired import HostState, PackagedService
from kafkactl.errors import KafkactlError
from kafkactl.health import http_ready, wait_for
from kafkactl.plan import HostPlan
from kafkactl.remote import Command, cmd, sh
from kafkactl.transport import Connection

# No question asked, and on an upgrade the configuration kafkactl wrote is kept, not the package's.
_APT = ("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y",
        "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold")
INSTALL_TIMEOUT_S = 900


def apt_install(packages: list[str]) -> Command:
    """The packages installed without recommends from the host's package lists, or, when those are stale or missing,
    once more after refreshing them (Ansible's update_cache)."""
    install = cmd(*_APT, "install", "--no-install-recommends", *packages)
    return sh("{install} || {{ {update} && {install}; }}", install=install, update=cmd(*_APT, "update"))


def converge(connection: Connection, state: HostState, plan: HostPlan, timeout: float) -> tuple[list[str], list[str]]:
    """Bring the host's packaged services to their plan: the files written, and what was done to the services."""
    actions = {s.name: s.action for s in plan.services if s.component is None}
    changed = {f.path for f in plan.files if f.component is None and f.action != "unchanged"}
    written: list[str] = []
    done = []
    missing = [p.role.package for p in state.packages if actions[p.name] == "install and start" and p.role.package is not None]
    if missing:
        connection.run(apt_install(missing), timeout=INSTALL_TIMEOUT_S)
        done.append(f"installed {', '.join(missing)}")
    for packaged in state.packages:
        if actions[packaged.name] == "none":
            continue
        files = [f for f in state.files if f.path in changed & set(packaged.files)]
        for managed in files:
            connection.put(managed.payload, managed.path, mode=managed.mode, owner=managed.owner, group=managed.group)
            written.append(managed.path)
        done.append(_take_files(connection, state, packaged, bool(files), timeout))
    return written, done


def _take_files(connection: Connection, state: HostState, packaged: PackagedService, changed: bool, timeout: float) -> str:
    """Check what was written, then reload (or start) the service and wait until it answers."""
    if changed and packaged.role.check:
        checked = connection.run(cmd(*packaged.role.check), check=False, timeout=120)
        if checked.code != 0:
            detail = ((checked.stderr.strip() or checked.stdout.strip()).splitlines() or ["no output"])[-1]
            raise KafkactlError(f"host {state.host.name}: {' '.join(packaged.role.check)} refused what was written "
                                f"({detail}); {packaged.name} still runs its previous configuration")
    if changed and packaged.role.units:
        connection.run(cmd("systemctl", "daemon-reload"))
    # reload-or-restart starts a stopped service; a running one takes its new files without a restart
    verb = "reload-or-restart" if changed else "start"
    connection.run(sh("systemctl enable --quiet {name} && systemctl {verb} {name}", name=packaged.name, verb=verb))
    done = f"{'reloaded' if changed else 'started'} {packaged.name}"
    endpoint = packaged.role.ready
    if endpoint is None:
        return done
    ready = wait_for(state.host.name, f"{packaged.name} ready", lambda: http_ready(connection, state.host, endpoint.port, endpoint.path),
                     timeout=timeout)
    return f"{done} ({ready.summary})"
