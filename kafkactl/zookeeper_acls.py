"""The znodes that exist secured once the brokers log in to ZooKeeper: Kafka's ZkSecurityMigrator.

The last step of Kafka's staged move onto SASL between Kafka and ZooKeeper ("Migrating clusters" in Kafka's
security docs): brokers that set ACLs (zookeeper.set.acl) give them only to the znodes they create from then on;
ZkSecurityMigrator --zookeeper.acl secure gives the same ACLs (the broker's SASL user alone may change a znode,
everyone may read the ones clients read) to every znode Kafka has. It logs in as a broker does, with the broker's
JAAS file and, over TLS, its ZooKeeper client settings (the broker's own configuration file).
"""

from __future__ import annotations

from kafkactl.health import checked_zookeeper_connect
from kafkactl.kafka_tools import java_tool
from kafkactl.model import ClusterVars
from kafkactl.remote import Command
from kafkactl.transport import CommandResult, Connection, TransportError

MIGRATOR = "kafka.admin.ZkSecurityMigrator"


def secure_command(cluster: ClusterVars, zookeeper_connect: str, config: str, jaas: str) -> Command:
    tls = ["--zk-tls-config-file", config] if cluster.zookeeper_ssl_enabled else []
    return java_tool(cluster, MIGRATOR, ["--zookeeper.acl", "secure", "--zookeeper.connect", checked_zookeeper_connect(zookeeper_connect),
                                         *tls], heap="192m", jvm=[f"-Djava.security.auth.login.config={jaas}"])


def secure_znodes(connection: Connection, cluster: ClusterVars, zookeeper_connect: str, config: str, jaas: str) -> CommandResult:
    try:
        command = secure_command(cluster, zookeeper_connect, config, jaas)
    except ValueError as exc:
        raise TransportError(f"host {connection.host.name}: {exc}; not used") from None
    return connection.run(command, check=False, timeout=600)
