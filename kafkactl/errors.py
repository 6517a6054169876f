"""Errors that reach the user as one clear line each, never as a traceback."""

from __future__ import annotations


class KafkactlError(Exception):
    """A failure explained to the user; `lines` are printed as they are, one per problem."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


class InventoryError(KafkactlError):
    """The inventory is invalid; nothing was written and no host was touched. `warnings` found on the way are
    shown too: a "did you mean" hint often explains the error."""

    def __init__(self, *lines: str, warnings: tuple[str, ...] = ()) -> None:
        super().__init__(*lines)
        self.warnings = list(warnings)
