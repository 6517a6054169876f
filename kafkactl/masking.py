"""Secrets never reach the screen: masking by position, on data before it is serialised.

A value is masked because of where it sits (a property whose key names a password or secret, a JAAS
`password=` or `user_<name>=` option, a `-D...password...=` JVM option, an Environment= variable named
like a secret, a value read through a lookup), never because some text contains a secret's characters:
a secret that is also an ordinary word (`kafka`) leaves host and group names alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from kafkactl.components.properties import escape_value, join_continued, logical_lines, split_property, unescape_property

MASK = "********"
_SECRET_NAME = re.compile(r"passw|secret|credential|keystore\.key$", re.IGNORECASE)  # ssl.keystore.key: an inline PEM key
_JAAS_KEY = re.compile(r"jaas", re.IGNORECASE)
# name=value options of a JAAS configuration. A value is a quoted string (escaped quotes inside) that ends
# where an option may end; anything else (a raw quote inside, as files written unescaped hold) runs to the
# next option or the closing `;`, so no piece of it is left showing.
_JAAS_OPTION = re.compile(
    r'''(?P<name>[A-Za-z_$][\w.$-]*)(?P<sep>\s*=\s*)'''
    r'''(?P<value>"(?:[^"\\]|\\.)*"(?=[\s;]|$)|'(?:[^'\\]|\\.)*'(?=[\s;]|$)|.*?(?=\s+[A-Za-z_$][\w.$-]*\s*=|\s*;\s*$|\s*$))''',
    re.MULTILINE,
)
# A secret named in free text: `password=...` up to the end of its token (quoted, or to a space , ; ] ) ).
_NAMED_VALUE = re.compile(r'''(?P<name>-D[\w.$-]+|\b[\w.$-]+)(?P<sep>=)(?P<value>"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|[^\s,;\])]*)''')
# A systemd word: quoted chunks and bare runs, side by side (FOO="a b" is one word).
_SYSTEMD_WORD = re.compile(r'(?:"(?:[^"\\]|\\.)*"?|[^\s"]+)+')
_SYSTEMD_CHUNK = re.compile(r'"((?:[^"\\]|\\.)*)"?|([^"]+)')


def names_secret(name: str) -> bool:
    """A setting whose name says its value is a secret: *password*, *passwd*, *secret*, *credential*, *keystore.key."""
    return bool(_SECRET_NAME.search(name))


def _is_secret_option(name: str) -> bool:
    return names_secret(name) or name.startswith("user_")


def mask_jaas(text: str) -> str:
    """A JAAS configuration with the value of every password and user_<name> option masked."""
    return _JAAS_OPTION.sub(
        lambda m: f"{m['name']}{m['sep']}\"{MASK}\"" if _is_secret_option(m["name"]) else m.group(), text
    )


def mask_named_values(text: str) -> str:
    """Free text (an error, a command): `name=value` tokens whose name says secret, JAAS options included."""
    def replace(match: re.Match[str]) -> str:
        if not _is_secret_option(match["name"].removeprefix("-D")):
            return match.group()
        quote = match["value"][:1] if match["value"][:1] in "\"'" else ""
        return f"{match['name']}{match['sep']}{quote}{MASK}{quote}"

    return _NAMED_VALUE.sub(replace, text)


class Masker:
    """Masks what kafkactl prints. `secret_values` are values read through lookups: masked wherever one is a
    whole value (a property's or an environment variable's), never inside other text."""

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        self.secret_values = frozenset(s for s in secret_values if s)

    def __call__(self, text: str) -> str:
        return mask_named_values(text)

    # Files, by format -------------------------------------------------------------------------

    def property_value(self, key: str, value: str) -> str:
        if names_secret(key) or value in self.secret_values:
            return MASK
        if _JAAS_KEY.search(key):
            return mask_jaas(value)
        return value

    def properties_lines(self, lines: list[str]) -> list[str]:
        """The natural lines of one logical properties line (continuations included), its value masked."""
        split = split_property(join_continued(lines))
        if split is None:
            return lines
        head, key, raw_value = split
        value = unescape_property(raw_value)
        masked = self.property_value(key, value)
        if masked == value:
            return lines
        return [head + escape_value(masked)] + [MASK] * (len(lines) - 1)

    def unit_line(self, line: str) -> str:
        """A systemd unit line: each Environment= assignment by its name, -D options by theirs."""
        name, sep, rest = line.partition("=")
        if name.strip() != "Environment" or not sep:
            return mask_named_values(line)
        words = []
        for word in _SYSTEMD_WORD.findall(rest):
            assignment = "".join(
                re.sub(r"\\(.)", r"\1", quoted) if quoted or not bare else bare for quoted, bare in _SYSTEMD_CHUNK.findall(word)
            ).replace("%%", "%")
            variable, equals, value = assignment.partition("=")
            if names_secret(variable) or value in self.secret_values:
                masked = MASK
            else:
                masked = " ".join(mask_named_values(option) for option in value.split(" "))
            words.append(word if masked == value else f'"{variable}{equals}{masked}"')
        return f"{name}{sep}{' '.join(words)}"

    def file(self, path: str, content: str) -> str:
        """A whole file's text, masked by its format."""
        kind = file_format(path)
        if kind == "properties":
            return "\n".join(line for group in logical_lines(content) for line in self.properties_lines(group))
        if kind == "jaas":
            return mask_jaas(content)
        if kind == "unit":
            return "\n".join(self.unit_line(line) for line in content.split("\n"))
        return mask_named_values(content)

    def diff(self, path: str, diff: str) -> str:
        """A unified diff of one file: each side's lines masked by the file's format, headers kept."""
        kind = file_format(path)
        out: list[str] = []
        pending: list[tuple[str, str]] = []  # (marker, line) of one logical properties line
        for line in diff.splitlines():
            if line.startswith(("---", "+++", "@@")) or not line:
                out.append(line)
                continue
            marker, text = line[0], line[1:]
            if kind == "properties":
                pending.append((marker, text))
                if _continues(text, len(pending)):
                    continue
                masked = self.properties_lines([t for _, t in pending])
                out += [m + t for (m, _), t in zip(pending, masked)]
                pending = []
            elif kind == "jaas":
                out.append(marker + mask_jaas(text))
            elif kind == "unit":
                out.append(marker + self.unit_line(text))
            else:
                out.append(marker + mask_named_values(text))
        out += [m + MASK for m, _ in pending]
        return "".join(f"{line}\n" for line in out)

    def data(self, value: Any, key: str = "") -> Any:
        """A JSON-ready document with every secret masked, before it is serialised."""
        if isinstance(value, dict):
            if "diff" in value and "path" in value:
                value = {**value, "diff": self.diff(value["path"], value["diff"])}
            return {k: self.data(v, str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(item, key) for item in value]
        if isinstance(value, str):
            if names_secret(key) or value in self.secret_values:
                return MASK
            return value if key == "diff" else mask_named_values(value)
        return value


def _continues(text: str, count: int) -> bool:
    ends_odd = (len(text) - len(text.rstrip("\\"))) % 2 == 1
    return ends_odd and (count > 1 or split_property(text) is not None)


def file_format(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if name.endswith(".properties"):
        return "properties"
    if name.endswith(".conf") and "jaas" in name:
        return "jaas"
    if name.endswith(".service"):
        return "unit"
    return "text"
