"""Progress bars are drawn on a terminal only: a redirected log gets no carriage-return lines."""

import io

from videomt.utils.progress import progress_bar


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_only_on_a_terminal_and_when_enabled():
    log = io.StringIO()  # a file or pipe: no bar, the items still pass through
    assert list(progress_bar(range(3), file=log, desc="x")) == [0, 1, 2]
    assert log.getvalue() == ""
    terminal = FakeTerminal()
    assert list(progress_bar(range(3), file=terminal, desc="x")) == [0, 1, 2]
    assert "\r" in terminal.getvalue() and "3/3" in terminal.getvalue()
    quiet = FakeTerminal()
    assert list(progress_bar(range(3), enabled=False, file=quiet)) == [0, 1, 2]
    assert quiet.getvalue() == ""
