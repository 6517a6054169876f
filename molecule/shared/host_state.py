"""What each host of a scenario runs, read over SSH without kafkactl: judged by the verifier, not by kafkactl.

    python3 host_state.py snapshot EPHEMERAL_DIR

appends to EPHEMERAL_DIR/host_states.json one record per call: for every host of the scenario's
ssh_config, the SHA-256 of every file in /etc/kafka, /etc/schema-registry and /etc/prometheus, of every
kafka-*, kafkactl-* and schema-registry unit, of the consumer lag reader and of every myid and
meta.properties under /var/lib; the main PID and start time of each of those services and of Prometheus
and its exporters, and when the consumer lag reader's timer started; and, on a host running ZooKeeper,
the stat of the znodes a change to the cluster would touch (controller, epoch, cluster id, broker
registrations, topics, config changes, migration), read with ZooKeeper's own shell (logged in as its
first DIGEST user when it has one). converge.yml takes one at the end of each converge, so the verifier
can tell that molecule's idempotence step (the second converge) changed no file, restarted no service
and wrote no znode on any host.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

STATES = "host_states.json"
# A fixed script: no value of the scenario's goes into it.
READ_STATE = r"""
set -eu
for directory in /etc/kafka /etc/schema-registry /etc/prometheus; do
  if [ -d "$directory" ]; then find "$directory" -maxdepth 1 -type f -exec sha256sum {} +; fi
done | sort -k 2
find /etc/systemd/system /usr/local/sbin -maxdepth 1 -type f \( -name 'kafka-*.service' -o -name 'kafkactl-*' \
  -o -name 'schema-registry.service' \) -exec sha256sum {} + | sort -k 2
find /var/lib -maxdepth 4 -type f \( -name myid -o -name meta.properties \) -exec sha256sum {} + | sort -k 2
for unit in $(systemctl list-units --type=service --all --no-legend --plain 'kafka-*' 'schema-registry*' 'prometheus*' | awk '{print $1}' | sort); do
  echo "$unit $(systemctl show -p MainPID --value "$unit") $(systemctl show -p ExecMainStartTimestampMonotonic --value "$unit")"
done
if systemctl is-active --quiet kafkactl-consumer-lag.timer; then
  echo "kafkactl-consumer-lag.timer $(systemctl show -p ActiveEnterTimestampMonotonic --value kafkactl-consumer-lag.timer)"
fi
if systemctl is-active --quiet kafka-zookeeper; then
  libs=$(ls -d /opt/kafka/kafka_*/libs | head -n 1)
  # A ZooKeeper that requires a DIGEST login is read as its first user of /etc/kafka/zookeeper-jaas.conf
  login=
  if [ -f /etc/kafka/zookeeper-jaas.conf ]; then
    login=$(mktemp)
    sed -n 's/^ *user_\([^=]*\)=\(".*"\);\{0,1\}$/Client { org.apache.zookeeper.server.auth.DigestLoginModule required username="\1" password=\2; };/p' \
      /etc/kafka/zookeeper-jaas.conf | head -n 1 > "$login"
  fi
  printf '%s\n' 'get -s /controller' 'get -s /controller_epoch' 'get -s /cluster/id' 'ls -s /brokers/ids' \
      'ls -s /brokers/topics' 'ls -s /config/changes' 'get -s /migration' \
    | java -Xmx64m ${login:+"-Djava.security.auth.login.config=$login"} -cp "$libs/*" org.apache.zookeeper.ZooKeeperMain \
      -server 127.0.0.1:2181 2>&1 \
    | grep -E '^(cZxid|mZxid|pZxid|cversion|dataVersion|ephemeralOwner|numChildren) = |^Node does not exist: |^\[' \
    | sort | sed 's/^/znode /'
  if [ -n "$login" ]; then rm -f "$login"; fi
fi
"""


def hosts(ephemeral: Path) -> list[str]:
    """The hosts named in the scenario's ssh_config, in its order."""
    return [line.split()[1] for line in (ephemeral / "ssh_config").read_text().splitlines() if line.startswith("Host ")]


def read_host(ephemeral: Path, host: str) -> dict[str, list[str]]:
    answer = subprocess.run(["ssh", "-F", str(ephemeral / "ssh_config"), host, "sh", "-s"], input=READ_STATE,
                            capture_output=True, text=True, timeout=60, check=False)
    if answer.returncode != 0:
        raise SystemExit(f"{host}: reading its state failed (exit {answer.returncode}): {answer.stderr.strip()}")
    lines = answer.stdout.splitlines()
    return {"files": [line for line in lines if line.startswith(tuple("0123456789abcdef"))],
            "services": [line for line in lines if line.startswith(("kafka-", "kafkactl-", "schema-registry", "prometheus"))],
            "znodes": [line for line in lines if line.startswith("znode ")]}


def snapshot(ephemeral: Path) -> None:
    path = ephemeral / STATES
    taken = json.loads(path.read_text()) if path.exists() else []
    taken.append({host: read_host(ephemeral, host) for host in hosts(ephemeral)})
    path.write_text(json.dumps(taken, indent=1))
    print(f"host state {len(taken)} of {len(taken[-1])} hosts recorded")


def taken(ephemeral: Path) -> list[dict[str, dict[str, list[str]]]]:
    path = ephemeral / STATES
    return json.loads(path.read_text()) if path.exists() else []


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "snapshot":
        raise SystemExit("usage: host_state.py snapshot EPHEMERAL_DIR")
    snapshot(Path(sys.argv[2]))
