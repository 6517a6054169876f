"""Key and trust stores copied from the control machine, as cp-ansible's `ssl_provided_keystore_and_truststore`.

With it (and without `ssl_provided_keystore_and_truststore_remote_src`), `ssl_keystore_filepath` and
`ssl_truststore_filepath` name files on the control machine, usually one per host through a template of
the host's name (`/certs/{{inventory_hostname}}.keystore.jks`). They are read here, once, as data: their
format is recognised from their bytes, every host's must be the same, and `apply` puts each host's copy
at one path on the hosts, which the rendered properties name. Relative paths are read from the
inventory's folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretBytes

from kafkactl.inventory.connection import ansible_boolean
from kafkactl.inventory.loader import RawHost
from kafkactl.inventory.yamlfile import Origin
from kafkactl.model import CopiedStores

COPY = "ssl_provided_keystore_and_truststore"
ON_HOSTS = "ssl_provided_keystore_and_truststore_remote_src"
STORE_PATHS = ("ssl_keystore_filepath", "ssl_truststore_filepath")
KEY_STORE_FLAGS = frozenset({COPY, ON_HOSTS})
# Each store's first bytes: a JKS file's magic number, a PKCS12 file's DER sequence, a PEM file's armour.
FORMATS = ((b"\xfe\xed\xfe\xed", "jks"), (b"\x30", "pkcs12"), (b"-----BEGIN", "pem"))
EXTENSIONS = {"jks": "jks", "pkcs12": "p12", "pem": "pem"}
LARGEST_STORE = 1 << 20


def names_key_material(host: RawHost) -> bool:
    """Whether the host's variables say where its key material comes from (else, with TLS: kafkactl's CA)."""
    return any(ansible_boolean(host.vars.get(flag, False)) for flag in (COPY, ON_HOSTS, "ssl_custom_certs"))


def copies_stores(host: RawHost) -> bool:
    return ansible_boolean(host.vars.get(COPY, False)) is True and ansible_boolean(host.vars.get(ON_HOSTS, False)) is not True


StorePaths = dict[str, dict[str, tuple[str, Origin]]]  # host -> store key -> (path as written, where)


def take_store_paths(members: dict[str, RawHost]) -> StorePaths:
    """The paths of the stores each copying host gets, removed from its variables: they differ per host, unlike the
    cluster-wide ssl_keystore_filepath and ssl_truststore_filepath they become (where the stores go on the hosts)."""
    return {name: {key: (str(host.vars.pop(key)), host.origins[key]) for key in STORE_PATHS if key in host.vars}
            for name, host in members.items() if copies_stores(host)}


def read_copied_stores(paths: StorePaths, members: dict[str, RawHost], base: Path, values: dict[str, Any],
                       origins: dict[str, Origin], error: Callable[[Origin, str], None]) -> dict[str, CopiedStores]:
    """Each copying host's stores, read from the control machine as data; the cluster's store paths and format
    become where the stores go on the hosts and the format they are in."""
    stores: dict[str, CopiedStores] = {}
    first: tuple[str, str] | None = None  # the format of the first store read, and its path
    for name, written in paths.items():
        read: dict[str, tuple[bytes, str]] = {}
        for key in STORE_PATHS:
            if key not in written:
                error(members[name].origin, f"host {name}: {COPY} is true: {key} must name the store on this machine to copy")
                continue
            path, where = written[key]
            source = Path(path) if Path(path).is_absolute() else base / path
            try:
                with source.open("rb") as handle:
                    data = handle.read(LARGEST_STORE + 1)
            except OSError as exc:
                error(where, f"host {name}: {key}: cannot read {source} on this machine: {exc.strerror or exc}")
                continue
            kind = next((f for magic, f in FORMATS if data.startswith(magic)), None)
            if kind is None or len(data) > LARGEST_STORE:
                error(where, f"host {name}: {key}: {source} is not a JKS, PKCS12 or PEM store")
                continue
            first = first or (kind, str(source))
            if kind != first[0]:
                error(where, f"host {name}: {key}: {source} is {kind.upper()} but {first[1]} is {first[0].upper()}; "
                             "every store must have one format")
                continue
            read[key] = (data, str(source))
        if len(read) == len(STORE_PATHS):
            (keystore, keystore_source), (truststore, truststore_source) = (read[k] for k in STORE_PATHS)
            stores[name] = CopiedStores(keystore=SecretBytes(keystore), truststore=SecretBytes(truststore),
                                        keystore_source=keystore_source, truststore_source=truststore_source)
    if first:
        kind, source = first
        given = values.get("ssl_file_format")
        if given is not None and given != kind:
            error(origins["ssl_file_format"], f"ssl_file_format is {given}, but the stores to copy are {kind.upper()} "
                                              f"({source}); write ssl_file_format: {kind}")
        values["ssl_file_format"] = kind
        config_dir = str(values.get("kafka_config_dir", "/etc/kafka"))
        for key, stem in zip(STORE_PATHS, ("kafka.keystore", "kafka.truststore")):
            values[key] = f"{config_dir}/ssl/{stem}.{EXTENSIONS[kind]}"
            origins[key] = next((where for written in paths.values() for k, (_, where) in written.items() if k == key),
                                next(iter(members.values())).origin)
    return stores
