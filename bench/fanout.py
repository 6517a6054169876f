"""Fan-out: facts plus a live plan, and a no-op apply, on 10, 50 and 100 hosts, next to ansible-playbook.

    python bench/fanout.py [--sizes 10 50 100] [--runs 3] [--forks N] [--state-dir /tmp/kafkactl-lab-fanout] [--down]

Brings up light lab hosts (`kafkactl lab up --light N`: systemd, sshd, kafkactl's files and units,
no JVM; KAFKACTL_LAB_NAME=bench on 10.219.78.0/24), growing the lab from the smallest size to the
largest. At each size it times, as whole processes, `kafkactl plan` (facts from every host and the
plan against them), `kafkactl apply` (the same, then nothing to do) and ansible-playbook checking
the same files and services (the playbook bench/noop_apply_vs_ansible.py writes), interleaved, and
reads each one's peak memory from the kernel. Both tools work on every host at once unless --forks
says otherwise: kafkactl's --forks and Ansible's forks are set to the size.

Needs ansible-core next to this interpreter: python -m pip install ansible-core
Targets: 100 hosts within 2x the time of 10 hosts; at least 10x faster than ansible-playbook at 100
hosts; kafkactl under 300 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from noop_apply_vs_ansible import ANSIBLE_ENV, ANSIBLE_PLAYBOOK, KAFKACTL, LAB_ENV, check_ansible_noop, run, write_playbook

from kafkactl.desired import desired_state
from kafkactl.inventory import read_inventory

TARGET_GROWTH = 2.0  # the largest size's time over the smallest's
TARGET_RATIO = 10.0  # ansible-playbook's time over kafkactl apply's, at the largest size
TARGET_MEMORY_MB = 300


def measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Seconds, peak resident memory in MB (the largest process of the run) and output; exits if the command failed."""
    start = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, **(env or {})}) as process:
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed with exit code {process.returncode}:\n{output}")
    return seconds, usage.ru_maxrss / 1024, output


def bench_size(size: int, args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    """Median seconds and largest peak MB of each command on `size` converged light hosts."""
    inventory = args.state_dir / "inventory.yml"
    start = time.perf_counter()
    run([*KAFKACTL, "lab", "up", "--light", str(size), "--state-dir", str(args.state_dir)], LAB_ENV)
    print(f"\n{size} light hosts up and converged in {time.perf_counter() - start:.0f} s")
    forks = str(args.forks or size)
    with tempfile.TemporaryDirectory(prefix="kafkactl-bench-") as work:
        rendered, playbook = Path(work) / "rendered", Path(work) / "playbook.yml"
        run([*KAFKACTL, "render", str(inventory), "--out", str(rendered)])
        desired = desired_state(read_inventory(inventory).inventory).hosts
        write_playbook(desired, rendered, playbook)
        hosts = {h.host.name for h in desired}
        commands = {
            "kafkactl plan": ([*KAFKACTL, "plan", str(inventory), "--forks", forks], None, "Nothing to do"),
            "kafkactl apply": ([*KAFKACTL, "apply", str(inventory), "--forks", forks], None, "Nothing to do"),
            "ansible-playbook": ([str(ANSIBLE_PLAYBOOK), "-i", str(inventory), "--forks", forks, str(playbook)], ANSIBLE_ENV, None),
        }
        check_ansible_noop(run(commands["ansible-playbook"][0], ANSIBLE_ENV).stdout, hosts)
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        memory: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (command, env, expected) in commands.items():
                took, peak, output = measured(command, env)
                if expected is not None and expected not in output:
                    sys.exit(f"{name} on {size} converged hosts was not a no-op:\n{output}")
                if expected is None:
                    check_ansible_noop(output, hosts)
                seconds[name].append(took)
                memory[name].append(peak)
    for name in commands:
        print(f"  {name:<17} {statistics.median(seconds[name]):6.2f} s  peak {max(memory[name]):5.0f} MB"
              f"   (runs: {', '.join(f'{v:.2f}' for v in seconds[name])})")
    return {name: (statistics.median(seconds[name]), max(memory[name])) for name in commands}


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it comes, also into a file
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--forks", type=int, help="hosts worked on at once by both tools (default: all of them)")
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/kafkactl-lab-fanout"))
    parser.add_argument("--down", action="store_true", help="remove the bench lab's containers at the end")
    args = parser.parse_args()
    if not ANSIBLE_PLAYBOOK.exists():
        sys.exit(f"{ANSIBLE_PLAYBOOK} not found; install ansible-core: {sys.executable} -m pip install ansible-core")
    sizes = sorted(set(args.sizes))
    print(f"Light lab: {' '.join(f'{k}={v}' for k, v in LAB_ENV.items())}, state dir {args.state_dir}")
    results = {size: bench_size(size, args) for size in sizes}

    smallest, largest = sizes[0], sizes[-1]
    names = list(results[smallest])
    print(f"\nMedian of {args.runs} interleaved runs, whole processes, forks {args.forks or 'as many as hosts'}:")
    print(f"  {'hosts':>5}  " + "  ".join(f"{name:>16}" for name in names) + "  ansible / apply")
    for size, figures in results.items():
        ratio = figures["ansible-playbook"][0] / figures["kafkactl apply"][0]
        print(f"  {size:>5}  " + "  ".join(f"{figures[n][0]:6.2f} s {figures[n][1]:4.0f} MB" for n in names) + f"  {ratio:6.1f}x")
    print(f"machine: {os.cpu_count()} CPUs; peak memory is each run's largest process (Ansible's forks are processes of their own)")
    growth = max(results[largest][n][0] / results[smallest][n][0] for n in ("kafkactl plan", "kafkactl apply"))
    ratio = results[largest]["ansible-playbook"][0] / results[largest]["kafkactl apply"][0]
    peak = max(results[size][n][1] for size in sizes for n in ("kafkactl plan", "kafkactl apply"))
    for label, met, figure in (
        (f"{largest} hosts within {TARGET_GROWTH:g}x the time of {smallest}", growth <= TARGET_GROWTH, f"{growth:.2f}x"),
        (f"at least {TARGET_RATIO:g}x faster than ansible-playbook at {largest} hosts", ratio >= TARGET_RATIO, f"{ratio:.1f}x"),
        (f"kafkactl under {TARGET_MEMORY_MB} MB", peak < TARGET_MEMORY_MB, f"{peak:.0f} MB"),
    ):
        print(f"Target: {label}: {'met' if met else 'NOT met'} ({figure})")

    if args.down:
        run([*KAFKACTL, "lab", "down", "--state-dir", str(args.state_dir)], LAB_ENV)
        print(f"Bench lab removed ({args.state_dir})")


if __name__ == "__main__":
    main()
