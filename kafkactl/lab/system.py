"""Machine preparation: Debian packages and the podman settings the lab relies on."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ._run import LabError, as_root, atomic_write, log, run

# command that must be on PATH -> Debian package providing it
REQUIRED_COMMANDS: dict[str, str] = {
    "podman": "podman",
    "runc": "runc",
    "conmon": "conmon",
    "netavark": "netavark",
    "debootstrap": "debootstrap",
    "iptables": "iptables",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "tar": "tar",
    "mvn": "maven",
}
# extra packages podman needs at run time that have no command of their own on PATH
REQUIRED_PACKAGES = ("aardvark-dns", "uidmap", "ca-certificates")

CONTAINERS_CONF_DROPIN = Path("/etc/containers/containers.conf.d/50-kafkactl-lab.conf")
# default_ulimits = []: podman otherwise raises RLIMIT_NOFILE above the hard limit this
#   sandbox grants (no CAP_SYS_RESOURCE), and runc/crun fail with "setrlimit ...
#   Operation not permitted".
# cgroup_manager = "cgroupfs": the machine is not booted by systemd, so there is no
#   systemd cgroup manager to talk to.
# runtime = "runc": crun 1.8 rejects hybrid cgroup hierarchies ("cgroups in hybrid mode
#   not supported"); runc handles them.
CONTAINERS_CONF = """\
# Written by kafkactl.lab: podman settings for sandboxed machines.
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
"""

_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/libexec/podman", "/usr/lib/podman"]
)


def _have_command(name: str) -> bool:
    return shutil.which(name, path=_SEARCH_PATH) is not None


def _package_installed(pkg: str) -> bool:
    res = run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False, timeout=30)
    return res.returncode == 0 and "install ok installed" in res.stdout


def ensure_packages() -> list[str]:
    """Install the Debian packages the lab needs; return what was installed (empty if none)."""
    missing = sorted({pkg for cmd, pkg in REQUIRED_COMMANDS.items() if not _have_command(cmd)})
    if _have_command("dpkg-query"):
        missing += [p for p in REQUIRED_PACKAGES if p not in missing and not _package_installed(p)]
    if not missing:
        return []
    if not _have_command("apt-get"):
        raise LabError(f"missing {', '.join(missing)} and no apt-get to install them")
    log.info("installing Debian packages: %s", " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(as_root(["apt-get", "update", "-q"]), env=env, timeout=600)
    run(
        as_root(["apt-get", "install", "-y", "-q", *missing]),
        env=env,
        timeout=1800,
    )
    still = sorted({pkg for cmd, pkg in REQUIRED_COMMANDS.items() if not _have_command(cmd)})
    if still:
        raise LabError(f"packages installed but commands still missing: {', '.join(still)}")
    return missing


def configure_podman() -> bool:
    """Write the containers.conf drop-in if it differs; return True when it changed."""
    path = CONTAINERS_CONF_DROPIN
    try:
        if path.read_text() == CONTAINERS_CONF:
            return False
    except FileNotFoundError:
        pass
    except PermissionError as exc:
        raise LabError(f"cannot read {path}: run as root") from exc
    log.info("writing %s", path)
    try:
        atomic_write(path, CONTAINERS_CONF)
    except PermissionError:
        run(as_root(["mkdir", "-p", str(path.parent)]))
        run(as_root(["tee", str(path)]), input=CONTAINERS_CONF)
    return True


# Every container booting systemd holds about 9 inotify instances, all charged to root: with the
# kernel's default of 128 per user the 15th such container on the machine exits with 255 at once
# and prints nothing.
INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
MIN_INOTIFY_INSTANCES = 1024


def raise_inotify_limit(minimum: int = MIN_INOTIFY_INSTANCES) -> None:
    """Let many systemd containers run at once (see INOTIFY_INSTANCES)."""
    try:
        if int(INOTIFY_INSTANCES.read_text()) < minimum:
            INOTIFY_INSTANCES.write_text(f"{minimum}\n")
    except OSError as exc:
        log.warning("cannot raise %s to %s: %s", INOTIFY_INSTANCES, minimum, exc)


def prepare_machine() -> None:
    """Packages plus podman configuration and kernel limits; quick no-op once done."""
    ensure_packages()
    configure_podman()
    raise_inotify_limit()
