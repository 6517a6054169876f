"""What moving a cluster onto another Kafka version requires, checked before any host is touched.

Kafka 4's upgrade notes: only KRaft clusters (ZooKeeper mode is refused by the inventory's validation),
from 3.3 or later; Java 17 for brokers, controllers and Connect; and settings Kafka 3.x knew that 4.x
no longer does. A broker started with a setting it does not know logs a warning and goes on without
it, so such a setting in custom properties is refused rather than silently dropped.

REMOVED_PROPERTIES is measured, not transcribed: the names in `kafka.server.KafkaConfig.configDef()` of
kafka_2.13 3.9.2 that are missing from that of each later release on Maven Central (4.0.1, 4.1.1, 4.2.0;
4.2.0 removed none). It covers brokers and controllers, which share that definition. The lists and the program that
printed them are in tests/cases/kafka_config_names; tests/test_upgrade.py checks this table against them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from kafkactl.desired import DesiredState
from kafkactl.facts import running_other_than
from kafkactl.model import MIGRATION_PHASES, Component, Inventory, Phase, version_key
from kafkactl.plan import HostFacts, VersionRoll

# The first release without it -> the names; a name ending in "." stands for every one it begins.
REMOVED_PROPERTIES: dict[tuple[int, int], frozenset[str]] = {
    (4, 0): frozenset({
        "zookeeper.", "inter.broker.protocol.version", "broker.id.generation.enable", "reserved.broker.max.id",
        "control.plane.listener.name", "controlled.shutdown.max.retries", "controlled.shutdown.retry.backoff.ms",
        "log.message.format.version", "log.message.downconversion.enable", "log.message.timestamp.difference.max.ms",
        "offsets.commit.required.acks", "delegation.token.master.key", "auto.include.jmx.reporter",
        "alter.config.policy.kraft.compatibility.enable", "eligible.leader.replicas.enable",
        "leader.imbalance.per.broker.percentage", "password.encoder.",
    }),
    (4, 1): frozenset({
        "group.coordinator.new.enable", "group.share.max.groups", "metadata.log.segment.min.bytes",
        "share.fetch.max.fetch.records",
    }),
}
KAFKA_CONFIG_COMPONENTS = (Component.KAFKA_BROKER, Component.KAFKA_CONTROLLER)
JAVA_17_COMPONENTS = (Component.KAFKA_BROKER, Component.KAFKA_CONTROLLER, Component.KAFKA_CONNECT)
OLDEST_SOURCE_FOR_4 = (3, 3)  # the first release with KRaft deemed production ready


def removed_in(version: str, name: str) -> str | None:
    """The release (major.minor) up to `version` that removed broker/controller property `name`, else None."""
    for release, names in sorted(REMOVED_PROPERTIES.items()):
        if release <= version_key(version)[:2] and (name in names or any(n.endswith(".") and name.startswith(n) for n in names)):
            return f"{release[0]}.{release[1]}"
    return None


def unknown_to(version: str) -> Callable[[Component, str], str | None]:
    """Why a custom property is refused on Kafka `version`: one that release no longer knows, else None."""
    def why(component: Component, name: str) -> str | None:
        release = removed_in(version, name) if component in KAFKA_CONFIG_COMPONENTS else None
        if release is None:
            return None
        return f"was removed in Kafka {release}: Kafka {version} would ignore it; remove it"
    return why


def java_major(line: str) -> int | None:
    """The major version in `java -version`'s first line ('openjdk version "17.0.15"', 'java version "1.8.0_402"')."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', line)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def upgrade_refusals(inventory: Inventory, desired: DesiredState, facts: Mapping[str, HostFacts]) -> list[str]:
    """What the hosts as they are forbid about running inventory's kafka_version, one message per problem."""
    version = inventory.cluster.kafka_version
    refusals = []
    running = {(name, service): v for name, f in facts.items() for service, v in sorted(f.service_versions.items())}
    moving = running_other_than(facts, version)
    if moving and desired.phase in MIGRATION_PHASES:
        refusals.append(f"kafka_version {version}: the cluster is between migration states ({desired.phase}) and "
                        f"{', '.join(moving)} run another version; finish or roll back the migration first: one change at a time")
    if version_key(version)[:2] < (4, 0):
        return refusals
    too_old = sorted(f"{name} ({service} {v})" for (name, service), v in running.items() if version_key(v)[:2] < OLDEST_SOURCE_FOR_4)
    if too_old:
        refusals.append(f"kafka_version {version}: Kafka 4 upgrades start from 3.3 or later, and {', '.join(too_old)} "
                        "run an older release; roll onto 3.9 first")
    for host in inventory.hosts:
        line = facts[host.name].java if host.name in facts else ""
        major = java_major(line)
        if major is not None and major < 17 and any(host.has(c) for c in JAVA_17_COMPONENTS):
            refusals.append(f"host {host.name}: Kafka {version} needs Java 17 or later for brokers, controllers and Connect; "
                            f"it has {line.strip()!r} (set java_executable or install a newer Java)")
    return refusals


def version_roll(inventory: Inventory, desired: DesiredState, facts: Mapping[str, HostFacts]) -> VersionRoll | None:
    """The roll of the services that run another release than kafka_version, and the protocol it keeps; None when every
    running service is on it."""
    wanted = inventory.cluster.kafka_version
    hosts = tuple(sorted(name for name, f in facts.items() if any(v != wanted for v in f.service_versions.values())))
    if not hosts:
        return None
    running = tuple(sorted({v for f in facts.values() for v in f.service_versions.values() if v != wanted}, key=version_key))
    if desired.phase == Phase.KRAFT:
        return VersionRoll(running, wanted, hosts, "metadata.version",
                           "kafka_metadata_version moves it later, with Kafka's feature tool, no restart")
    return VersionRoll(running, wanted, hosts, f"inter.broker.protocol.version {inventory.cluster.inter_broker_protocol_version}",
                       "kafka_inter_broker_protocol_version moves it later, in a roll of its own")


def running_versions(facts: Mapping[str, HostFacts]) -> dict[str, dict[str, str]]:
    """The Kafka version each running service uses, by host."""
    return {name: dict(sorted(f.service_versions.items())) for name, f in sorted(facts.items()) if f.service_versions}


def versions_line(inventory: Inventory, facts: Mapping[str, HostFacts]) -> str:
    """One line for `migrate kraft --status`: the versions running, and whether an upgrade is in progress."""
    running = running_versions(facts)
    hosts_by_version: dict[str, list[str]] = {}
    for name, services in running.items():
        for version in set(services.values()):
            hosts_by_version.setdefault(version, []).append(name)
    if not hosts_by_version:
        return "Kafka versions: no Kafka service running"
    shown = "; ".join(f"{version} on {', '.join(sorted(names))}" for version, names in sorted(hosts_by_version.items()))
    wanted = inventory.cluster.kafka_version
    if len(hosts_by_version) > 1:
        return f"Kafka versions: {shown}: upgrade in progress (kafka_version {wanted})"
    return f"Kafka versions: {shown}" + ("" if wanted in hosts_by_version else f" (kafka_version {wanted}: not rolled yet)")
