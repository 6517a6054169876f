"""A running broker takes renewed TLS key and trust stores with no restart (Kafka's dynamic broker configuration).

Kafka rebuilds a listener's TLS context when `listener.name.<listener>.ssl.keystore.location` (or the trust
store's) is altered for that broker, and, when the path is the same, only if the file changed since it was
loaded: kafkactl writes the store, sets the location for each TLS listener that reads the file, then deletes
those dynamic settings again, so that the broker's configuration file stays the one source of truth (the
deletion loads nothing: the path and the file are unchanged by then). Kafka refuses a key store whose
certificate names another subject or other names, and on the inter-broker listener one its trust store does
not trust: the alteration then fails and apply halts, the broker still serving its old certificate. Once the
settings are deleted, each listener is asked which certificate it presents (from the host itself, with
python3): one still presenting another than the key store's halts apply too.
"""

from __future__ import annotations

import time

from kafkactl.components.properties import escape_key, escape_value
from kafkactl.errors import KafkactlError
from kafkactl.health import kafka_tool
from kafkactl.kafka_tools import admin_config, java_tool
from kafkactl.model import ClusterVars
from kafkactl.tls_listeners import presented
from kafkactl.transport import Connection

CONFIG_TOOL = "kafka.admin.ConfigCommand"
SEEN_TIMEOUT_S = 60  # KRaft: until the broker has the altered setting from the metadata log


def reload(connection: Connection, cluster: ClusterVars, broker_id: int, bootstrap: str, settings: dict[str, str]) -> None:
    """Set `settings` on this broker (it reloads the stores they name), wait until it has them, and delete them."""
    entity = ["--bootstrap-server", bootstrap, "--command-config", admin_config(cluster), "--entity-type", "brokers",
              "--entity-name", str(broker_id)]
    lines = "".join(f"{escape_key(key)}={escape_value(value)}\n" for key, value in settings.items()).encode()
    altered = connection.run(java_tool(cluster, CONFIG_TOOL, [*entity, "--alter", "--add-config-file", "/dev/stdin"], heap="192m"),
                             check=False, timeout=120, stdin=lines)
    if altered.code != 0:
        raise KafkactlError(f"broker {broker_id}: its key stores were not reloaded (it still serves the old ones): "
                            f"{(altered.stderr or altered.stdout).strip()[-500:]}")
    deadline = time.monotonic() + SEEN_TIMEOUT_S
    while True:
        described = kafka_tool(connection, cluster, CONFIG_TOOL, [*entity, "--describe"])
        if described.code == 0 and all(key in described.stdout for key in settings):
            break
        if time.monotonic() > deadline:
            raise KafkactlError(f"broker {broker_id}: the reload of its key stores was not seen within {SEEN_TIMEOUT_S} s: "
                                f"{(described.stderr or described.stdout).strip()[-300:]}")
        time.sleep(1)
    deleted = kafka_tool(connection, cluster, CONFIG_TOOL, [*entity, "--alter", "--delete-config", ",".join(settings)])
    if deleted.code != 0:
        raise KafkactlError(f"broker {broker_id}: key stores reloaded, but the dynamic settings that did it were not deleted "
                            f"({', '.join(settings)}): {(deleted.stderr or deleted.stdout).strip()[-300:]}")


def await_presented(connection: Connection, host: str, ports: list[int], expected: str, timeout: float = SEEN_TIMEOUT_S) -> bool:
    """Until every port presents the certificate whose SHA-256 is `expected`; past `timeout` fail naming the ports.
    False when the host cannot tell (no python3 there)."""
    deadline = time.monotonic() + timeout
    while True:
        found = presented(connection, host, ports)
        if not found:
            return False
        wrong = {port: value for port, value in found.items() if value != expected}
        if not wrong:
            return True
        if time.monotonic() > deadline:
            raise KafkactlError(f"host {host}: key store reloaded, but " + ", ".join(
                f"port {port} presents {'another certificate' if len(value) == 64 else value}" for port, value in wrong.items())
                + f" than the key store's after {timeout:.0f} s")
        time.sleep(1)
