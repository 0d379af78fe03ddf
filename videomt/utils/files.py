"""What a file really is, and JSON in and out with one-line errors.

Users hand over the wrong file often (a 0-byte download, an HTML error page saved as ``.pth``,
a zip where JSON is expected): :func:`sniff` names it so every reader can say so in one line.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from typing import Any

import numpy as np

from ..errors import UserError

__all__ = [
    "sniff",
    "read_json",
    "json_safe",
    "write_json",
    "OutputDirError",
    "require_writable_dir",
    "require_writable_file",
]


def sniff(path: str) -> str | None:
    """``"is empty (0 bytes)"``, ``"is a zip archive"``, ``"is an HTML page"`` or ``"is a text
    file"`` from the first bytes of ``path``; ``None`` for anything else (binary, unreadable)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return None
    if not head:
        return "is empty (0 bytes)"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "is a zip archive"
    lower = head.lstrip().lower()
    if lower.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<html" in lower:
        return "is an HTML page (a download that saved an error or login page?)"
    if b"\x00" not in head and sum(b < 9 or 13 < b < 32 for b in head) == 0:
        return "is a text file"
    return None


def read_json(path: str, what: str, error: type[Exception] = ValueError) -> Any:
    """Parse a JSON file; a missing, empty, truncated or non-JSON file raises ``error`` with one
    line naming the file and what it is."""
    if os.path.isdir(path):
        raise error(f"{path}: {what} is a folder, not a JSON file")
    if not os.path.isfile(path):
        raise error(f"{path}: {what} not found")
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        kind = sniff(path)
        if kind is not None and kind != "is a text file":
            raise error(f"{path}: {what} {kind}, not JSON") from None
        hint = " (file truncated?)" if e.pos >= len(e.doc.rstrip()) - 1 else ""
        raise error(
            f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}{hint}"
        ) from None
    except UnicodeDecodeError:
        raise error(f"{path}: {what} {sniff(path) or 'is a binary file'}, not JSON") from None


def json_safe(obj: Any) -> Any:
    """A copy that strict JSON accepts: nan / inf -> None, numpy values -> Python, keys -> str."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str, obj: Any, indent: int | None = 2) -> None:
    """Write ``json_safe(obj)`` (``null`` for NaN, never a bare ``NaN``)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(json_safe(obj), f, indent=indent, allow_nan=False)


class OutputDirError(UserError):
    """An output folder that cannot be created or written (read-only disk, no permission)."""


def require_writable_dir(path: str, what: str) -> str:
    """Check, before any work is done and without creating folders, that folder ``path`` exists
    or can be created and that files can be written in it; raises :class:`OutputDirError` with one
    line naming ``what`` (e.g. ``OUTPUT_DIR``) and the reason (read-only file system, permission
    denied, a file in the way)."""
    _require_writable_folder(path, path, what)
    return path


def require_writable_file(path: str, what: str) -> str:
    """Like :func:`require_writable_dir` for a file to be written at ``path`` (e.g. ``--json
    out.json``): its folder must exist or be creatable and writable, and ``path`` must not be a
    folder. Tools call it before the work whose results the file holds."""
    if os.path.isdir(path):
        raise OutputDirError(f"{what} {path}: is a folder, not a file")
    _require_writable_folder(os.path.dirname(os.path.abspath(path)), path, what)
    return path


def _require_writable_folder(folder: str, path: str, what: str) -> None:
    existing = os.path.abspath(folder)
    while not os.path.exists(existing):  # the deepest part of the path that exists
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise OutputDirError(f"{what} {path}: {existing} is a file, not a folder")
    try:  # a probe file, deleted at once: the OS's own answer (read-only mounts, ACLs, quotas)
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        reason = (e.strerror or type(e).__name__).lower()
        raise OutputDirError(f"{what} {path}: cannot write in {existing} ({reason})") from None
