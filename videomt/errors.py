"""The base class of every error that bad input causes, as opposed to a bug."""

from __future__ import annotations

__all__ = ["UserError", "ConfigError", "first_line"]


class UserError(ValueError):
    """Input from outside the program that cannot be used: a file, a config key, a command-line
    option, an argument of a public function. The message is one line naming the input (file,
    key or option) and the problem.

    Command-line tools print it as ``error: <message>`` and exit with status 2
    (:func:`videomt.cli.run_cli`); any other exception is a bug and keeps its traceback. Each kind
    of input has its subclass (``ConfigError``, ``DatasetError``, ``EvaluationError``,
    ``CheckpointError``, ...). It is a ``ValueError``, so callers that catch ``ValueError`` around
    the public API keep working.
    """


class ConfigError(UserError):
    """A config file, key or value that cannot be used (the message names the key and its
    source: the file, or the command-line overrides)."""


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message (its type name if it has none), for a one-line
    :class:`UserError` that wraps a third-party error (a failed download, an unreadable file)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
