"""The validated model of a cluster: cluster-wide settings, listeners, and hosts with their roles.

Every cluster-level inventory variable kafkactl understands is a field of `ClusterVars`, with its
default and description; docs/variables.md is generated from it. Field names are inventory variable
names, cp-ansible's where cp-ansible has one.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Mapping
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretBytes, SecretStr, field_validator, model_validator


class Component(StrEnum):
    """Component groups, in the order a cluster is brought up."""

    ZOOKEEPER = "zookeeper"
    KAFKA_CONTROLLER = "kafka_controller"
    KAFKA_BROKER = "kafka_broker"
    KAFKA_CONNECT = "kafka_connect"
    SCHEMA_REGISTRY = "schema_registry"


COMPONENTS: tuple[Component, ...] = tuple(Component)


class Phase(StrEnum):
    """What the cluster is rendered for: a natural mode or a step of the ZooKeeper-to-KRaft migration."""

    ZOOKEEPER = "zookeeper"
    DUAL_WRITE = "dual-write"
    KRAFT_BROKERS = "kraft-brokers"
    FINALIZE = "finalize"
    KRAFT = "kraft"


MIGRATION_PHASES = (Phase.DUAL_WRITE, Phase.KRAFT_BROKERS, Phase.FINALIZE)

Port = Annotated[int, Field(ge=1, le=65535)]
# Kafka's broker.id / node.id is a Java int.
KAFKA_ID_MAX = 2**31 - 1

# Values that reach a host, a path or a systemd unit are checked here, so nothing later needs to quote
# them for a shell, a unit file or a comma-separated Kafka list. Always fullmatch: `$` alone lets a
# trailing newline through.
_CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029"  # C0, DEL, C1 and the Unicode line and paragraph separators
CONTROL_CHARACTERS = re.compile(f"[{_CONTROL}]")
_PATH = re.compile(r"(/[A-Za-z0-9._+@-]+)+")
_DNS_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_ZOOKEEPER_NODE = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._-]+")


def _shaped(pattern: str, shape: str):
    """A check that a whole value has the pattern's shape; its error says which shape and shows the value."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"must be {shape} (got {value!r})")
        return value

    return check


check_posix_name = _shaped(r"[a-z_][a-z0-9_-]{0,31}", "a POSIX user or group name: lower-case letters, digits, _ and -, not starting with -")
check_plain_text = _shaped(f"[^{_CONTROL}]*", "text without control characters")
check_topic = _shaped(r"(?!\.{1,2}$)[A-Za-z0-9._-]{1,249}", "a Kafka topic name: letters, digits, . _ -")
check_java_class = _shaped(r"[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*", "a Java class name")
check_super_user = _shaped(f"[^;{_CONTROL}]+", "a principal such as User:alice, without ; or control characters")
check_unit_name = _shaped(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,200}(?<!\.service)", "a systemd unit name without .service: letters, digits, _ . @ -")
check_principal = _shaped(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", "a user name of letters, digits, _ . -")
check_connector_name = _shaped(f"[^/{_CONTROL}]+", "a connector name: not empty, without / or control characters")


def check_path(value: str) -> str:
    """An absolute, normalised path of portable file name characters (no spaces, quotes, `%`, `$`, `,` or `:`)."""
    if not _PATH.fullmatch(value) or posixpath.normpath(value) != value:
        raise ValueError(f"must be an absolute, normalised path of letters, digits and . _ + @ - (got {value!r})")
    return value


def check_host_name(value: str) -> str:
    """A DNS name (RFC 1123: letters, digits, hyphens; no underscore, which Kafka cannot parse) or an IP address."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.split(".")
    if len(value) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise ValueError(f"host name {value!r} is neither a DNS name (letters, digits, - and .) nor an IP address")
    return value


def check_zookeeper_path(value: str) -> str:
    """A ZooKeeper chroot: empty, or /node[/node...] without . or .. and outside ZooKeeper's own /zookeeper."""
    nodes = value.split("/")[1:]
    if value and (not value.startswith("/") or not all(_ZOOKEEPER_NODE.fullmatch(n) for n in nodes) or nodes[0] == "zookeeper"):
        raise ValueError(f"must be a ZooKeeper path such as /kafka (letters, digits, . _ -; not /zookeeper) (got {value!r})")
    return value


def version_key(version: str) -> tuple[int, ...]:
    """'3.9.2' -> (3, 9, 2), '3.8-IV1' -> (3, 8, 1): a release's or a protocol's numbers, to compare; [:2] is its release."""
    return tuple(int(part) for part in re.findall(r"\d+", version))


def host_port(host: str, port: int) -> str:
    """host:port as Kafka and ZooKeeper read it: an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


AbsolutePath = Annotated[str, AfterValidator(check_path)]
PosixName = Annotated[str, AfterValidator(check_posix_name)]
PlainText = Annotated[str, AfterValidator(check_plain_text)]
TopicName = Annotated[str, AfterValidator(check_topic)]
JavaClass = Annotated[str, AfterValidator(check_java_class)]
UnitName = Annotated[str, AfterValidator(check_unit_name)]
SaslProtocol = Annotated[Literal["none", "plain", "scram", "scram256"], BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v)]
SASL_PROTOCOL_NAMES = ("none", "plain", "scram", "scram256")


def check_sasl_protocols(value: object) -> object:
    """cp-ansible's sasl_protocol: one of SASL_PROTOCOL_NAMES, or several mechanisms a listener accepts ("plain,scram":
    the first is the one the cluster's own clients use), in any case; kept as "plain,scram"."""
    if not isinstance(value, str):
        return value
    names = [part.strip().lower() for part in value.split(",")]
    if any(name not in SASL_PROTOCOL_NAMES for name in names) or len(set(names)) != len(names) or ("none" in names and len(names) > 1):
        raise ValueError(f"must be none, plain, scram or scram256, or a list of the last three such as plain,scram (got {value!r})")
    return ",".join(names)


def mechanisms_of(protocols: str) -> tuple[str, ...]:
    """The protocols of a sasl_protocol value, the one the cluster's own clients use first."""
    return tuple(protocols.split(","))


SaslProtocols = Annotated[str, BeforeValidator(check_sasl_protocols)]
ClientAuthentication = Literal["none", "requested", "required"]
SASL_MECHANISMS = {"plain": "PLAIN", "scram": "SCRAM-SHA-512", "scram256": "SCRAM-SHA-256"}
SCRAM = ("scram", "scram256")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Listener(Strict):
    """One Kafka listener, in cp-ansible's shape; unset security fields follow the cluster's."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    port: Port
    ssl_enabled: bool | None = None
    ssl_mutual_auth_enabled: bool | None = None
    ssl_client_authentication: ClientAuthentication | None = None  # cp-ansible 7.4+; wins over ssl_mutual_auth_enabled
    sasl_protocol: SaslProtocols | None = None


class ResolvedListener(Strict):
    """A listener with its security settled: what every rendered file uses."""

    name: str
    port: int
    ssl: bool
    client_auth: ClientAuthentication  # ssl.client.auth: "none" unless TLS asks clients for certificates
    sasl: SaslProtocol  # what the cluster's own clients (brokers, tools, Connect) log in with
    also_accepted: tuple[SaslProtocol, ...] = ()  # further mechanisms the listener accepts (cp-ansible's "plain,scram")

    @property
    def mutual_tls(self) -> bool:
        """Clients present a certificate (required, or requested and offered)."""
        return self.client_auth != "none"

    @property
    def protocol(self) -> str:
        if self.sasl != "none":
            return "SASL_SSL" if self.ssl else "SASL_PLAINTEXT"
        return "SSL" if self.ssl else "PLAINTEXT"

    @property
    def mechanism(self) -> str | None:
        return SASL_MECHANISMS.get(self.sasl)

    @property
    def accepted(self) -> tuple[SaslProtocol, ...]:
        """Every SASL protocol the listener accepts, its own first."""
        return (self.sasl, *self.also_accepted) if self.sasl != "none" else ()


class ExternalKafka(Strict):
    """A Kafka cluster that is not in the inventory, as its clients reach it."""

    servers: list[str]
    protocol: str  # security.protocol
    mechanism: str | None  # sasl.mechanism, with a SASL protocol
    user: str | None
    password: SecretStr | None


class JmxExporter(Strict):
    """The Prometheus JMX exporter agent in one component's JVM."""

    port: int
    rules: str  # its rules file on the host


def _server_list(text: str | None) -> list[str]:
    return [server.strip() for server in (text or "").split(",") if server.strip()]


def _connector_value(value: object) -> object:
    """Connect takes every configuration value as a string; YAML's numbers and booleans are written as Kafka reads them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (int, float)) else value


class Connector(Strict):
    """One Kafka Connect connector, in cp-ansible's shape (name and config); `state: absent` deletes it."""

    name: Annotated[str, AfterValidator(check_connector_name)]
    config: dict[str, Annotated[str, BeforeValidator(_connector_value), AfterValidator(check_plain_text)]] = Field(default_factory=dict)
    state: Literal["present", "absent"] = "present"

    @model_validator(mode="after")
    def _present_has_config(self) -> Connector:
        if self.state == "present" and not self.config:
            raise ValueError(f"connector {self.name}: config is empty; give its config, or state: absent to delete it")
        return self


class SaslUser(Strict):
    principal: Annotated[str, AfterValidator(check_principal)]
    password: SecretStr


def _client_auth(named: ClientAuthentication | None, mutual: bool | None) -> ClientAuthentication | None:
    """cp-ansible's precedence at one level: ssl_client_authentication, else ssl_mutual_auth_enabled, else unset."""
    if named is not None:
        return named
    return None if mutual is None else ("required" if mutual else "none")


def _default_listeners() -> dict[str, Listener]:
    return {
        "internal": Listener(name="INTERNAL", port=9092),
        "broker": Listener(name="BROKER", port=9091),
    }


COMPONENT_VARIABLE_PREFIXES = ("zookeeper", "kafka_broker", "kafka_controller", "kafka_connect", "schema_registry")
CONFIG_FILE_VARIABLES = tuple(f"{c}_config_file" for c in COMPONENT_VARIABLE_PREFIXES)


class ClusterVars(Strict):
    """Cluster-wide inventory variables. Set them under all.vars or in any group's vars."""

    # Software
    kafka_version: str = Field("3.9.2", pattern=r"^\d+\.\d+\.\d+$", description="Apache Kafka version every node runs.")
    kafka_scala_version: str = Field("2.13", pattern=r"^\d+\.\d+$", description="Scala build of the Kafka archive.")
    kafka_inter_broker_protocol_version: str | None = Field(
        None,
        pattern=r"^\d+\.\d+(-IV\d+)?$",
        description="inter.broker.protocol.version of ZooKeeper-mode brokers; defaults to the major.minor of kafka_version. "
        "Kept explicit so a migration never changes it by accident.",
    )
    kafka_metadata_version: str | None = Field(
        None, pattern=r"^\d+\.\d+(-IV\d+)?$",
        description="metadata.version of a KRaft cluster: new controllers are formatted with it, and a running cluster is raised to "
                    "it with Kafka's feature tool once every node runs kafka_version (never lowered). Unset, the live level stays.",
    )
    kafka_archive_source: PlainText | None = Field(
        None, description="Kafka archive to install: a path on the control machine (uploaded) or an http(s) URL (fetched on the host)."
    )
    kafka_archive_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="Expected SHA-256 of the archive; required when kafka_archive_source is a URL."
    )
    kafka_archive_allow_unverified: bool = Field(
        False, description="Install an archive fetched from a URL without kafka_archive_sha256, or over plain http://. "
        "Off by default: a URL source must be https:// and come with kafka_archive_sha256."
    )
    kafka_cluster_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{22}$", description="KRaft cluster id; generated once and kept when unset."
    )
    java_executable: AbsolutePath = Field("/usr/bin/java", description="Java on the hosts (Java 17 recommended).")

    # Paths and service user
    archive_destination_path: AbsolutePath = Field("/opt/kafka", description="Where Kafka archives are unpacked on the hosts.")
    kafka_config_dir: AbsolutePath = Field("/etc/kafka", description="Configuration directory of Kafka, ZooKeeper and Connect.")
    kafka_log_dir: AbsolutePath = Field("/var/log/kafka", description="Directory of the components' own log files.")
    kafka_service_user: PosixName = Field("kafka", description="System user the services run as.")
    kafka_service_group: PosixName = Field("kafka", description="System group of that user.")
    zookeeper_data_dir: AbsolutePath = Field("/var/lib/zookeeper", description="ZooKeeper snapshots, transaction logs and myid.")
    kafka_broker_log_dirs: list[AbsolutePath] = Field(
        default_factory=lambda: ["/var/lib/kafka/data"], min_length=1, description="Broker log.dirs (more than one is JBOD)."
    )
    kafka_controller_metadata_dir: AbsolutePath = Field("/var/lib/kafka/metadata", description="KRaft controller metadata log directory.")

    # Service units and configuration files: kafkactl's own names, or those of a cluster it adopts
    zookeeper_service_name: UnitName = Field("kafka-zookeeper", description="systemd unit of ZooKeeper (without .service).")
    kafka_broker_service_name: UnitName = Field("kafka-broker", description="systemd unit of the brokers (without .service).")
    kafka_controller_service_name: UnitName = Field("kafka-controller", description="systemd unit of the KRaft controllers (without .service).")
    kafka_connect_service_name: UnitName = Field("kafka-connect", description="systemd unit of the Connect workers (without .service).")
    schema_registry_service_name: UnitName = Field("schema-registry", description="systemd unit of Schema Registry (without .service).")
    zookeeper_config_file: AbsolutePath | None = Field(None, description="ZooKeeper's configuration file; kafka_config_dir/zookeeper.properties when unset.")
    kafka_broker_config_file: AbsolutePath | None = Field(None, description="The brokers' configuration file; kafka_config_dir/server.properties when unset.")
    kafka_controller_config_file: AbsolutePath | None = Field(
        None, description="The controllers' configuration file; kafka_config_dir/controller.properties when unset.")
    kafka_connect_config_file: AbsolutePath | None = Field(
        None, description="The Connect workers' configuration file; kafka_config_dir/connect-distributed.properties when unset.")
    schema_registry_config_file: AbsolutePath | None = Field(
        None, description="Schema Registry's configuration file; /etc/schema-registry/schema-registry.properties when unset.")

    kafkactl_allow_quorum_of_two: bool = Field(
        False, description="Accept 2 ZooKeeper hosts or 2 controllers: a quorum that stops when either host does (refused otherwise).")

    # ZooKeeper
    zookeeper_client_port: Port = Field(2181, description="ZooKeeper client port (plaintext).")
    zookeeper_secure_client_port: Port = Field(2182, description="ZooKeeper client port when zookeeper_ssl_enabled.")
    zookeeper_peer_port: Port = Field(2888, description="ZooKeeper quorum port.")
    zookeeper_leader_port: Port = Field(3888, description="ZooKeeper leader election port.")
    zookeeper_chroot: Annotated[str, AfterValidator(check_zookeeper_path)] = Field("", description="Optional chroot path Kafka uses in ZooKeeper.")
    zookeeper_ssl_enabled: bool = Field(False, description="TLS between Kafka and ZooKeeper.")
    zookeeper_ssl_mutual_auth_enabled: bool = Field(False, description="ZooKeeper requires client certificates.")
    zookeeper_client_port_loopback_only: bool | None = Field(
        None, description="With zookeeper_ssl_enabled: the plaintext client port (zookeeper_client_port) listens on 127.0.0.1 "
        "only, so nothing reaches ZooKeeper unencrypted over the network (cp-ansible serves TLS only) while kafkactl's "
        "health checks still read it on the host. Default: true with zookeeper_ssl_enabled; `migrate listeners` keeps it "
        "open until --phase remove.")
    zookeeper_sasl_protocol: Literal["none", "digest"] = Field("none", description="SASL between Kafka and ZooKeeper.")
    zookeeper_digest_users: dict[str, SaslUser] = Field(
        default_factory=dict, description="ZooKeeper DIGEST users (cp-ansible's shape); brokers and controllers log in as the entry kafka_broker."
    )
    zookeeper_sasl_required: bool = Field(
        True, description="With zookeeper_sasl_protocol digest: ZooKeeper refuses clients that do not log in "
        "(sessionRequireClientSASLAuth). `migrate listeners` keeps it false until --phase remove, while the brokers move "
        "onto SASL.")
    zookeeper_set_acl: bool = Field(
        True, description="With zookeeper_sasl_protocol digest: brokers create znodes with ACLs (zookeeper.set.acl). "
        "`migrate listeners` keeps it false until --phase inter-broker, once every broker logs in, and then secures the "
        "existing znodes with Kafka's ZkSecurityMigrator.")

    # Listeners and security
    kafka_broker_listeners: dict[str, Listener] = Field(
        default_factory=_default_listeners, description="Broker listeners by key (cp-ansible's shape)."
    )
    kafka_broker_custom_listeners: dict[str, Listener] = Field(
        default_factory=dict, description="Extra broker listeners, added to kafka_broker_listeners."
    )
    kafka_broker_inter_broker_listener_name: str = Field(
        "broker", description="Key (in kafka_broker_listeners) of the listener brokers talk to each other on; "
        "Connect and Schema Registry use it too."
    )
    kafka_controller_listener_name: str = Field("CONTROLLER", pattern=r"^[A-Za-z][A-Za-z0-9_]*$", description="KRaft controller listener name.")
    kafka_controller_port: Port = Field(9093, description="KRaft controller listener port.")
    kafka_controller_jmx_port: Port = Field(
        7199, description="JMX port of the controllers, bound to 127.0.0.1 only, read-only to one user: kafkactl reads ZkMigrationState there over SSH."
    )
    kafka_broker_jmx_port: Port = Field(
        7203, description="JMX port of the brokers, bound to 127.0.0.1 only, read-only to one user: kafkactl reads the connections "
                          "per listener there over SSH (`migrate listeners --status`)."
    )
    kafka_controller_ssl_enabled: bool | None = Field(None, description="TLS on the controller listener; defaults to ssl_enabled.")
    kafka_controller_sasl_protocol: SaslProtocols | None = Field(
        None, description="SASL on the controller listener: none or plain, then any more mechanisms it accepts (plain,scram); defaults "
                          "to sasl_protocol, and to plain when that starts with SCRAM (controllers cannot log in to each other with "
                          "SCRAM: its credentials live in the metadata log the controllers serve).")
    kafka_controller_previous_listener: Listener | None = Field(
        None, description="Set by `kafkactl migrate listeners` while the controller listener moves, from what the controllers "
                          "run: the listener being replaced, served beside the new one until --phase remove.")
    kafka_controller_previous_listener_first: bool = Field(
        False, description="Set by `kafkactl migrate listeners --phase add`: nodes still reach the controllers through the "
                           "previous listener (first in controller.listener.names, its port in controller.quorum.voters).")
    ssl_enabled: bool = Field(False, description="TLS on every listener that does not say otherwise.")
    ssl_mutual_auth_enabled: bool = Field(False, description="mTLS (ssl.client.auth=required) on every TLS listener that does not say otherwise.")
    ssl_client_authentication: ClientAuthentication | None = Field(
        None, description="ssl.client.auth of every TLS listener that does not say otherwise: none, requested or required "
                          "(cp-ansible 7.4+); when unset, ssl_mutual_auth_enabled decides (required or none).")
    sasl_protocol: SaslProtocols = Field("none", description="SASL on every listener that does not say otherwise: none, plain, scram (SHA-512), "
                                         "scram256, or several a listener accepts, the cluster's own first (plain,scram).")
    ssl_file_format: Literal["pkcs12", "jks", "pem"] = Field(
        "pkcs12", description="Format of the key and trust stores; for stores copied from the control machine, the format they are in.")
    ssl_keystore_filepath: AbsolutePath = Field("/etc/kafka/ssl/kafka.keystore.p12", description="Key store path on each host (its own key and certificate); with "
        "ssl_provided_keystore_and_truststore, the store on this machine to copy (a template of inventory_hostname), put on "
        "the host as kafka_config_dir/ssl/kafka.keystore.p12 (.jks, .pem).")
    ssl_keystore_store_password: SecretStr | None = Field(None, description="Key store password (PKCS12, JKS).")
    ssl_keystore_key_password: SecretStr | None = Field(None, description="Private key password.")
    ssl_truststore_filepath: AbsolutePath = Field("/etc/kafka/ssl/kafka.truststore.p12", description="Trust store path on each host; with "
        "ssl_provided_keystore_and_truststore, the store on this machine to copy, put on the host as "
        "kafka_config_dir/ssl/kafka.truststore.p12 (.jks, .pem).")
    ssl_truststore_password: SecretStr | None = Field(None, description="Trust store password (PKCS12, JKS).")
    sasl_scram_users: dict[str, SaslUser] = Field(default_factory=dict, description=(
        "SCRAM users by key (cp-ansible's shape). With KRaft controllers, the brokers' own user (kafka_broker_sasl_user) "
        "may not hold ',', '\"' or whitespace: `kafka-storage format --add-scram` cannot carry them."))
    kafkactl_delete_unlisted_scram_users: bool = Field(
        False, description="Delete the SCRAM credentials of users the cluster has and sasl_scram_users does not list (plan shows each).")
    sasl_plain_users: dict[str, SaslUser] = Field(
        default_factory=dict, description="PLAIN users by key (cp-ansible's shape); when empty, PLAIN listeners use sasl_scram_users.")
    kafka_broker_sasl_user: PlainText = Field("admin", description="Key of the SASL user brokers, controllers and the other components log in as.")
    kafka_authorizer_enabled: bool = Field(
        False, description="ACL authorizer: AclAuthorizer in ZooKeeper mode, StandardAuthorizer in KRaft mode."
    )
    kafka_super_users: list[Annotated[str, AfterValidator(check_super_user)]] = Field(
        default_factory=list, description="super.users in addition to the principals brokers and controllers present to each other.")
    principal_mapping_rules: list[str] = Field(
        ["DEFAULT"], description="ssl.principal.mapping.rules (joined by commas): how a client certificate's distinguished name "
                                 "becomes a user name, as cp-ansible writes it whenever ssl_enabled.")

    # Replication defaults (capped at the number of brokers)
    default_internal_replication_factor: int = Field(3, ge=1, description="Replication of internal topics (offsets, transactions, Connect, schemas).")
    kafka_default_replication_factor: int = Field(3, ge=1, description="default.replication.factor for new topics.")
    kafka_min_insync_replicas: int = Field(2, ge=1, description="min.insync.replicas.")
    kafka_num_partitions: int = Field(1, ge=1, description="num.partitions for new topics.")

    # Kafka Connect
    kafka_connect_group_id: TopicName = Field("connect-cluster", description="group.id shared by the Connect workers.")
    kafka_connect_rest_port: Port = Field(8083, description="Connect REST port.")
    kafka_connect_config_storage_topic: TopicName | None = Field(None, description="Connect config storage topic; <group id>-configs when unset.")
    kafka_connect_offset_storage_topic: TopicName | None = Field(None, description="Connect offset storage topic; <group id>-offsets when unset.")
    kafka_connect_status_storage_topic: TopicName | None = Field(None, description="Connect status storage topic; <group id>-status when unset.")
    kafka_connect_converter: JavaClass = Field("org.apache.kafka.connect.json.JsonConverter", description="Key and value converter class.")
    kafka_connect_connectors: list[Connector] = Field(
        default_factory=list, description="Connectors applied through the Connect REST API of a running worker (no worker "
                                          "restart): created or updated to this config; deleted only when `state: absent`.")
    kafka_connect_plugin_path: list[AbsolutePath] = Field(
        default_factory=lambda: ["/opt/kafka/connect-plugins"], description="plugin.path of the Connect workers."
    )

    # Schema Registry
    schema_registry_listener_port: Port = Field(8081, description="Schema Registry HTTP port.")
    schema_registry_kafkastore_topic: TopicName = Field("_schemas", description="Schema Registry storage topic.")
    schema_registry_group_id: PlainText = Field("schema-registry", description="schema.registry.group.id.")
    schema_registry_home: AbsolutePath = Field(
        "/usr", description="Confluent installation that provides bin/schema-registry-start (a package install by default)."
    )

    # Prometheus JMX exporter agent (cp-ansible's jmxexporter_* variables and defaults)
    jmxexporter_enabled: bool = Field(
        False, description="Run the Prometheus JMX exporter agent in every component's JVM, serving /metrics over HTTP "
                           "with the rules kafkactl ships for that component (templates/jmx-exporter/).")
    zookeeper_jmxexporter_enabled: bool | None = Field(None, description="The exporter on ZooKeeper; defaults to jmxexporter_enabled.")
    kafka_controller_jmxexporter_enabled: bool | None = Field(None, description="The exporter on the controllers; defaults to jmxexporter_enabled.")
    kafka_broker_jmxexporter_enabled: bool | None = Field(None, description="The exporter on the brokers; defaults to jmxexporter_enabled.")
    kafka_connect_jmxexporter_enabled: bool | None = Field(None, description="The exporter on Connect; defaults to jmxexporter_enabled.")
    schema_registry_jmxexporter_enabled: bool | None = Field(None, description="The exporter on Schema Registry; defaults to jmxexporter_enabled.")
    zookeeper_jmxexporter_port: Port = Field(8079, description="HTTP port of ZooKeeper's exporter.")
    kafka_controller_jmxexporter_port: Port = Field(8079, description="HTTP port of the controllers' exporter.")
    kafka_broker_jmxexporter_port: Port = Field(8080, description="HTTP port of the brokers' exporter.")
    kafka_connect_jmxexporter_port: Port = Field(8077, description="HTTP port of Connect's exporter.")
    schema_registry_jmxexporter_port: Port = Field(8078, description="HTTP port of Schema Registry's exporter.")
    zookeeper_jmxexporter_config_path: AbsolutePath = Field("/opt/prometheus/zookeeper.yml", description="ZooKeeper's exporter rules on the hosts.")
    kafka_controller_jmxexporter_config_path: AbsolutePath = Field("/opt/prometheus/kafka.yml", description="The controllers' exporter rules on the hosts.")
    kafka_broker_jmxexporter_config_path: AbsolutePath = Field("/opt/prometheus/kafka.yml", description="The brokers' exporter rules on the hosts.")
    kafka_connect_jmxexporter_config_path: AbsolutePath = Field(
        "/opt/prometheus/kafka_connect.yml", description="Connect's exporter rules on the hosts.")
    schema_registry_jmxexporter_config_path: AbsolutePath = Field(
        "/opt/prometheus/schema_registry.yml", description="Schema Registry's exporter rules on the hosts.")
    prometheus_scrape_interval: str = Field(
        "15s", pattern=r"^[1-9][0-9]*[smh]$", description="How often the Prometheus of the prometheus group scrapes every "
                                                       "exporter and evaluates kafkactl's alert rules.")
    node_exporter_enabled: bool = Field(
        True, description="With a prometheus group: node exporter (Debian's prometheus-node-exporter) on every host, scraped "
                          "as the `node` job.")
    consumer_lag_alert_threshold: int = Field(
        10000, ge=0, description="With a prometheus group and node exporter: KafkaConsumerGroupLagging fires for a consumer "
                                 "group whose lag, summed over its partitions, stays above this for 10 minutes.")
    jmxexporter_jar_path: AbsolutePath = Field(
        "/opt/prometheus/jmx_prometheus_javaagent.jar", description="Where the agent jar is installed on the hosts.")
    jmxexporter_jar_url: PlainText | None = Field(
        None, description="The agent jar (io.prometheus.jmx:jmx_prometheus_javaagent, 1.0.1 tested): an https:// URL each host fetches, "
                          "with jmxexporter_jar_sha256; with jmxexporter_url_remote: false, a file on this machine that is uploaded.")
    jmxexporter_url_remote: bool = Field(
        True, description="jmxexporter_jar_url is a URL the hosts fetch (true) or a file on this machine (false).")
    jmxexporter_jar_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="Expected SHA-256 of the agent jar; required when the hosts fetch it.")

    # A Kafka cluster outside the inventory, for Connect and Schema Registry
    ccloud_kafka_enabled: bool = Field(
        False, description="Connect and Schema Registry use Confluent Cloud's Kafka (ccloud_kafka_*): SASL_SSL with PLAIN and an API key.")
    ccloud_kafka_bootstrap_servers: PlainText | None = Field(None, description="Confluent Cloud's bootstrap servers, host:port[,host:port...].")
    ccloud_kafka_key: PlainText | None = Field(None, description="Confluent Cloud API key: the SASL PLAIN user.")
    ccloud_kafka_secret: SecretStr | None = Field(None, description="Confluent Cloud API secret.")
    external_kafka_bootstrap_servers: PlainText | None = Field(
        None, description="Connect and Schema Registry use this Kafka cluster, which is not in the inventory: host:port[,host:port...].")
    external_kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "SASL_SSL", description="security.protocol towards the external cluster (TLS trusts ssl_truststore_filepath when set, else the JVM's CAs).")
    external_kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism towards the external cluster.")
    external_kafka_sasl_user: PlainText | None = Field(None, description="SASL user towards the external cluster.")
    external_kafka_sasl_password: SecretStr | None = Field(None, description="SASL password towards the external cluster.")

    @model_validator(mode="before")
    @classmethod
    def _complete_partial_listeners(cls, values: Any) -> Any:
        """As cp-ansible combines them: `internal: {ssl_enabled: false}` changes the internal listener and keeps
        its name and port, in kafka_broker_listeners (over the defaults) and kafka_broker_custom_listeners (over those)."""
        if not isinstance(values, dict):
            return values

        def completed(entries: Any, base: dict[str, Any]) -> Any:
            if not isinstance(entries, dict):
                return entries
            return {key: ({**base[key], **body} if key in base and isinstance(body, dict) and isinstance(base[key], dict)
                          else body) for key, body in entries.items()}

        defaults = {key: listener.model_dump(exclude_none=True) for key, listener in _default_listeners().items()}
        listeners = completed(values.get("kafka_broker_listeners", defaults), defaults)
        updated = dict(values)  # only what the inventory wrote: model_fields_set tells written from defaulted
        if "kafka_broker_listeners" in values:
            updated["kafka_broker_listeners"] = listeners
        if "kafka_broker_custom_listeners" in values:
            updated["kafka_broker_custom_listeners"] = completed(values["kafka_broker_custom_listeners"],
                                                                listeners if isinstance(listeners, dict) else {})
        return updated

    @field_validator("kafka_version")
    @classmethod
    def _supported_version(cls, value: str) -> str:
        if int(value.split(".")[0]) < 3:
            raise ValueError(f"Kafka {value} is older than 3.0, which kafkactl does not manage")
        return value

    @model_validator(mode="after")
    def _metadata_version_within_release(self) -> ClusterVars:
        wanted = self.kafka_metadata_version
        release = tuple(int(p) for p in self.kafka_version.split(".")[:2])
        if wanted and tuple(int(p) for p in wanted.split("-")[0].split(".")) > release:
            raise ValueError(f"kafka_metadata_version {wanted} is newer than kafka_version {self.kafka_version} supports")
        return self

    @model_validator(mode="after")
    def _check_external_kafka(self) -> ClusterVars:
        if self.ccloud_kafka_enabled:
            missing = [k for k in ("ccloud_kafka_bootstrap_servers", "ccloud_kafka_key", "ccloud_kafka_secret") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"ccloud_kafka_enabled: {', '.join(missing)} must be set too")
            if self.external_kafka_bootstrap_servers:
                raise ValueError("ccloud_kafka_enabled and external_kafka_bootstrap_servers: set one external cluster")
        external = self.external_kafka
        if external is None:
            return self
        for server in external.servers:
            if not re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}", server):
                raise ValueError(f"external Kafka bootstrap server {server!r}: expected host:port")
        if external.mechanism and not (external.user and external.password):
            raise ValueError(f"external_kafka_security_protocol {external.protocol}: external_kafka_sasl_user and "
                             "external_kafka_sasl_password must be set too")
        return self

    @model_validator(mode="after")
    def _check_jmx_exporter_jar(self) -> ClusterVars:
        """Root installs the agent into every JVM it starts: a fetched jar comes over TLS and must match its SHA-256."""
        if not any(self.jmx_exporter(component) for component in Component):
            return self
        source = self.jmxexporter_jar_url
        if not source:
            raise ValueError("jmxexporter_enabled: set jmxexporter_jar_url, the agent jar (io.prometheus.jmx:jmx_prometheus_javaagent): "
                             "an https:// URL with jmxexporter_jar_sha256, or a file on this machine with jmxexporter_url_remote: false")
        if self.jmxexporter_url_remote:
            if not source.startswith("https://") or "@" in source.split("/")[2]:
                raise ValueError(f"jmxexporter_jar_url {source}: the hosts fetch only https:// URLs without credentials "
                                 "(jmxexporter_url_remote: false uploads a file from this machine)")
            if self.jmxexporter_jar_sha256 is None:
                raise ValueError(f"jmxexporter_jar_url {source}: jmxexporter_jar_sha256 is required for a jar the hosts fetch")
        return self

    def jmx_exporter(self, component: Component | str) -> JmxExporter | None:
        """The exporter a component's JVM runs, or None when it runs none."""
        prefix = Component(component).value
        enabled = getattr(self, f"{prefix}_jmxexporter_enabled")
        if not (self.jmxexporter_enabled if enabled is None else enabled):
            return None
        return JmxExporter(port=getattr(self, f"{prefix}_jmxexporter_port"), rules=getattr(self, f"{prefix}_jmxexporter_config_path"))

    @property
    def external_kafka(self) -> ExternalKafka | None:
        """The Kafka cluster Connect and Schema Registry use when it is not in the inventory."""
        if self.ccloud_kafka_enabled:
            return ExternalKafka(servers=_server_list(self.ccloud_kafka_bootstrap_servers), protocol="SASL_SSL",
                                 mechanism="PLAIN", user=self.ccloud_kafka_key, password=self.ccloud_kafka_secret)
        if self.external_kafka_bootstrap_servers:
            sasl = self.external_kafka_security_protocol.startswith("SASL")
            return ExternalKafka(servers=_server_list(self.external_kafka_bootstrap_servers),
                                 protocol=self.external_kafka_security_protocol,
                                 mechanism=self.external_kafka_sasl_mechanism if sasl else None,
                                 user=self.external_kafka_sasl_user, password=self.external_kafka_sasl_password)
        return None

    @model_validator(mode="after")
    def _check_archive_url(self) -> ClusterVars:
        """Root unpacks the archive on every host: one fetched from a URL must come over TLS and match its SHA-256."""
        source = self.kafka_archive_source
        if source is None or "://" not in source:
            return self
        if re.match(r"^[a-z]+://[^/]*@", source, re.IGNORECASE):  # it would be on curl's command line, in `ps`
            raise ValueError("kafka_archive_source: a URL with credentials in it is refused; use one that needs none")
        if self.kafka_archive_allow_unverified:
            return self
        if not source.startswith("https://"):
            raise ValueError(f"kafka_archive_source {source}: only https:// URLs are fetched "
                             "(kafka_archive_allow_unverified: true accepts http://)")
        if self.kafka_archive_sha256 is None:
            raise ValueError(f"kafka_archive_source {source}: kafka_archive_sha256 is required for a URL "
                             "(kafka_archive_allow_unverified: true installs it unchecked)")
        return self

    @model_validator(mode="after")
    def _check_client_authentication(self) -> ClusterVars:
        """Client certificates are part of TLS: asking for them on a listener without TLS is a mistake, not a no-op."""
        for key, listener in self.all_broker_listeners.items():
            asked = _client_auth(listener.ssl_client_authentication, listener.ssl_mutual_auth_enabled)
            if asked not in (None, "none") and not self._resolve(listener).ssl:
                raise ValueError(f"kafka_broker_listeners: {key}: client certificates ({asked}) need TLS on the listener "
                                 "(ssl_enabled: true)")
        asked = _client_auth(self.ssl_client_authentication, self.ssl_mutual_auth_enabled)
        if asked != "none" and not any(listener.ssl for listener in self.resolved_listeners.values()):
            raise ValueError(f"client certificates ({'ssl_client_authentication: ' + asked if self.ssl_client_authentication else 'ssl_mutual_auth_enabled: true'}) "
                             "need TLS, and no listener has it (ssl_enabled: true)")
        return self

    @model_validator(mode="after")
    def _check_listeners(self) -> ClusterVars:
        listeners = self.all_broker_listeners
        if self.kafka_broker_inter_broker_listener_name not in listeners:
            raise ValueError(
                f"kafka_broker_inter_broker_listener_name: {self.kafka_broker_inter_broker_listener_name!r} "
                f"is not a key of kafka_broker_listeners ({', '.join(sorted(listeners))})"
            )
        seen_names: dict[str, str] = {}
        seen_ports: dict[int, str] = {}
        controller = self.kafka_controller_listener_name.upper()
        controllers = {listener.name for listener in self.controller_listeners}
        previous = self.kafka_controller_previous_listener
        if previous is not None and (previous.name.upper() == controller or previous.port == self.kafka_controller_port):
            raise ValueError(f"kafka_controller_previous_listener: {previous.name} on port {previous.port} is not another "
                             f"listener than {controller} on port {self.kafka_controller_port}: the controller listener moves "
                             "to a new name and port")
        for key, listener in listeners.items():
            name = listener.name.upper()
            if name in seen_names:
                raise ValueError(f"kafka_broker_listeners: {key} and {seen_names[name]} share the listener name {name}")
            if listener.port in seen_ports:
                raise ValueError(f"kafka_broker_listeners: {key} and {seen_ports[listener.port]} share port {listener.port}")
            if name in controllers:
                raise ValueError(f"kafka_broker_listeners: {key} uses the controller listener name {name}")
            seen_names[name] = key
            seen_ports[listener.port] = key
        if self.controller_listener.sasl in SCRAM:
            raise ValueError(
                f"kafka_controller_sasl_protocol: {self.kafka_controller_sasl_protocol}: KRaft controllers cannot log in to "
                "each other with SCRAM (its credentials live in the metadata log the controllers serve); put plain first, "
                "the default when sasl_protocol is SCRAM"
            )
        for listener in (*self.resolved_listeners.values(), self.controller_listener):
            for sasl in listener.accepted:
                if self.kafka_broker_sasl_user not in self.sasl_users(sasl):
                    raise ValueError(
                        f"sasl_protocol {sasl} on listener {listener.name}: kafka_broker_sasl_user "
                        f"{self.kafka_broker_sasl_user!r} is missing from {'sasl_plain_users' if sasl == 'plain' else 'sasl_scram_users'}"
                    )
        if self.zookeeper_sasl_protocol == "digest" and "kafka_broker" not in self.zookeeper_digest_users:
            raise ValueError("zookeeper_sasl_protocol: digest needs an entry kafka_broker in zookeeper_digest_users")
        return self

    @field_validator("kafka_connect_connectors")
    @classmethod
    def _one_entry_per_connector(cls, connectors: list[Connector]) -> list[Connector]:
        names = [c.name for c in connectors]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"connector {twice[0]} is listed twice")
        for connector in connectors:
            if connector.config.get("name", connector.name) != connector.name:
                raise ValueError(f"connector {connector.name}: config.name is {connector.config['name']}; leave it out or make them equal")
        return connectors

    @field_validator("zookeeper_digest_users")
    @classmethod
    def _digest_passwords_read_literally(cls, users: dict[str, SaslUser]) -> dict[str, SaslUser]:
        for key, user in users.items():
            if "${" in user.password.get_secret_value():
                raise ValueError(
                    f"{key}.password contains ${{, which the JAAS file reader of ZooKeeper and Kafka "
                    "expands as a system property; choose a password without it"
                )
        return users

    @model_validator(mode="after")
    def _check_distinct_units(self) -> ClusterVars:
        """Two components on one host must not share a unit (files shared by two components are refused when rendered)."""
        seen: dict[str, str] = {}
        for key in (f"{c}_service_name" for c in COMPONENT_VARIABLE_PREFIXES):
            value = getattr(self, key)
            if value in seen:
                raise ValueError(f"{seen[value]} and {key} are both {value}; each component needs its own unit")
            seen[value] = key
        return self

    @model_validator(mode="after")
    def _check_config_dir(self) -> ClusterVars:
        """Root writes the configuration: its directory must not sit in one the service account owns."""
        service_owned = {
            "kafka_log_dir": [self.kafka_log_dir],
            "zookeeper_data_dir": [self.zookeeper_data_dir],
            "kafka_broker_log_dirs": self.kafka_broker_log_dirs,
            "kafka_controller_metadata_dir": [self.kafka_controller_metadata_dir],
        }
        configuration = {"kafka_config_dir": self.kafka_config_dir} | {
            key: posixpath.dirname(getattr(self, key)) for key in CONFIG_FILE_VARIABLES if getattr(self, key)
        }
        for config_key, config_dir in configuration.items():
            for key, paths in service_owned.items():
                for path in paths:
                    if f"{config_dir}/".startswith(f"{path}/"):
                        raise ValueError(
                            f"{config_key} {getattr(self, config_key)} is inside {key} {path}, which the service account owns; "
                            "keep the configuration in a directory of its own"
                        )
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> ClusterVars:
        """A copy with `update`: what is cached from the fields (the resolved listeners) is worked out afresh, never
        carried over from the original."""
        copied = super().model_copy(update=update, deep=deep)
        if update:
            for name in [n for n, v in vars(ClusterVars).items() if isinstance(v, cached_property)]:
                copied.__dict__.pop(name, None)
        return copied

    @cached_property
    def all_broker_listeners(self) -> dict[str, Listener]:
        return {**self.kafka_broker_listeners, **self.kafka_broker_custom_listeners}

    def _resolve(self, listener: Listener) -> ResolvedListener:
        ssl = self.ssl_enabled if listener.ssl_enabled is None else listener.ssl_enabled
        own, *others = mechanisms_of(self.sasl_protocol if listener.sasl_protocol is None else listener.sasl_protocol)
        client_auth = _client_auth(listener.ssl_client_authentication, listener.ssl_mutual_auth_enabled) or \
            _client_auth(self.ssl_client_authentication, self.ssl_mutual_auth_enabled) or "none"
        return ResolvedListener(name=listener.name.upper(), port=listener.port, ssl=ssl,
                                client_auth=client_auth if ssl else "none", sasl=own, also_accepted=tuple(others))

    @cached_property
    def resolved_listeners(self) -> dict[str, ResolvedListener]:
        return {key: self._resolve(listener) for key, listener in self.all_broker_listeners.items()}

    @cached_property
    def inter_broker_listener(self) -> ResolvedListener:
        return self.resolved_listeners[self.kafka_broker_inter_broker_listener_name]

    @cached_property
    def controller_listener(self) -> ResolvedListener:
        return self._resolve(
            Listener(
                name=self.kafka_controller_listener_name,
                port=self.kafka_controller_port,
                ssl_enabled=self.kafka_controller_ssl_enabled,
                sasl_protocol=self.kafka_controller_sasl_protocol or ("plain" if mechanisms_of(self.sasl_protocol)[0] in SCRAM else None),
            )
        )

    @cached_property
    def controller_listeners(self) -> tuple[ResolvedListener, ...]:
        """Every listener the controllers serve, the one nodes reach them through first: the inventory's, and while it
        moves, the one it replaces (before it when nodes still use that one)."""
        if self.kafka_controller_previous_listener is None:
            return (self.controller_listener,)
        previous = self._resolve(self.kafka_controller_previous_listener)
        return (previous, self.controller_listener) if self.kafka_controller_previous_listener_first else (self.controller_listener, previous)

    @property
    def quorum_listener(self) -> ResolvedListener:
        """The controller listener brokers, controllers and kafkactl's tools reach the controllers through."""
        return self.controller_listeners[0]

    def sasl_users(self, sasl: SaslProtocol) -> dict[str, SaslUser]:
        if sasl == "plain":
            return self.sasl_plain_users or self.sasl_scram_users
        return self.sasl_scram_users

    @property
    def inter_broker_protocol_version(self) -> str:
        if self.kafka_inter_broker_protocol_version:
            return self.kafka_inter_broker_protocol_version
        return ".".join(self.kafka_version.split(".")[:2])

    @property
    def serves_tls(self) -> bool:
        return self.zookeeper_ssl_enabled or any(listener.ssl for listener in self.resolved_listeners.values())

    def missing_key_store_password(self) -> str | None:
        """Why TLS listeners could not open their key store, if they could not: it has no password."""
        if self.serves_tls and self.store_type != "PEM" and self.ssl_keystore_store_password is None:
            return ("ssl_keystore_store_password: TLS listeners need their key store's password (and ssl_truststore_password "
                    "the trust store's); `kafkactl certs create` makes key and trust stores and prints the variables that name them")
        return None

    @property
    def zookeeper_plain_port_loopback(self) -> bool:
        """ZooKeeper's plaintext client port listens on 127.0.0.1 only."""
        wanted = self.zookeeper_client_port_loopback_only
        return self.zookeeper_ssl_enabled and (wanted if wanted is not None else True)

    @property
    def sets_zookeeper_acls(self) -> bool:
        """Brokers that reach ZooKeeper create their znodes with ACLs (zookeeper.set.acl)."""
        return self.zookeeper_sasl_protocol == "digest" and self.zookeeper_set_acl

    @property
    def store_type(self) -> str:
        """ssl.keystore.type and ssl.truststore.type of every store the inventory names."""
        return {"pkcs12": "PKCS12", "jks": "JKS", "pem": "PEM"}[self.ssl_file_format]

    @property
    def kafka_major(self) -> int:
        return int(self.kafka_version.split(".")[0])

    @property
    def kafka_home(self) -> str:
        return f"{self.archive_destination_path}/kafka_{self.kafka_scala_version}-{self.kafka_version}"

    def secrets(self) -> list[str]:
        """Every secret value in the cluster settings, for masking output."""
        values = [s for s in (self.ssl_keystore_store_password, self.ssl_keystore_key_password, self.ssl_truststore_password) if s]
        for users in (self.sasl_scram_users, self.sasl_plain_users, self.zookeeper_digest_users):
            values.extend(user.password for user in users.values())
        values += [s for s in (self.ccloud_kafka_secret, self.external_kafka_sasl_password) if s]
        return [v.get_secret_value() for v in values]


class CopiedStores(Strict):
    """A host's key and trust store, read from the control machine (ssl_provided_keystore_and_truststore)."""

    keystore: SecretBytes
    truststore: SecretBytes
    keystore_source: str  # where they were read, for messages
    truststore_source: str


class OperatorCa(Strict):
    """The CA kafkactl's own signs with when the inventory names one (cp-ansible's ssl_self_signed_ca_*): a cluster
    cp-ansible secured keeps the CA its clients trust."""

    certificate: str  # paths on the control machine
    key: str
    password: SecretStr | None = None


class Host(Strict):
    """A host of the inventory with its roles, ids and per-host settings."""

    name: Annotated[str, AfterValidator(check_host_name)]
    # How kafkactl reaches the host (kafkactl/inventory/connection.py reads them from ansible_* variables).
    # None means "as ~/.ssh/config says, else OpenSSH's default" (port 22, user root for kafkactl).
    address: str
    ssh_port: Port | None = None
    ssh_user: str | None = None
    ssh_private_key_file: str | None = None
    ssh_password: SecretStr | None = None
    ssh_proxy_jump: tuple[str, ...] = ()
    ssh_proxy_command: str | None = None
    ssh_known_hosts: tuple[str, ...] = ()
    ssh_host_key_checking: Literal["yes", "accept-new", "no"] | None = None
    ssh_connect_timeout: float | None = Field(None, gt=0)
    ssh_identities_only: bool = False
    ssh_compression: bool = False
    ssh_server_alive_interval: int = Field(0, ge=0)
    become: bool = False
    become_method: Literal["sudo", "su"] = "sudo"
    become_password: SecretStr | None = None
    components: tuple[Component, ...]
    zookeeper_id: Annotated[int, Field(ge=1, le=255)] | None = None
    broker_id: Annotated[int, Field(ge=0, le=KAFKA_ID_MAX)] | None = None
    node_id: Annotated[int, Field(ge=0, le=KAFKA_ID_MAX)] | None = None
    # Where each id came from (ID_KEYS): "inventory: FILE:LINE" (ID_FROM_INVENTORY), cp-ansible's default, the live host.
    id_sources: dict[str, str] = Field(default_factory=dict)
    rack: PlainText | None = None
    custom_properties: dict[Component, dict[str, str]] = Field(default_factory=dict)
    heap: dict[Component, str] = Field(default_factory=dict)
    environment: dict[Component, dict[str, str]] = Field(default_factory=dict)
    copied_stores: CopiedStores | None = None
    prometheus: bool = False  # in the prometheus group: runs the cluster's Prometheus (Debian's package)

    def has(self, component: Component) -> bool:
        return component in self.components

    @property
    def kafka_id(self) -> int:
        """node.id of a controller or broker.id / node.id of a broker: one id space."""
        value = self.node_id if self.has(Component.KAFKA_CONTROLLER) else self.broker_id
        assert value is not None, f"{self.name} has no Kafka id"
        return value


ID_KEYS = ("zookeeper_id", "broker_id", "node_id")  # a host's id variables
ID_FROM_INVENTORY = "inventory"  # how id_sources begins for an id the inventory writes


class Inventory(Strict):
    """A validated inventory: what every later stage reads."""

    path: str
    cluster: ClusterVars
    hosts: tuple[Host, ...]
    secret_values: tuple[str, ...] = ()  # values read through lookups: masked wherever one is a whole value
    # TLS with no key material named (cp-ansible's self_signed): the stores come from kafkactl's CA (kafkactl/pki.py).
    key_stores_by_kafkactl: bool = False
    operator_ca: OperatorCa | None = None
    # The JMX exporter agent jar from this machine (jmxexporter_url_remote: false), uploaded to the hosts.
    jmx_exporter_jar: bytes | None = Field(None, repr=False)

    def members(self, component: Component) -> list[Host]:
        return [h for h in self.hosts if h.has(component)]

    @property
    def prometheus_hosts(self) -> list[Host]:
        return [h for h in self.hosts if h.prometheus]

    @property
    def natural_phase(self) -> Phase | None:
        """ZooKeeper mode or KRaft mode when the groups say so; None when a migration phase must be chosen."""
        has_zookeeper = bool(self.members(Component.ZOOKEEPER))
        has_controllers = bool(self.members(Component.KAFKA_CONTROLLER))
        if has_zookeeper and has_controllers:
            return None
        return Phase.KRAFT if has_controllers else Phase.ZOOKEEPER
