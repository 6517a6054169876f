"""The lab's base image: a debootstrapped Debian with systemd, sshd and Java 17.

The rootfs is built once with debootstrap (using its configured mirror), turned into
a tarball kept in the cache directory and imported into podman. The image tag is a
digest of the recipe below, so changing the recipe yields a new image while an
unchanged recipe is never rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from ._run import LabError, atomic_write, cache_dir, file_lock, log, run

SUITE = "bookworm"
IMAGE_REPO = "localhost/kafkactl-lab"
DEPLOY_USER = "deploy"
DEPLOY_UID = 1000

PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "libpam-systemd",
    "openssh-server",
    "sudo",
    "acl",
    "python3",
    "python3-apt",
    "openjdk-17-jre-headless",
    "iproute2",
    "iputils-ping",
    "procps",
    "netcat-openbsd",
    "curl",
    "ca-certificates",
    "less",
    "rsync",
    "tar",
    "gzip",
)

# Units that are useless or fail inside a container.
MASKED_UNITS = (
    "getty.target",
    "console-getty.service",
    "systemd-pstore.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "systemd-firstboot.service",
)

SSHD_CONFIG = """\
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 64:30:128
"""

JOURNALD_CONFIG = """\
[Journal]
Storage=volatile
RuntimeMaxUse=32M
"""

SUDOERS = f"{DEPLOY_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n"

# The image carries no host keys (every host would share them). A host the lab creates gets its own
# keys copied in before first boot; any other container of the image (Molecule's) makes them here,
# before sshd starts: without keys ssh.service fails at boot until systemd's start limit refuses it.
HOST_KEYS_UNIT_NAME = "ssh-host-keys.service"
HOST_KEYS_UNIT = """\
[Unit]
Description=SSH host keys of this host, made when missing
Before=ssh.service

[Service]
Type=oneshot
# -A makes only the key types that are missing: keys installed before first boot are kept.
ExecStart=/usr/bin/ssh-keygen -A
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target ssh.service
"""

RECIPE_VERSION = 1


def _recipe_digest() -> str:
    recipe = {
        "version": RECIPE_VERSION,
        "suite": SUITE,
        "packages": PACKAGES,
        "masked": MASKED_UNITS,
        "sshd": SSHD_CONFIG,
        "journald": JOURNALD_CONFIG,
        "sudoers": SUDOERS,
        "host_keys_unit": HOST_KEYS_UNIT,
        "deploy": [DEPLOY_USER, DEPLOY_UID],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def image_name() -> str:
    return f"{IMAGE_REPO}:{_recipe_digest()}"


def image_exists(name: str | None = None) -> bool:
    return run(["podman", "image", "exists", name or image_name()], check=False).returncode == 0


def _chroot(rootfs: Path, *cmd: str) -> None:
    run(["chroot", str(rootfs), *cmd], timeout=300)


def _customize(rootfs: Path) -> None:
    """Turn the debootstrapped tree into a bootable container image tree."""
    # Host keys are generated per lab host and installed when the container is created (or made at
    # first boot by HOST_KEYS_UNIT when nothing installed them).
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    # An empty machine-id makes systemd generate a fresh one in every container.
    (rootfs / "etc/machine-id").write_text("")
    dbus_id = rootfs / "var/lib/dbus/machine-id"
    if dbus_id.exists() and not dbus_id.is_symlink():
        dbus_id.unlink()
    for name in ("etc/hostname", "etc/resolv.conf"):
        p = rootfs / name
        if p.exists() or p.is_symlink():
            p.unlink()
    (rootfs / "etc/resolv.conf").write_text("")
    for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()

    _chroot(rootfs, "systemctl", "set-default", "multi-user.target")
    _chroot(rootfs, "systemctl", "mask", *MASKED_UNITS)
    (rootfs / "etc/systemd/system" / HOST_KEYS_UNIT_NAME).write_text(HOST_KEYS_UNIT)
    _chroot(rootfs, "systemctl", "enable", HOST_KEYS_UNIT_NAME, "ssh.service")

    _chroot(rootfs, "groupadd", "--gid", str(DEPLOY_UID), DEPLOY_USER)
    _chroot(
        rootfs,
        "useradd",
        "--uid", str(DEPLOY_UID),
        "--gid", str(DEPLOY_UID),
        "--create-home",
        "--shell", "/bin/bash",
        DEPLOY_USER,
    )
    # '*' (no usable password, account not locked) so public-key logins are accepted.
    _chroot(rootfs, "usermod", "--password", "*", DEPLOY_USER)
    (rootfs / "root/.ssh").mkdir(mode=0o700, exist_ok=True)

    sudoers = rootfs / "etc/sudoers.d" / DEPLOY_USER
    sudoers.write_text(SUDOERS)
    sudoers.chmod(0o440)
    (rootfs / "etc/ssh/sshd_config.d/kafkactl-lab.conf").write_text(SSHD_CONFIG)
    journald = rootfs / "etc/systemd/journald.conf.d"
    journald.mkdir(parents=True, exist_ok=True)
    (journald / "kafkactl-lab.conf").write_text(JOURNALD_CONFIG)


def _debootstrap(rootfs: Path) -> None:
    log.info("debootstrap %s into %s (about a minute)", SUITE, rootfs)
    run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(rootfs),
        ],
        timeout=1800,
    )


def _import(tarball: Path, name: str) -> None:
    log.info("importing %s as %s", tarball, name)
    run(
        [
            "podman",
            "import",
            "--change", 'CMD ["/sbin/init"]',
            "--change", "STOPSIGNAL=SIGRTMIN+3",
            "--change", "ENV container=podman",
            "--message", f"kafkactl lab base image ({SUITE})",
            str(tarball),
            name,
        ],
        timeout=900,
    )


def _remove_other_tags(keep: str) -> None:
    """Drop images of earlier recipes; one still used by a container stays."""
    res = run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO], check=False, timeout=60)
    for ref in res.stdout.split():
        if ref != keep and ref.startswith(IMAGE_REPO + ":"):
            run(["podman", "rmi", ref], check=False, timeout=120)


def ensure_image() -> tuple[str, dict[str, float]]:
    """Return the image name, building and importing it when needed, and step timings."""
    name = image_name()
    timings: dict[str, float] = {}
    if image_exists(name):
        return name, timings
    cache = cache_dir() / "image"
    cache.mkdir(parents=True, exist_ok=True)
    with file_lock(cache / ".lock"):
        if image_exists(name):
            return name, timings
        tag = name.rsplit(":", 1)[1]
        tarball = cache / f"kafkactl-lab-{SUITE}-{tag}.tar"
        if not tarball.exists():
            rootfs = cache / f"rootfs-{tag}"
            if rootfs.exists():
                shutil.rmtree(rootfs)
            t0 = time.monotonic()
            _debootstrap(rootfs)
            timings["debootstrap_s"] = time.monotonic() - t0
            t0 = time.monotonic()
            _customize(rootfs)
            part = tarball.with_suffix(".tar.part")
            run(
                [
                    "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
                    "-C", str(rootfs), "-cf", str(part), ".",
                ],
                timeout=900,
            )
            part.rename(tarball)
            shutil.rmtree(rootfs)
            timings["customize_and_tar_s"] = time.monotonic() - t0
            for old in cache.glob(f"kafkactl-lab-{SUITE}-*.tar"):
                if old != tarball:
                    old.unlink()
        t0 = time.monotonic()
        _import(tarball, name)
        timings["import_s"] = time.monotonic() - t0
        if not image_exists(name):
            raise LabError(f"image {name} missing after import")
        _remove_other_tags(name)
        atomic_write(cache / "image.json", json.dumps({"image": name, "tarball": str(tarball)}, indent=2))
    return name, timings
