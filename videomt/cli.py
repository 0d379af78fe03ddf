"""Shared command-line plumbing: user errors become one line on stderr and a non-zero exit."""
from __future__ import annotations

import sys
from typing import Callable

__all__ = ["USER_ERRORS", "run_cli"]

# Errors caused by user input (files, configs, shapes). Anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, PermissionError,
                                                IsADirectoryError, NotADirectoryError, KeyError)


def run_cli(main: Callable[[], int | None]) -> None:
    """Call ``main()``; print ``error: <message>`` and exit 2 on a user error."""
    try:
        code = main()
    except USER_ERRORS as e:
        message = str(e).strip().strip("'\"") or type(e).__name__
        print(f"error: {message.splitlines()[0]}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)
