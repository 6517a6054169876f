"""A broker's TLS listeners and the stores they read, as its configuration says, and the certificate each presents,
read from the host itself (with python3: Kafka's tools say nothing of it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkactl.listener_changes import protocols
from kafkactl.remote import cmd

if TYPE_CHECKING:  # the transport imports the inventory, which imports the facts that use these readers
    from kafkactl.transport import Connection

STORES = ("keystore", "truststore")
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
    """The ports of the listeners whose key store `settings` reload (a port that is not a number is no port)."""
    ports = {name.strip().lower(): int(port) for name, _, address in
             (item.partition("://") for item in properties.get("listeners", "").split(","))
             if (port := address.rpartition(":")[2].strip()).isdigit()}
    names = {key.split(".")[2] for key in settings if key.endswith(".ssl.keystore.location")}
    return sorted(ports[name] for name in names if name in ports)


def presented(connection: Connection, host: str, ports: list[int]) -> dict[int, str]:
    """Per port, the SHA-256 of the certificate the listener presents, or "unread: <why>"; nothing on a host without
    python3."""
    result = connection.run(cmd("python3", "-c", PRESENTED, host, *[str(port) for port in ports]), check=False, timeout=60)
    if result.code == 127:  # the shell's "command not found"
        return {}
    found = {}
    for line in result.stdout.splitlines():
        port, _, value = line.partition(" ")
        if port.isdigit():
            found[int(port)] = value
    return {port: found.get(port, f"unread: {(result.stderr or result.stdout).strip()[-200:] or 'no answer'}") for port in ports}
