"""Shared command-line plumbing: user errors become one line on stderr and exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["USER_ERRORS", "USAGE_ERROR", "error_line", "run_cli"]

# Errors caused by user input (files, configs, shapes). Anything else is a bug and keeps its
# traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    KeyError,
)
USAGE_ERROR = 2  # the exit status of every CLI for a user error (argparse's too)


def error_line(e: BaseException) -> str:
    """The first line of an error's message, whole (``KeyError`` without its added quotes)."""
    text = (
        e.args[0]
        if isinstance(e, KeyError) and len(e.args) == 1 and isinstance(e.args[0], str)
        else str(e)
    )
    lines = text.strip().splitlines()
    return lines[0] if lines else type(e).__name__


def run_cli(main: Callable[[], int | None]) -> None:
    """Call ``main()``; print ``error: <message>`` and exit 2 on a user error."""
    try:
        code = main()
    except USER_ERRORS as e:
        print(f"error: {error_line(e)}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    sys.exit(code or 0)
