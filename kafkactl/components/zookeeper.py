"""zookeeper.properties of an ensemble member, and its JAAS file when clients log in with SASL."""

from __future__ import annotations

from kafkactl.components.properties import Properties
from kafkactl.components.security import ZOOKEEPER_DIGEST_MODULE, jaas_quote
from kafkactl.components.topology import Topology
from kafkactl.model import Component, Host, host_port


def zookeeper_properties(topology: Topology, host: Host) -> Properties:
    cluster = topology.cluster
    props = Properties().section("Ensemble")
    props.set("tickTime", 2000).set("initLimit", 10).set("syncLimit", 5)
    props.set("dataDir", cluster.zookeeper_data_dir)
    props.set("clientPort", cluster.zookeeper_client_port)
    if cluster.zookeeper_plain_port_loopback:  # TLS only over the network; the health checks read it on the host
        props.set("clientPortAddress", "127.0.0.1")
    props.set("maxClientCnxns", 0)
    # Bind quorum ports on every address: peers reach each other by name, not by the bind address.
    props.set("quorumListenOnAllIPs", True)
    for member in topology.zookeepers:
        props.set(f"server.{member.zookeeper_id}", f"{host_port(member.name, cluster.zookeeper_peer_port)}:{cluster.zookeeper_leader_port}")

    props.section("Operations")
    props.set("admin.enableServer", False)
    props.set("4lw.commands.whitelist", "srvr,ruok,mntr,stat,conf")
    props.set("autopurge.snapRetainCount", 5).set("autopurge.purgeInterval", 24)

    if cluster.zookeeper_ssl_enabled:
        store_type = cluster.store_type
        props.section("TLS for clients")
        props.set("secureClientPort", cluster.zookeeper_secure_client_port)
        props.set("serverCnxnFactory", "org.apache.zookeeper.server.NettyServerCnxnFactory")
        props.set("ssl.keyStore.location", cluster.ssl_keystore_filepath).set("ssl.keyStore.type", store_type)
        if cluster.ssl_keystore_store_password:
            props.set("ssl.keyStore.password", cluster.ssl_keystore_store_password)
        props.set("ssl.trustStore.location", cluster.ssl_truststore_filepath).set("ssl.trustStore.type", store_type)
        if cluster.ssl_truststore_password:
            props.set("ssl.trustStore.password", cluster.ssl_truststore_password)
        props.set("ssl.clientAuth", "need" if cluster.zookeeper_ssl_mutual_auth_enabled else "none")
    if cluster.zookeeper_sasl_protocol == "digest":
        props.section("SASL for clients")
        props.set("authProvider.sasl", "org.apache.zookeeper.server.auth.SASLAuthenticationProvider")
        if cluster.zookeeper_sasl_required:
            props.set("sessionRequireClientSASLAuth", True)

    return props.override("Custom properties (inventory)", host.custom_properties.get(Component.ZOOKEEPER, {}))


def zookeeper_server_jaas(topology: Topology) -> str | None:
    cluster = topology.cluster
    if cluster.zookeeper_sasl_protocol != "digest":
        return None
    users = "".join(
        f"\n    user_{u.principal}={jaas_quote(u.password.get_secret_value())}" for u in cluster.zookeeper_digest_users.values()
    )
    return f"Server {{\n    {ZOOKEEPER_DIGEST_MODULE} required{users};\n}};\n"
