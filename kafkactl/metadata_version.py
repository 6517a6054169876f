"""A KRaft cluster's metadata.version moves only when the inventory writes kafka_metadata_version.

Kafka's upgrade notes: roll the new binaries first (metadata.version stays where it is), then raise
metadata.version with the feature tool, with no restart. kafkactl reads the finalized level from a
running controller, plans the move as a cluster change, and makes it after every node is rolled. A
level below the live one is refused (downgrades are not supported), and so is a move while any node
still runs another Kafka version than kafka_version: one change at a time. A roll onto another release
reads the level first: kafka_version must read it (Kafka 4 reads 3.3-IV3 and later; binaries roll back
only to a release at or past it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kafkactl.facts import as_running, running_members, running_other_than
from kafkactl.health import kafka_tool
from kafkactl.kafka_tools import admin_config
from kafkactl.model import ClusterVars, Component, Host, Inventory, Phase, host_port, version_key
from kafkactl.plan import FeatureChange, HostFacts
from kafkactl.tool_output import read_metadata_version
from kafkactl.transport import Connection, Transport

KEY = "kafka_metadata_version"
FEATURE = "metadata.version"
FEATURE_TOOL = "org.apache.kafka.tools.FeatureCommand"
# Major release -> the oldest metadata.version it reads: MetadataVersion.MINIMUM_VERSION in kafka-server-common
# 4.0.1, 4.1.1 and 4.2.0 (measured). Kafka 4's upgrade notes: metadata.version must be at least 3.3.
OLDEST_READ = {4: "3.3-IV3"}


def level(version: str) -> tuple[int, int, int | None]:
    """'3.9-IV0' -> (3, 9, 0); '4.1' -> (4, 1, None): a release without IV means its newest level."""
    found = re.fullmatch(r"(\d+)\.(\d+)(?:-IV(\d+))?", version)
    if not found:
        raise ValueError(f"{version!r} is not a metadata.version")
    major, minor, iv = found.groups()
    return int(major), int(minor), None if iv is None else int(iv)


def is_reached(live: str, wanted: str) -> bool:
    """True when the live level is the wanted one (a release without IV is reached by any of its levels)."""
    have, want = level(live), level(wanted)
    return have[:2] == want[:2] if want[2] is None else have == want


def is_below(wanted: str, live: str) -> bool:
    want, have = level(wanted), level(live)
    return want[:2] < have[:2] or (want[:2] == have[:2] and want[2] is not None and want[2] < (have[2] or 0))


def wanted(cluster: ClusterVars) -> str | None:
    """The level the inventory asks for; None when it writes none (the live level stays)."""
    return cluster.kafka_metadata_version if KEY in cluster.model_fields_set else None


def describe(connection: Connection, cluster: ClusterVars, controller: Host) -> str:
    """The finalized metadata.version, asked of `controller` with the feature tool."""
    return read_metadata_version(kafka_tool(connection, cluster, FEATURE_TOOL, [
        "--bootstrap-controller", host_port(controller.name, cluster.quorum_listener.port),
        "--command-config", admin_config(cluster), "describe"]))


def raise_to(connection: Connection, cluster: ClusterVars, controller: Host, target: str):
    """`kafka-features upgrade --metadata`: moves metadata.version alone (--release-version would move every feature)."""
    return kafka_tool(connection, cluster, FEATURE_TOOL, [
        "--bootstrap-controller", host_port(controller.name, cluster.quorum_listener.port),
        "--command-config", admin_config(cluster), "upgrade", "--metadata", target])


def live_level(transport: Transport, inventory: Inventory, phase: Phase, facts: Mapping[str, HostFacts]) -> str | None:
    """The finalized metadata.version, read from a running controller when the plan needs it: the inventory moves it, or
    a node runs another release than kafka_version (a roll onto a release that may not read the level). Else None,
    and no tool runs."""
    controllers = running_members(inventory, facts, Component.KAFKA_CONTROLLER)
    if phase != Phase.KRAFT or not controllers or (wanted(inventory.cluster) is None and not _across_releases(inventory, facts)):
        return None
    asked = controllers[0]
    tools = as_running(inventory.cluster, facts[asked.name], Component.KAFKA_CONTROLLER)
    return describe(transport.connection(asked.name), tools, asked)


def _across_releases(inventory: Inventory, facts: Mapping[str, HostFacts]) -> bool:
    release = version_key(inventory.cluster.kafka_version)[:2]
    return any(version_key(v)[:2] != release for f in facts.values() for v in f.service_versions.values())


def oldest_read_by(version: str) -> str | None:
    """The oldest metadata.version Kafka `version` reads; None for 3.x, which reads every production level up to its own."""
    major = version_key(version)[0]
    return next((oldest for since, oldest in sorted(OLDEST_READ.items(), reverse=True) if major >= since), None)


def planned_change(inventory: Inventory, live: str | None) -> FeatureChange | None:
    """The metadata.version move the inventory asks of a running KRaft cluster at level `live`, else None."""
    target = wanted(inventory.cluster)
    return None if target is None or live is None or is_reached(live, target) else FeatureChange(FEATURE, live, target)


def release_refusals(live: str | None, inventory: Inventory) -> list[str]:
    """kafka_version must read the finalized level: a roll back ends where the level moved past it, and a roll onto
    Kafka 4 needs the level it reads at the least."""
    version = inventory.cluster.kafka_version
    if live is None:
        return []
    if level(live)[:2] > version_key(version)[:2]:
        return [f"kafka_version {version}: the cluster's metadata.version is {live}, which Kafka {version} cannot read; binaries "
                f"roll back only until metadata.version moves, and it is never lowered: keep kafka_version at "
                f"{'.'.join(map(str, level(live)[:2]))} or later"]
    oldest = oldest_read_by(version)
    if oldest and is_below(live, oldest):
        return [f"kafka_version {version}: the cluster's metadata.version is {live}, older than {oldest}, the oldest Kafka "
                f"{version} reads; raise it first on the release the cluster runs ({KEY}: \"{oldest}\" or later), then roll"]
    return []


def refusals(change: FeatureChange | None, inventory: Inventory, facts: Mapping[str, HostFacts]) -> list[str]:
    """A move down, or a move while any node still runs another Kafka version than kafka_version."""
    if change is None:
        return []
    if is_below(change.wanted, change.live):
        return [f"{KEY} {change.wanted} is below the cluster's metadata.version {change.live}: metadata.version is never "
                f"lowered; write {change.live} or later"]
    version = inventory.cluster.kafka_version
    behind = running_other_than(facts, version)
    if behind:
        return [f"{KEY} {change.wanted} moves metadata.version from {change.live} while {', '.join(behind)} still run another "
                f"Kafka version than {version}: one change at a time. Roll onto {version} with {KEY}: \"{change.live}\" first, "
                "then move metadata.version"]
    return []
