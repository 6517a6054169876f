"""connect-distributed.properties of a Kafka Connect worker."""

from __future__ import annotations

from kafkactl.components.properties import Properties
from kafkactl.components.security import client_security, external_client_security
from kafkactl.components.topology import Topology
from kafkactl.model import Component, Host, host_port

# Connect opens producers, consumers and admin clients of its own; each takes the security settings.
CLIENT_PREFIXES = ("", "producer.", "consumer.", "admin.")


def connect_properties(topology: Topology, host: Host) -> Properties:
    cluster = topology.cluster
    listener = cluster.inter_broker_listener
    external = cluster.external_kafka

    props = Properties().section("Cluster")
    props.set("bootstrap.servers", external.servers if external else topology.bootstrap_servers(listener))
    props.set("group.id", cluster.kafka_connect_group_id)

    props.section("Storage topics")
    for kind, suffix in (("config", "configs"), ("offset", "offsets"), ("status", "status")):
        topic = getattr(cluster, f"kafka_connect_{kind}_storage_topic") or f"{cluster.kafka_connect_group_id}-{suffix}"
        props.set(f"{kind}.storage.topic", topic)
        props.set(f"{kind}.storage.replication.factor", topology.internal_replication)

    props.section("Converters")
    props.set("key.converter", cluster.kafka_connect_converter).set("value.converter", cluster.kafka_connect_converter)
    props.set("key.converter.schemas.enable", False).set("value.converter.schemas.enable", False)

    props.section("REST")
    props.set("listeners", f"http://{host_port(host.name, cluster.kafka_connect_rest_port)}")
    props.set("rest.advertised.host.name", host.name)
    props.set("rest.advertised.port", cluster.kafka_connect_rest_port)

    props.section("Plugins")
    props.set("plugin.path", cluster.kafka_connect_plugin_path)

    if external:
        props.section("Security towards the external Kafka cluster")
        for prefix in CLIENT_PREFIXES:
            props.update(external_client_security(cluster, external, prefix))
    elif listener.protocol != "PLAINTEXT":
        props.section("Security towards the brokers")
        for prefix in CLIENT_PREFIXES:
            props.update(client_security(cluster, listener, prefix))

    return props.override("Custom properties (inventory)", host.custom_properties.get(Component.KAFKA_CONNECT, {}))
