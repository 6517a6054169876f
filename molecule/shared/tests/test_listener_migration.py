"""A listener migration's end (steps `listeners-*`, `move-clients`, `renew-certificates`, `rotate-ca`; migration.py):
one apply of the target was refused; the clients moved half-way; at the target no PLAINTEXT port answers, and over
SASL_SSL and mutual TLS only the right clients get in, each as far as its ACLs; the renewed certificates were taken
with no restart, and after the CA rotation every TLS listener presents a certificate of the new CA alone."""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import time
import uuid

import pytest
from conftest import EPHEMERAL, STEPS
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kafka_data import round_trip
from migration import LISTENER_STEPS, SECURED, Scenario

from kafkactl.pki import KEYSTORE_PASSWORD, keystore_name

pytestmark = pytest.mark.skipif(not set(STEPS) & set(LISTENER_STEPS), reason="not a listener migration scenario")

SCENARIO = Scenario(EPHEMERAL)
# Where the cluster began, as cp-ansible's defaults make it: BROKER and INTERNAL, ZooKeeper's client port, CONTROLLER.
PLAINTEXT_PORTS = {"kafka_broker": (9091, 9092), "zookeeper": (2181,), "kafka_controller": (9093,)}
EXTERNAL_PORT, REPL_PORT = 9094, 9095  # the target's SASL_SSL and mutual TLS listeners (inventory.yml.j2)


def _record(step: str) -> dict:
    (record,) = SCENARIO.recorded(step)
    return record


def _group(name: str) -> list[str]:
    return SCENARIO.groups(EPHEMERAL / SECURED).get(name, [])


def _brokers() -> list[str]:
    return _group("kafka_broker")


def _refused(settings: dict[str, str], awaited=None) -> list:
    """A client with `settings` never gets the cluster's metadata; returns its refusal and the errors it reported
    (polled until one has the code `awaited`, when given, for up to 30 s)."""
    from confluent_kafka import KafkaException, Producer

    errors: list = []
    producer = Producer({**settings, "socket.timeout.ms": 10000, "log_level": 0, "error_cb": errors.append})
    with pytest.raises(KafkaException) as refused:
        producer.list_topics(timeout=15)
    deadline = time.monotonic() + 30
    while awaited is not None and not any(e.code() == awaited for e in errors) and time.monotonic() < deadline:
        producer.poll(0.5)
    return [refused.value.args[0], *errors]


def test_one_apply_of_the_target_was_refused_pointing_at_the_staged_migration():
    refused = _record("listeners-add")["one_apply"]
    assert refused["exit"] == 1 and "migrate listeners" in refused["stderr"], refused["stderr"]


def test_remove_was_refused_out_of_turn():
    refused = _record("listeners-add")["out_of_turn"]
    assert refused["exit"] == 1 and "No host was changed." in refused["stderr"], refused["stderr"]


def test_zookeeper_rolled_before_the_brokers_and_the_existing_znodes_were_secured():
    if not _group("zookeeper"):
        pytest.skip("KRaft: no ZooKeeper")
    added = _record("listeners-add")["phase"]["stdout"]
    assert added.index("== roll zookeeper") < added.index("== roll kafka_broker"), added
    moved = _record("listeners-inter-broker")["phase"]["stdout"]
    assert "the existing znodes secured (ZkSecurityMigrator --zookeeper.acl secure)" in moved, moved


def test_the_moved_clients_are_counted_on_the_sasl_ssl_listener_before_the_old_ones_go():
    moved = _record("move-clients")
    assert moved["canary"]["moved"], moved["canary"]
    counted = [broker["connections"] for broker in json.loads(moved["status"]["stdout"])["brokers"]]
    assert all(c is not None for c in counted) and sum(c.get("EXTERNAL", 0) for c in counted) > 0, counted


def test_the_phases_end_at_the_target():
    status = json.loads(_record("listeners-remove")["status"]["stdout"])
    assert status["next_step"] == "at the target", status


@pytest.mark.parametrize("group", PLAINTEXT_PORTS)
def test_no_plaintext_port_answers_on_the_network(group: str):
    """The brokers' PLAINTEXT listeners are gone, as is the controllers' first listener; ZooKeeper's plain port
    serves its loopback address alone."""
    if not _group(group):
        pytest.skip(f"no {group} in this scenario")
    for host in _group(group):
        for port in PLAINTEXT_PORTS[group]:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((host, port), timeout=10).close()


def _another_ca_client_certificate(tmp_path) -> dict[str, str]:
    """A client key and certificate signed by a CA of their own, which the brokers do not trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "intruder")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / "intruder.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))
    (tmp_path / "intruder.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return {"ssl.certificate.location": str(tmp_path / "intruder.crt"), "ssl.key.location": str(tmp_path / "intruder.key")}


def test_without_credentials_with_a_wrong_password_or_another_cas_certificate_no_client_gets_in(tmp_path):
    """Each refusal beside the same client with what it lacks, which gets in: the refusal is the missing credential's."""
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient

    admin = SCENARIO.scram_user("admin")
    tls = {"ssl.ca.location": admin["ssl.ca.location"], "security.protocol": "SSL"}
    repl = ",".join(f"{b}:{REPL_PORT}" for b in _brokers())
    # another host's key store of kafkactl's CA: a client certificate the brokers trust
    other = next(host for host in SCENARIO.hosts() if host not in _brokers())
    trusted = {**tls, "bootstrap.servers": repl, "ssl.keystore.location": str(SCENARIO.pki / keystore_name(other)),
               "ssl.keystore.password": (SCENARIO.pki / KEYSTORE_PASSWORD).read_text().strip()}
    for settings in (admin, trusted):
        assert len(AdminClient({**settings, "log_level": 0}).list_topics(timeout=30).brokers) == len(_brokers())

    no_credentials = _refused({**tls, "bootstrap.servers": admin["bootstrap.servers"]})
    wrong_password = _refused({**admin, "sasl.password": "not-the-password"}, awaited=KafkaError._AUTHENTICATION)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in wrong_password), [str(e) for e in wrong_password]
    another_ca = _refused({**tls, "bootstrap.servers": repl, **_another_ca_client_certificate(tmp_path)})
    for why, errors in (("no credentials", no_credentials), ("a wrong password", wrong_password), ("another CA", another_ca)):
        print(f"{why}: {[str(e) for e in errors[:3]]}")


def test_a_user_without_acls_is_refused_and_one_with_acls_produces_and_consumes():
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    outsider = AdminClient(SCENARIO.scram_user("outsider"))  # kept: a future outlives no client
    created = outsider.create_topics([NewTopic("outsider-not-granted", 1, 3)])
    with pytest.raises(KafkaException, match="AUTHORIZATION_FAILED"):
        created["outsider-not-granted"].result(30)
    topic = f"kafkactl-canary-verify-{uuid.uuid4().hex[:8]}"  # within the canary user's prefixed ACLs
    assert round_trip(SCENARIO.scram_user("canary"), topic) == [f"{topic} {n}" for n in range(100)]


@pytest.mark.skipif("renew-certificates" not in STEPS, reason="no renewal in this scenario")
def test_renewed_certificates_were_reloaded_with_no_restart():
    renewed = _record("renew-certificates")
    brokers = _brokers()
    assert renewed["plan"]["stdout"].count("reload key stores") == len(brokers), renewed["plan"]["stdout"]
    assert "restart " not in renewed["plan"]["stdout"], renewed["plan"]["stdout"]
    applied = renewed["apply"]["stdout"]
    assert applied.count("reloaded its key stores on EXTERNAL, REPL (no restart)") == len(brokers), applied
    assert "Nothing to do" in renewed["again"]["stdout"], renewed["again"]["stdout"]


def _served(host: str, port: int, trusting) -> bytes:
    """The certificate the listener presents, if a CA in the file `trusting` signed it (else SSLCertVerificationError)."""
    context = ssl.create_default_context(cafile=str(trusting))
    context.check_hostname = False
    with socket.create_connection((host, port), timeout=10) as sock, context.wrap_socket(sock, server_hostname=host) as tls:
        return tls.getpeercert(binary_form=True)


@pytest.mark.skipif("rotate-ca" not in STEPS, reason="no CA rotation in this scenario")
@pytest.mark.parametrize("port", [EXTERNAL_PORT, REPL_PORT])
def test_after_the_ca_rotation_each_tls_listener_presents_a_certificate_of_the_new_ca_alone(port: int):
    for broker in _brokers():
        issued = x509.load_pem_x509_certificate((SCENARIO.pki / f"{broker}.crt").read_bytes())
        assert _served(broker, port, SCENARIO.pki / "ca.crt") == issued.public_bytes(serialization.Encoding.DER)
        with pytest.raises(ssl.SSLCertVerificationError):
            _served(broker, port, EPHEMERAL / "old-ca.crt")
