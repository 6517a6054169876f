"""What the Molecule scenarios need on this machine before `molecule` starts.

Molecule's docker driver talks to a Docker API; here podman serves it (`podman system service`).
The scenarios' hosts run the lab's base image, and kafkactl installs the lab's Kafka archive.
This installs podman and its settings (kafkactl.lab.prepare_machine), builds the image and the
archive when they are not cached, starts the API service on a socket of its own when nothing
answers there, and prints the variables the scenarios read:

    eval "$(python3 molecule/shared/lab_env.py)"
    molecule test -s connect-monitoring

tests/lab/test_molecule.py uses the same functions and stops the service it started.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

SOCKET = Path(os.environ.get("KAFKACTL_MOLECULE_SOCKET", "/run/kafkactl-molecule/podman.sock"))
IMAGE_ENV = "KAFKACTL_LAB_IMAGE"


def api_answers(sock: Path = SOCKET, timeout: float = 5.0) -> bool:
    """True when a Docker-compatible API answers `GET /_ping` on the unix socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(sock))
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: podman\r\n\r\n")
            reply = b""
            while chunk := conn.recv(4096):
                reply += chunk
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


def start_api_service(sock: Path = SOCKET, detach: bool = False, timeout: float = 60.0) -> subprocess.Popen | None:
    """Start `podman system service` on ``sock`` unless an API already answers there.

    Returns the process started (None when one was already serving). ``detach`` puts it in a
    session of its own so it outlives the caller (the shell entry point below).
    """
    if api_answers(sock):
        return None
    sock.parent.mkdir(parents=True, exist_ok=True)
    sock.unlink(missing_ok=True)
    log = open(sock.parent / "podman-service.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{sock}"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=detach,
    )
    log.close()
    deadline = time.monotonic() + timeout
    while not api_answers(sock):
        if proc.poll() is not None:
            raise RuntimeError(f"podman system service exited with {proc.returncode}; see {sock.parent}/podman-service.log")
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"podman system service did not answer on {sock} within {timeout:.0f} s")
        time.sleep(0.2)
    (sock.parent / "podman-service.pid").write_text(f"{proc.pid}\n")
    return proc


def stop_api_service(proc: subprocess.Popen | None, sock: Path = SOCKET) -> None:
    """Stop a service start_api_service started (containers keep running: conmon holds them)."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    (sock.parent / "podman-service.pid").unlink(missing_ok=True)


def prepare(sock: Path = SOCKET) -> dict[str, str]:
    """Packages, podman settings, base image and Kafka archive; the variables for `molecule`."""
    from kafkactl.lab import ensure_kafka_archive, prepare_machine
    from kafkactl.lab.image import ensure_image

    prepare_machine()
    image, _ = ensure_image()
    ensure_kafka_archive()
    return {"DOCKER_HOST": f"unix://{sock}", IMAGE_ENV: image}


def main() -> int:
    env = prepare()
    proc = start_api_service(detach=True)
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}")
    if proc is not None:
        print(f"# podman API service started (pid {proc.pid}); stop it with: kill {proc.pid}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
