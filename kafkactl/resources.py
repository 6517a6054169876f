"""Where the operator-facing folders (templates/, roles/, playbooks/) are found.

In a source checkout they sit beside the package; an installed wheel carries them in
kafkactl/_data/.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def resource_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"kafkactl installation is missing its {name}/ folder")
