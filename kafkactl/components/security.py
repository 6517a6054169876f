"""Listener, TLS, SASL and ZooKeeper-client security settings shared by every Kafka-speaking component."""

from __future__ import annotations

from kafkactl.components.properties import Properties, Value
from kafkactl.model import ClusterVars, ExternalKafka, ResolvedListener

PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
ZOOKEEPER_DIGEST_MODULE = "org.apache.zookeeper.server.auth.DigestLoginModule"
ACL_AUTHORIZER = "kafka.security.authorizer.AclAuthorizer"
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def jaas_quote(value: str) -> str:
    """A JAAS option value as both JAAS parsers (StreamTokenizer) read it back: quoted, escapes for \\ " and line breaks."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def _module(listener: ResolvedListener) -> str:
    return PLAIN_MODULE if listener.sasl == "plain" else SCRAM_MODULE


def client_jaas(cluster: ClusterVars, listener: ResolvedListener) -> str:
    user = cluster.sasl_users(listener.sasl)[cluster.kafka_broker_sasl_user]
    return f"{_module(listener)} required username={jaas_quote(user.principal)} password={jaas_quote(user.password.get_secret_value())};"


def server_jaas(cluster: ClusterVars, listener: ResolvedListener) -> str:
    """The broker side of a SASL listener: its own login, and for PLAIN the users it accepts."""
    login = client_jaas(cluster, listener).removesuffix(";")
    if listener.sasl == "plain":
        accepted = "".join(
            f" user_{u.principal}={jaas_quote(u.password.get_secret_value())}" for u in cluster.sasl_users("plain").values()
        )
        login += accepted
    return login + ";"


def key_stores(cluster: ClusterVars, *, prefix: str = "", with_keystore: bool = True) -> dict[str, Value]:
    store_type = cluster.store_type
    values: dict[str, Value] = {
        f"{prefix}ssl.truststore.type": store_type,
        f"{prefix}ssl.truststore.location": cluster.ssl_truststore_filepath,
    }
    if cluster.ssl_truststore_password and store_type != "PEM":
        values[f"{prefix}ssl.truststore.password"] = cluster.ssl_truststore_password
    if with_keystore:
        values[f"{prefix}ssl.keystore.type"] = store_type
        values[f"{prefix}ssl.keystore.location"] = cluster.ssl_keystore_filepath
        if cluster.ssl_keystore_store_password and store_type != "PEM":
            values[f"{prefix}ssl.keystore.password"] = cluster.ssl_keystore_store_password
        if cluster.ssl_keystore_key_password:
            values[f"{prefix}ssl.key.password"] = cluster.ssl_keystore_key_password
    return values


def listener_security(props: Properties, cluster: ClusterVars, listeners: list[ResolvedListener]) -> None:
    """Server-side settings of each listener a process binds or talks through."""
    if any(listener.ssl for listener in listeners):
        props.section("TLS key material").update(key_stores(cluster))
        if cluster.ssl_enabled or cluster.principal_mapping_rules != ["DEFAULT"]:  # cp-ansible writes it with ssl_enabled
            props.set("ssl.principal.mapping.rules", ",".join(cluster.principal_mapping_rules))
    secured = [listener for listener in listeners if listener.sasl != "none" or listener.mutual_tls]
    if not secured:
        return
    props.section("Per-listener authentication")
    for listener in secured:
        prefix = f"listener.name.{listener.name.lower()}"
        if listener.mutual_tls:
            props.set(f"{prefix}.ssl.client.auth", listener.client_auth)
        if listener.mechanism:
            accepting = [listener.model_copy(update={"sasl": sasl, "also_accepted": ()}) for sasl in listener.accepted]
            props.set(f"{prefix}.sasl.enabled.mechanisms", ",".join(str(each.mechanism) for each in accepting))
            for each in accepting:
                props.set(f"{prefix}.{str(each.mechanism).lower()}.sasl.jaas.config", server_jaas(cluster, each))


def client_security(cluster: ClusterVars, listener: ResolvedListener, prefix: str = "") -> dict[str, Value]:
    """What a client (Connect, Schema Registry, an admin tool) sets to reach brokers on `listener`."""
    values: dict[str, Value] = {f"{prefix}security.protocol": listener.protocol}
    if listener.mechanism:
        values[f"{prefix}sasl.mechanism"] = listener.mechanism
        values[f"{prefix}sasl.jaas.config"] = client_jaas(cluster, listener)
    if listener.ssl:
        values.update(key_stores(cluster, prefix=prefix, with_keystore=listener.mutual_tls))
    return values


def external_client_security(cluster: ClusterVars, external: ExternalKafka, prefix: str = "") -> dict[str, Value]:
    """What a client sets to reach a Kafka cluster outside the inventory: its own user; over TLS, the trust store
    the inventory names, else the JVM's own CAs (Confluent Cloud's certificates are publicly signed)."""
    values: dict[str, Value] = {f"{prefix}security.protocol": external.protocol}
    if external.mechanism and external.user and external.password:
        module = PLAIN_MODULE if external.mechanism == "PLAIN" else SCRAM_MODULE
        values[f"{prefix}sasl.mechanism"] = external.mechanism
        values[f"{prefix}sasl.jaas.config"] = (f"{module} required username={jaas_quote(external.user)} "
                                               f"password={jaas_quote(external.password.get_secret_value())};")
    if "SSL" in external.protocol and "ssl_truststore_filepath" in cluster.model_fields_set:
        values.update(key_stores(cluster, prefix=prefix, with_keystore=False))
    return values


def zookeeper_client(cluster: ClusterVars) -> dict[str, Value]:
    """How a broker or migrating controller reaches ZooKeeper securely."""
    values: dict[str, Value] = {}
    if cluster.zookeeper_ssl_enabled:
        values["zookeeper.ssl.client.enable"] = True
        values["zookeeper.clientCnxnSocket"] = "org.apache.zookeeper.ClientCnxnSocketNetty"
        stores = key_stores(cluster, with_keystore=cluster.zookeeper_ssl_mutual_auth_enabled)
        stores.pop("ssl.key.password", None)  # the ZooKeeper client has no separate key password
        values.update({f"zookeeper.{key}": value for key, value in stores.items()})
    if cluster.sets_zookeeper_acls:
        values["zookeeper.set.acl"] = True
    return values


def zookeeper_client_jaas(cluster: ClusterVars) -> str | None:
    """The JAAS `Client` section Kafka logs in to ZooKeeper with, when ZooKeeper requires SASL."""
    if cluster.zookeeper_sasl_protocol != "digest":
        return None
    user = cluster.zookeeper_digest_users["kafka_broker"]
    return (
        f"Client {{\n    {ZOOKEEPER_DIGEST_MODULE} required\n"
        f"    username={jaas_quote(user.principal)}\n    password={jaas_quote(user.password.get_secret_value())};\n}};\n"
    )
