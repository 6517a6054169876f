"""No-op `kafkactl apply` on the lab against ansible-playbook doing the same checks, as whole processes.

    python bench/noop_apply_vs_ansible.py [--runs 5] [--state-dir /tmp/kafkactl-bench-lab] [--down]

Brings up (or reuses) a lab of its own (KAFKACTL_LAB_NAME=bench on 10.219.78.0/24: zk1-3 and
kafka1-3) and applies until kafkactl has nothing left to do. It then generates a playbook that puts
the files `kafkactl render` writes on the same hosts, with the same owner, group and mode, and
ensures the same services are started and enabled. Every host is already converged, so both tools
only check; a first playbook run must report changed=0 on every host before anything is timed.
The checks are close, not identical: kafkactl also looks at directories, the Kafka install and Java,
and asks whether services are active; the playbook also asks whether they are enabled.

Needs ansible-core next to this interpreter: python -m pip install ansible-core
Target: kafkactl at least 5 times faster.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from kafkactl.desired import HostState, desired_state
from kafkactl.inventory import read_inventory

TARGET_RATIO = 5.0
LAB_ENV = {"KAFKACTL_LAB_NAME": "bench", "KAFKACTL_LAB_SUBNET": "10.219.78.0/24"}
# The interpreter itself and the console script beside it, not a version manager's shim on PATH.
KAFKACTL = [sys.executable, "-m", "kafkactl"]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
ANSIBLE_ENV = {
    "ANSIBLE_PIPELINING": "True",
    # Skips the per-host interpreter discovery round trip (the lab hosts are Debian 12).
    "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
    "ANSIBLE_NOCOLOR": "1",
}
JINJA_MARKERS = ("{{", "{%", "{#")
CONVERGE_ATTEMPTS = 3
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run to completion with output captured; exit with that output if the command failed."""
    result = subprocess.run(command, check=False, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed with exit code {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def converge(inventory: Path) -> None:
    for _ in range(CONVERGE_ATTEMPTS):
        if "Nothing to do" in run([*KAFKACTL, "apply", str(inventory)]).stdout:
            return
        print("  kafkactl apply changed hosts; applying again")
    sys.exit(f"kafkactl apply still had changes after {CONVERGE_ATTEMPTS} runs")


def write_playbook(hosts: tuple[HostState, ...], rendered: Path, playbook: Path) -> str:
    """One play for all hosts (so forks apply); per-host files and services come from a dict keyed by host.

    Returns the Ansible module that writes the files.
    """
    # `template` would evaluate Jinja syntax left in a rendered file; `copy` takes it verbatim.
    contents = [f.content for h in hosts for f in h.files]
    module = "copy" if any(marker in c for c in contents for marker in JINJA_MARKERS) else "template"
    managed = {
        h.host.name: {
            "files": [
                {
                    "src": str(rendered / h.host.name / f.path.lstrip("/")),
                    "dest": f.path,
                    "owner": f.owner,
                    "group": f.group,
                    "mode": f.mode,
                }
                for f in h.files
            ],
            "services": [s.name for s in h.services],
        }
        for h in hosts
    }
    play = {
        "name": "Files and services kafkactl manages",
        "hosts": "all",
        "gather_facts": False,
        "vars": {"managed": managed},
        "tasks": [
            {
                "name": "Managed files",
                f"ansible.builtin.{module}": {
                    "src": "{{ item.src }}",
                    "dest": "{{ item.dest }}",
                    "owner": "{{ item.owner }}",
                    "group": "{{ item.group }}",
                    "mode": "{{ item.mode }}",
                },
                "loop": "{{ managed[inventory_hostname].files }}",
                "loop_control": {"label": "{{ item.dest }}"},
            },
            {
                "name": "Services started and enabled",
                "ansible.builtin.systemd": {"name": "{{ item }}", "state": "started", "enabled": True},
                "loop": "{{ managed[inventory_hostname].services }}",
            },
        ],
    }
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    return module


def check_ansible_noop(output: str, hosts: set[str]) -> None:
    recap = {m[1]: (int(m[2]), int(m[3]), int(m[4])) for m in RECAP.finditer(output)}
    if set(recap) != hosts or any(counts != (0, 0, 0) for counts in recap.values()):
        sys.exit(f"ansible-playbook was not a no-op on every host (changed, unreachable, failed): {recap}\n{output}")


def take_down(state_dir: Path) -> None:
    run([*KAFKACTL, "lab", "down", "--state-dir", str(state_dir)], LAB_ENV)
    print(f"Bench lab removed ({state_dir})")


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    output = run(command, env).stdout
    return time.perf_counter() - start, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/kafkactl-bench-lab"))
    parser.add_argument("--down", action="store_true", help="remove the bench lab's containers at the end")
    args = parser.parse_args()
    if not ANSIBLE_PLAYBOOK.exists():
        sys.exit(f"{ANSIBLE_PLAYBOOK} not found; install ansible-core: {sys.executable} -m pip install ansible-core")
    inventory = args.state_dir / "inventory.yml"

    lab_env = " ".join(f"{key}={value}" for key, value in LAB_ENV.items())
    print(f"Lab up: {lab_env}, state dir {args.state_dir} (the first time takes a few minutes)")
    run([*KAFKACTL, "lab", "up", "--state-dir", str(args.state_dir)], LAB_ENV)
    print(f"Converging: kafkactl apply {inventory}")
    converge(inventory)

    with tempfile.TemporaryDirectory(prefix="kafkactl-bench-") as work:
        rendered, playbook = Path(work) / "rendered", Path(work) / "playbook.yml"
        run([*KAFKACTL, "render", str(inventory), "--out", str(rendered)])
        desired = desired_state(read_inventory(inventory).inventory).hosts
        module = write_playbook(desired, rendered, playbook)
        hosts = {h.host.name for h in desired}
        files, services = sum(len(h.files) for h in desired), sum(len(h.services) for h in desired)
        commands = {
            "kafkactl apply": [*KAFKACTL, "apply", str(inventory)],
            "ansible-playbook": [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), "--forks", str(len(hosts)), str(playbook)],
        }
        print("Checking that the playbook changes nothing")
        check_ansible_noop(run(commands["ansible-playbook"], ANSIBLE_ENV).stdout, hosts)

        load_before = os.getloadavg()[0]
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            seconds, output = timed(commands["kafkactl apply"])
            if "Nothing to do" not in output:
                sys.exit(f"kafkactl apply was not a no-op:\n{output}")
            times["kafkactl apply"].append(seconds)
            seconds, output = timed(commands["ansible-playbook"], ANSIBLE_ENV)
            check_ansible_noop(output, hosts)
            times["ansible-playbook"].append(seconds)
        load_after = os.getloadavg()[0]

    print(f"\nNo-op on {len(hosts)} converged hosts ({files} files, {services} services)")
    print(f"median of {args.runs} interleaved runs, whole processes:")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"  {name:<17} {medians[name]:6.2f} s   (runs: {', '.join(f'{v:.2f}' for v in values)})")
    ratio = medians["ansible-playbook"] / medians["kafkactl apply"]
    print(f"  ratio             {ratio:6.1f}x  (ansible-playbook / kafkactl apply)")
    print(f"ansible-playbook: files with ansible.builtin.{module} (the rendered file as source, same owner, group, mode),")
    print("  services with ansible.builtin.systemd state=started enabled=true;")
    print(f"  pipelining on, forks {len(hosts)}, gather_facts false (the peer-friendly choice: no fact-gathering round trip),")
    print("  interpreter given (no discovery round trip), host key checking on, SSH ControlPersist at Ansible's default")
    print(f"machine: {os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} before the timed runs, {load_after:.1f} after")
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"Target: kafkactl at least {TARGET_RATIO:g}x faster: {verdict} ({ratio:.1f}x)")

    if args.down:
        take_down(args.state_dir)


if __name__ == "__main__":
    main()
