"""Facts about the whole cluster that every component's properties need, computed once per render."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from kafkactl.model import ClusterVars, Component, Host, Inventory, Phase, ResolvedListener, host_port


@dataclass(frozen=True)
class Topology:
    inventory: Inventory
    phase: Phase
    zookeepers: tuple[Host, ...]
    controllers: tuple[Host, ...]
    brokers: tuple[Host, ...]

    @classmethod
    def of(cls, inventory: Inventory, phase: Phase) -> Topology:
        def by_id(component: Component, key) -> tuple[Host, ...]:
            return tuple(sorted(inventory.members(component), key=key))

        return cls(
            inventory=inventory,
            phase=phase,
            zookeepers=by_id(Component.ZOOKEEPER, lambda h: h.zookeeper_id),
            controllers=by_id(Component.KAFKA_CONTROLLER, lambda h: h.node_id),
            brokers=by_id(Component.KAFKA_BROKER, lambda h: h.broker_id),
        )

    @property
    def cluster(self) -> ClusterVars:
        return self.inventory.cluster

    # What each phase means for the two Kafka roles (see docs/migration.md).
    @property
    def brokers_use_zookeeper(self) -> bool:
        return self.phase in (Phase.ZOOKEEPER, Phase.DUAL_WRITE)

    @property
    def controllers_migrating(self) -> bool:
        return self.phase in (Phase.DUAL_WRITE, Phase.KRAFT_BROKERS)

    @property
    def runs_controllers(self) -> bool:
        return self.phase != Phase.ZOOKEEPER

    @cached_property
    def zookeeper_connect(self) -> str:
        cluster = self.cluster
        port = cluster.zookeeper_secure_client_port if cluster.zookeeper_ssl_enabled else cluster.zookeeper_client_port
        return ",".join(host_port(h.name, port) for h in self.zookeepers) + cluster.zookeeper_chroot

    @cached_property
    def quorum_voters(self) -> str:
        port = self.cluster.quorum_listener.port
        return ",".join(f"{h.node_id}@{host_port(h.name, port)}" for h in self.controllers)

    def bootstrap_servers(self, listener: ResolvedListener) -> list[str]:
        return [host_port(h.name, listener.port) for h in self.brokers]

    def capped(self, replication: int) -> int:
        return capped_replication(replication, len(self.brokers))

    @property
    def internal_replication(self) -> int:
        """Replication of Connect's and Schema Registry's topics: capped by the brokers, unless they are elsewhere."""
        wanted = self.cluster.default_internal_replication_factor
        return wanted if self.cluster.external_kafka else self.capped(wanted)

    def min_insync(self, replication: int) -> int:
        return min_insync(self.cluster.kafka_min_insync_replicas, replication)

    @property
    def default_min_insync(self) -> int:
        """The brokers' min.insync.replicas: what a topic that sets none of its own keeps."""
        return self.min_insync(self.capped(self.cluster.kafka_default_replication_factor))


def capped_replication(replication: int, brokers: int) -> int:
    """A replication factor no larger than the number of brokers."""
    return max(1, min(replication, brokers))


def min_insync(wanted: int, replication: int) -> int:
    """min.insync.replicas below the replication factor so one broker can be down."""
    return max(1, min(wanted, replication - 1)) if replication < wanted + 1 else wanted
