"""Ansible-style YAML inventory: groups, children, hosts, and their variables merged per host.

Variable precedence follows Ansible: `all`, then groups by depth (parents before children, then by
name), then the host itself; a group_vars/ or host_vars/ file beside the inventory wins over the
inline vars of the same group or host. `*_custom_properties` dicts are merged key by key instead of
replaced, so a host can change one property without repeating its group's.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from kafkactl.errors import InventoryError
from kafkactl.inventory.yamlfile import Origin, line_of, load_yaml
from kafkactl.model import check_host_name

GROUP_KEYS = ("hosts", "vars", "children")
MERGED_DICT_SUFFIX = "_custom_properties"
GROUP_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class Group:
    name: str
    origin: Origin
    vars: dict[str, Any] = field(default_factory=dict)
    var_origins: dict[str, Origin] = field(default_factory=dict)
    hosts: dict[str, None] = field(default_factory=dict)  # an ordered set: the order the inventory lists them, as Ansible keeps them
    children: list[str] = field(default_factory=list)
    parents: set[str] = field(default_factory=set)


@dataclass
class RawHost:
    """A host with every variable that applies to it, and where each one was written."""

    name: str
    origin: Origin
    groups: set[str]
    vars: dict[str, Any]
    origins: dict[str, Origin]


@dataclass
class RawInventory:
    path: Path
    groups: dict[str, Group]
    hosts: dict[str, RawHost]

    def members(self, name: str) -> list[str]:
        """A group's hosts in Ansible's order (`groups['kafka_broker']`): its own, then each child group's, depth first."""
        ordered: dict[str, None] = {}  # an ordered set: a host in two child groups counts once, where first seen

        def visit(group: Group) -> None:
            ordered.update(dict.fromkeys(group.hosts))
            for child in group.children:
                visit(self.groups[child])

        if name in self.groups:
            visit(self.groups[name])
        return list(ordered)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = str(path)
        self.groups: dict[str, Group] = {"all": Group("all", Origin(self.file, 1))}
        self.host_vars: dict[str, dict[str, Any]] = {}
        self.host_var_origins: dict[str, dict[str, Origin]] = {}
        self.host_origin: dict[str, Origin] = {}

    def origin(self, mapping: Any, key: Any) -> Origin:
        return Origin(self.file, line_of(mapping, key))

    def group(self, name: str, origin: Origin) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name, origin)
        return self.groups[name]

    def read_group(self, name: Any, body: Any, origin: Origin, parent: str | None) -> None:
        if not isinstance(name, str) or not GROUP_NAME.fullmatch(name):
            raise InventoryError(f"{origin}: group name must be letters, digits, _ . and -, got {name!r}")
        group = self.group(name, origin)
        if parent is not None and name != "all":
            group.parents.add(parent)
            if name not in self.groups[parent].children:
                self.groups[parent].children.append(name)
        if body is None:
            return
        if not isinstance(body, dict):
            raise InventoryError(
                f"{origin}: group {name}: expected a mapping with hosts, vars or children, got {type(body).__name__}"
            )
        for key in body:
            if key not in GROUP_KEYS:
                raise InventoryError(
                    f"{self.origin(body, key)}: group {name}: unknown key {key!r} (a group holds hosts, vars and children)"
                )
        self.read_vars(group, body.get("vars"), self.origin(body, "vars"))
        hosts = body.get("hosts")
        if hosts is not None:
            if not isinstance(hosts, dict):
                raise InventoryError(
                    f"{self.origin(body, 'hosts')}: group {name}: hosts must be a mapping of host name to its variables"
                )
            for host, host_vars in hosts.items():
                self.read_host(group, host, host_vars, self.origin(hosts, host))
        children = body.get("children")
        if children is not None:
            if not isinstance(children, dict):
                raise InventoryError(
                    f"{self.origin(body, 'children')}: group {name}: children must be a mapping of group names"
                )
            for child, child_body in children.items():
                self.read_group(child, child_body, self.origin(children, child), name)

    def read_vars(self, group: Group, data: Any, origin: Origin) -> None:
        if data is None:
            return
        if not isinstance(data, dict):
            raise InventoryError(f"{origin}: group {group.name}: vars must be a mapping")
        for key, value in data.items():
            group.vars[key] = value
            group.var_origins[key] = self.origin(data, key)

    def read_host(self, group: Group, pattern: Any, data: Any, origin: Origin) -> None:
        if not isinstance(pattern, str) or not pattern:
            raise InventoryError(f"{origin}: group {group.name}: host name must be a string, got {pattern!r}")
        try:
            names = expand_host_range(pattern)
        except ValueError as exc:
            raise InventoryError(f"{origin}: group {group.name}: host {pattern}: {exc}") from None
        for host in names:
            self.read_one_host(group, host, data, origin)

    def read_one_host(self, group: Group, host: str, data: Any, origin: Origin) -> None:
        try:
            check_host_name(host)
        except ValueError as exc:
            raise InventoryError(f"{origin}: group {group.name}: {exc}") from None
        group.hosts.setdefault(host)
        self.host_origin.setdefault(host, origin)
        if data is None:
            return
        if not isinstance(data, dict):
            raise InventoryError(f"{origin}: host {host}: host variables must be a mapping")
        self.host_vars.setdefault(host, {}).update(data)
        self.host_var_origins.setdefault(host, {}).update({k: self.origin(data, k) for k in data})

    def read_side_files(self, folder: str, names: list[str]) -> dict[str, tuple[dict[str, Any], dict[str, Origin]]]:
        """group_vars/<name>.yml or host_vars/<name>/*.yml beside the inventory file."""
        base = self.path.parent / folder
        found: dict[str, tuple[dict[str, Any], dict[str, Origin]]] = {}
        if not base.is_dir():
            return found
        for name in names:
            files: list[Path] = []
            for suffix in ("", ".yml", ".yaml"):
                candidate = base / f"{name}{suffix}"
                if candidate.is_file():
                    files.append(candidate)
                elif suffix == "" and candidate.is_dir():
                    files.extend(sorted(p for p in candidate.iterdir() if p.suffix in (".yml", ".yaml")))
            for file in files:
                data = load_yaml(file, required=False)
                if data is None:
                    continue
                if not isinstance(data, dict):
                    raise InventoryError(f"{file}: expected a mapping of variables, got {type(data).__name__}")
                values, origins = found.setdefault(name, ({}, {}))
                values.update(data)
                origins.update({k: Origin(str(file), line_of(data, k)) for k in data})
        return found


HOST_RANGE = re.compile(r"\[([0-9]+|[A-Za-z]):([0-9]+|[A-Za-z])(?::([0-9]+))?\]")


def expand_host_range(pattern: str) -> list[str]:
    """Ansible's host ranges: `kfk[01:03].example.com` (width kept), `zk-[a:c]`, `[1:9:2]` (a stride), several in one name."""
    match = HOST_RANGE.search(pattern)
    if match is None:
        return [pattern]
    start, end, stride = match.group(1), match.group(2), match.group(3) or "1"
    if not stride.isdigit() or int(stride) < 1:
        raise ValueError(f"the range's stride must be a positive whole number, got {stride!r}")
    if start.isdigit() and end.isdigit():
        if int(start) > int(end):
            raise ValueError(f"the range [{start}:{end}] runs backwards")
        width = len(start) if start.startswith("0") else 0
        items = [str(n).zfill(width) for n in range(int(start), int(end) + 1, int(stride))]
    elif len(start) == 1 and len(end) == 1 and start.isalpha() and end.isalpha() and start <= end:
        items = [chr(c) for c in range(ord(start), ord(end) + 1, int(stride))]
    else:
        raise ValueError(f"[{start}:{end}] is not a range of numbers or of single letters (such as [01:03] or [a:c])")
    head, tail = pattern[:match.start()], pattern[match.end():]
    return [name for item in items for name in expand_host_range(head + item + tail)]


def _depths(groups: dict[str, Group]) -> dict[str, int]:
    depth: dict[str, int] = {}

    def visit(name: str, seen: tuple[str, ...]) -> int:
        if name in depth:
            return depth[name]
        if name in seen:
            raise InventoryError(f"{groups[name].origin}: group {name} is its own ancestor")
        parents = groups[name].parents or ({"all"} if name != "all" else set())
        depth[name] = 0 if name == "all" else 1 + max(visit(p, seen + (name,)) for p in parents)
        return depth[name]

    for name in groups:
        visit(name, ())
    return depth


def _ancestors(groups: dict[str, Group], name: str) -> set[str]:
    result = {name, "all"}
    for parent in groups[name].parents:
        result |= _ancestors(groups, parent)
    return result


def _merge(target: dict[str, Any], origins: dict[str, Origin], values: dict[str, Any], where: dict[str, Origin]) -> None:
    for key, value in values.items():
        if key.endswith(MERGED_DICT_SUFFIX) and isinstance(value, dict) and isinstance(target.get(key), dict):
            target[key] = {**target[key], **value}
        else:
            target[key] = value
        origins[key] = where[key]


INI_SECTION = re.compile(r"^\[[A-Za-z0-9_.-]+(:(vars|children))?\]\s*$")


def _refuse_ini(path: Path) -> None:
    """An INI inventory (`[kafka_broker]` sections) reads as invalid YAML: say what it is and how to convert it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return  # load_yaml names the problem
    first = next((line.strip() for line in lines if line.strip() and not line.lstrip().startswith(("#", ";"))), "")
    if INI_SECTION.match(first):
        raise InventoryError(f"{path}: an INI inventory; kafkactl reads YAML inventories: convert it with "
                             f"ansible-inventory -i {path} --list --yaml > inventory.yml")


def load_inventory(path: Path) -> RawInventory:
    _refuse_ini(path)
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise InventoryError(f"{path}: an inventory is a mapping of groups (such as all:), got {type(data).__name__}")
    reader = _Reader(path)
    for name, body in data.items():
        reader.read_group(name, body, reader.origin(data, name), parent="all" if name != "all" else None)

    groups = reader.groups
    group_files = reader.read_side_files("group_vars", sorted(groups))
    for name, (values, origins) in group_files.items():
        _merge(groups[name].vars, groups[name].var_origins, values, origins)
    depth = _depths(groups)
    hosts_of: dict[str, set[str]] = {}
    for group in groups.values():
        for host in group.hosts:
            hosts_of.setdefault(host, set()).update(_ancestors(groups, group.name))
    host_files = reader.read_side_files("host_vars", sorted(hosts_of))

    hosts: dict[str, RawHost] = {}
    for host in sorted(hosts_of):
        merged: dict[str, Any] = {}
        origins: dict[str, Origin] = {}
        for name in sorted(hosts_of[host], key=lambda g: (depth[g], g)):
            _merge(merged, origins, groups[name].vars, groups[name].var_origins)
        _merge(merged, origins, reader.host_vars.get(host, {}), reader.host_var_origins.get(host, {}))
        if host in host_files:
            _merge(merged, origins, *host_files[host])
        hosts[host] = RawHost(host, reader.host_origin[host], hosts_of[host], merged, origins)
    for raw_host in hosts.values():
        _resolve_templates(raw_host)
    return RawInventory(path, groups, hosts)


class SecretText(str):
    """A string that came from a secret source (environment or file lookup); masked in output."""


def _lookup(kind: str, arg: str) -> str:
    if kind == "env":
        value = os.environ.get(arg)
        if value is None:
            raise LookupError(f"environment variable {arg} is not set")
        return SecretText(value)
    if kind == "file":
        try:
            return SecretText(Path(arg).expanduser().read_text(encoding="utf-8").rstrip("\n"))
        except OSError as exc:
            raise LookupError(f"cannot read {arg}: {exc.strerror}") from None
    raise LookupError(f"lookup {kind!r} is not supported (kafkactl supports env and file)")


_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


def _resolve_templates(host: RawHost) -> None:
    """Evaluate Ansible-style {{ }} expressions in string values, with lookup('env'|'file', ...).

    A value may refer to variables that are templates themselves (`{{ deployment_path }}/data`): as
    Ansible does, each variable it names is resolved first, as deep as they go. What a template gives
    is data and is never rendered again (an environment variable holding `{{ ... }}` stays as it is).
    A value that a secret lookup gave, or that refers to one, stays a secret.
    """
    raw = dict(host.vars)
    resolving: list[str] = []

    def resolve(key: str) -> Any:
        if key in resolving:
            cycle = " -> ".join([*resolving[resolving.index(key):], key])
            raise InventoryError(f"{host.origins[key]}: host {host.name}: {key}: its template refers to itself ({cycle})")
        if key in raw:
            resolving.append(key)
            host.vars[key] = render(raw.pop(key), key)
            resolving.pop()
        return host.vars[key]

    def render(value: Any, key: str) -> Any:
        if isinstance(value, str) and "{{" in value:
            try:
                names = jinja2.meta.find_undeclared_variables(_JINJA.parse(value)) & host.vars.keys()
                context = {name: resolve(name) for name in names}
                rendered = _JINJA.from_string(value).render(context, inventory_hostname=host.name, lookup=_lookup)
            except (jinja2.TemplateError, LookupError) as exc:
                raise InventoryError(f"{host.origins[key]}: host {host.name}: {key}: {exc}") from None
            secret = "lookup(" in value or any(isinstance(v, SecretText) for v in context.values())
            return SecretText(rendered) if secret else rendered
        if isinstance(value, dict):
            return {k: render(v, key) for k, v in value.items()}
        if isinstance(value, list):
            return [render(v, key) for v in value]
        return value

    for key in list(host.vars):
        resolve(key)
