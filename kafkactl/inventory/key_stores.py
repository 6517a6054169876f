"""Key material from the control machine, with cp-ansible's variables; `apply` puts each host's on the host.

- `ssl_provided_keystore_and_truststore` (without its `_remote_src`): `ssl_keystore_filepath` and
  `ssl_truststore_filepath` name stores on this machine, usually one per host through a template of the
  host's name (`/certs/{{inventory_hostname}}.keystore.jks`). Their format is recognised from their bytes.
- `ssl_custom_certs` (without its `_remote_src`): `ssl_signed_cert_filepath` and `ssl_key_filepath` name a
  host's certificate and private key in PEM (the key possibly encrypted with `ssl_key_password`), and
  `ssl_ca_cert_filepath` the CA certificates to trust. kafkactl makes PEM stores of them, which Kafka and
  ZooKeeper read as they are: the key (unencrypted PKCS8, as Kafka reads it) with the certificate chain,
  and the CA certificates.

Everything is read here, once, as data; every host's stores must have one format; they go to one path on
every host, which the rendered properties name. Relative paths are read from the inventory's folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import SecretBytes

from kafkactl.inventory.connection import ansible_boolean
from kafkactl.inventory.loader import RawHost
from kafkactl.inventory.yamlfile import Origin
from kafkactl.model import CopiedStores, OperatorCa

COPY = "ssl_provided_keystore_and_truststore"
CUSTOM_CERTS = "ssl_custom_certs"
ON_HOSTS = {COPY: f"{COPY}_remote_src", CUSTOM_CERTS: f"{CUSTOM_CERTS}_remote_src"}
# The per-host variables each way reads (the last of the custom certificates' is the key's password, optional).
SOURCES = {COPY: ("ssl_keystore_filepath", "ssl_truststore_filepath"),
           CUSTOM_CERTS: ("ssl_signed_cert_filepath", "ssl_key_filepath", "ssl_ca_cert_filepath", "ssl_key_password")}
KEY_STORE_FLAGS = frozenset({*ON_HOSTS, *ON_HOSTS.values()})
OPERATOR_CA = ("ssl_self_signed_ca_cert_filepath", "ssl_self_signed_ca_key_filepath", "ssl_self_signed_ca_password")
READ_HERE = KEY_STORE_FLAGS | set(SOURCES[CUSTOM_CERTS]) | set(OPERATOR_CA)  # read here, not as cluster settings
# Each store's first bytes: a JKS file's magic number, a PKCS12 file's DER sequence; a PEM file has its armour
# (after any text before it, such as the "Bag Attributes" openssl writes).
FORMATS = ((b"\xfe\xed\xfe\xed", "jks"), (b"\x30", "pkcs12"))
EXTENSIONS = {"jks": "jks", "pkcs12": "p12", "pem": "pem"}
LARGEST_FILE = 1 << 20


def names_key_material(host: RawHost) -> bool:
    """Whether the host's variables say where its key material comes from (else, with TLS: kafkactl's CA)."""
    return any(ansible_boolean(host.vars.get(flag, False)) for flag in KEY_STORE_FLAGS)


def _way(host: RawHost) -> str | None:
    """COPY or CUSTOM_CERTS when the host's key material comes from this machine that way."""
    return next((way for way, on_hosts in ON_HOSTS.items()
                 if ansible_boolean(host.vars.get(way, False)) and not ansible_boolean(host.vars.get(on_hosts, False))), None)


Sources = dict[str, tuple[str, dict[str, tuple[Any, Origin]]]]  # host -> (way, variable -> (value as written, where))


def take_sources(members: dict[str, RawHost]) -> Sources:
    """Each host's key material variables, removed from its variables: they differ per host, unlike the cluster-wide
    ssl_keystore_filepath and ssl_truststore_filepath they become (where the stores go on the hosts)."""
    found: Sources = {}
    for name, host in members.items():
        if way := _way(host):
            found[name] = (way, {key: (host.vars.pop(key), host.origins[key]) for key in SOURCES[way] if key in host.vars})
    return found


def read_key_material(sources: Sources, members: dict[str, RawHost], base: Path, values: dict[str, Any],
                      origins: dict[str, Origin], error: Callable[[Origin, str], None]) -> dict[str, CopiedStores]:
    """Each host's stores, from this machine; the cluster's store paths and format become where the stores go on
    the hosts and the format they are in."""
    stores: dict[str, CopiedStores] = {}
    first: tuple[str, str] | None = None  # the format of the first host's stores, and where they came from
    for name, (way, written) in sources.items():
        reader = _copied if way == COPY else _built_from_certificates
        made = reader(name, written, members[name].origin, base, error)
        if made is None:
            continue
        kind, copied = made
        first = first or (kind, copied.keystore_source)
        if kind != first[0]:
            error(written[SOURCES[way][0]][1], f"host {name}: its stores would be {kind.upper()} but {first[1]} is "
                                                 f"{first[0].upper()}; every host's stores must have one format")
            continue
        stores[name] = copied
    if first:
        kind, source = first
        given = values.get("ssl_file_format")
        if given is not None and given != kind:
            error(origins["ssl_file_format"], f"ssl_file_format is {given}, but the stores to copy are {kind.upper()} "
                                              f"({source}); write ssl_file_format: {kind}")
        values["ssl_file_format"] = kind
        config_dir = str(values.get("kafka_config_dir", "/etc/kafka"))
        where = next(iter(members.values())).origin
        for key, stem in (("ssl_keystore_filepath", "kafka.keystore"), ("ssl_truststore_filepath", "kafka.truststore")):
            values[key], origins[key] = f"{config_dir}/ssl/{stem}.{EXTENSIONS[kind]}", where
    return stores


def _read(name: str, key: str, written: dict[str, tuple[Any, Origin]], base: Path, problem) -> tuple[bytes, str] | None:
    path, where = written[key]
    source = Path(str(path)) if Path(str(path)).is_absolute() else base / str(path)
    try:
        with source.open("rb") as handle:
            data = handle.read(LARGEST_FILE + 1)
    except OSError as exc:
        problem(where, f"host {name}: {key}: cannot read {source} on this machine: {exc.strerror or exc}")
        return None
    if len(data) > LARGEST_FILE:
        problem(where, f"host {name}: {key}: {source} is larger than {LARGEST_FILE} bytes")
        return None
    return data, str(source)


def is_key_of(key: Any, certificate: x509.Certificate) -> bool:
    """Whether a private key is the one a certificate was issued for."""
    def spki(public: Any) -> bytes:
        return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return spki(key.public_key()) == spki(certificate.public_key())


def _missing(name: str, way: str, keys: tuple[str, ...], written: dict, origin: Origin, problem) -> bool:
    absent = [key for key in keys if key not in written]
    for key in absent:
        problem(origin, f"host {name}: {way} is true: {key} must name a file on this machine")
    return bool(absent)


def _copied(name: str, written: dict, origin: Origin, base: Path, problem) -> tuple[str, CopiedStores] | None:
    """The host's key and trust store as they are."""
    if _missing(name, COPY, SOURCES[COPY], written, origin, problem):
        return None
    read = {key: _read(name, key, written, base, problem) for key in SOURCES[COPY]}
    kinds = set()
    for key, found in read.items():
        if found is None:
            continue
        kind = next((f for magic, f in FORMATS if found[0].startswith(magic)), "pem" if b"-----BEGIN " in found[0] else None)
        if kind is None:
            problem(written[key][1], f"host {name}: {key}: {found[1]} is not a JKS, PKCS12 or PEM store")
            return None
        kinds.add(kind)
    if None in read.values():
        return None
    if len(kinds) > 1:
        problem(written[SOURCES[COPY][1]][1], f"host {name}: its key store and trust store have different formats "
                                              f"({', '.join(sorted(k.upper() for k in kinds))}); every store must have one")
        return None
    (keystore, keystore_source), (truststore, truststore_source) = (read[key] for key in SOURCES[COPY])
    return kinds.pop(), CopiedStores(keystore=SecretBytes(keystore), truststore=SecretBytes(truststore),
                                     keystore_source=keystore_source, truststore_source=truststore_source)


def _built_from_certificates(name: str, written: dict, origin: Origin, base: Path, problem) -> tuple[str, CopiedStores] | None:
    """PEM stores made of the host's certificate, its key and the CA certificates."""
    cert_key, key_key, ca_key, password_key = SOURCES[CUSTOM_CERTS]
    if _missing(name, CUSTOM_CERTS, (cert_key, key_key, ca_key), written, origin, problem):
        return None
    read = {key: _read(name, key, written, base, problem) for key in (cert_key, key_key, ca_key)}
    if None in read.values():
        return None
    password = written.get(password_key, (None, origin))[0]
    try:
        chain = x509.load_pem_x509_certificates(read[cert_key][0])
    except ValueError:
        problem(written[cert_key][1], f"host {name}: {cert_key}: {read[cert_key][1]} holds no PEM certificate")
        return None
    try:
        authorities = x509.load_pem_x509_certificates(read[ca_key][0])
    except ValueError:
        problem(written[ca_key][1], f"host {name}: {ca_key}: {read[ca_key][1]} holds no PEM certificate")
        return None
    try:
        key = serialization.load_pem_private_key(read[key_key][0], password=str(password).encode() if password else None)
    except (ValueError, TypeError) as exc:
        # An encrypted key that fails to load had the wrong password: a wrong one now and then decrypts to bytes
        # that are no key, which the library reports as undecodable data, not as a wrong password.
        encrypted = b"ENCRYPTED" in read[key_key][0]
        reason = "needs ssl_key_password, or it is wrong" if encrypted or "password" in str(exc).lower() \
            or "decrypt" in str(exc).lower() else "holds no PEM private key"
        problem(written[key_key][1], f"host {name}: {key_key}: {read[key_key][1]} {reason}")
        return None
    if not is_key_of(key, chain[0]):
        problem(written[key_key][1], f"host {name}: {key_key}: {read[key_key][1]} is not the key of the certificate in "
                                     f"{read[cert_key][1]}")
        return None
    pem = serialization.Encoding.PEM
    keystore = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()) + b"".join(
        certificate.public_bytes(pem) for certificate in chain)
    truststore = b"".join(certificate.public_bytes(pem) for certificate in authorities)
    return "pem", CopiedStores(keystore=SecretBytes(keystore), truststore=SecretBytes(truststore),
                               keystore_source=read[cert_key][1], truststore_source=read[ca_key][1])


def operator_ca(members: dict[str, RawHost], base: Path) -> OperatorCa | None:
    """cp-ansible's CA for self-signed certificates, when the inventory names its certificate and key: kafkactl's
    own CA becomes that one (`kafkactl certs create`), so a cluster cp-ansible secured keeps the CA its clients trust."""
    named = next((host.vars for host in members.values() if all(key in host.vars for key in OPERATOR_CA[:2])), None)
    if named is None:
        return None
    certificate, key, password = (named.get(key) for key in OPERATOR_CA)

    def local(path: Any) -> str:
        return str(Path(str(path)) if Path(str(path)).is_absolute() else base / str(path))

    return OperatorCa(certificate=local(certificate), key=local(key), password=str(password) if password else None)
