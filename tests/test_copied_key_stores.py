"""Key and trust stores copied from the control machine (cp-ansible's ssl_provided_keystore_and_truststore): read once
as data, one per host through a template of the host name, put on the hosts by apply, compared by digest, never shown."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from kafkactl.components.properties import parse_properties
from kafkactl.desired import binary_content, desired_state
from kafkactl.facts import facts_script, parse_facts
from kafkactl.inventory import read_inventory
from kafkactl.plan import FileFacts, HostFacts, make_plan

from helpers import run_cli

JKS = b"\xfe\xed\xfe\xed\x00\x00\x00\x02"
PKCS12 = b"\x30\x82\x0a\x1b"
INVENTORY = """\
all:
  vars:
    ssl_enabled: true
    ssl_provided_keystore_and_truststore: true
    ssl_keystore_filepath: "certs/{{inventory_hostname}}.keystore.jks"
    ssl_truststore_filepath: certs/truststore.jks
    ssl_keystore_store_password: keystore-secret
    ssl_keystore_key_password: keystore-secret
    ssl_truststore_password: truststore-secret
zookeeper:
  hosts: {zk1: }
kafka_broker:
  hosts: {kafka1: , kafka2: }
"""


def _stores(tmp_path: Path, truststore: bytes = JKS + b"trust") -> dict[str, bytes]:
    certs = tmp_path / "certs"
    certs.mkdir(exist_ok=True)
    written = {name: JKS + name.encode() for name in ("zk1", "kafka1", "kafka2")}
    for name, data in written.items():
        (certs / f"{name}.keystore.jks").write_bytes(data)
    (certs / "truststore.jks").write_bytes(truststore)
    return written


def _inventory(tmp_path: Path, text: str = INVENTORY) -> Path:
    path = tmp_path / "inventory.yml"
    path.write_text(text)
    return path


def test_each_broker_gets_its_own_key_store_and_the_properties_name_where_it_is(tmp_path: Path) -> None:
    keystores = _stores(tmp_path)
    inventory = read_inventory(_inventory(tmp_path)).inventory
    assert inventory.cluster.ssl_file_format == "jks"
    for state in desired_state(inventory).hosts:
        files = {f.path: f for f in state.files}
        if state.host.name == "zk1":  # ZooKeeper without TLS names no store: none is put there
            assert not any("/ssl/" in path for path in files)
            continue
        keystore, truststore = files["/etc/kafka/ssl/kafka.keystore.jks"], files["/etc/kafka/ssl/kafka.truststore.jks"]
        assert keystore.data == keystores[state.host.name] and truststore.data == JKS + b"trust"
        assert keystore.content == binary_content(keystores[state.host.name])
        assert (keystore.owner, keystore.group, keystore.mode) == ("root", "kafka", "0640")
        assert next(d for d in state.directories if d.path == "/etc/kafka/ssl").owner == "root"
        properties = parse_properties(files["/etc/kafka/server.properties"].content)
        assert properties["ssl.keystore.type"] == "JKS" and properties["ssl.keystore.location"] == keystore.path
        assert properties["ssl.truststore.location"] == truststore.path


def test_a_store_is_compared_by_digest_and_never_shown(tmp_path: Path) -> None:
    keystores = _stores(tmp_path)
    desired = desired_state(read_inventory(_inventory(tmp_path)).inventory)
    state = next(s for s in desired.hosts if s.host.name == "kafka1")
    keystore = next(f for f in state.files if f.path.endswith("kafka.keystore.jks"))
    same = HostFacts(files={keystore.path: FileFacts(binary_content(keystores["kafka1"]), "root:kafka", "0640", 0)})
    other = HostFacts(files={keystore.path: FileFacts(binary_content(b"old store"), "root:kafka", "0640", 0)})
    unchanged = make_plan(desired, {"kafka1": same}).hosts
    changed = make_plan(desired, {"kafka1": other}).hosts
    action = {p.host: {f.path: f.action for f in p.files} for p in unchanged}["kafka1"][keystore.path]
    assert action == "unchanged"
    update = next(f for p in changed if p.host == "kafka1" for f in p.files if f.path == keystore.path)
    assert update.action == "update" and "binary sha256:" in update.diff
    shown_bytes = repr(keystores["kafka1"])[2:-1]  # how a bytes value would appear in a repr
    assert shown_bytes not in repr(state.host.copied_stores) and shown_bytes not in repr(state.files)

    shown = run_cli("plan", str(tmp_path / "inventory.yml"), "--offline", "--diff")
    assert shown.exit_code == 2, shown.stderr
    assert "create   /etc/kafka/ssl/kafka.keystore.jks (root:kafka 0640, 14 bytes)" in shown.stdout
    assert "keystore-secret" not in shown.stdout and "\ufffd" not in shown.stdout


def test_the_facts_script_reads_a_store_as_its_digest(tmp_path: Path) -> None:
    keystores = _stores(tmp_path)
    desired = desired_state(read_inventory(_inventory(tmp_path)).inventory)
    state = next(s for s in desired.hosts if s.host.name == "kafka1")
    keystore = next(f for f in state.files if f.path.endswith("kafka.keystore.jks"))
    on_host = tmp_path / "host" / "kafka.keystore.jks"
    on_host.parent.mkdir()
    on_host.write_bytes(keystores["kafka1"])
    moved = type(state)(**{**state.__dict__, "files": (type(keystore)(**{**keystore.__dict__, "path": str(on_host)}),),
                           "services": (), "directories": (), "kafka_home": None})
    read = subprocess.run(["bash", "-c", facts_script(moved, read_inventory(tmp_path / "inventory.yml").inventory.cluster).text],
                          capture_output=True, text=True, timeout=60)
    assert read.returncode == 0, read.stderr
    assert parse_facts(read.stdout).files[str(on_host)].content == binary_content(keystores["kafka1"])
    assert base64.b64encode(keystores["kafka1"]).decode() not in read.stdout


@pytest.mark.parametrize(("change", "error"), [
    (lambda tmp: (tmp / "certs" / "truststore.jks").write_bytes(PKCS12),
     "host kafka1: its key store and trust store have different formats (JKS, PKCS12); every store must have one"),
    (lambda tmp: (tmp / "certs" / "kafka2.keystore.jks").unlink(),
     "host kafka2: ssl_keystore_filepath: cannot read {tmp}/certs/kafka2.keystore.jks on this machine: No such file or directory"),
    (lambda tmp: (tmp / "certs" / "kafka2.keystore.jks").write_text("not a store"),
     "host kafka2: ssl_keystore_filepath: {tmp}/certs/kafka2.keystore.jks is not a JKS, PKCS12 or PEM store"),
])
def test_stores_that_cannot_be_copied_are_refused_naming_the_host_and_file(tmp_path: Path, change, error: str) -> None:
    _stores(tmp_path)
    change(tmp_path)
    outcome = run_cli("validate", str(_inventory(tmp_path)))
    assert outcome.exit_code == 1
    assert error.format(tmp=tmp_path) in outcome.stderr, outcome.stderr


def test_a_format_the_inventory_states_must_be_the_stores_own(tmp_path: Path) -> None:
    _stores(tmp_path)
    outcome = run_cli("validate", str(_inventory(tmp_path, INVENTORY.replace("    ssl_enabled: true\n",
                                                                            "    ssl_enabled: true\n    ssl_file_format: pkcs12\n"))))
    assert outcome.exit_code == 1
    assert f"ssl_file_format is pkcs12, but the stores to copy are JKS ({tmp_path}/certs/" in outcome.stderr


def test_stores_already_on_the_hosts_are_not_copied(tmp_path: Path) -> None:
    text = INVENTORY.replace('"certs/{{inventory_hostname}}.keystore.jks"', "/var/ssl/private/kafka.keystore.jks").replace(
        "certs/truststore.jks", "/var/ssl/private/kafka.truststore.jks") + "    \n"
    text = text.replace("    ssl_provided_keystore_and_truststore: true\n",
                        "    ssl_provided_keystore_and_truststore: true\n    ssl_provided_keystore_and_truststore_remote_src: true\n"
                        "    ssl_file_format: jks\n")
    inventory = read_inventory(_inventory(tmp_path, text)).inventory
    assert inventory.cluster.ssl_keystore_filepath == "/var/ssl/private/kafka.keystore.jks"
    assert all(h.copied_stores is None for h in inventory.hosts)
    assert not any(f.data for s in desired_state(inventory).hosts for f in s.files)


@pytest.mark.parametrize("flag", ["yes", '"True"', "on", "1"])
def test_the_copy_flag_is_read_as_ansible_reads_a_boolean(tmp_path: Path, flag: str) -> None:
    _stores(tmp_path)
    text = INVENTORY.replace("ssl_provided_keystore_and_truststore: true", f"ssl_provided_keystore_and_truststore: {flag}")
    inventory = read_inventory(_inventory(tmp_path, text)).inventory
    assert {h.name for h in inventory.hosts if h.copied_stores} == {"zk1", "kafka1", "kafka2"}


CUSTOM_CERTS = """\
all:
  vars:
    ssl_enabled: true
    ssl_custom_certs: true
    ssl_ca_cert_filepath: certs/ca.crt
    ssl_signed_cert_filepath: "certs/{{inventory_hostname}}-signed.crt"
    ssl_key_filepath: "certs/{{inventory_hostname}}-key.pem"
zookeeper:
  hosts: {zk1: }
kafka_broker:
  hosts: {kafka1: }
"""


def _certificates(tmp_path: Path, key_password: bytes | None = None) -> dict[str, bytes]:
    """A CA and, per host, a key and the certificate the CA signed for it, as PEM files in tmp_path/certs."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())

    def signed(subject: str, key, ca: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name("operator CA"))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        return builder.sign(ca_key, hashes.SHA256())

    certs = tmp_path / "certs"
    certs.mkdir(exist_ok=True)
    ca = signed("operator CA", ca_key, True).public_bytes(serialization.Encoding.PEM)
    (certs / "ca.crt").write_bytes(ca)
    written = {"ca": ca}
    encryption = serialization.BestAvailableEncryption(key_password) if key_password else serialization.NoEncryption()
    for host in ("zk1", "kafka1"):
        key = ec.generate_private_key(ec.SECP256R1())
        (certs / f"{host}-key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, encryption))
        written[host] = signed(host, key, False).public_bytes(serialization.Encoding.PEM)
        (certs / f"{host}-signed.crt").write_bytes(written[host])
    return written


def test_custom_certificates_become_pem_stores_kafka_reads(tmp_path: Path) -> None:
    written = _certificates(tmp_path)
    inventory = read_inventory(_inventory(tmp_path, CUSTOM_CERTS)).inventory
    assert inventory.cluster.ssl_file_format == "pem" and not inventory.key_stores_by_kafkactl
    broker = next(s for s in desired_state(inventory).hosts if s.host.name == "kafka1")
    files = {f.path: f for f in broker.files}
    keystore = files["/etc/kafka/ssl/kafka.keystore.pem"].data
    assert keystore.startswith(b"-----BEGIN PRIVATE KEY-----\n") and keystore.endswith(written["kafka1"])
    assert files["/etc/kafka/ssl/kafka.truststore.pem"].data == written["ca"]
    properties = parse_properties(files["/etc/kafka/server.properties"].content)
    assert properties["ssl.keystore.type"] == "PEM" and "ssl.keystore.password" not in properties
    assert run_cli("plan", str(tmp_path / "inventory.yml"), "--offline").exit_code == 2


def test_an_encrypted_key_is_read_with_ssl_key_password(tmp_path: Path) -> None:
    _certificates(tmp_path, key_password=b"key-secret")
    text = CUSTOM_CERTS.replace("    ssl_custom_certs: true\n", "    ssl_custom_certs: true\n    ssl_key_password: key-secret\n")
    inventory = read_inventory(_inventory(tmp_path, text)).inventory
    assert all(h.copied_stores for h in inventory.hosts)
    wrong = run_cli("validate", str(_inventory(tmp_path, text.replace("key-secret", "wrong"))))
    assert wrong.exit_code == 1
    assert f"host kafka1: ssl_key_filepath: {tmp_path}/certs/kafka1-key.pem needs ssl_key_password, or it is wrong" in wrong.stderr
    assert "wrong" not in wrong.stderr.replace("or it is wrong", "")
    # Now and then a wrong password decrypts to bytes that are no key, reported as undecodable data: still the password
    (tmp_path / "certs" / "kafka1-key.pem").write_bytes(
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + base64.encodebytes(bytes(range(256))) + b"-----END ENCRYPTED PRIVATE KEY-----\n")
    garbled = run_cli("validate", str(_inventory(tmp_path, text)))
    assert f"host kafka1: ssl_key_filepath: {tmp_path}/certs/kafka1-key.pem needs ssl_key_password, or it is wrong" in garbled.stderr


def test_a_key_that_is_not_the_certificates_is_refused(tmp_path: Path) -> None:
    _certificates(tmp_path)
    (tmp_path / "certs" / "kafka1-key.pem").write_bytes((tmp_path / "certs" / "zk1-key.pem").read_bytes())
    outcome = run_cli("validate", str(_inventory(tmp_path, CUSTOM_CERTS)))
    assert outcome.exit_code == 1
    assert (f"host kafka1: ssl_key_filepath: {tmp_path}/certs/kafka1-key.pem is not the key of the certificate in "
            f"{tmp_path}/certs/kafka1-signed.crt") in outcome.stderr


def test_custom_certificates_on_the_hosts_are_refused(tmp_path: Path) -> None:
    text = CUSTOM_CERTS.replace("    ssl_custom_certs: true\n", "    ssl_custom_certs: true\n    ssl_custom_certs_remote_src: true\n")
    outcome = run_cli("validate", str(_inventory(tmp_path, text)))
    assert outcome.exit_code == 1
    assert "ssl_custom_certs_remote_src: kafkactl makes stores of custom certificates on this machine only" in outcome.stderr


def test_render_writes_each_hosts_store_as_apply_would_put_it(tmp_path: Path) -> None:
    keystores = _stores(tmp_path)
    out = tmp_path / "rendered"
    outcome = run_cli("render", str(_inventory(tmp_path)), "--out", str(out))
    assert outcome.exit_code == 0, outcome.stderr
    written = out / "kafka2" / "etc/kafka/ssl/kafka.keystore.jks"
    assert written.read_bytes() == keystores["kafka2"] and oct(written.stat().st_mode & 0o777) == "0o640"


def test_pem_stores_with_text_before_the_armour_are_recognised(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    pem = b"Bag Attributes\n    friendlyName: kafka1\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    for name in ("zk1", "kafka1", "kafka2"):
        (certs / f"{name}.keystore.jks").write_bytes(pem)
    (certs / "truststore.jks").write_bytes(pem)
    assert read_inventory(_inventory(tmp_path)).inventory.cluster.ssl_file_format == "pem"
