"""YAML reading that remembers where every key was written, so errors can name file and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kafkactl.errors import InventoryError


@dataclass(frozen=True)
class Origin:
    """Where a value was written: a file and, when known, a 1-based line."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class LineDict(dict):
    """A mapping read from YAML; `key_lines` maps each key to the line it was written on."""

    key_lines: dict[Any, int]


# libyaml's parser when present: large inventories load several times faster.
class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in mapping.key_lines:
            raise InventoryError(
                f"{loader.name}:{line}: duplicate key {key!r} (first written on line {mapping.key_lines[key]})"
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = line
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

VAULT_HEADER = "$ANSIBLE_VAULT;"
VAULT_HELP = ("kafkactl does not decrypt Ansible Vault: keep the secret in an environment variable or a file "
              "and refer to it with \"{{ lookup('env', 'NAME') }}\" or \"{{ lookup('file', 'PATH') }}\", "
              "or decrypt it with ansible-vault decrypt")


def _construct_vault(loader: _LineLoader, node: yaml.Node) -> None:
    raise InventoryError(f"{loader.name}:{node.start_mark.line + 1}: a value encrypted with Ansible Vault (!vault); {VAULT_HELP}")


_LineLoader.add_constructor("!vault", _construct_vault)


def load_yaml(path: Path, *, required: bool = True) -> Any:
    """Parse one YAML file; problems become an InventoryError naming the file (and line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InventoryError(f"{path}: is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{path}: cannot read: {exc}") from None
    if text.startswith(VAULT_HEADER):
        raise InventoryError(f"{path}: the file is encrypted with Ansible Vault; {VAULT_HELP}")
    loader = _LineLoader(text)
    loader.name = str(path)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise InventoryError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise InventoryError(f"{path}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    if data is None and required:
        raise InventoryError(f"{path}: the file is empty")
    return data


def line_of(mapping: Any, key: Any) -> int | None:
    return getattr(mapping, "key_lines", {}).get(key)
