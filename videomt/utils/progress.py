"""Progress bars for terminals only: a log file or pipe gets no carriage-return bar lines."""

from __future__ import annotations

from tqdm import tqdm

__all__ = ["progress_bar"]


def progress_bar(iterable=None, enabled: bool = True, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)`` drawn only when ``enabled`` and stderr is a terminal.

    With stderr redirected (``2> log``, ``| tee``, a cluster job's log), tqdm would write one
    carriage-return update per step into the file; there the bar is off (the iterable is passed
    through and the callers log their own summary lines).
    """
    return tqdm(iterable, disable=None if enabled else True, **kwargs)
