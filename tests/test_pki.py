"""kafkactl certs create: a CA once, a key store per host naming every name it is reached by, a trust store; Java reads
them; a second run makes nothing; a changed host name or another CA makes that host's store again; apply ships them."""

from __future__ import annotations

import datetime
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from kafkactl import pki
from kafkactl.desired import desired_state
from kafkactl.inventory import read_inventory

from helpers import run_cli

INVENTORY = """\
all:
  vars:
    ssl_enabled: true
zookeeper:
  hosts: {zk1: }
kafka_broker:
  hosts:
    kafka1: {ansible_host: 10.0.0.11}
    kafka2:
"""


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.yml"
    path.write_text(INVENTORY)
    return path


def _made(inventory: Path, *extra: str):
    outcome = run_cli("certs", "create", str(inventory), *extra)
    assert outcome.exit_code == 0, outcome.stderr
    return outcome


def test_a_key_store_per_host_with_every_name_it_is_reached_by(inventory: Path) -> None:
    outcome = _made(inventory)
    pki_dir = inventory.parent / ".kafkactl" / "pki"
    assert f"CA made: {pki_dir / 'ca.crt'}" in outcome.stdout
    assert "  kafka1: key store made (kafka1.keystore.p12)" in outcome.stdout
    password = (pki_dir / pki.KEYSTORE_PASSWORD).read_text().strip()
    key, certificate, chain = pkcs12.load_key_and_certificates((pki_dir / "kafka1.keystore.p12").read_bytes(), password.encode())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["kafka1"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.11"]
    ca = x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes())
    assert key is not None and [c.subject for c in chain] == [ca.subject] and certificate.issuer == ca.subject
    certificate.verify_directly_issued_by(ca)
    # Private keys and passwords: the owner's alone, in a folder only the owner enters.
    assert stat.S_IMODE(pki_dir.stat().st_mode) == 0o700
    for name in ("ca.key", "kafka1.keystore.p12", pki.KEYSTORE_PASSWORD, pki.TRUSTSTORE_PASSWORD):
        assert stat.S_IMODE((pki_dir / name).stat().st_mode) == 0o600, name
    assert password not in outcome.stdout + outcome.stderr


def test_a_second_run_makes_nothing_and_a_renamed_host_gets_a_new_store(inventory: Path) -> None:
    _made(inventory)
    pki_dir = inventory.parent / ".kafkactl" / "pki"
    before = {p.name: p.read_bytes() for p in pki_dir.iterdir()}
    again = _made(inventory)
    assert "Nothing to make: every host has a current key store." in again.stdout
    assert {p.name: p.read_bytes() for p in pki_dir.iterdir()} == before

    inventory.write_text(INVENTORY.replace("10.0.0.11", "10.0.0.12"))
    moved = _made(inventory)
    assert "  kafka1: key store made" in moved.stdout and "kept, still current: kafka2, zk1" in moved.stdout
    assert (pki_dir / "kafka2.keystore.p12").read_bytes() == before["kafka2.keystore.p12"]
    assert (pki_dir / "ca.key").read_bytes() == before["ca.key"]


def test_a_certificate_close_to_expiry_is_renewed(inventory: Path) -> None:
    read = read_inventory(inventory).inventory
    pki_dir = inventory.parent / "pki"
    pki.create(pki_dir, read)
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=pki.HOST_DAYS) - pki.RENEW_BEFORE
    renewed = pki.create(pki_dir, read, now=later)
    assert not renewed.ca_made and set(renewed.hosts_made) == {"kafka1", "kafka2", "zk1"}


def test_renew_makes_new_keys_for_the_named_hosts_with_the_same_names_and_ca(inventory: Path) -> None:
    refused = run_cli("certs", "renew", str(inventory))
    assert refused.exit_code == 1 and "no CA yet" in refused.stderr and "certs create" in refused.stderr
    _made(inventory)
    pki_dir = inventory.parent / ".kafkactl" / "pki"
    before = {p.name: p.read_bytes() for p in pki_dir.iterdir()}
    renewed = run_cli("certs", "renew", str(inventory), "--host", "kafka1")
    assert renewed.exit_code == 0, renewed.stderr
    assert "  kafka1: key store renewed (kafka1.keystore.p12)" in renewed.stdout and "kafka2" not in renewed.stdout
    assert "brokers reload their key stores with no restart" in renewed.stdout
    after = {p.name: p.read_bytes() for p in pki_dir.iterdir()}
    assert {name for name in after if after[name] != before[name]} == {"kafka1.keystore.p12", "kafka1.crt"}
    old, new = (x509.load_pem_x509_certificate(files["kafka1.crt"]) for files in (before, after))
    assert new.serial_number != old.serial_number and new.public_key() != old.public_key()
    assert (new.subject, new.issuer) == (old.subject, old.issuer)
    assert new.extensions.get_extension_for_class(x509.SubjectAlternativeName) == \
        old.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    everyone = run_cli("certs", "renew", str(inventory)).stdout
    assert all(f"  {host}: key store renewed" in everyone for host in ("kafka1", "kafka2", "zk1")), everyone
    unknown = run_cli("certs", "renew", str(inventory), "--host", "kafka9")
    assert unknown.exit_code == 1 and "--host kafka9: no such host in the inventory" in unknown.stderr


def test_the_variables_it_prints_make_apply_ship_the_stores(inventory: Path) -> None:
    """An inventory naming stores of its own (on the hosts) is told how to have kafkactl's copied instead."""
    inventory.write_text(INVENTORY.replace("    ssl_enabled: true\n", "    ssl_enabled: true\n    ssl_keystore_store_password: own\n"))
    outcome = _made(inventory)
    printed = outcome.stdout.split("(all.vars):\n", 1)[1]
    inventory.write_text(INVENTORY.replace("    ssl_enabled: true\n", "    ssl_enabled: true\n" + printed.replace("  ", "    ", 1)
                                           .replace("\n  ", "\n    ")))
    read = read_inventory(inventory).inventory
    broker = next(s for s in desired_state(read).hosts if s.host.name == "kafka1")
    shipped = {f.path: f.data for f in broker.files if f.data is not None}
    pki_dir = inventory.parent / ".kafkactl" / "pki"
    assert shipped == {"/etc/kafka/ssl/kafka.keystore.p12": (pki_dir / "kafka1.keystore.p12").read_bytes(),
                       "/etc/kafka/ssl/kafka.truststore.p12": (pki_dir / "truststore.p12").read_bytes()}
    password = (pki_dir / pki.KEYSTORE_PASSWORD).read_text().strip()
    assert read.cluster.ssl_keystore_store_password.get_secret_value() == password
    plan = run_cli("plan", str(inventory), "--offline", "--diff")
    assert plan.exit_code == 2 and password not in plan.stdout


@pytest.mark.skipif(shutil.which("keytool") is None, reason="no JDK keytool on this machine")
def test_java_reads_the_key_and_trust_stores(inventory: Path) -> None:
    _made(inventory)
    pki_dir = inventory.parent / ".kafkactl" / "pki"

    def listing(store: str, password_file: str) -> str:
        password = (pki_dir / password_file).read_text().strip()
        run = subprocess.run(["keytool", "-list", "-storetype", "PKCS12", "-keystore", str(pki_dir / store), "-storepass:file",
                              str(pki_dir / password_file)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr
        assert password not in run.stdout
        return run.stdout

    assert "kafka1, " in listing("kafka1.keystore.p12", pki.KEYSTORE_PASSWORD)
    assert "PrivateKeyEntry" in listing("kafka1.keystore.p12", pki.KEYSTORE_PASSWORD)
    assert "kafkactl-ca-0, " in listing(pki.TRUSTSTORE, pki.TRUSTSTORE_PASSWORD)
    assert "trustedCertEntry" in listing(pki.TRUSTSTORE, pki.TRUSTSTORE_PASSWORD)


def test_tls_naming_no_key_stores_uses_kafkactls_own_ca(inventory: Path) -> None:
    """cp-ansible's self-signed case: TLS, and no key store, password or flag named. validate accepts it; plan and
    render need `kafkactl certs create` first, then apply copies the CA's stores with its passwords, masked."""
    assert read_inventory(inventory).inventory.key_stores_by_kafkactl
    assert run_cli("validate", str(inventory)).exit_code == 0
    before = run_cli("plan", str(inventory), "--offline")
    assert before.exit_code == 1
    assert before.stderr.endswith(f"no key store yet for kafka1, kafka2, zk1 in {inventory.parent}/.kafkactl/pki; run "
                                  f"`kafkactl certs create {inventory}` first\n"), before.stderr
    _made(inventory)
    after = run_cli("plan", str(inventory), "--offline", "--diff")
    assert after.exit_code == 2, after.stderr
    password = (inventory.parent / ".kafkactl" / "pki" / pki.KEYSTORE_PASSWORD).read_text().strip()
    assert "ssl.keystore.password=********" in after.stdout and password not in after.stdout
    assert "create   /etc/kafka/ssl/kafka.keystore.p12 (root:kafka 0640" in after.stdout
    assert "ssl.keystore.location=/etc/kafka/ssl/kafka.keystore.p12" in after.stdout


def test_status_says_which_hosts_have_their_store_and_when_it_expires(inventory: Path) -> None:
    from kafkactl.plan import FileFacts, HostFacts

    _made(inventory)
    loaded = read_inventory(inventory).inventory
    attached = pki.attach(inventory.parent / ".kafkactl" / "pki", loaded)
    desired = desired_state(attached)
    stores = {s.host.name: next(f for f in s.files if f.path.endswith("kafka.keystore.p12")) for s in desired.hosts
              if any(f.path.endswith("kafka.keystore.p12") for f in s.files)}
    facts = {"kafka1": HostFacts(files={stores["kafka1"].path: FileFacts(stores["kafka1"].content, "root:kafka", "0640", 0)}),
             "kafka2": HostFacts(files={stores["kafka2"].path: FileFacts("binary sha256:00\n", "root:kafka", "0640", 0)})}
    now = datetime.datetime.now(datetime.timezone.utc)
    rows = {row["host"]: row for row in pki.store_status(desired, facts, attached.cluster, now)}
    assert rows["kafka1"]["status"] == "ok" and rows["kafka1"]["subject"] == "CN=kafka1"
    assert rows["kafka2"]["status"] == "differs on the host: apply puts the inventory's there"
    assert "zk1" not in rows  # ZooKeeper without TLS is shipped no store
    later = now + datetime.timedelta(days=pki.HOST_DAYS - 10)
    assert pki.store_status(desired, facts, attached.cluster, later)[0]["status"].startswith("expires in 9 days: renew it")


def test_a_ca_rotation_overlaps_so_no_host_ever_distrusts_another(inventory: Path) -> None:
    _made(inventory)
    pki_dir = inventory.parent / ".kafkactl" / "pki"
    password = (pki_dir / pki.TRUSTSTORE_PASSWORD).read_text().strip().encode()

    def trusted() -> set[str]:
        held = pkcs12.load_pkcs12((pki_dir / pki.TRUSTSTORE).read_bytes(), password).additional_certs
        return {c.certificate.subject.rfc4514_string() for c in held}

    def issuer(host: str) -> str:
        return x509.load_pem_x509_certificate((pki_dir / f"{host}.crt").read_bytes()).issuer.rfc4514_string()

    old_ca = x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes()).subject.rfc4514_string()
    wrong = run_cli("certs", "rotate-ca", str(inventory), "--step", "drop-old-ca")
    assert wrong.exit_code == 1 and "the rotation is at --step trust-new-ca, not drop-old-ca" in wrong.stderr

    first = run_cli("certs", "rotate-ca", str(inventory), "--step", "trust-new-ca")
    assert first.exit_code == 0, first.stderr
    assert "then `kafkactl certs rotate-ca --step sign-with-new-ca`" in first.stdout
    new_ca = x509.load_pem_x509_certificate((pki_dir / f"{pki.NEXT_CA}.crt").read_bytes()).subject.rfc4514_string()
    assert new_ca != old_ca and trusted() == {old_ca, new_ca} and issuer("kafka1") == old_ca

    second = run_cli("certs", "rotate-ca", str(inventory), "--step", "sign-with-new-ca")
    assert second.exit_code == 0 and "new key stores for kafka1, kafka2, zk1" in second.stdout, second.stdout + second.stderr
    assert trusted() == {old_ca, new_ca} and issuer("kafka1") == new_ca

    third = run_cli("certs", "rotate-ca", str(inventory), "--step", "drop-old-ca")
    assert third.exit_code == 0 and "the old CA is trusted no more" in third.stdout
    assert trusted() == {new_ca} and issuer("kafka2") == new_ca
    assert "Nothing to make" in _made(inventory).stdout


def test_the_ca_cp_ansible_signed_with_becomes_kafkactls(inventory: Path) -> None:
    """cp-ansible's ssl_self_signed_ca_*: a cluster it secured keeps the CA its clients trust."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "snakeoil-ca-1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
          .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    (inventory.parent / "generated_ssl_files").mkdir()
    (inventory.parent / "generated_ssl_files" / "snakeoil-ca-1.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (inventory.parent / "generated_ssl_files" / "snakeoil-ca-1.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.BestAvailableEncryption(b"capassword123")))
    inventory.write_text(INVENTORY.replace("    ssl_enabled: true\n", "    ssl_enabled: true\n"
                                           "    ssl_self_signed_ca_cert_filepath: generated_ssl_files/snakeoil-ca-1.crt\n"
                                           "    ssl_self_signed_ca_key_filepath: generated_ssl_files/snakeoil-ca-1.key\n"
                                           "    ssl_self_signed_ca_password: capassword123\n"))
    outcome = _made(inventory)
    assert "warning" not in outcome.stderr
    pki_dir = inventory.parent / ".kafkactl" / "pki"
    assert x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes()) == ca
    x509.load_pem_x509_certificate((pki_dir / "kafka1.crt").read_bytes()).verify_directly_issued_by(ca)

    inventory.write_text(inventory.read_text().replace("capassword123", "Zq9-not-it"))
    (pki_dir / "ca.key").unlink()
    refused = run_cli("certs", "create", str(inventory))
    assert refused.exit_code == 1 and "ssl_self_signed_ca_password is wrong" in refused.stderr and "Zq9" not in refused.stderr


def test_kafkactls_own_ca_makes_pkcs12_stores_only(inventory: Path) -> None:
    _made(inventory)
    inventory.write_text(INVENTORY.replace("    ssl_enabled: true\n", "    ssl_enabled: true\n    ssl_file_format: pem\n"))
    outcome = run_cli("plan", str(inventory), "--offline")
    assert outcome.exit_code == 1
    assert "ssl_file_format: kafkactl's own CA makes PKCS12 stores, not pem; leave ssl_file_format out" in outcome.stderr
