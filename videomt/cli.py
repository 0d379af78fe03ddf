"""Shared command-line plumbing: a user error is one line on stderr and exit status 2; anything
else is a bug and keeps its traceback (exit status 1)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from .errors import UserError

__all__ = ["USAGE_ERROR", "error_line", "run_cli"]

USAGE_ERROR = 2  # the exit status of every CLI for a user error (argparse's too)


def error_line(e: BaseException) -> str:
    """The first line of an error's message, whole (a ``KeyError`` subclass without the quotes
    that ``KeyError`` adds)."""
    text = (
        e.args[0]
        if isinstance(e, KeyError) and len(e.args) == 1 and isinstance(e.args[0], str)
        else str(e)
    )
    lines = text.strip().splitlines()
    return lines[0] if lines else type(e).__name__


def run_cli(main: Callable[[], int | None]) -> None:
    """Call ``main()``; on a :class:`~videomt.errors.UserError` print ``error: <message>`` and
    exit 2. Other exceptions propagate: Python prints their traceback and exits 1."""
    try:
        code = main()
    except UserError as e:
        print(f"error: {error_line(e)}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    sys.exit(code or 0)
