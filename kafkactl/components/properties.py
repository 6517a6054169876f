"""An ordered, sectioned set of Java properties: what every *.properties template renders."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import SecretStr

Value = str | int | bool | SecretStr | Iterable[str]


def format_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, (str, int)):
        return str(value)
    return ",".join(value)


@dataclass
class Section:
    title: str
    items: dict[str, str] = field(default_factory=dict)


class Properties:
    """Settings in titled sections, in the order they were set. A key lives in one section only."""

    def __init__(self) -> None:
        self.sections: list[Section] = []

    def section(self, title: str) -> Properties:
        self.sections.append(Section(title))
        return self

    def set(self, key: str, value: Value) -> Properties:
        self.sections[-1].items[key] = format_value(value)
        return self

    def update(self, values: dict[str, Value]) -> Properties:
        for key, value in values.items():
            self.set(key, value)
        return self

    def override(self, title: str, values: dict[str, str]) -> Properties:
        """Operator-given properties: each replaces a computed one wherever it was, in a section of its own."""
        if not values:
            return self
        for section in self.sections:
            for key in values:
                section.items.pop(key, None)
        self.sections = [s for s in self.sections if s.items]
        return self.section(title).update(values)

    def as_dict(self) -> dict[str, str]:
        return {k: v for section in self.sections for k, v in section.items.items()}

    def visible_sections(self) -> list[Section]:
        return [s for s in self.sections if s.items]


# java.util.Properties, as Kafka and ZooKeeper load it: Properties.load(InputStream) reads ISO-8859-1, so
# every character outside printable ASCII is written as a \uXXXX escape (UTF-16 code units) and files are
# plain ASCII. Keys escape every separator; values only what load() would read differently (a leading
# space, backslashes, line breaks), which keeps listener URLs such as INTERNAL://kafka1:9092 readable.
_PROPERTY_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f"}
_KEY_ESCAPES = {**_PROPERTY_ESCAPES, " ": "\\ ", "=": "\\=", ":": "\\:", "#": "\\#", "!": "\\!"}
_WHITESPACE = " \t\f"


def _escape(text: str, escapes: dict[str, str]) -> str:
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif " " <= char <= "~":
            out.append(char)
        else:
            encoded = char.encode("utf-16-be")
            out.extend(f"\\u{int.from_bytes(encoded[i:i + 2], 'big'):04x}" for i in range(0, len(encoded), 2))
    return "".join(out)


def escape_key(key: str) -> str:
    return _escape(key, _KEY_ESCAPES)


def escape_value(value: str) -> str:
    escaped = _escape(value, _PROPERTY_ESCAPES)
    return "\\" + escaped if escaped.startswith(" ") else escaped


def unescape_property(text: str) -> str:
    """A key or value as load() reads it: \\uXXXX, \\t, \\n, \\r, \\f and any other escaped character."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        index += 1
        if char != "\\" or index == len(text):
            out.append(char)
            continue
        char = text[index]
        index += 1
        if char == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[index:index + 4]):
            out.append(chr(int(text[index:index + 4], 16)))
            index += 4
        else:
            out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(char, char))
    # \uXXXX pairs are UTF-16 surrogates of one character beyond the BMP.
    return "".join(out).encode("utf-16", "surrogatepass").decode("utf-16")


def _ends_continued(line: str) -> bool:
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def split_property(line: str) -> tuple[str, str, str] | None:
    """One logical line as load() splits it: (the raw text up to the value, the key, the raw value), or None
    for a blank or comment line."""
    stripped = line.lstrip(_WHITESPACE)
    if not stripped or stripped[0] in "#!":
        return None
    index, escaped = 0, False
    while index < len(stripped):
        char = stripped[index]
        if not escaped and (char in "=:" or char in _WHITESPACE):
            break
        escaped = char == "\\" and not escaped
        index += 1
    key = stripped[:index]
    separator = index
    if separator < len(stripped) and stripped[separator] in _WHITESPACE:
        while separator < len(stripped) and stripped[separator] in _WHITESPACE:
            separator += 1
    if separator < len(stripped) and stripped[separator] in "=:":
        separator += 1
    while separator < len(stripped) and stripped[separator] in _WHITESPACE:
        separator += 1
    head = line[: len(line) - len(stripped) + separator]
    return head, unescape_property(key), stripped[separator:]


def logical_lines(text: str) -> list[list[str]]:
    """The file's natural lines grouped into logical lines (a line ending in an odd number of backslashes continues)."""
    groups: list[list[str]] = []
    continuing = False
    for line in re.split(r"\r\n|\r|\n", text):
        if continuing:
            groups[-1].append(line)
        else:
            groups.append([line])
        continuing = _ends_continued(line) and (len(groups[-1]) > 1 or split_property(line) is not None)
    return groups


def parse_properties(text: str) -> dict[str, str]:
    """A properties file as java.util.Properties.load reads it: escapes, separators, continuation lines."""
    return dict(_parsed(text))


def protocol_map(properties: dict[str, str]) -> dict[str, str]:
    """listener.security.protocol.map as a dict: listener name -> security protocol."""
    return dict(item.split(":", 1) for item in properties.get("listener.security.protocol.map", "").split(",") if ":" in item)


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> tuple[tuple[str, str], ...]:
    """parse_properties, remembered: a run reads each host's files (as the host holds them, as rendered) several times."""
    parsed = {}
    for group in logical_lines(text):
        split = split_property(join_continued(group))
        if split:
            parsed[split[1]] = unescape_property(split[2])
    return tuple(parsed.items())


def join_continued(lines: list[str]) -> str:
    """The natural lines of one logical line joined as load() joins them."""
    joined = lines[0]
    for line in lines[1:]:
        joined = joined[:-1] + line.lstrip(_WHITESPACE)
    return joined
