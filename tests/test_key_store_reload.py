"""A broker's renewed key store taken with no restart: which dynamic settings reload which listener, and the check
that each listener then presents the key store's certificate (the script kafkactl runs on the host, run here
against a real TLS server holding a certificate kafkactl's CA made)."""

from __future__ import annotations

import dataclasses
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

from kafkactl import key_store_reload, pki, tls_listeners
from kafkactl.components.principals import certificate_in
from kafkactl.desired import desired_state
from kafkactl.errors import KafkactlError
from kafkactl.inventory import read_inventory
from kafkactl.plan import make_plan
from kafkactl.transport import CommandResult

from test_plan_facts import _converged
from tool_output import ScriptedConnection

PROPERTIES = {
    "listeners": "INTERNAL://kafka1:9092,EXTERNAL://kafka1:9094,REPL://kafka1:9095",
    "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL,REPL:SSL",
    "ssl.keystore.location": "/etc/kafka/ssl/kafka.keystore.p12",
    "ssl.truststore.location": "/etc/kafka/ssl/kafka.truststore.p12",
    "listener.name.repl.ssl.truststore.location": "/etc/kafka/ssl/repl.truststore.p12",
}


def test_each_tls_listener_reading_a_changed_store_gets_its_location_set() -> None:
    keystore = tls_listeners.reloaded_settings(PROPERTIES, {"/etc/kafka/ssl/kafka.keystore.p12"})
    assert keystore == {"listener.name.external.ssl.keystore.location": "/etc/kafka/ssl/kafka.keystore.p12",
                        "listener.name.repl.ssl.keystore.location": "/etc/kafka/ssl/kafka.keystore.p12"}
    assert tls_listeners.listener_ports(PROPERTIES, keystore) == [9094, 9095]
    # REPL reads a trust store of its own: only EXTERNAL reloads the shared one
    truststore = tls_listeners.reloaded_settings(PROPERTIES, {"/etc/kafka/ssl/kafka.truststore.p12"})
    assert truststore == {"listener.name.external.ssl.truststore.location": "/etc/kafka/ssl/kafka.truststore.p12"}
    assert tls_listeners.listener_ports(PROPERTIES, truststore) == []
    assert tls_listeners.reloaded_settings(PROPERTIES, {"/etc/kafka/other.p12"}) == {}
    edited = {**PROPERTIES, "listeners": "INTERNAL://kafka1:9092,EXTERNAL://kafka1:90x4,REPL://:9095"}
    assert tls_listeners.listener_ports(edited, keystore) == [9095]


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
    expected = hashlib.sha256(certificate_in(store, "PKCS12", password).public_bytes(Encoding.DER)).hexdigest()
    ran = subprocess.run([sys.executable, "-c", tls_listeners.PRESENTED, "127.0.0.1", str(port), "1"],
                         capture_output=True, text=True, timeout=60)
    assert ran.stdout.splitlines()[0] == f"{port} {expected}"
    assert ran.stdout.splitlines()[1].startswith("1 unread: ")  # nothing listens on port 1
    assert len(expected) == 64 and expected != hashlib.sha256(store).hexdigest()


def test_a_listener_still_presenting_another_certificate_halts_naming_the_port() -> None:
    answers = iter([CommandResult(0, f"9094 {'a' * 64}\n9095 {'b' * 64}\n", ""), CommandResult(0, f"9094 {'a' * 64}\n9095 {'a' * 64}\n", "")])
    assert key_store_reload.await_presented(ScriptedConnection(lambda command: next(answers)), "kafka1", [9094, 9095], "a" * 64, timeout=5)
    no_python = ScriptedConnection(CommandResult(127, "", "sh: 1: python3: not found\n"))
    assert key_store_reload.await_presented(no_python, "kafka1", [9094], "a" * 64, timeout=0) is False
    stale = ScriptedConnection(CommandResult(0, f"9094 {'a' * 64}\n9095 unread: ConnectionRefusedError\n", ""))
    with pytest.raises(KafkactlError, match=r"host kafka1: key store reloaded, but port 9095 presents unread: ConnectionRefusedError"):
        key_store_reload.await_presented(stale, "kafka1", [9094, 9095], "a" * 64, timeout=0)


def test_a_broker_presenting_another_certificate_than_its_unchanged_key_store_is_planned_to_reload(tmp_path: Path) -> None:
    """A run stopped between writing a key store and the broker's reload leaves the file right and the listener
    stale: the plan reads what each TLS port presents and plans the reload; a host presenting its own changes nothing."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  vars: {ssl_enabled: true}\nzookeeper:\n  hosts: {zk1: }\nkafka_broker:\n  hosts: {kafka1: , kafka2: }\n")
    read = read_inventory(inventory).inventory
    pki.create(tmp_path / "pki", read)
    desired = desired_state(pki.attach(tmp_path / "pki", read))
    keystore = next(f for s in desired.hosts if s.host.name == "kafka1" for f in s.files if f.presents_sha256)
    facts = _converged(desired)
    facts["kafka1"] = dataclasses.replace(facts["kafka1"], presented_certificates={9091: keystore.presents_sha256, 9092: "0" * 64})
    facts["kafka2"] = dataclasses.replace(facts["kafka2"], presented_certificates={9091: "unread: ConnectionRefusedError"})
    plan = make_plan(desired, facts)
    assert {p.host: [s.action for s in p.services] for p in plan.changed_hosts} == {"kafka1": ["reload key stores"]}
    assert not any(f.presents_sha256 for s in desired.hosts if s.host.name == "zk1" for f in s.files)


@pytest.mark.parametrize("controller_tls, action", [(True, "restart"), (False, "reload key stores")])
def test_a_kraft_broker_that_reaches_the_controllers_over_tls_restarts_for_new_stores(tmp_path: Path, controller_tls: bool,
                                                                                     action: str) -> None:
    """Kafka builds a broker's TLS context towards the controllers when it starts: a reload would leave it trusting the
    old CA there (a CA rotation then cuts it off from the controllers), so its new stores take a restart; a broker
    that reaches them on PLAINTEXT reloads."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(f"all:\n  vars: {{ssl_enabled: true, kafka_controller_ssl_enabled: {str(controller_tls).lower()}}}\n"
                         "kafka_controller:\n  hosts: {c1: , c2: , c3: }\nkafka_broker:\n  hosts: {kafka1: , kafka2: }\n")
    read = read_inventory(inventory).inventory
    pki.create(tmp_path / "pki", read)
    converged = _converged(desired_state(pki.attach(tmp_path / "pki", read)))
    pki.renew(tmp_path / "pki", read, ["kafka1"])
    plan = make_plan(desired_state(pki.attach(tmp_path / "pki", read)), converged)
    assert {p.host: [s.action for s in p.services] for p in plan.changed_hosts} == {"kafka1": [action]}
