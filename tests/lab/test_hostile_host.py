"""Real hosts whose Kafka service account turned hostile: kafkactl, root on every host, must not let it
run a command or write a file as root. And one run at a time: a second run is refused, naming the first.

The service account (`kafka`) tries what it can: a shell command in zookeeper.connect, symbolic links at
every path kafkactl writes, renames or keeps a copy of. Then apply, restart and `migrate kraft --status`
run, and root's files are checked: no planted command ran, no root-owned file outside kafkactl's own
changed, the file the links point at is untouched.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit import Lab, bring_up, take_down, wait_until

ROOT = Path(__file__).resolve().parents[2]
PRECIOUS = "/root/precious"  # what every planted link points at
MARKER = "/root/.before-hostile-runs"
PWNED = "/tmp/pwned"  # a planted command would create files starting with this
HOSTILE_CONNECT = "zookeeper.connect=zk1:2181;touch /tmp/pwned-by-connect;$(touch /tmp/pwned-by-subshell)"
# Root-owned places kafkactl is expected to change on a broker (its managed files are added per host).
KAFKACTL_OWN = ("/var/lib/kafkactl/", "/var/lib/systemd/", "/var/log/", "/etc/systemd/system/")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    made = bring_up(tmp_path_factory, "--layout", "zookeeper", "--controllers")
    applied = made.kafkactl("apply", str(made.inventory))
    assert applied.exit_code == 0, applied.stderr + applied.stdout[-3000:]
    yield made
    take_down(made)


@pytest.fixture(scope="module")
def broker(lab: Lab) -> str:
    return lab.hosts("kafka_broker")[0]


def _managed_paths(lab: Lab, host: str, out: Path) -> list[str]:
    rendered = lab.kafkactl("render", str(lab.inventory), "--out", str(out))
    assert rendered.exit_code == 0, rendered.stderr
    return sorted("/" + str(p.relative_to(out / host)) for p in (out / host).rglob("*") if p.is_file())


def _as_kafka(lab: Lab, host: str, command: str) -> subprocess.CompletedProcess[str]:
    return lab.ssh(host, shlex.join(["runuser", "-u", "kafka", "--", "sh", "-c", command]))


def test_the_service_account_can_change_nothing_root_reads(lab: Lab, broker: str, tmp_path: Path) -> None:
    paths = _managed_paths(lab, broker, tmp_path / "render")
    assert "/etc/kafka/server.properties" in paths or any(p.endswith("server.properties") for p in paths), paths
    planted = []
    for path in paths:
        for target in (path, f"{path}.kafkactl-new", f"{path}.kafkactl-previous", f"/var/lib/kafkactl/previous{path}"):
            attempt = _as_kafka(lab, broker, f"ln -sfn {PRECIOUS} '{target}'")
            if attempt.returncode == 0:
                planted.append(target)
    server = next(p for p in paths if p.endswith("server.properties"))
    appended = _as_kafka(lab, broker, f"printf '%s\\n' '{HOSTILE_CONNECT}' >> {server}")
    assert planted == [], f"the service account could plant links at {planted}"
    assert appended.returncode != 0, f"the service account could change {server}"


def test_no_planted_value_or_link_makes_root_run_or_write_anything(lab: Lab, broker: str, tmp_path: Path) -> None:
    paths = _managed_paths(lab, broker, tmp_path / "render")
    server = next(p for p in paths if p.endswith("server.properties"))
    prepared = lab.ssh(broker, " && ".join([
        f"rm -f {PWNED}*", f"printf precious > {PRECIOUS}", f"chmod 0600 {PRECIOUS}", f"touch {MARKER}", "sleep 1.1",
        # What a config the service account once could write would hold: the planted value, as root puts it there.
        f"sed -i 's|^zookeeper.connect=.*|{HOSTILE_CONNECT}|' {server}",
    ]))
    assert prepared.returncode == 0, prepared.stderr
    # Links wherever the service account owns a directory kafkactl might write into.
    linked = _as_kafka(lab, broker, "for d in $(find / -xdev -type d -user kafka 2>/dev/null); do "
                                    "for n in server.properties kafkactl-admin.properties .kafkactl-new; do "
                                    f"ln -sfn {PRECIOUS} \"$d/$n\" && echo \"$d/$n\"; done; done")
    assert linked.stdout.strip(), f"the service account owns no directory on {broker}: {linked.stderr}"

    status = lab.kafkactl("migrate", "kraft", str(lab.state_dir / "migration.yml"), "--status")
    assert "zookeeper.connect" in status.stdout + status.stderr, status.stdout + status.stderr
    applied = lab.kafkactl("apply", str(lab.inventory))  # puts the broker's own config back, with a restart
    assert applied.exit_code == 0, applied.stderr + applied.stdout[-3000:]
    assert f"{broker}: wrote {server}" in applied.stdout
    restarted = lab.kafkactl("restart", str(lab.inventory), "--component", "broker")
    assert restarted.exit_code == 0, restarted.stderr + restarted.stdout[-3000:]

    for host in lab.hosts("kafka_broker") + lab.hosts("zookeeper"):
        ran = lab.ssh(host, f"ls {PWNED}* 2>/dev/null; cat {PRECIOUS} 2>/dev/null; echo")
        assert PWNED not in ran.stdout, f"{host}: a planted command ran: {ran.stdout}"
    assert lab.ssh(broker, f"cat {PRECIOUS}").stdout == "precious"
    own = (*KAFKACTL_OWN, *paths)
    changed = lab.ssh(broker, f"find /etc /root /usr /opt /var/lib -xdev -user root \\( -type f -o -type l \\) -cnewer {MARKER}")
    unexpected = [p for p in changed.stdout.split() if not p.startswith(own) and p != PRECIOUS]
    assert unexpected == [], f"{broker}: root-owned files outside kafkactl's own changed: {unexpected}"


def test_a_second_run_is_refused_while_one_holds_the_cluster(lab: Lab) -> None:
    first = subprocess.Popen(
        [sys.executable, "-m", "kafkactl", "restart", str(lab.inventory), "--component", "broker"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        lines: list[str] = []
        wait_until("control machine", "the first restart to start its run", lambda: lines.append(first.stdout.readline()) or lines,
                   lambda seen: any(line.startswith("Run ") for line in seen) or first.poll() is not None, timeout=180, interval=0)
        assert first.poll() is None, "".join(lines)
        second = lab.kafkactl("restart", str(lab.inventory), "--component", "broker")
        assert second.exit_code == 1
        assert "locked by `kafkactl restart`" in second.stderr and "No host was" in second.stderr, second.stderr
        started = time.monotonic()
        rest, _ = first.communicate(timeout=600)
        assert first.returncode == 0, "".join(lines) + rest
        assert time.monotonic() - started < 600
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=60)
    after = lab.kafkactl("restart", str(lab.inventory), "--component", "broker", "--check")
    assert after.exit_code == 0, after.stderr
    held = lab.ssh(lab.hosts("kafka_broker")[0], "test -e /var/lib/kafkactl/run.lock && echo held || echo free")
    assert held.stdout.strip() == "free"
