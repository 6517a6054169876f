"""Pre-flight checks of a migration step: pure functions of the inventory, its renders and the evidence.

Each check returns findings with their own clear message; an error refuses the step before any host
changes, a warning is printed and the step goes on. The facts behind each check are in
shared knowledge of the migration (docs/migration.md, "Pre-flight checks").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from kafkactl.components.security import ACL_AUTHORIZER
from kafkactl.migration.state import MIGRATION, POST_MIGRATION, Evidence, Status
from kafkactl.model import Inventory, Phase

MINIMUM_VERSION = (3, 4, 0)  # the first release with the migration
RECOMMENDED_VERSION = (3, 6, 2)  # KAFKA-15552, KAFKA-16171 fixed
JBOD_VERSION = (3, 7, 0)
JBOD_IBP = "3.7-IV2"


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.message}"


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("-")[0])[:3])


def ibp_level(ibp: str) -> tuple[int, int, float]:
    """inter.broker.protocol.version or metadata.version as (major, minor, IV); a bare "3.7" means 3.7's latest IV."""
    match = re.match(r"^(\d+)\.(\d+)(?:-IV(\d+))?", ibp)
    if not match:
        return (0, 0, 0)
    major, minor, iv = match.groups()
    return int(major), int(minor), float(iv) if iv is not None else float("inf")


def same_level(ibp: str, metadata_version: str) -> bool:
    """A bare IBP ("3.9") matches any IV of that release; a full one must match exactly."""
    wanted, found = ibp_level(ibp), ibp_level(metadata_version)
    return wanted[:2] == found[:2] and (wanted[2] == float("inf") or wanted[2] == found[2])


def preflight(inventory: Inventory, evidence: Evidence, status: Status, phase: Phase,
              kraft_broker_properties: dict[str, dict[str, str]]) -> list[Finding]:
    """Every check that applies to moving to `phase` (rollback: Phase.ZOOKEEPER) from `status`.

    kraft_broker_properties: each broker's properties as the kraft-brokers phase renders them.
    """
    findings: list[Finding] = []
    forward = phase != Phase.ZOOKEEPER
    findings += _versions(inventory, evidence)
    findings += _cluster_ids(evidence)
    findings += _brokers_up(evidence)
    findings += _partitions(evidence)
    if forward:
        findings += _kraft_broker_settings(evidence, kraft_broker_properties)
        findings += _jbod(inventory)
        findings += _metadata_version(inventory, evidence)
    if phase == Phase.DUAL_WRITE:
        findings += _zookeeper_ready(evidence, status)
    if phase in (Phase.KRAFT_BROKERS, Phase.FINALIZE):
        findings += _migration_complete(evidence)
    if phase == Phase.FINALIZE:
        findings += _every_broker_kraft(evidence)
    if phase == Phase.ZOOKEEPER:
        findings += _controller_epochs(evidence)
    return findings


def _error(check: str, message: str) -> Finding:
    return Finding("error", check, message)


def _versions(inventory: Inventory, evidence: Evidence) -> list[Finding]:
    wanted = inventory.cluster.kafka_version
    findings = []
    if version_tuple(wanted) < MINIMUM_VERSION:
        findings.append(_error("version", f"kafka_version {wanted} cannot migrate: the migration exists from Kafka 3.4"))
    elif version_tuple(wanted) < RECOMMENDED_VERSION:
        findings.append(Finding("warning", "version", f"kafka_version {wanted}: migrate on 3.6.2 or later "
                                "(KAFKA-15552, KAFKA-16171 are fixed there)"))
    running = {n.host: n.version for n in evidence.nodes if n.running and n.version}
    other = {host: v for host, v in running.items() if v != wanted}
    if other:
        listing = ", ".join(f"{host} runs {v}" for host, v in sorted(other.items()))
        findings.append(_error("version", f"version change mixed into the migration: kafka_version is {wanted} but {listing}; "
                               "upgrade with `kafkactl apply` first, then migrate"))
    ibp = inventory.cluster.inter_broker_protocol_version
    changed = {n.host: n.config["inter.broker.protocol.version"] for n in evidence.of_role("broker")
               if n.config and n.config.get("inter.broker.protocol.version", ibp) != ibp}
    if changed:
        listing = ", ".join(f"{host} runs {live}" for host, live in sorted(changed.items()))
        findings.append(_error("ibp", f"inter.broker.protocol.version change mixed into the migration: {listing}, "
                               f"the inventory says {ibp}; apply the IBP change first, then migrate"))
    return findings


def _cluster_ids(evidence: Evidence) -> list[Finding]:
    """/cluster/id and every meta.properties must name one cluster."""
    places: dict[str, list[str]] = {}
    if evidence.zookeeper.cluster_id:
        places.setdefault(evidence.zookeeper.cluster_id, []).append("ZooKeeper /cluster/id")
    for node in evidence.nodes:
        for path, cluster_id in node.cluster_ids.items():
            places.setdefault(cluster_id, []).append(f"{node.host}:{path}")
    if len(places) <= 1:
        return []
    listing = "; ".join(f"{cid} in {', '.join(where)}" for cid, where in places.items())
    return [_error("cluster-id", f"cluster id mismatch: {listing}")]


def _brokers_up(evidence: Evidence) -> list[Finding]:
    down = [n.host for n in evidence.of_role("broker") if not n.running]
    findings = [_error("brokers", f"not running: {', '.join(down)}; every broker must be up")] if down else []
    registered = evidence.registered_brokers
    if registered is not None:
        missing = [n.host for n in evidence.of_role("broker") if n.running and n.node_id not in registered]
        if missing:
            findings.append(_error("brokers", f"running but not registered with the cluster: {', '.join(missing)}"))
    return findings


def _partitions(evidence: Evidence) -> list[Finding]:
    partitions = evidence.partitions
    if partitions is None:
        return []
    if isinstance(partitions, str):
        return [_error("partitions", f"could not read partition state: {partitions}")]
    findings = []
    urp = [str(p) for p in partitions if len(p.isr) < len(p.replicas)]
    if urp:
        findings.append(_error("under-replicated", f"{len(urp)} under-replicated partitions ({', '.join(urp[:5])}); "
                               "wait until they are back in sync"))
    offline = [str(p) for p in partitions if p.leader < 0]
    if offline:
        findings.append(_error("offline", f"{len(offline)} offline partitions ({', '.join(offline[:5])})"))
    known = set(evidence.registered_brokers or ()) | {n.node_id for n in evidence.of_role("broker")}
    orphans = sorted({r for p in partitions for r in p.replicas} - known)
    if orphans:
        holders = [str(p) for p in partitions if set(p.replicas) & set(orphans)]
        findings.append(_error("unregistered-replica", f"broker id {', '.join(map(str, orphans))} holds replicas "
                               f"({', '.join(holders[:5])}) but is not a registered broker: a dead broker in the "
                               "assignments stalls the migration; reassign those partitions first"))
    return findings


def _kraft_broker_settings(evidence: Evidence, kraft_broker_properties: dict[str, dict[str, str]]) -> list[Finding]:
    findings = []
    in_use = sorted({n.host for n in evidence.of_role("broker") if n.config and "control.plane.listener.name" in n.config}
                    | {host for host, props in kraft_broker_properties.items() if "control.plane.listener.name" in props})
    if in_use:
        findings.append(_error("control-plane-listener", f"control.plane.listener.name is set on {', '.join(in_use)}: "
                               "KRaft brokers cannot start with it (KAFKA-17788); remove it, apply, then migrate"))
    acl = sorted(host for host, props in kraft_broker_properties.items() if props.get("authorizer.class.name") == ACL_AUTHORIZER)
    if acl:
        findings.append(_error("acl-authorizer", f"{', '.join(acl)} would run {ACL_AUTHORIZER} as KRaft brokers, which "
                               "crashes them; remove authorizer.class.name from kafka_broker_custom_properties and set "
                               "kafka_authorizer_enabled: true (StandardAuthorizer in KRaft mode)"))
    return findings


def _jbod(inventory: Inventory) -> list[Finding]:
    cluster = inventory.cluster
    if len(cluster.kafka_broker_log_dirs) < 2:
        return []
    if version_tuple(cluster.kafka_version) < JBOD_VERSION:
        return [_error("jbod", f"brokers use several log dirs (JBOD), which Kafka {cluster.kafka_version} cannot migrate; "
                       "upgrade to 3.7 or later first")]
    if ibp_level(cluster.inter_broker_protocol_version) < ibp_level(JBOD_IBP):
        return [_error("jbod", f"brokers use several log dirs (JBOD), which needs inter.broker.protocol.version {JBOD_IBP} "
                       f"or later; it is {cluster.inter_broker_protocol_version}")]
    return []


def _metadata_version(inventory: Inventory, evidence: Evidence) -> list[Finding]:
    ibp = inventory.cluster.inter_broker_protocol_version
    found = evidence.metadata_version
    if found and not same_level(ibp, found):
        return [_error("metadata-version", f"the controllers' metadata.version is {found} but the brokers' "
                       f"inter.broker.protocol.version is {ibp}: brokers would fail to register")]
    return []


def _zookeeper_ready(evidence: Evidence, status: Status) -> list[Finding]:
    zk = evidence.zookeeper
    if not zk.read:
        return [_error("zookeeper", f"ZooKeeper could not be read: {zk.error}")]
    findings = []
    if status.state is not None and zk.migration is not None:
        # Controllers write an empty one (every field -1) as they start; one with an offset carries an earlier attempt.
        used = int(zk.migration.get("kraft_metadata_offset", -1)) >= 0
        message = (f"ZooKeeper has a /migration znode ({json.dumps(zk.migration)}) although no migration is under way "
                   "(left by an earlier attempt or zookeeper-security-migration; KAFKA-17146, KAFKA-19480)")
        findings.append(Finding("error" if used else "warning", "stale-migration-znode",
                                message + (": check it and delete it before migrating" if used else "; it carries no "
                                           "metadata offset and is overwritten")))
    if status.state is not None and zk.controller is None:
        findings.append(_error("active-controller", "ZooKeeper has no /controller: there is no active controller"))
    return findings


def _migration_complete(evidence: Evidence) -> list[Finding]:
    states = {n.host: n.zk_migration_state for n in evidence.of_role("controller")}
    if not {MIGRATION, POST_MIGRATION} & set(states.values()):
        listing = ", ".join(f"{host} {value}" for host, value in states.items())
        return [_error("migration-incomplete", f"the controllers do not report ZkMigrationState 1 (MIGRATION): {listing}; "
                       "the metadata migration has not completed")]
    return []


def _every_broker_kraft(evidence: Evidence) -> list[Finding]:
    not_kraft = [f"{n.host} ({n.effective_mode})" for n in evidence.of_role("broker") if n.effective_mode != "kraft" or not n.running]
    down = [n.host for n in evidence.of_role("controller") if not n.running]
    findings = []
    counted = max((n.migrating_zk_brokers or 0 for n in evidence.of_role("controller")), default=0)
    if counted and not not_kraft:
        not_kraft.append(f"{counted} counted by the controllers (MigratingZkBrokerCount)")
    if not_kraft:
        findings.append(_error("brokers-not-kraft", f"finalize needs every broker running as a KRaft broker; not yet: "
                               f"{', '.join(not_kraft)} (Kafka does not check this itself, KAFKA-20960)"))
    if down:
        findings.append(_error("controllers", f"finalize needs every controller healthy; not running: {', '.join(down)}"))
    return findings


def _controller_epochs(evidence: Evidence) -> list[Finding]:
    """While the KRaft controllers are in charge, /controller must name one of them: a ZooKeeper-mode controller
    elected since then has moved ZooKeeper's controller epoch ahead of the KRaft one."""
    zk = evidence.zookeeper
    migrating = any(n.effective_mode == "migrating" for n in evidence.of_role("controller"))
    if migrating and zk.controller is not None and zk.kraft_controller_epoch is None:
        return [_error("controller-epoch", f"ZooKeeper's /controller names ZooKeeper-mode broker {zk.controller.get('brokerid')} "
                       "while the KRaft controllers are in dual-write: its controller epoch is ahead of the KRaft one, and "
                       "reverting now can take partitions offline (KAFKA-20488); find out why before rolling back")]
    return []
