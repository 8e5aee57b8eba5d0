"""Name -> implementation tables, loaded lazily ("module:attribute" strings).

Rooms register their implementations here so the CLI and configs can say
`--agent gated --judge trained` without if/elif chains over names, and without
importing heavy optional packages until a name is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from proactive.errors import UserError


class Registry:
    """A table of named factories for one role (agents, judges, gates)."""

    def __init__(self, role: str) -> None:
        self.role = role
        self._targets: dict[str, str] = {}

    def register(self, name: str, target: str) -> None:
        """Register `name` -> "package.module:factory"."""
        self._targets[name] = target

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._targets)

    def factory(self, name: str) -> Any:
        """The factory registered under `name` (imported on first use)."""
        target = self._targets.get(name)
        if target is None:
            raise UserError(f"unknown {self.role} '{name}'; choose one of {', '.join(self.names())}")
        module_name, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module_name), attribute)
