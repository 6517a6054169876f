"""Securing the brokers' listeners on the lab with kafkactl's staged phases, next to the restarts it cannot avoid,
measured in the same run.

    python bench/listener_migration.py [--messages 200000] [--state-dir /tmp/kafkactl-bench-listeners] [--down]

Uses a lab of its own (as bench/rolling_restart.py: 3 ZooKeeper, 3 brokers), converged with kafkactl apply and
loaded with a replicated topic. The floor first: as many broker restarts as the phases make (a roll of every
broker per phase), without kafkactl: `systemctl restart` over SSH, readiness read with a Kafka Admin client every
100 ms (bench/rolling_restart.py's floor). Then `kafkactl certs create` and the target: SECURE (SASL_SSL,
SCRAM-SHA-512) between the brokers, INTERNAL kept for clients, the authorizer on, BROKER removed; kafkactl runs
`migrate listeners --phase add`, `authorizer`, `inter-broker`, `remove`, each timed.
Target: kafkactl's overhead at most 15% (kafkactl / floor <= 1.15).
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from rolling_restart import floor_restart, kafkactl, loaded_lab

TARGET_RATIO = 1.15
PHASES = ["add", "authorizer", "inter-broker", "remove"]


def target_inventory(state_dir: Path) -> Path:
    """The lab inventory with SCRAM users, SECURE between the brokers and the authorizer on. Its TLS names no key
    stores, so kafkactl's CA's are used (`kafkactl certs create` makes them)."""
    data = yaml.safe_load((state_dir / "inventory.yml").read_text())
    data["all"]["vars"].update({
        "sasl_scram_users": {"admin": {"principal": "admin", "password": "bench-admin-secret"}},
        "kafka_authorizer_enabled": True,
        "kafka_broker_inter_broker_listener_name": "secure",
        "kafka_broker_listeners": {"internal": {"name": "INTERNAL", "port": 9092},
                                   "secure": {"name": "SECURE", "port": 9095, "ssl_enabled": True, "sasl_protocol": "scram"}},
    })
    path = state_dir / "secured.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main() -> None:
    args = loaded_lab(__doc__.splitlines()[0], Path("/tmp/kafkactl-bench-listeners"))
    inventory = args.state_dir / "inventory.yml"
    brokers = list(yaml.safe_load(inventory.read_text())["all"]["children"]["kafka_broker"]["hosts"])

    floor = []
    for _ in PHASES:
        started = time.monotonic()
        floor_restart(args.state_dir, brokers)
        floor.append(time.monotonic() - started)

    target = target_inventory(args.state_dir)
    kafkactl("certs", "create", str(target))
    seconds = []
    for phase in PHASES:
        started = time.monotonic()
        result = kafkactl("migrate", "listeners", str(target), "--phase", phase, "--yes", check=False)
        seconds.append(time.monotonic() - started)
        if result.returncode != 0:
            raise SystemExit(f"--phase {phase} failed:\n{result.stderr}{result.stdout[-3000:]}")

    print(f"Listener migration of {len(brokers)} brokers, PLAINTEXT to SASL_SSL with SCRAM between them and the authorizer on "
          f"({args.messages} messages of 512 B in a 12-partition topic, RF 3)")
    print(f"  {'phase':<14} {'kafkactl':>9} {'floor':>9}   (floor: a roll of every broker without kafkactl)")
    for phase, ours, theirs in zip(PHASES, seconds, floor):
        print(f"  {phase:<14} {ours:8.1f}s {theirs:8.1f}s")
    ratio = sum(seconds) / sum(floor)
    verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"  {'total':<14} {sum(seconds):8.1f}s {sum(floor):8.1f}s   kafkactl / floor = {ratio:.2f}x "
          f"(target <= {TARGET_RATIO}x): {verdict}")
    if args.down:
        kafkactl("lab", "down", "--state-dir", str(args.state_dir))


if __name__ == "__main__":
    main()
