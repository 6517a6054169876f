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

import hashlib
import time

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from kafkactl.components.properties import escape_key, escape_value
from kafkactl.errors import KafkactlError
from kafkactl.health import admin_config, java_tool, kafka_tool
from kafkactl.listener_changes import protocols
from kafkactl.model import ClusterVars
from kafkactl.remote import cmd
from kafkactl.transport import Connection

CONFIG_TOOL = "kafka.admin.ConfigCommand"
STORES = ("keystore", "truststore")
SEEN_TIMEOUT_S = 60  # KRaft: until the broker has the altered setting from the metadata log
# Run with python3 on the broker's host: argv is HOST PORT...; prints, per port, the SHA-256 of the certificate the
# listener presents, or why none was read. Not verified: it is only compared. With TLS 1.3 the client has the
# server's certificate before a listener that requires one asks for the client's.
PRESENTED = """
import hashlib, socket, ssl, sys
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
for port in sys.argv[2:]:
    try:
        with socket.create_connection((sys.argv[1], int(port)), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=sys.argv[1]) as tls:
                print(port, hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest())
    except Exception as exc:
        print(port, "unread:", type(exc).__name__)
"""


def reloaded_settings(properties: dict[str, str], changed: set[str]) -> dict[str, str]:
    """Per-listener store locations to set so that each TLS listener reading a changed store reloads it."""
    settings = {}
    for listener, protocol in protocols(properties).items():
        if protocol not in ("SSL", "SASL_SSL"):
            continue
        prefix = f"listener.name.{listener.lower()}.ssl"
        for store in STORES:
            location = properties.get(f"{prefix}.{store}.location", properties.get(f"ssl.{store}.location"))
            if location in changed:
                settings[f"{prefix}.{store}.location"] = location
    return settings


def listener_ports(properties: dict[str, str], settings: dict[str, str]) -> list[int]:
    """The ports of the listeners whose key store `settings` reload."""
    ports = {name.lower(): int(address.rsplit(":", 1)[1]) for name, _, address in
             (item.partition("://") for item in properties.get("listeners", "").split(",")) if address}
    names = {key.split(".")[2] for key in settings if key.endswith(".ssl.keystore.location")}
    return sorted(ports[name] for name in names if name in ports)


def leaf_sha256(store: bytes, store_type: str, password: str | None) -> str | None:
    """The SHA-256 of the key store's own certificate (DER), for PKCS12 and PEM stores; None for JKS, which only Java reads."""
    if store_type == "PKCS12":
        certificate = pkcs12.load_key_and_certificates(store, password.encode() if password else None)[1]
    elif store_type == "PEM":
        certificate = x509.load_pem_x509_certificates(store)[0]
    else:
        return None
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest() if certificate else None


def presented(connection: Connection, host: str, ports: list[int]) -> dict[int, str]:
    """Per port, the SHA-256 of the certificate the listener presents, or "unread: <why>"."""
    result = connection.run(cmd("python3", "-c", PRESENTED, host, *[str(port) for port in ports]), check=False, timeout=60)
    found = {}
    for line in result.stdout.splitlines():
        port, _, value = line.partition(" ")
        if port.isdigit():
            found[int(port)] = value
    return {port: found.get(port, f"unread: {(result.stderr or result.stdout).strip()[-200:] or 'no answer'}") for port in ports}


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


def await_presented(connection: Connection, host: str, ports: list[int], expected: str, timeout: float = SEEN_TIMEOUT_S) -> None:
    """Until every port presents the certificate whose SHA-256 is `expected`; past `timeout` fail naming the ports."""
    deadline = time.monotonic() + timeout
    while True:
        found = presented(connection, host, ports)
        wrong = {port: value for port, value in found.items() if value != expected}
        if not wrong:
            return
        if time.monotonic() > deadline:
            raise KafkactlError(f"host {host}: key store reloaded, but " + ", ".join(
                f"port {port} presents {'another certificate' if len(value) == 64 else value}" for port, value in wrong.items())
                + f" than the key store's after {timeout:.0f} s")
        time.sleep(1)
