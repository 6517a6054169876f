"""An ordered, sectioned set of Java properties: what every *.properties template renders."""

from __future__ import annotations

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


def parse_properties(text: str) -> dict[str, str]:
    """key=value lines of a properties file as found on a host (the subset kafkactl writes: no continuations)."""
    parsed = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, _, value = line.partition("=")
            parsed[key.strip()] = value.strip().replace("\\\\", "\\")
    return parsed
