"""Secrets never reach the screen: every line kafkactl prints passes through a Masker."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "********"
# Secrets that are not in the inventory's known secret values still follow these shapes.
_SHAPES = [
    re.compile(r'((?:password|secret)\s*=\s*")[^"]*(")', re.IGNORECASE),  # JAAS: password="..."
    re.compile(r"^([+\- ]?[^=\n#]*(?:password|secret)[^=\n]*=)(?!\s*$).*()$", re.IGNORECASE | re.MULTILINE),
]


class Masker:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        for shape in _SHAPES:
            text = shape.sub(lambda m: f"{m.group(1)}{MASK}{m.group(2)}", text)
        return text
