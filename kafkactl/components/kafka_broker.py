"""server.properties of a broker, in ZooKeeper mode, in each migration phase, and in KRaft mode."""

from __future__ import annotations

from kafkactl.components.principals import super_users
from kafkactl.components.properties import Properties
from kafkactl.components.security import (
    ACL_AUTHORIZER,
    STANDARD_AUTHORIZER,
    listener_security,
    zookeeper_client,
)
from kafkactl.components.topology import Topology
from kafkactl.model import Component, Host, Phase, host_port


def broker_properties(topology: Topology, host: Host) -> Properties:
    cluster = topology.cluster
    listeners = list(cluster.resolved_listeners.values())
    controller = cluster.quorum_listener  # brokers know only the listener they reach the controllers through
    zookeeper_mode = topology.brokers_use_zookeeper
    migrating = topology.phase == Phase.DUAL_WRITE
    knows_controllers = not zookeeper_mode or migrating

    props = Properties().section("Identity")
    if zookeeper_mode:
        props.set("broker.id", host.broker_id)
    else:
        props.set("process.roles", "broker").set("node.id", host.broker_id)
    if host.rack:
        props.set("broker.rack", host.rack)

    props.section("Listeners")
    props.set("listeners", [f"{l.name}://{host_port(host.name, l.port)}" for l in listeners])
    props.set("advertised.listeners", [f"{l.name}://{host_port(host.name, l.port)}" for l in listeners])
    protocol_map = [f"{l.name}:{l.protocol}" for l in listeners]
    if knows_controllers:
        protocol_map.append(f"{controller.name}:{controller.protocol}")
    props.set("listener.security.protocol.map", protocol_map)
    props.set("inter.broker.listener.name", cluster.inter_broker_listener.name)
    if cluster.inter_broker_listener.mechanism:
        props.set("sasl.mechanism.inter.broker.protocol", cluster.inter_broker_listener.mechanism)
    listener_security(props, cluster, listeners + ([controller] if knows_controllers else []))

    if knows_controllers:
        props.section("KRaft controller quorum")
        props.set("controller.quorum.voters", topology.quorum_voters)
        props.set("controller.listener.names", controller.name)
        if controller.mechanism:
            props.set("sasl.mechanism.controller.protocol", controller.mechanism)

    if zookeeper_mode:
        props.section("ZooKeeper")
        props.set("zookeeper.connect", topology.zookeeper_connect)
        props.set("zookeeper.connection.timeout.ms", 18000)
        props.update(zookeeper_client(cluster))
        if migrating:
            props.section("ZooKeeper to KRaft migration")
            props.set("zookeeper.metadata.migration.enable", True)
        props.section("Protocol (unchanged during a migration)")
        props.set("inter.broker.protocol.version", cluster.inter_broker_protocol_version)

    props.section("Storage")
    props.set("log.dirs", cluster.kafka_broker_log_dirs)
    props.set("num.partitions", cluster.kafka_num_partitions)

    replication = topology.capped(cluster.default_internal_replication_factor)
    default_replication = topology.capped(cluster.kafka_default_replication_factor)
    props.section("Replication")
    props.set("default.replication.factor", default_replication)
    props.set("min.insync.replicas", topology.default_min_insync)
    props.set("offsets.topic.replication.factor", replication)
    props.set("transaction.state.log.replication.factor", replication)
    props.set("transaction.state.log.min.isr", topology.min_insync(replication))

    if cluster.kafka_authorizer_enabled:
        props.section("Authorization")
        props.set("authorizer.class.name", ACL_AUTHORIZER if zookeeper_mode else STANDARD_AUTHORIZER)
        props.set("super.users", super_users(topology))

    return props.override("Custom properties (inventory)", host.custom_properties.get(Component.KAFKA_BROKER, {}))
