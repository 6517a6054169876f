"""controller.properties of a dedicated KRaft controller, migrating from ZooKeeper or not."""

from __future__ import annotations

from kafkactl.components.principals import super_users
from kafkactl.components.properties import Properties
from kafkactl.components.security import (
    STANDARD_AUTHORIZER,
    client_jaas,
    key_stores,
    listener_security,
    zookeeper_client,
)
from kafkactl.components.topology import Topology
from kafkactl.model import Component, Host, host_port


def controller_properties(topology: Topology, host: Host) -> Properties:
    cluster = topology.cluster
    controllers = list(cluster.controller_listeners)  # the one nodes reach the controllers through first
    controller = cluster.quorum_listener
    inter_broker = cluster.inter_broker_listener
    migrating = topology.controllers_migrating

    props = Properties().section("Identity")
    props.set("process.roles", "controller").set("node.id", host.node_id)

    props.section("Listeners")
    props.set("listeners", [f"{listener.name}://{host_port(host.name, listener.port)}" for listener in controllers])
    props.set("controller.listener.names", [listener.name for listener in controllers])
    protocol_map = [f"{listener.name}:{listener.protocol}" for listener in controllers]
    if migrating:
        protocol_map.append(f"{inter_broker.name}:{inter_broker.protocol}")
    props.set("listener.security.protocol.map", protocol_map)
    if controller.mechanism:
        props.set("sasl.mechanism.controller.protocol", controller.mechanism)
    listener_security(props, cluster, controllers)

    props.section("KRaft controller quorum")
    props.set("controller.quorum.voters", topology.quorum_voters)

    if migrating:
        props.section("ZooKeeper to KRaft migration")
        props.set("zookeeper.metadata.migration.enable", True)
        props.set("zookeeper.connect", topology.zookeeper_connect)
        props.update(zookeeper_client(cluster))
        # Controllers call the ZooKeeper-mode brokers as clients of the inter-broker listener.
        props.set("inter.broker.listener.name", inter_broker.name)
        if inter_broker.mechanism:
            props.set("sasl.mechanism.inter.broker.protocol", inter_broker.mechanism)
            props.set(f"listener.name.{inter_broker.name.lower()}.{inter_broker.mechanism.lower()}.sasl.jaas.config",
                      client_jaas(cluster, inter_broker))
        if inter_broker.ssl and not controller.ssl:
            props.update(key_stores(cluster))

    props.section("Storage")
    props.set("log.dirs", cluster.kafka_controller_metadata_dir)

    if cluster.kafka_authorizer_enabled:
        props.section("Authorization")
        props.set("authorizer.class.name", STANDARD_AUTHORIZER)
        props.set("super.users", super_users(topology))

    return props.override("Custom properties (inventory)", host.custom_properties.get(Component.KAFKA_CONTROLLER, {}))
