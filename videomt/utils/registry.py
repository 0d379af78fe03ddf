"""Registries: a name in a config -> the class or function that implements it, extended by
decorating a new one (no table to edit)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fvcore.common.registry import Registry as _FvRegistry

from ..errors import ConfigError

__all__ = ["Registry"]


class Registry(_FvRegistry):
    """fvcore's ``Registry`` (Detectron2's) whose entries can also be registered under the
    names that configs use (``"video_instance"``, ``"vis"``, ...)."""

    def register_as(self, *names: str) -> Callable[[Any], Any]:
        """Decorator: register the class or function under each of ``names`` (under its own
        ``__name__`` when none is given). A name registered twice is an error (fvcore's
        ``AssertionError``), so two entries cannot silently replace each other."""

        def register(obj: Any) -> Any:
            for name in names or (obj.__name__,):
                self._do_register(name, obj)
            return obj

        return register

    def names(self) -> list[str]:
        return sorted(name for name, _ in self)

    def lookup(self, name: str, key: str) -> Any:
        """The entry registered as ``name``; a :class:`~videomt.errors.ConfigError` naming the
        config ``key`` that gave the name and the known names when there is none."""
        if name not in self:
            raise ConfigError(f"{key}: unknown {self._name} '{name}' (known: {self.names()})")
        return self.get(name)
