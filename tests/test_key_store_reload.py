"""A broker's renewed key store taken with no restart: which dynamic settings reload which listener, and the check
that each listener then presents the key store's certificate (the script kafkactl runs on the host, run here
against a real TLS server holding a certificate kafkactl's CA made)."""

from __future__ import annotations

import datetime
import hashlib
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12

from kafkactl import key_store_reload, pki
from kafkactl.errors import KafkactlError
from kafkactl.inventory import read_inventory
from kafkactl.transport import CommandResult

from tool_output import ScriptedConnection

PROPERTIES = {
    "listeners": "INTERNAL://kafka1:9092,EXTERNAL://kafka1:9094,REPL://kafka1:9095",
    "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL,REPL:SSL",
    "ssl.keystore.location": "/etc/kafka/ssl/kafka.keystore.p12",
    "ssl.truststore.location": "/etc/kafka/ssl/kafka.truststore.p12",
    "listener.name.repl.ssl.truststore.location": "/etc/kafka/ssl/repl.truststore.p12",
}


def test_each_tls_listener_reading_a_changed_store_gets_its_location_set() -> None:
    keystore = key_store_reload.reloaded_settings(PROPERTIES, {"/etc/kafka/ssl/kafka.keystore.p12"})
    assert keystore == {"listener.name.external.ssl.keystore.location": "/etc/kafka/ssl/kafka.keystore.p12",
                        "listener.name.repl.ssl.keystore.location": "/etc/kafka/ssl/kafka.keystore.p12"}
    assert key_store_reload.listener_ports(PROPERTIES, keystore) == [9094, 9095]
    # REPL reads a trust store of its own: only EXTERNAL reloads the shared one
    truststore = key_store_reload.reloaded_settings(PROPERTIES, {"/etc/kafka/ssl/kafka.truststore.p12"})
    assert truststore == {"listener.name.external.ssl.truststore.location": "/etc/kafka/ssl/kafka.truststore.p12"}
    assert key_store_reload.listener_ports(PROPERTIES, truststore) == []
    assert key_store_reload.reloaded_settings(PROPERTIES, {"/etc/kafka/other.p12"}) == {}


@pytest.fixture
def tls_server(tmp_path: Path):
    """A TLS server on this machine presenting the certificate of kafka1's key store from kafkactl's CA."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  vars: {ssl_enabled: true}\nzookeeper:\n  hosts: {zk1: }\nkafka_broker:\n  hosts: {kafka1: {ansible_host: 127.0.0.1}}\n")
    directory = tmp_path / "pki"
    pki.create(directory, read_inventory(inventory).inventory, datetime.datetime.now(datetime.timezone.utc))
    password = (directory / pki.KEYSTORE_PASSWORD).read_text().strip()
    store = (directory / pki.keystore_name("kafka1")).read_bytes()
    key, certificate, _ = pkcs12.load_key_and_certificates(store, password.encode())
    pem = tmp_path / "server.pem"
    pem.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()) + certificate.public_bytes(Encoding.PEM))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(client, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], store, password
    stop.set()
    thread.join()
    listener.close()


def test_the_host_script_reads_the_certificate_a_listener_presents(tls_server) -> None:
    port, store, password = tls_server
    expected = key_store_reload.leaf_sha256(store, "PKCS12", password)
    ran = subprocess.run([sys.executable, "-c", key_store_reload.PRESENTED, "127.0.0.1", str(port), "1"],
                         capture_output=True, text=True, timeout=60)
    assert ran.stdout.splitlines()[0] == f"{port} {expected}"
    assert ran.stdout.splitlines()[1].startswith("1 unread: ")  # nothing listens on port 1
    assert len(expected) == 64 and expected != hashlib.sha256(store).hexdigest()


def test_a_listener_still_presenting_another_certificate_halts_naming_the_port() -> None:
    answers = iter([CommandResult(0, f"9094 {'a' * 64}\n9095 {'b' * 64}\n", ""), CommandResult(0, f"9094 {'a' * 64}\n9095 {'a' * 64}\n", "")])
    key_store_reload.await_presented(ScriptedConnection(lambda command: next(answers)), "kafka1", [9094, 9095], "a" * 64, timeout=5)
    stale = ScriptedConnection(CommandResult(0, f"9094 {'a' * 64}\n9095 unread: ConnectionRefusedError\n", ""))
    with pytest.raises(KafkactlError, match=r"host kafka1: key store reloaded, but port 9095 presents unread: ConnectionRefusedError"):
        key_store_reload.await_presented(stale, "kafka1", [9094, 9095], "a" * 64, timeout=0)
