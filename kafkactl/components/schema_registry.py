"""schema-registry.properties of a Confluent Schema Registry node."""

from __future__ import annotations

from kafkactl.components.properties import Properties
from kafkactl.components.security import client_security, external_client_security
from kafkactl.components.topology import Topology
from kafkactl.model import Component, Host


def schema_registry_properties(topology: Topology, host: Host) -> Properties:
    cluster = topology.cluster
    listener = cluster.inter_broker_listener

    props = Properties().section("REST")
    props.set("listeners", f"http://0.0.0.0:{cluster.schema_registry_listener_port}")
    props.set("host.name", host.name)

    props.section("Storage")
    external = cluster.external_kafka
    if external:
        props.set("kafkastore.bootstrap.servers", [f"{external.protocol}://{s}" for s in external.servers])
    else:
        props.set("kafkastore.bootstrap.servers", [f"{listener.protocol}://{s}" for s in topology.bootstrap_servers(listener)])
    props.set("kafkastore.topic", cluster.schema_registry_kafkastore_topic)
    props.set("kafkastore.topic.replication.factor", topology.internal_replication)
    props.set("schema.registry.group.id", cluster.schema_registry_group_id)

    if external:
        props.section("Security towards the external Kafka cluster")
        props.update(external_client_security(cluster, external, "kafkastore."))
    elif listener.protocol != "PLAINTEXT":
        props.section("Security towards the brokers")
        props.update(client_security(cluster, listener, "kafkastore."))

    return props.override("Custom properties (inventory)", host.custom_properties.get(Component.SCHEMA_REGISTRY, {}))
