"""Who a broker or controller is to the others it talks to, as Kafka's authorizer sees it, and super.users from that.

A broker presents a principal on the inter-broker listener (to the other brokers) and, with KRaft controllers,
on the controller listener (to the controllers, which present theirs there too); inter-broker traffic may move to
any other listener later. Kafka derives the principal from the listener: the SASL user on SASL listeners; the
certificate's distinguished name, mapped by ssl.principal.mapping.rules, on TLS listeners that ask for client
certificates; ANONYMOUS otherwise.
"""

from __future__ import annotations

import re
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from kafkactl.components.topology import Topology
from kafkactl.model import ClusterVars, Host, ResolvedListener

ANONYMOUS = "User:ANONYMOUS"
# Kafka's SslPrincipalMapper: a rule is DEFAULT or RULE:pattern/replacement/ with an optional L or U; several
# are joined by commas, which a pattern may hold too.
_RULE = r"(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?)"
_RULE_SPLITTER = re.compile(rf"\s*({_RULE}|.+?)\s*(?:,\s*|$)")


def parse_rules(rules: list[str]) -> list[tuple[str, str, str] | None]:
    """Each rule as (pattern, replacement, case) or None for DEFAULT; ValueError naming a rule Kafka would refuse."""
    parsed: list[tuple[str, str, str] | None] = []
    for found in _RULE_SPLITTER.finditer(",".join(rules)):
        text = found.group(1)
        if found.group(2):
            parsed.append(None)
        elif found.group(3) is not None:
            try:
                re.compile(found.group(3))
            except re.error as exc:
                raise ValueError(f"rule {text!r}: its pattern is not a regular expression ({exc})") from None
            parsed.append((found.group(3), found.group(4), found.group(5)))
        elif text:
            written = next((rule for rule in rules if text in rule), text)
            raise ValueError(f"rule {written!r} is neither DEFAULT nor RULE:pattern/replacement/ with an optional L or U")
    return parsed


def map_principal(distinguished_name: str, rules: list[str]) -> str | None:
    """The user name ssl.principal.mapping.rules give a certificate's distinguished name (RFC 2253, as Java prints
    it): the first rule whose pattern matches the whole name; None when none does (Kafka then refuses the client)."""
    for rule in parse_rules(rules):
        if rule is None:
            return distinguished_name
        pattern, replacement, case = rule
        if re.fullmatch(pattern, distinguished_name):
            # Java's replacement syntax: $n is a group, a backslash makes the next character literal.
            python = re.sub(r"\\(.)|\$(\d+)", lambda m: m.group(1).replace("\\", "\\\\") if m.group(1) else rf"\g<{m.group(2)}>",
                            replacement)
            mapped = re.sub(pattern, python, distinguished_name)
            return mapped.lower() if case == "L" else mapped.upper() if case == "U" else mapped
    return None


def certificate_in(store: bytes, store_type: str, password: str | None) -> x509.Certificate | None:
    """The certificate a key store presents (PKCS12 opened with its password, or PEM); None for JKS, which only
    Java reads."""
    if store_type == "PEM":
        return x509.load_pem_x509_certificates(store)[0]
    if store_type == "PKCS12":
        return pkcs12.load_key_and_certificates(store, password.encode() if password else None)[1]
    return None


@cache
def _subject(keystore: bytes, store_type: str, password: str | None) -> str | None:
    certificate = certificate_in(keystore, store_type, password)
    return certificate.subject.rfc4514_string() if certificate else None


def certificate_name(cluster: ClusterVars, host: Host) -> str | None:
    """The distinguished name of the certificate a host presents; None when it has no stores from this machine or
    they are JKS, which only Java reads."""
    stores = host.copied_stores
    if stores is None:
        return None
    password = cluster.ssl_keystore_store_password
    return _subject(stores.keystore.get_secret_value(), cluster.store_type, password.get_secret_value() if password else None)


def presented(cluster: ClusterVars, listener: ResolvedListener, host: Host) -> str | None:
    """The principal `host` is on `listener`; None when its certificate's name cannot be read or no rule maps it."""
    if listener.sasl != "none":
        return f"User:{cluster.sasl_users(listener.sasl)[cluster.kafka_broker_sasl_user].principal}"
    if not (listener.ssl and listener.mutual_tls):
        return ANONYMOUS
    name = certificate_name(cluster, host)
    mapped = map_principal(name, cluster.principal_mapping_rules) if name else None
    return f"User:{mapped}" if mapped else None


def _talking(topology: Topology) -> list[tuple[ResolvedListener, tuple[Host, ...]]]:
    """Each listener nodes talk to each other through, with the nodes that present themselves on it (super_users)."""
    cluster = topology.cluster
    talking = [(cluster.inter_broker_listener, topology.brokers + (topology.controllers if topology.controllers_migrating else ()))]
    if topology.runs_controllers:
        talking += [(listener, topology.brokers + topology.controllers) for listener in cluster.controller_listeners]
    talking += [(listener, topology.brokers) for listener in cluster.resolved_listeners.values()
                if listener.sasl != "none" or (listener.ssl and listener.mutual_tls)]
    return talking


def super_users(topology: Topology) -> str:
    """super.users, the same on brokers and controllers: the principal each node presents on each listener it talks
    to the others through (the brokers on the inter-broker listener, joined there by the controllers while they
    migrate; brokers and controllers on the controller listener); the brokers' own identity on every other listener
    that tells who connects (only they hold it, and their traffic may move there: the brokers not yet rolled must
    accept the ones already moved); and the inventory's kafka_super_users. Sorted: a step that only moves traffic
    between listeners leaves the same set, and so the same file, on the nodes it does not otherwise change."""
    cluster = topology.cluster
    own = [principal for listener, hosts in _talking(topology) for host in hosts if (principal := presented(cluster, listener, host))]
    return ";".join(sorted({*own, *cluster.kafka_super_users}))


def unnamed_nodes(topology: Topology) -> list[str]:
    """Nodes the others would refuse: a certificate name no mapping rule takes (Kafka refuses the connection), or,
    with the authorizer on and no kafka_super_users to name them, a certificate whose name cannot be read here."""
    cluster = topology.cluster
    unread: dict[str, list[str]] = {}
    unmatched: dict[str, tuple[str, list[str]]] = {}
    for listener, hosts in _talking(topology):
        if listener.sasl != "none" or not (listener.ssl and listener.mutual_tls):
            continue
        for host in hosts:
            name = certificate_name(cluster, host)
            if name is None:
                unread.setdefault(host.name, []).append(listener.name)
            elif map_principal(name, cluster.principal_mapping_rules) is None:
                unmatched.setdefault(host.name, (name, []))[1].append(listener.name)
    problems = [f"host {host}: no principal_mapping_rules rule takes its certificate name {name}, which it presents over "
                f"{', '.join(dict.fromkeys(listeners))} (mTLS); Kafka would refuse its connections"
                for host, (name, listeners) in unmatched.items()]
    if cluster.kafka_authorizer_enabled and not cluster.kafka_super_users:
        problems += [f"host {host}: the authorizer is on but super.users cannot name it: kafkactl cannot read the name of the "
                     f"certificate it presents over {', '.join(dict.fromkeys(listeners))} (mTLS) (a JKS key store, or stores "
                     "not on this machine); give its stores as PKCS12 or PEM, or name every node's principal in "
                     "kafka_super_users" for host, listeners in unread.items()]
    return problems
