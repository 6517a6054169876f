"""kafkactl's own certificate authority, on the control machine: `kafkactl certs create`.

One CA per cluster (the state directory's pki/), a key and certificate per host whose names are every
name the host is reached by (the inventory name, which the listeners advertise, and ansible_host), and
PKCS12 key and trust stores that Java reads. The stores are copied to the hosts by `apply` as
cp-ansible's ssl_provided_keystore_and_truststore copies an operator's. A host's store is made again
only when its certificate is missing, names other hosts, expires within RENEW_BEFORE or comes from
another CA, or when `certs renew` asks; the store passwords are made once. Private keys and passwords are written 0600 in a 0700
folder and never printed.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pydantic import SecretBytes, SecretStr

from kafkactl.desired import DesiredState
from kafkactl.errors import KafkactlError
from kafkactl.components.principals import certificate_in
from kafkactl.inventory.key_stores import is_key_of
from kafkactl.model import ClusterVars, CopiedStores, Inventory, OperatorCa
from kafkactl.plan import HostFacts

CA_DAYS = 3650
HOST_DAYS = 730
RENEW_BEFORE = datetime.timedelta(days=30)
TRUSTSTORE = "truststore.p12"
KEYSTORE_PASSWORD = "keystore.password"
TRUSTSTORE_PASSWORD = "truststore.password"
NEXT_CA, PREVIOUS_CA = "next-ca", "previous-ca"  # during a rotation: the CA coming, the CA going


@dataclass(frozen=True)
class Made:
    """What `create` did: the CA made or kept, and per host whether its store was made."""

    ca_made: bool
    hosts_made: tuple[str, ...]
    hosts_kept: tuple[str, ...]


def keystore_name(host: str) -> str:
    return f"{host}.keystore.p12"


def names_of(host_name: str, address: str) -> list[x509.GeneralName]:
    """The subject alternative names of a host: each name it is reached by, as a DNS name or an IP address."""
    names: list[x509.GeneralName] = []
    for name in dict.fromkeys((host_name, address)):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    return names


def create(directory: Path, inventory: Inventory, now: datetime.datetime | None = None, renew: frozenset[str] = frozenset()) -> Made:
    """Make what is missing or due in `directory`: the CA, the store passwords, each host's key store, the trust store;
    `renew`: hosts whose key and certificate are made again even though current (same CA, same names)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    ca_key, ca_cert, ca_made = _certificate_authority(directory, inventory, now)
    keystore_password = _password(directory / KEYSTORE_PASSWORD)
    truststore_password = _password(directory / TRUSTSTORE_PASSWORD)
    _sync_truststore(directory, truststore_password)
    made, kept = [], []
    for host in sorted(inventory.hosts, key=lambda h: h.name):
        wanted = names_of(host.name, host.address)
        if not ca_made and host.name not in renew and _current(directory / f"{host.name}.crt", wanted, ca_cert, now):
            kept.append(host.name)
            continue
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _signed(ca_key, ca_cert, key, host.name, wanted, now)
        store = pkcs12.serialize_key_and_certificates(host.name.encode(), key, certificate, [ca_cert], _encryption(keystore_password))
        _write(directory / keystore_name(host.name), store)
        _write(directory / f"{host.name}.crt", certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
        made.append(host.name)
    return Made(ca_made, tuple(made), tuple(kept))


def renew(directory: Path, inventory: Inventory, hosts: list[str], now: datetime.datetime | None = None) -> Made:
    """A new key and certificate from the existing CA for the named hosts (every host when none is named)."""
    _require_ca(directory, inventory)
    unknown = sorted(set(hosts) - {host.name for host in inventory.hosts})
    if unknown:
        raise KafkactlError(f"{inventory.path}: --host {', '.join(unknown)}: no such host in the inventory")
    return create(directory, inventory, now, renew=frozenset(hosts or (host.name for host in inventory.hosts)))


def _require_ca(directory: Path, inventory: Inventory) -> None:
    if not (directory / "ca.key").exists():
        raise KafkactlError(f"{directory}: no CA yet; `kafkactl certs create {inventory.path}` makes one")


def attach(directory: Path, inventory: Inventory) -> Inventory:
    """The inventory with kafkactl's stores as the hosts' key material (copied by apply, like an operator's), or a
    refusal naming what `kafkactl certs create` has yet to make."""
    missing = [host.name for host in inventory.hosts if not (directory / keystore_name(host.name)).exists()]
    if missing or not (directory / TRUSTSTORE).exists():
        raise KafkactlError(f"{inventory.path}: TLS with kafkactl's own CA (the inventory names no key stores): no key store "
                            f"yet for {', '.join(missing) or 'the trust store'} in {directory}; run `kafkactl certs create "
                            f"{inventory.path}` first")
    if inventory.cluster.ssl_file_format != "pkcs12":
        raise KafkactlError(f"{inventory.path}: ssl_file_format: kafkactl's own CA makes PKCS12 stores, not "
                            f"{inventory.cluster.ssl_file_format}; leave ssl_file_format out, or name stores of your own")
    truststore = (directory / TRUSTSTORE).read_bytes()
    keystore_password = (directory / KEYSTORE_PASSWORD).read_text(encoding="utf-8").strip()
    truststore_password = (directory / TRUSTSTORE_PASSWORD).read_text(encoding="utf-8").strip()
    stores_dir = f"{inventory.cluster.kafka_config_dir}/ssl"
    cluster = inventory.cluster.model_copy(update={
        "ssl_file_format": "pkcs12", "ssl_keystore_filepath": f"{stores_dir}/kafka.keystore.p12",
        "ssl_truststore_filepath": f"{stores_dir}/kafka.truststore.p12",
        "ssl_keystore_store_password": SecretStr(keystore_password), "ssl_keystore_key_password": SecretStr(keystore_password),
        "ssl_truststore_password": SecretStr(truststore_password)})
    hosts = tuple(host.model_copy(update={"copied_stores": CopiedStores(
        keystore=SecretBytes((directory / keystore_name(host.name)).read_bytes()), truststore=SecretBytes(truststore),
        keystore_source=str(directory / keystore_name(host.name)), truststore_source=str(directory / TRUSTSTORE))})
        for host in inventory.hosts)
    secrets_ = tuple(sorted({*inventory.secret_values, keystore_password, truststore_password}))
    return inventory.model_copy(update={"cluster": cluster, "hosts": hosts, "secret_values": secrets_})


def _certificate_authority(directory: Path, inventory: Inventory, now: datetime.datetime, stem: str = "ca"):
    key_path, cert_path = directory / f"{stem}.key", directory / f"{stem}.crt"
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        return key, x509.load_pem_x509_certificate(cert_path.read_bytes()), False
    if stem == "ca" and inventory.operator_ca:
        return (*_operator_ca(inventory.operator_ca, key_path, cert_path), True)
    key = ec.generate_private_key(ec.SECP256R1())
    # Dated and tagged: a CA that replaces another during a rotation has a name of its own.
    label = f"kafkactl CA {Path(inventory.path).stem} {now:%Y-%m-%d} {secrets.token_hex(3)}"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write(key_path, pem_key)
    _write(cert_path, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return key, certificate, True


def _operator_ca(named: OperatorCa, key_path: Path, cert_path: Path):
    """The operator's CA, copied in as kafkactl's (its key unencrypted, 0600, like kafkactl's own)."""
    try:
        certificate = x509.load_pem_x509_certificate(Path(named.certificate).read_bytes())
        password = named.password.get_secret_value().encode() if named.password else None
        key = serialization.load_pem_private_key(Path(named.key).read_bytes(), password=password)
    except OSError as exc:
        raise KafkactlError(f"ssl_self_signed_ca_*: cannot read {exc.filename}: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise KafkactlError(f"ssl_self_signed_ca_key_filepath: {named.key} is no PEM key its certificate "
                            f"{named.certificate} goes with, or ssl_self_signed_ca_password is wrong") from None
    if not is_key_of(key, certificate):
        raise KafkactlError(f"ssl_self_signed_ca_key_filepath: {named.key} is not the key of {named.certificate}")
    _write(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    _write(cert_path, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return key, certificate


def _signed(ca_key, ca_cert: x509.Certificate, key, host: str, names: list[x509.GeneralName],
            now: datetime.datetime) -> x509.Certificate:
    """A host's certificate: server and client (brokers present it to each other with mTLS)."""
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=HOST_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _current(path: Path, names: list[x509.GeneralName], ca_cert: x509.Certificate, now: datetime.datetime) -> bool:
    """Whether the host's certificate can stay: present, this CA's, naming exactly these names, not due for renewal."""
    if not path.exists() or not path.with_name(keystore_name(path.stem)).exists():
        return False
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    named = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    try:
        certificate.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return set(named) == set(names) and certificate.not_valid_after_utc - RENEW_BEFORE > now


def _trusted(directory: Path) -> list[x509.Certificate]:
    """The CAs the trust store holds: the signing one, and during a rotation the one coming or the one going."""
    return [x509.load_pem_x509_certificate((directory / f"{stem}.crt").read_bytes())
            for stem in ("ca", NEXT_CA, PREVIOUS_CA) if (directory / f"{stem}.crt").exists()]


def _sync_truststore(directory: Path, password: str) -> None:
    """Write the trust store when the CAs it should hold are not the ones it holds."""
    trusted = _trusted(directory)
    path = directory / TRUSTSTORE
    if path.exists():
        held = pkcs12.load_pkcs12(path.read_bytes(), password.encode()).additional_certs
        if {c.certificate.fingerprint(hashes.SHA256()) for c in held} == {c.fingerprint(hashes.SHA256()) for c in trusted}:
            return
    certificates = [pkcs12.PKCS12Certificate(ca, f"kafkactl-ca-{index}".encode()) for index, ca in enumerate(trusted)]
    _write(path, pkcs12.serialize_java_truststore(certificates, _encryption(password)))


ROTATION_STEPS = ("trust-new-ca", "sign-with-new-ca", "drop-old-ca")


def rotate_ca(directory: Path, inventory: Inventory, step: str, now: datetime.datetime | None = None) -> str:
    """One step of a CA rotation with an overlap, each followed by an apply: the trust stores hold the old and the
    new CA; then the hosts present certificates of the new one; then the old one is trusted no more."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    _require_ca(directory, inventory)
    coming, going = (directory / f"{NEXT_CA}.crt").exists(), (directory / f"{PREVIOUS_CA}.crt").exists()
    expected = "drop-old-ca" if going else "sign-with-new-ca" if coming else "trust-new-ca"
    if step != expected:
        raise KafkactlError(f"certs rotate-ca: the rotation is at --step {expected}, not {step}")
    truststore_password = _password(directory / TRUSTSTORE_PASSWORD)
    if step == "trust-new-ca":
        _certificate_authority(directory, inventory, now, stem=NEXT_CA)
        outcome = "a new CA is made; every trust store holds both"
    elif step == "sign-with-new-ca":
        (directory / "ca.crt").replace(directory / f"{PREVIOUS_CA}.crt")
        (directory / "ca.key").unlink()
        (directory / f"{NEXT_CA}.key").replace(directory / "ca.key")
        (directory / f"{NEXT_CA}.crt").replace(directory / "ca.crt")
        made = create(directory, inventory, now)
        outcome = f"the new CA signs; new key stores for {', '.join(made.hosts_made)}"
    else:
        (directory / f"{PREVIOUS_CA}.crt").unlink()
        outcome = "the old CA is trusted no more"
    _sync_truststore(directory, truststore_password)
    following = ROTATION_STEPS.index(step) + 1
    then = f"; then `kafkactl certs rotate-ca --step {ROTATION_STEPS[following]}`" if following < len(ROTATION_STEPS) else ""
    return f"{outcome}. Run `kafkactl apply {inventory.path}` (a roll){then}"


def _encryption(password: str) -> serialization.KeySerializationEncryption:
    """PBES2 with AES-256 and an HMAC-SHA256 integrity check, which Java 17 reads."""
    return (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(10000)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
            .build(password.encode()))


def _password(path: Path) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    value = secrets.token_urlsafe(24)  # letters, digits, - and _: safe in properties, JAAS and shells alike
    _write(path, (value + "\n").encode())
    return value


def _write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace a file atomically, created with its final mode (a key is never readable by others, even briefly)."""
    fresh = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(fresh, path)


def store_status(desired: DesiredState, facts: dict[str, HostFacts], cluster: ClusterVars,
                 now: datetime.datetime) -> list[dict[str, str | None]]:
    """Per host whose key store the inventory ships: whether the host has that store (by digest), and when the
    certificate in it expires, with RENEW_BEFORE's warning."""
    password = cluster.ssl_keystore_store_password
    rows: list[dict[str, str | None]] = []
    for state in desired.hosts:
        keystore = next((f for f in state.files if f.path == cluster.ssl_keystore_filepath and f.data), None)
        if keystore is None:
            continue
        on_host = facts.get(state.host.name, HostFacts()).files.get(keystore.path)
        certificate = certificate_in(keystore.payload, cluster.store_type, password and password.get_secret_value())
        expires = certificate.not_valid_after_utc if certificate else None
        if on_host is None:
            verdict = "not on the host yet: apply puts it there"
        elif on_host.content != keystore.content:
            verdict = "differs on the host: apply puts the inventory's there"
        elif expires is None:
            verdict = "on the host (JKS: expiry not read)"
        elif expires - now < RENEW_BEFORE:
            verdict = f"expires in {(expires - now).days} days: renew it (kafkactl certs create, then apply)"
        else:
            verdict = "ok"
        rows.append({"host": state.host.name, "path": keystore.path, "expires": expires.isoformat() if expires else None,
                     "subject": certificate.subject.rfc4514_string() if certificate else None, "status": verdict})
    return rows
