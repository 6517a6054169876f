"""Fan-out: facts plus a live plan, and a no-op apply, on 10, 50 and 100 hosts, next to ansible-playbook.

    python bench/fanout.py [--sizes 10 50 100] [--runs 3] [--forks 20] [--state-dir /tmp/kafkactl-lab-fanout] [--down]
                           [--without-ansible]

Brings up light lab hosts (`kafkactl lab up --light N`: systemd, sshd, kafkactl's files and units,
no JVM; KAFKACTL_LAB_NAME=bench on 10.219.78.0/24), growing the lab from the smallest size to the
largest. At each size it times, as whole processes, `kafkactl plan` (facts from every host and the
plan against them), `kafkactl apply` (the same, then nothing to do) and ansible-playbook checking
the same files and services (the playbook bench/noop_apply_vs_ansible.py writes), interleaved. Both
work on --forks hosts at once (kafkactl's default, 20). For each it reads from the kernel the peak
memory of its largest process, the CPU time of the process and its children, and the CPU time the
whole machine was busy: the hosts are containers on this machine's cores, so their sshd and the
commands they run (for kafkactl about 50 ms of CPU per host) count in the wall time here, where a
fleet of machines would do that work side by side.

--without-ansible measures kafkactl alone (a change to kafkactl's own cost, in minutes instead of most of an
hour). Needs ansible-core next to this interpreter: python -m pip install ansible-core
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
from dataclasses import dataclass
from pathlib import Path

from noop_apply_vs_ansible import ANSIBLE_ENV, ANSIBLE_PLAYBOOK, KAFKACTL, LAB_ENV, check_ansible_noop, run, take_down, write_playbook

from kafkactl.desired import desired_state
from kafkactl.inventory import read_inventory

TARGET_GROWTH = 2.0  # the largest size's time over the smallest's
TARGET_RATIO = 10.0  # ansible-playbook's time over kafkactl apply's, at the largest size
TARGET_MEMORY_MB = 300


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_mb: float  # the largest process of the run
    cpu_s: float  # the process and the children it waited for, user and system
    machine_cpu_s: float  # every core of this machine, hosts included, while it ran


def busy_cpu_s() -> float:
    """Seconds every core of this machine has been busy (/proc/stat: all but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def measured(command: list[str], env: dict[str, str] | None = None) -> tuple[Measured, str]:
    """The run's figures and its output; exits if the command failed."""
    busy, start = busy_cpu_s(), time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, **(env or {})}) as process:
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    figures = Measured(time.perf_counter() - start, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, busy_cpu_s() - busy)
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed with exit code {process.returncode}:\n{output}")
    return figures, output


def bench_size(size: int, args: argparse.Namespace) -> dict[str, Measured]:
    """Each command's median figures on `size` converged light hosts (peak memory: the largest)."""
    inventory = args.state_dir / "inventory.yml"
    start = time.perf_counter()
    run([*KAFKACTL, "lab", "up", "--light", str(size), "--state-dir", str(args.state_dir)], LAB_ENV)
    print(f"\n{size} light hosts up and converged in {time.perf_counter() - start:.0f} s")
    forks = str(args.forks)
    with tempfile.TemporaryDirectory(prefix="kafkactl-bench-") as work:
        rendered, playbook = Path(work) / "rendered", Path(work) / "playbook.yml"
        run([*KAFKACTL, "render", str(inventory), "--out", str(rendered)])
        desired = desired_state(read_inventory(inventory).inventory).hosts
        write_playbook(desired, rendered, playbook)
        hosts = {h.host.name for h in desired}
        commands = {
            "kafkactl plan": ([*KAFKACTL, "plan", str(inventory), "--forks", forks], None),
            "kafkactl apply": ([*KAFKACTL, "apply", str(inventory), "--forks", forks], None),
        }
        if args.with_ansible:
            commands["ansible-playbook"] = ([str(ANSIBLE_PLAYBOOK), "-i", str(inventory), "--forks", forks, str(playbook)], ANSIBLE_ENV)
            check_ansible_noop(run(commands["ansible-playbook"][0], ANSIBLE_ENV).stdout, hosts)
        runs: dict[str, list[Measured]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (command, env) in commands.items():
                figures, output = measured(command, env)
                if name == "ansible-playbook":
                    check_ansible_noop(output, hosts)
                elif f"Nothing to do: all {size} hosts match the inventory." not in output:
                    sys.exit(f"{name} on {size} converged hosts was not a no-op:\n{output}")
                runs[name].append(figures)
    medians = {}
    for name, measures in runs.items():
        medians[name] = Measured(statistics.median(m.seconds for m in measures), max(m.peak_mb for m in measures),
                                 statistics.median(m.cpu_s for m in measures), statistics.median(m.machine_cpu_s for m in measures))
        print(f"  {name:<17} {medians[name].seconds:6.2f} s  (runs: {', '.join(f'{m.seconds:.2f}' for m in measures)})")
    return medians


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it comes, also into a file
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--forks", type=int, default=20, help="hosts each tool works on at once")
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/kafkactl-lab-fanout"))
    parser.add_argument("--down", action="store_true", help="remove the bench lab's containers at the end")
    parser.add_argument("--without-ansible", dest="with_ansible", action="store_false", help="measure kafkactl alone")
    args = parser.parse_args()
    if args.with_ansible and not ANSIBLE_PLAYBOOK.exists():
        sys.exit(f"{ANSIBLE_PLAYBOOK} not found; install ansible-core: {sys.executable} -m pip install ansible-core")
    sizes = sorted(set(args.sizes))
    print(f"Light lab: {' '.join(f'{k}={v}' for k, v in LAB_ENV.items())}, state dir {args.state_dir}")
    results = {size: bench_size(size, args) for size in sizes}

    smallest, largest = sizes[0], sizes[-1]
    print(f"\nMedians of {args.runs} interleaved runs, whole processes, forks {args.forks}, on {os.cpu_count()} CPUs:")
    print("| hosts | command | wall | its CPU | machine CPU | peak memory | ansible-playbook / this |")
    print("|---|---|---|---|---|---|---|")
    for size, figures in results.items():
        for name, m in figures.items():
            peer = figures.get("ansible-playbook")
            ratio = f"{peer.seconds / m.seconds:.1f}x" if peer and name != "ansible-playbook" else ""
            print(f"| {size} | {name} | {m.seconds:.2f} s | {m.cpu_s:.2f} s | {m.machine_cpu_s:.1f} s | {m.peak_mb:.0f} MB | {ratio} |")
    print("its CPU: the process and its children; machine CPU: every core, the hosts' sshd and commands included;")
    print("peak memory: the largest process of the run (Ansible's forks are processes of their own)")
    ours = ("kafkactl plan", "kafkactl apply")
    growth = max(results[largest][n].seconds / results[smallest][n].seconds for n in ours)
    cpu_growth = max(results[largest][n].cpu_s / results[smallest][n].cpu_s for n in ours)
    peak = max(results[size][n].peak_mb for size in sizes for n in ours)
    targets = [(f"{largest} hosts within {TARGET_GROWTH:g}x the time of {smallest}", growth <= TARGET_GROWTH,
                f"{growth:.2f}x; kafkactl's own CPU time {cpu_growth:.2f}x"),
               (f"kafkactl under {TARGET_MEMORY_MB} MB", peak < TARGET_MEMORY_MB, f"{peak:.0f} MB")]
    if args.with_ansible:
        ratio = results[largest]["ansible-playbook"].seconds / results[largest]["kafkactl apply"].seconds
        targets.insert(1, (f"at least {TARGET_RATIO:g}x faster than ansible-playbook at {largest} hosts", ratio >= TARGET_RATIO, f"{ratio:.1f}x"))
    for label, met, figure in targets:
        print(f"Target: {label}: {'met' if met else 'NOT met'} ({figure})")

    if args.down:
        take_down(args.state_dir)


if __name__ == "__main__":
    main()
