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
        """Decorator: register a class under each of ``names`` and its class name (Detectron2's
        convention), a function under each of ``names`` (its ``__name__`` when none is given). A
        name registered twice is an error (fvcore's ``AssertionError``), so two entries cannot
        silently replace each other."""

        def register(obj: Any) -> Any:
            own_name = (obj.__name__,) if isinstance(obj, type) or not names else ()
            for name in (*names, *own_name):
                self._do_register(name, obj)
            return obj

        return register

    def names(self) -> list[str]:
        return sorted(name for name, _ in self)

    def lookup(self, name: str, key: str, where: str = "") -> Any:
        """The entry registered as ``name``; when there is none, a
        :class:`~videomt.errors.ConfigError` naming the config ``key`` that gave the name (after
        ``where``, e.g. the dataset concerned) and the known names."""
        if name not in self:
            prefix = f"{where}: " if where else ""
            raise ConfigError(f"{prefix}unknown {key} '{name}' (known: {self.names()})")
        return self.get(name)
